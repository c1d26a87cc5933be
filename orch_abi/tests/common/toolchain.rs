//! Running the C and C++ compilers `cc` finds for this target on the test
//! sources in `tests/c/`, with `include/` (or another include directory) on
//! the include path.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The language to compile (C++ compiles even `.c` files as C++).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// C99, `-Wall -Wextra -Werror -pedantic`.
    C,
    /// C++17, `-Wall -Wextra -Werror -pedantic`.
    Cxx,
}

/// A test source in `tests/c/`.
pub fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(name)
}

/// A fresh, empty scratch directory `name` under `CARGO_TARGET_TMPDIR`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("orch_abi")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A compiler command for `lang` with `cc`'s flags for this target, the
/// strict warning flags and `include` on the include path (the native
/// header's `hostgraph_orch_abi::include_dir()`, or the reference-compatible
/// one's); the caller adds `-o`, sources and any extra flags.
pub fn compiler(lang: Lang, scratch: &Path, include: &Path) -> Command {
    let triple = target_triple();
    let tool = cc::Build::new()
        .cpp(lang == Lang::Cxx)
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .debug(false)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .out_dir(scratch)
        .get_compiler();
    let mut cmd = tool.to_command();
    match lang {
        Lang::C => cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]),
        // `-x c++` makes the `.c` test sources compile as C++ too.
        Lang::Cxx => cmd.args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-x",
            "c++",
        ]),
    };
    cmd.arg("-I").arg(include);
    cmd
}

/// Runs `cmd` to completion and returns its stdout; panics with a clear
/// message (and the command's output) if it cannot start or fails.
pub fn run(cmd: &mut Command, what: &str) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` to {what}: {e} (the C and C++ compilers, e.g. gcc and g++, must be installed)")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`{cmd:?}` ({what}) failed with {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The target triple: `TARGET` if set, else the host triple of `rustc -vV`
/// (tests run on the machine they are built for).
fn target_triple() -> String {
    if let Ok(target) = std::env::var("TARGET") {
        return target;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = run(
        Command::new(rustc).arg("-vV"),
        "find the host target triple",
    );
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("`rustc -vV` prints a `host:` line")
        .trim()
        .to_owned()
}
