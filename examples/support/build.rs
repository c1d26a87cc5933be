//! Compiles every C orchestration source in `examples/orch/` (the examples'
//! plugins) and `tests/plugins/` (deliberately bad plugins for the error
//! tests) into a shared object in OUT_DIR (`lib<name>.so`), against
//! `orchestration_api.h`.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [root.join("../orch"), root.join("../../tests/plugins")];
    let include = hostgraph_orch_abi::include_dir();
    println!(
        "cargo:rerun-if-changed={}",
        include.join("orchestration_api.h").display()
    );
    // cc builds static archives; plugins are shared objects, so the
    // compiler cc finds is run directly.
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let mut sources = Vec::new();
    for dir in &dirs {
        println!("cargo:rerun-if-changed={}", dir.display());
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        sources.extend(
            entries
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "c")),
        );
    }
    sources.sort();
    for src in sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let stem = src.file_stem().unwrap().to_str().unwrap().to_string();
        let so = Path::new(&out).join(format!("lib{stem}.so"));
        let status = compiler
            .to_command()
            .args([
                "-std=c11", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
            ])
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(&so)
            .arg(&src)
            .arg("-lm")
            .status()
            .unwrap_or_else(|e| panic!("running the C compiler on {}: {e}", src.display()));
        assert!(status.success(), "compiling {} failed", src.display());
    }
}
