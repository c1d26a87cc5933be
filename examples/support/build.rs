//! Compiles every C orchestration source in `examples/orch/` into a shared
//! object in OUT_DIR (`lib<name>.so`), against `orchestration_api.h`.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let orch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../orch");
    let include = hostgraph_orch_abi::include_dir();
    println!("cargo:rerun-if-changed={}", orch.display());
    println!(
        "cargo:rerun-if-changed={}",
        include.join("orchestration_api.h").display()
    );
    // cc builds static archives; plugins are shared objects, so the
    // compiler cc finds is run directly.
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let mut sources: Vec<_> = std::fs::read_dir(&orch)
        .expect("examples/orch")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
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
