//! Sampling the server under test (and ourselves) through `/proc`.
//!
//! Everything here is best effort: a sample that cannot be read (process
//! gone, permission denied) becomes `None` fields, never an error, so a dying
//! server still leaves a complete report behind.

use std::fs;
use std::time::Instant;

use serde_json::{Value, json};

/// One look at the server process.
#[derive(Clone, Debug, Default)]
pub struct ProcSample {
    /// Seconds since the scenario started.
    pub t: f64,
    pub rss_kib: Option<u64>,
    pub hwm_kib: Option<u64>,
    pub threads: Option<u64>,
    pub fds: Option<u64>,
    /// utime + stime, in seconds.
    pub cpu_s: Option<f64>,
}

impl ProcSample {
    pub fn to_json(&self) -> Value {
        json!({
            "t": round3(self.t),
            "rss_kib": self.rss_kib,
            "hwm_kib": self.hwm_kib,
            "threads": self.threads,
            "fds": self.fds,
            "cpu_s": self.cpu_s.map(round3),
        })
    }
}

/// Samples one pid; keeps every sample for the report.
pub struct ProcSampler {
    pid: u32,
    epoch: Instant,
    pub samples: Vec<ProcSample>,
}

impl ProcSampler {
    pub fn new(pid: u32, epoch: Instant) -> Self {
        ProcSampler {
            pid,
            epoch,
            samples: Vec::new(),
        }
    }

    /// Takes a sample, stores it and returns a copy.
    pub fn sample(&mut self) -> ProcSample {
        let s = sample_pid(self.pid, self.epoch.elapsed().as_secs_f64());
        self.samples.push(s.clone());
        s
    }

    pub fn to_json(&self) -> Value {
        json!({
            "pid": self.pid,
            "samples": self.samples.iter().map(ProcSample::to_json).collect::<Vec<_>>(),
        })
    }
}

pub fn sample_pid(pid: u32, t: f64) -> ProcSample {
    let mut s = ProcSample {
        t,
        ..Default::default()
    };
    if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in status.lines() {
            let mut it = line.split_whitespace();
            let (Some(key), Some(val)) = (it.next(), it.next()) else {
                continue;
            };
            let val = val.parse::<u64>().ok();
            match key {
                "VmRSS:" => s.rss_kib = val,
                "VmHWM:" => s.hwm_kib = val,
                "Threads:" => s.threads = val,
                _ => {}
            }
        }
    }
    // Counting directory entries is the only way to get the fd count; at
    // 19 000 fds it costs a few milliseconds, which is fine once a second.
    s.fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64);
    s.cpu_s = cpu_seconds(pid);
    s
}

/// utime + stime of a process in seconds, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: the
    // fields we want are counted from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is index 0, so utime (field 14) is 11 and stime 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU time (user + system, seconds) and peak RSS (KiB) of this process.
pub fn self_usage() -> (f64, u64) {
    // SAFETY: getrusage writes into the zeroed struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss as u64)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the new soft
/// limit. Each client socket is one fd, so this is what decides how many
/// charge points one process can hold.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(lim.rlim_cur as u64)
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
