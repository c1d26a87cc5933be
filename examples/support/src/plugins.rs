//! Where the example orchestration plugins are — C ones compiled by this
//! crate's build script, reference-runtime C++ ones (`examples/orch_ref/`)
//! compiled by it too, Rust ones (cdylib crates under `examples/orch_rs/`)
//! built on first use with the same cargo into their own target directory —
//! and [`Orchestration`], what a round builds with: a native [`Plugin`], a
//! [`ReferencePlugin`], or either ([`AnyPlugin`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use hostgraph::{Backend, Error, OwnedArgs, Plugin, ReferencePlugin, RunReport, Runtime};

/// The interface an orchestration plugin speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Abi {
    /// hostgraph's `orchestration_api.h`: `int entry(OrchestrationRuntime *, const OrchArgs *)`.
    Native,
    /// The reference runtime's (simpler's `host_build_graph`):
    /// `int build_xxx_graph(OrchestrationRuntime *, const ChipStorageTaskArgs &)`.
    Reference,
}

/// A loaded orchestration plugin a round can build with.
pub trait Orchestration {
    /// Builds the graph into `rt` by calling the plugin's entry with `args`.
    ///
    /// # Safety
    /// The plugin's code runs; the host buffers it records as tensor pairs
    /// must stay valid until `rt` is finalized.
    unsafe fn build<E: Backend>(&self, rt: &mut Runtime<E>, args: &OwnedArgs) -> Result<(), Error>;

    /// Where it was loaded from.
    fn path(&self) -> &Path;

    /// Its entry symbol.
    fn entry_name(&self) -> &str;

    /// The interface it speaks.
    fn abi(&self) -> Abi;
}

/// Flushes C's output streams, so that what a plugin printed (C `printf`,
/// C++ `std::cout`: buffered whole when stdout is a pipe or a file) comes
/// before what the host prints next, not at exit.
fn flush_c_stdio() {
    #[cfg(unix)]
    // SAFETY: `fflush(NULL)` flushes every open output stream of the C
    // library; it is given no pointer.
    unsafe {
        libc::fflush(std::ptr::null_mut());
    }
}

impl Orchestration for Plugin {
    unsafe fn build<E: Backend>(&self, rt: &mut Runtime<E>, args: &OwnedArgs) -> Result<(), Error> {
        // SAFETY: forwarded from the caller.
        let built = unsafe { rt.build_with_plugin(self, args) };
        flush_c_stdio();
        built
    }

    fn path(&self) -> &Path {
        Plugin::path(self)
    }

    fn entry_name(&self) -> &str {
        Plugin::entry_name(self)
    }

    fn abi(&self) -> Abi {
        Abi::Native
    }
}

impl Orchestration for ReferencePlugin {
    unsafe fn build<E: Backend>(&self, rt: &mut Runtime<E>, args: &OwnedArgs) -> Result<(), Error> {
        // SAFETY: forwarded from the caller.
        let built = unsafe { rt.build_with_reference(self, args) };
        flush_c_stdio();
        built
    }

    fn path(&self) -> &Path {
        ReferencePlugin::path(self)
    }

    fn entry_name(&self) -> &str {
        ReferencePlugin::entry_name(self)
    }

    fn abi(&self) -> Abi {
        Abi::Reference
    }
}

/// A plugin of either interface, as chosen on the command line.
#[derive(Debug)]
pub enum AnyPlugin {
    /// A native plugin.
    Native(Plugin),
    /// A reference-runtime plugin.
    Reference(ReferencePlugin),
}

impl AnyPlugin {
    /// Loads the plugin at `path` with entry `entry` as one of `abi`.
    ///
    /// # Safety
    /// As [`Plugin::load_entry`] / [`ReferencePlugin::load`]: the object
    /// must be trusted and `entry` have the signature of `abi`'s entry.
    pub unsafe fn load(path: &Path, entry: &str, abi: Abi) -> Result<AnyPlugin, Error> {
        Ok(match abi {
            // SAFETY: forwarded from the caller.
            Abi::Native => AnyPlugin::Native(unsafe { Plugin::load_entry(path, entry)? }),
            // SAFETY: forwarded from the caller.
            Abi::Reference => AnyPlugin::Reference(unsafe { ReferencePlugin::load(path, entry)? }),
        })
    }
}

impl From<Plugin> for AnyPlugin {
    fn from(p: Plugin) -> Self {
        AnyPlugin::Native(p)
    }
}

impl From<ReferencePlugin> for AnyPlugin {
    fn from(p: ReferencePlugin) -> Self {
        AnyPlugin::Reference(p)
    }
}

impl Orchestration for AnyPlugin {
    unsafe fn build<E: Backend>(&self, rt: &mut Runtime<E>, args: &OwnedArgs) -> Result<(), Error> {
        match self {
            // SAFETY: forwarded from the caller.
            AnyPlugin::Native(p) => unsafe { p.build(rt, args) },
            // SAFETY: forwarded from the caller.
            AnyPlugin::Reference(p) => unsafe { p.build(rt, args) },
        }
    }

    fn path(&self) -> &Path {
        match self {
            AnyPlugin::Native(p) => p.path(),
            AnyPlugin::Reference(p) => p.path(),
        }
    }

    fn entry_name(&self) -> &str {
        match self {
            AnyPlugin::Native(p) => p.entry_name(),
            AnyPlugin::Reference(p) => p.entry_name(),
        }
    }

    fn abi(&self) -> Abi {
        match self {
            AnyPlugin::Native(_) => Abi::Native,
            AnyPlugin::Reference(_) => Abi::Reference,
        }
    }
}

/// Path of the plugin compiled from `examples/orch/<name>.c`, or from
/// `tests/plugins/<name>.c` or `tests/plugins/<name>.cpp`.
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
pub unsafe fn build_run_finalize<E: Backend>(
    rt: &mut Runtime<E>,
    plugin: &impl Orchestration,
    args: &OwnedArgs,
) -> Result<RunReport, Error> {
    // SAFETY: forwarded from the caller.
    unsafe { plugin.build(rt, args)? };
    run_finalize(rt)
}

/// Runs the built graph and finalizes it; if the run fails, discards the
/// graph.
pub fn run_finalize<E: Backend>(rt: &mut Runtime<E>) -> Result<RunReport, Error> {
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

/// Path of the reference-runtime C++ plugin compiled from
/// `examples/orch_ref/<name>.cpp`.
pub fn ref_plugin(name: &str) -> PathBuf {
    Path::new(env!("OUT_DIR")).join(format!("libref_{name}.so"))
}

/// Loads this project's reference-runtime plugin `examples/orch_ref/<name>.cpp`
/// with entry `entry`.
pub fn load_ref(name: &str, entry: &str) -> Result<ReferencePlugin, Error> {
    // SAFETY: the project's own sources, built against the reference-compatible header.
    unsafe { ReferencePlugin::load(ref_plugin(name), entry) }
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
