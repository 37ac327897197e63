// TEMPORARY STUB (not to be committed): lets the wire side compile before the generated v21 lands.
pub use super::v201::*;
pub trait IsSend {
    fn is_send(self) -> bool;
}
impl IsSend for super::v201::Action {
    fn is_send(self) -> bool {
        self.name() == "NotifyPeriodicEventStream"
    }
}
