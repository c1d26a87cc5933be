//! A bare file name (no `/`) is searched on the library search path by the
//! dynamic loader, not in the current directory: loading one that is not
//! found there says so and suggests `./name`, and `./name` loads.
//!
//! The only test in its binary: it changes the process's current directory.

use hostgraph::{Error, Plugin};
use hostgraph_examples::plugins::c_plugin;

#[test]
fn bare_name_in_the_current_directory_gets_a_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = "libhostgraph_bare_name_test.so";
    std::fs::copy(c_plugin("vector_example"), dir.path().join(name)).expect("copy the plugin");
    std::env::set_current_dir(dir.path()).expect("enter the temp dir");

    // SAFETY: our own plugin (the bare name is not found, nothing runs).
    let e = unsafe { Plugin::load(name) }.unwrap_err();
    let Error::Load { message, .. } = &e else {
        panic!("expected a load error, got {e}");
    };
    assert!(
        message.contains("library search path") && message.contains(&format!("./{name}")),
        "{message}"
    );
    assert!(message.contains("current directory"), "{message}");

    // SAFETY: as above; this time it loads.
    let plugin = unsafe { Plugin::load(format!("./{name}")) }.expect("./name loads");
    assert_eq!(plugin.entry_name(), "entry");
}
