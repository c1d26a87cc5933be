//! Compiles the orchestration plugins of the examples and tests into shared
//! objects in OUT_DIR, with the C and C++ compilers the `cc` crate finds:
//!
//! - native C plugins against `orchestration_api.h`: every `.c` in
//!   `examples/orch/` (the examples') and `tests/plugins/` (deliberately bad
//!   ones for the error tests), as `lib<name>.so`;
//! - reference-runtime C++ plugins against the reference-compatible
//!   `include/reference/orchestration_api.h`: every `.cpp` in
//!   `examples/orch_ref/` as `libref_<name>.so`, and in `tests/plugins/` as
//!   `lib<name>.so`.

use std::path::{Path, PathBuf};

/// How a source is compiled.
struct Kind {
    /// Source file extension.
    ext: &'static str,
    /// C++ (else C).
    cpp: bool,
    /// Language flags.
    flags: &'static [&'static str],
    /// Header directory.
    include: PathBuf,
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let native = Kind {
        ext: "c",
        cpp: false,
        flags: &["-std=c11"],
        include: hostgraph_orch_abi::include_dir(),
    };
    let reference = Kind {
        ext: "cpp",
        cpp: true,
        flags: &["-std=c++17"],
        include: hostgraph_orch_abi::reference::include_dir(),
    };
    let tests = root.join("../../tests/plugins");
    let dirs = [
        (root.join("../orch"), &native, ""),
        (tests.clone(), &native, ""),
        (root.join("../orch_ref"), &reference, "ref_"),
        (tests, &reference, ""),
    ];
    // The whole include directory: the reference one holds the headers of
    // the reference's other include names too.
    for kind in [&native, &reference] {
        println!("cargo:rerun-if-changed={}", kind.include.display());
    }
    for (dir, kind, prefix) in dirs {
        // cc builds static archives; plugins are shared objects, so the
        // compiler cc finds is run directly.
        let compiler = cc::Build::new()
            .cpp(kind.cpp)
            .cargo_metadata(false)
            .get_compiler();
        for src in sources(&dir, kind.ext) {
            let stem = src.file_stem().unwrap().to_str().unwrap();
            let so = out.join(format!("lib{prefix}{stem}.so"));
            let status = compiler
                .to_command()
                .args(kind.flags)
                .args(["-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror"])
                .arg("-I")
                .arg(&kind.include)
                .arg("-o")
                .arg(&so)
                .arg(&src)
                .arg("-lm")
                .status()
                .unwrap_or_else(|e| panic!("running the compiler on {}: {e}", src.display()));
            assert!(status.success(), "compiling {} failed", src.display());
        }
    }
}

/// The `.ext` files of `dir`, sorted; registers the directory and each file
/// for rebuilds.
fn sources(dir: &Path, ext: &str) -> Vec<PathBuf> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut sources: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    sources.sort();
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
    }
    sources
}
