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

/// A FIFO is not a shared object: the loader would wait on it for a writer
/// without end (dlopen reads it), so it is refused first, naming what it
/// is. Found by a hostile review.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("libplugin.so");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        // SAFETY: loading fails before any code could run.
        let plugin = unsafe { Plugin::load(&path) }.map(drop);
        // SAFETY: as above.
        let kernel = unsafe { KernelFn::load(&path, "k") }.map(drop);
        let _ = tx.send((plugin, kernel));
    });
    let (plugin, kernel) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the loads returned");
    for e in [plugin.unwrap_err(), kernel.unwrap_err()] {
        let message = load_message(&e);
        assert!(message.contains("not a regular file"), "{message}");
        assert!(e.to_string().contains("libplugin.so"), "{e}");
    }
}

/// A symbol at address 0 (dlsym gives null without an error) is a load
/// error naming it: never a null function pointer (`KernelFn::load` made
/// one) nor a read through null (`Plugin::load`'s version check crashed
/// the process). Found by a hostile review.
#[test]
fn a_symbol_at_a_null_address_is_refused() {
    // SAFETY: our own test object (no initialisers); nothing is called.
    let e = unsafe { KernelFn::load(c_plugin("null_symbol"), "k") }.unwrap_err();
    let message = load_message(&e);
    assert!(
        message.contains("\"k\": resolves to a null address"),
        "{message}"
    );
    // SAFETY: as above.
    let e = unsafe { Plugin::load(c_plugin("null_version")) }.unwrap_err();
    let message = load_message(&e);
    assert!(
        message.contains("\"hostgraph_orch_abi_version\": resolves to a null address"),
        "{message}"
    );
}
