//! The `[auth]` table: security profile 1 (HTTP Basic Auth on the upgrade)
//! and the files it reads. The files themselves are read, and the upgrade
//! decided, by `auth` (`auth::Credentials::from_config`).
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// `[charge_points]` id → password hash. Required when `mode = "basic"`.
    pub credentials_file: Option<PathBuf>,
    /// Charge point ids allowed without a password, one per line.
    pub allow_list_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No password asked (ids still restricted if an allow list is given).
    #[default]
    None,
    /// Security profile 1: HTTP Basic Auth on the upgrade.
    Basic,
}

impl AuthConfig {
    /// Consistency checks, as `(key, message)` like `Config::problems`.
    /// The files themselves are read by `auth::Credentials::from_config`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let empty = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        match (self.mode, &self.credentials_file) {
            (AuthMode::Basic, None) => out.push((
                "auth.credentials_file",
                "is required when auth.mode = \"basic\"".to_owned(),
            )),
            // A credentials file with mode "none" looks like authentication
            // is on while no password is checked: refuse, don't ignore it.
            (AuthMode::None, Some(_)) => out.push((
                "auth.mode",
                "is \"none\" but auth.credentials_file is set, so no password would be \
                 checked; set mode = \"basic\" or remove credentials_file"
                    .to_owned(),
            )),
            _ => {}
        }
        if empty(&self.credentials_file) {
            out.push(("auth.credentials_file", "must be a file path".to_owned()));
        }
        if empty(&self.allow_list_file) {
            out.push(("auth.allow_list_file", "must be a file path".to_owned()));
        }
        out
    }
}
