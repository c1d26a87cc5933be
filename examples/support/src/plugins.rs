//! Where the example orchestration plugins are: C ones compiled by this
//! crate's build script, Rust ones (cdylib crates under `examples/orch_rs/`)
//! built on first use with the same cargo into their own target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use hostgraph::{Error, Executor, OwnedArgs, Plugin, RunReport, Runtime};

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

/// One round with an orchestration plugin, as every example runs it: build
/// with `plugin` over `args`, run, finalize (copy back, free, remove
/// kernels). If the run fails, the graph is discarded so the runtime is
/// ready for another round.
///
/// # Safety
/// The plugin's code runs; the host buffers `args` points at (and any the
/// plugin records as tensor pairs) must stay valid and unmoved until this
/// returns.
pub unsafe fn build_run_finalize<E: Executor>(
    rt: &mut Runtime<E>,
    plugin: &Plugin,
    args: &OwnedArgs,
) -> Result<RunReport, Error> {
    // SAFETY: forwarded from the caller.
    unsafe { rt.build_with_plugin(plugin, args)? };
    match rt.run() {
        Ok(report) => {
            rt.finalize()?;
            Ok(report)
        }
        Err(e) => {
            rt.discard();
            Err(e)
        }
    }
}

/// Loads this project's C plugin `examples/orch/<name>.c` (or
/// `tests/plugins/<name>.c`), as compiled by the build script.
pub fn load_c(name: &str) -> Result<Plugin, Error> {
    // SAFETY: the project's own plugin sources, built against orchestration_api.h.
    unsafe { Plugin::load(c_plugin(name)) }
}

/// Loads this project's Rust plugin `examples/orch_rs/<dir>`, building it if needed.
pub fn load_rust(dir: &str) -> Result<Plugin, Error> {
    // SAFETY: the project's own plugin crates, built against the same ABI crate.
    unsafe { Plugin::load(rust_plugin(dir)) }
}
