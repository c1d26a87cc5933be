//! Loader errors carry the loader's own reason (dlerror's text), not just
//! "dlopen failed" / "dlsym failed": a file that is not a shared object, a
//! path that does not exist, a symbol the object does not export.

use hostgraph::{Error, KernelFn, Plugin};
use hostgraph_examples::plugins::c_plugin;

/// The message of a load error; panics on any other error.
fn load_message(e: &Error) -> &str {
    match e {
        Error::Load { message, .. } => message,
        other => panic!("expected a load error, got {other}"),
    }
}

#[test]
fn not_a_shared_object_says_invalid_elf_header() {
    // Long enough to hold an ELF header (a shorter file is "file too short").
    let text = b"definitely not an ELF file\n".repeat(64);
    // SAFETY: loading fails before any code could run.
    let e = unsafe { Plugin::from_bytes(&text, "entry") }.unwrap_err();
    let message = load_message(&e);
    assert!(message.contains("invalid ELF header"), "{message}");
}

#[test]
fn missing_path_says_no_such_file() {
    let path = "/nonexistent/dir/libnothing.so";
    // SAFETY: loading fails before any code could run.
    let e = unsafe { Plugin::load(path) }.unwrap_err();
    let message = load_message(&e);
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(e.to_string().contains(path), "{e}");
}

#[test]
fn missing_symbol_says_undefined_symbol() {
    // SAFETY: our own kernel object; the symbol lookup fails.
    let e = unsafe { KernelFn::load(c_plugin("kernel_scale"), "no_such_kernel") }.unwrap_err();
    let message = load_message(&e);
    assert!(
        message.contains("undefined symbol: no_such_kernel"),
        "{message}"
    );
    // The plugin loader too, for its entry symbol.
    // SAFETY: our own plugin; the entry lookup fails before anything runs.
    let e = unsafe { Plugin::load_entry(c_plugin("vector_example"), "no_such_entry") }.unwrap_err();
    let message = load_message(&e);
    assert!(
        message.contains("undefined symbol: no_such_entry"),
        "{message}"
    );
}
