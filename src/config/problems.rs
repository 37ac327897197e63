//! The range-check findings each table reports (no thread state: config
//! is read at start and at SIGHUP).

/// What range checks find, `(key, message)`, the key a dotted path as in
/// the file (`listen.backlog`): `Config::parse` turns each into a
/// `ConfigError` at the key's line.
#[derive(Default)]
pub(super) struct Problems(Vec<(&'static str, String)>);

impl Problems {
    /// Records `message` against `key` unless `ok`.
    pub(super) fn check(&mut self, ok: bool, key: &'static str, message: impl Into<String>) {
        if !ok {
            self.0.push((key, message.into()));
        }
    }

    pub(super) fn extend(&mut self, more: Vec<(&'static str, String)>) {
        self.0.extend(more);
    }

    pub(super) fn into_vec(self) -> Vec<(&'static str, String)> {
        self.0
    }
}
