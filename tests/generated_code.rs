//! The committed protocol types are exactly what the generator writes from
//! the vendored schemas: `ocpp-codegen --check` regenerates each version's
//! `src/ocpp/<ver>/generated.rs` in memory and compares. A hand edit of a
//! generated file, or a schema change without regenerating, fails here
//! (fix: `cargo run --bin ocpp-codegen`).

use std::process::Command;

#[test]
fn generated_code_matches_the_schemas() {
    let output = Command::new(env!("CARGO_BIN_EXE_ocpp-codegen"))
        .arg("--check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ocpp-codegen");
    assert!(
        output.status.success(),
        "ocpp-codegen --check: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The check can fail: a generated file that differs is named.
#[test]
fn a_stale_file_is_reported() {
    let dir = std::env::temp_dir().join(format!("codegen-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // A copy of the inputs with one generated file edited by hand.
    copy_tree(
        &root.join("tests/ocpp-schemas"),
        &dir.join("tests/ocpp-schemas"),
    );
    copy_tree(&root.join("src/ocpp"), &dir.join("src/ocpp"));
    let v21 = dir.join("src/ocpp/v21/generated.rs");
    let text = std::fs::read_to_string(&v21).expect("generated v21");
    std::fs::write(&v21, text.replacen("pub struct", "pub  struct", 1)).expect("edit");
    let output = Command::new(env!("CARGO_BIN_EXE_ocpp-codegen"))
        .arg("--check")
        .current_dir(&dir)
        .output()
        .expect("run ocpp-codegen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a hand edit went unnoticed");
    assert!(stderr.contains("v21"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
