//! Where the example orchestration plugins are: C ones compiled by this
//! crate's build script, Rust ones (cdylib crates under `examples/orch_rs/`)
//! built on first use with the same cargo into their own target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Path of the C orchestration plugin compiled from `examples/orch/<name>.c`.
pub fn c_plugin(name: &str) -> PathBuf {
    Path::new(env!("OUT_DIR")).join(format!("lib{name}.so"))
}

/// Path of the Rust orchestration plugin crate `examples/orch_rs/<dir>`
/// (package `hostgraph-orch-<dir>` with `_` as `-`), building it (release)
/// if needed.
///
/// Panics with cargo's output if the build fails: the examples cannot run
/// without their plugin.
pub fn rust_plugin(dir: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target/orch-plugins");
    let package = format!("hostgraph-orch-{}", dir.replace('_', "-"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            &package,
            "--target-dir",
        ])
        .arg(&target)
        .output()
        .unwrap_or_else(|e| panic!("running cargo to build {package}: {e}"));
    assert!(
        out.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target
        .join("release")
        .join(format!("libhostgraph_orch_{dir}.so"))
}
