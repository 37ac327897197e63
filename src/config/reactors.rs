//! The `[reactors]` table: how many event loops, their cores, and the
//! resolution of their timer wheels.
//!
//! Like all of `config`, plain data: loaded at start and again at SIGHUP,
//! then read by every thread; it holds no thread state.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{duration_text, ms};
use super::problems::Problems;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReactorsConfig {
    /// Event loops; 0 = one per core.
    pub count: usize,
    /// Pin reactor N to core N (mod cores), or to `cores[N]`.
    pub pin_cores: bool,
    /// The cores reactors are pinned to, in order (reactor N on
    /// `cores[N mod len]`): a list `[2, 3, 4, 5]` or a text `"2-5,8"`.
    /// Empty: cores 0, 1, … With `count = 0`, one reactor per core listed.
    /// Checked at start against the cores this process may run on.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "core_list"
    )]
    pub cores: Vec<usize>,
    /// Timer wheel resolution: timeouts fire at most this late.
    #[serde(with = "duration_text")]
    pub timer_tick: Duration,
}

impl Default for ReactorsConfig {
    fn default() -> Self {
        ReactorsConfig {
            count: 0,
            pin_cores: true,
            cores: Vec::new(),
            timer_tick: Duration::from_millis(100),
        }
    }
}

/// `cores` as a TOML array of core numbers, or a text of numbers and
/// ranges (`"2-5,8"`).
pub(super) fn core_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cores {
        List(Vec<usize>),
        Text(String),
    }
    match Cores::deserialize(d)? {
        Cores::List(list) => Ok(list),
        Cores::Text(text) => parse_core_ranges(&text).map_err(serde::de::Error::custom),
    }
}

/// At most 1024 distinct cores, each below 4096.
pub(super) fn is_valid_core_list(cores: &[usize]) -> bool {
    let mut seen = std::collections::HashSet::new();
    cores.len() <= 1024 && cores.iter().all(|c| *c < 4096 && seen.insert(*c))
}

/// `"2-5,8"` → `[2, 3, 4, 5, 8]`; at most 4096 cores.
pub fn parse_core_ranges(text: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("{text:?} is not a core list like \"2-5,8\" or [2, 3, 4, 5, 8]");
    let mut cores = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let first: usize = first.parse().map_err(|_| bad())?;
        let last: usize = last.parse().map_err(|_| bad())?;
        if first > last || last >= 4096 || cores.len() + (last - first) >= 4096 {
            return Err(bad());
        }
        cores.extend(first..=last);
    }
    if cores.is_empty() {
        return Err(bad());
    }
    Ok(cores)
}

impl ReactorsConfig {
    /// Range checks, keyed like the file (`reactors.count`).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Problems::default();
        out.check(
            self.count <= 1024,
            "reactors.count",
            "must be 0 (one per core) to 1024",
        );
        out.check(
            is_valid_core_list(&self.cores),
            "reactors.cores",
            "must list at most 1024 distinct core numbers below 4096",
        );
        out.check(
            self.cores.is_empty() || self.pin_cores,
            "reactors.cores",
            "needs reactors.pin_cores = true (the cores are where reactors are pinned)",
        );
        out.check(
            ms(self.timer_tick) >= 1 && ms(self.timer_tick) <= 1000,
            "reactors.timer_tick",
            "must be between 1ms and 1s",
        );
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_as_a_list_or_ranges() {
        let c: ReactorsConfig = toml::from_str("cores = [2, 3, 4, 5]").unwrap();
        assert_eq!(c.cores, [2, 3, 4, 5]);
        let c: ReactorsConfig = toml::from_str("cores = \"2-4, 8\"").unwrap();
        assert_eq!(c.cores, [2, 3, 4, 8]);
        assert!(c.problems().is_empty());
        let again: ReactorsConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again.cores, c.cores);
        for bad in ["\"\"", "\"5-2\"", "\"a\"", "\"1-99999\"", "\"1,,x\""] {
            let e = toml::from_str::<ReactorsConfig>(&format!("cores = {bad}")).unwrap_err();
            assert!(e.message().contains("core list"), "{bad}: {e}");
        }
        let dup: ReactorsConfig = toml::from_str("cores = [1, 1]").unwrap();
        assert_eq!(dup.problems()[0].0, "reactors.cores");
        let unpinned: ReactorsConfig = toml::from_str("cores = [1]\npin_cores = false").unwrap();
        assert_eq!(unpinned.problems()[0].0, "reactors.cores");
    }
}
