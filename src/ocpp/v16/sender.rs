//! Who sends an action's request; its own file so that `generated.rs` can
//! name it without importing `mod.rs`, which imports `generated.rs`.

/// Who may send an action's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    ChargePoint,
    CentralSystem,
    /// DataTransfer only.
    Both,
}
