//! Which cores this process may run on (`sched_getaffinity`), to check a
//! configured core map at start rather than pin a reactor to a core it
//! can never run on (taskset, cgroups and containers all narrow it).
//! A leaf helper: imports nothing of the crate.

/// The cores this process may run on, as the first caller saw them: the
/// set to check core maps against even after a thread confined itself
/// (`confine_current_thread` asks first, so this is the set from before).
pub fn process_cores() -> Option<&'static [usize]> {
    static CORES: std::sync::OnceLock<Option<Vec<usize>>> = std::sync::OnceLock::new();
    CORES.get_or_init(allowed_cores).as_deref()
}

/// The cores the calling thread may run on; `None` where that cannot be
/// asked (not Linux, or the call failed).
#[cfg(target_os = "linux")]
pub fn allowed_cores() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is plain bits; zeroed is a valid empty set, and
    // sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: pid 0 is this thread; `set` is a valid cpu_set_t of `size` bytes.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return None;
    }
    let max = libc::CPU_SETSIZE as usize;
    // SAFETY: every index is below CPU_SETSIZE, the set's capacity.
    Some(
        (0..max)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect(),
    )
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cores() -> Option<Vec<usize>> {
    None
}

/// Lets the calling thread run on `cores` only (the kernel places it among
/// them); threads it starts afterwards inherit the set. `Err`: the call
/// failed (a core the process may not use), the thread is unchanged.
#[cfg(target_os = "linux")]
pub fn confine_current_thread(cores: &[usize]) -> Result<(), String> {
    process_cores();
    // SAFETY: as in `allowed_cores`: a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &core in cores.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: `core` is below CPU_SETSIZE, the set's capacity.
        unsafe { libc::CPU_SET(core, &mut set) };
    }
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: pid 0 is this thread; `set` is a valid cpu_set_t of `size` bytes.
    if unsafe { libc::sched_setaffinity(0, size, &set) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn confine_current_thread(_cores: &[usize]) -> Result<(), String> {
    Ok(())
}

/// `Err` names the first of `wanted` that is not in `allowed`.
pub fn check_cores(wanted: &[usize], allowed: &[usize]) -> Result<(), String> {
    match wanted.iter().find(|c| !allowed.contains(c)) {
        None => Ok(()),
        Some(core) => Err(format!(
            "core {core} is not one this process may run on (allowed: {})",
            ranges(allowed)
        )),
    }
}

/// `[0, 1, 2, 5]` → `"0-2,5"`.
fn ranges(cores: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cores.len() {
        let mut j = i;
        while j + 1 < cores.len() && cores[j + 1] == cores[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cores[i].to_string()
        } else {
            format!("{}-{}", cores[i], cores[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere_and_others_are_named() {
        let allowed = allowed_cores().expect("linux");
        assert!(!allowed.is_empty());
        assert!(check_cores(&allowed, &allowed).is_ok());
        // A thread confined to one allowed core sees just that one.
        let last = *allowed.last().unwrap();
        std::thread::spawn(move || {
            confine_current_thread(&[last]).unwrap();
            assert_eq!(allowed_cores().unwrap(), [last]);
        })
        .join()
        .unwrap();
        let e = check_cores(&[allowed[0], 4095], &[0, 1, 2, 5]).unwrap_err();
        assert!(e.contains("core 4095") && e.contains("0-2,5"), "{e}");
    }
}
