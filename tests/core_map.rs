//! The core map: reactors pinned to `reactors.cores`, processors confined
//! to `processors.cores`, every other thread to `threads.other_cores`; a
//! core this process may not run on refused at start with an error naming
//! the key.

mod common;

use common::*;

#[test]
fn a_core_this_process_may_not_run_on_is_refused_naming_the_key() {
    let out = run_until_exit(
        "badcores",
        "[listen]\naddress = \"127.0.0.1:0\"\n\n[reactors]\ncores = [0, 4095]\n",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reactors.cores") && stderr.contains("core 4095"),
        "{stderr}"
    );
    for (table, key) in [("processors", "cores"), ("threads", "other_cores")] {
        let out = run_until_exit(
            "badcores",
            &format!("[listen]\naddress = \"127.0.0.1:0\"\n\n[{table}]\n{key} = \"4000-4001\"\n"),
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{table}.{key}")) && stderr.contains("core 4000"),
            "{stderr}"
        );
    }
}

/// The cores a thread of `pid` named `name` may run on, as the kernel
/// writes them (`Cpus_allowed_list`).
fn allowed_list(pid: u32, name: &str) -> Option<String> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_owned());
    }
    None
}

#[test]
fn reactors_run_on_the_cores_listed() {
    let allowed = ocpp_gateway::affinity::allowed_cores().expect("linux");
    // The last core this process may use, as a range text: one reactor.
    let core = *allowed.last().unwrap();
    let gw = GatewayProcess::start(
        "cores",
        &process_config(&format!("[reactors]\ncores = \"{core}-{core}\"\n")),
    );
    let mut seen = None;
    wait_for(
        "reactor-0 pinned",
        std::time::Duration::from_secs(5),
        || {
            seen = allowed_list(gw.pid(), "reactor-0");
            seen.as_deref() == Some(core.to_string().as_str())
        },
    );
    assert!(
        allowed_list(gw.pid(), "reactor-1").is_none(),
        "count = 0: one reactor per core listed"
    );
}

#[test]
fn processors_and_the_other_threads_run_on_their_cores() {
    let allowed = ocpp_gateway::affinity::allowed_cores().expect("linux");
    let (first, last) = (allowed[0], *allowed.last().unwrap());
    let gw = GatewayProcess::start(
        "othercores",
        &process_config(&format!(
            "[reactors]\npin_cores = false\n\n[processors]\ncores = [{last}]\n\n\
             [threads]\nother_cores = [{first}]\n"
        )),
    );
    let pid = gw.pid();
    wait_for(
        "processor-0 confined",
        std::time::Duration::from_secs(5),
        || allowed_list(pid, "processor-0").as_deref() == Some(last.to_string().as_str()),
    );
    // The log writer starts before the gateway (the binary confines the
    // main thread first), the others inside it; all inherit the set.
    for thread in ["admin", "journal-writer", "log-writer", "ocpp-gateway"] {
        assert_eq!(
            allowed_list(pid, thread).as_deref(),
            Some(first.to_string().as_str()),
            "{thread} runs on threads.other_cores"
        );
    }
}
