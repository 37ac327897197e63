//! `ocpp-codegen`: writes `src/ocpp/<ver>/generated.rs` from the OCA JSON
//! schemas vendored at `tests/ocpp-schemas/<ver>`. `--check` writes nothing
//! and fails, naming the file, if a committed file differs from what it
//! would write (run by `tests/generated_code.rs`). Run from the repository
//! root (`cargo run --bin ocpp-codegen`).

mod json;
mod model;
mod names;
mod render;
mod tables;

use std::path::Path;
use std::process::ExitCode;

const VERSIONS: &[&str] = &["v16", "v201", "v21"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: ocpp-codegen [--check]   (from the repository root)");
            return ExitCode::from(2);
        }
    };
    let mut stale = Vec::new();
    for ver in VERSIONS {
        let model = model::read(&Path::new("tests/ocpp-schemas").join(ver), ver);
        let code = render::render(&model);
        let target = format!("src/ocpp/{ver}/generated.rs");
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == code {
            continue;
        }
        if check {
            stale.push(target);
        } else {
            std::fs::write(&target, code).unwrap_or_else(|e| panic!("{target}: {e}"));
            println!("wrote {target}");
        }
    }
    if stale.is_empty() {
        return ExitCode::SUCCESS;
    }
    for f in &stale {
        eprintln!(
            "{f} differs from what ocpp-codegen generates; run `cargo run --bin ocpp-codegen`"
        );
    }
    ExitCode::FAILURE
}
