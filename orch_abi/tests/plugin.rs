//! Builds `tests/c/plugin.c` as a shared object (as C and as C++), loads it
//! the way the runtime does (version symbol first, then the entry) and runs
//! its entries against a recording runtime written in Rust: proves the
//! header's wrappers call through the table with the arguments in the right
//! order, and that a plugin exports `hostgraph_orch_abi_version` just by
//! including the header.

#[path = "common/fake.rs"]
mod fake;
#[path = "common/toolchain.rs"]
mod toolchain;

use std::path::PathBuf;

use fake::{FakeRuntime, Task};
use hostgraph_orch_abi::{
    ABI_VERSION, ABI_VERSION_SYMBOL, CoreType, DEFAULT_ENTRY_SYMBOL, DType, OPS_TABLE_SIZE,
    OrchStatus, OrchTensor, OrchestrationEntryFn, OwnedArgs,
};
use libloading::Library;
use toolchain::{Lang, compiler, run, scratch_dir, source};

/// Compiles `tests/c/plugin.c` as `lang` into a shared object.
fn build_plugin(lang: Lang) -> PathBuf {
    let dir = scratch_dir(&format!("plugin_{lang:?}").to_lowercase());
    let lib = dir.join(format!(
        "{}orch_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    run(
        compiler(lang, &dir, &hostgraph_orch_abi::include_dir())
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(source("plugin.c")),
        "build tests/c/plugin.c as a shared object",
    );
    lib
}

/// The plugin's entry `name`.
fn entry_of(lib: &Library, name: &str) -> OrchestrationEntryFn {
    // SAFETY: plugin.c defines `name` with the OrchestrationEntryFn signature.
    *unsafe { lib.get::<OrchestrationEntryFn>(name) }
        .unwrap_or_else(|e| panic!("no `{name}` in the plugin: {e}"))
}

/// Builds, loads and drives the plugin compiled as `lang`.
fn check_plugin(lang: Lang) {
    let path = build_plugin(lang);
    // SAFETY: plugin.c has no initializers or destructors.
    let lib = unsafe { Library::new(path.as_os_str()) }.expect("load the plugin");

    // SAFETY: the header defines the symbol as a `const uint32_t`.
    let version = unsafe { lib.get::<*const u32>(ABI_VERSION_SYMBOL) }
        .expect("the plugin exports its ABI version");
    // SAFETY: the symbol's address points to the plugin's initialized u32.
    assert_eq!(unsafe { **version }, ABI_VERSION);

    let entry = entry_of(&lib, DEFAULT_ENTRY_SYMBOL);
    let entry_self_edge = entry_of(&lib, "entry_self_edge");

    let mut input = [1.0f32, 2.0, 3.0, 4.0];
    let mut output = [0.0f32; 4];
    let output_addr = output.as_mut_ptr() as u64;
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(input.as_mut_ptr(), &[4], DType::F32))
        .push_tensor(OrchTensor::new(output.as_mut_ptr(), &[4], DType::F32))
        .push_scalar(20);

    let mut fake = FakeRuntime::new();
    // SAFETY: a live FakeRuntime and arguments whose tensors point to
    // `input` and `output`, all alive for the call.
    assert_eq!(unsafe { entry(fake.handle(), &args.as_raw()) }, 0);
    assert_eq!(
        fake.calls,
        [
            "device_malloc",
            "copy_to_device",
            "device_malloc",
            "record_tensor_pair",
            "add_task",
            "add_task",
            "add_successor",
            "get_task_count",
            "device_malloc",
            "device_free",
            "print_runtime",
        ]
    );
    let (dev_in, dev_out) = (fake.tasks[0].args[0], fake.tasks[0].args[1]);
    assert_eq!(
        fake.tasks,
        [
            Task {
                func_id: 20,
                core_type: CoreType::Aiv.code(),
                args: vec![dev_in, dev_out, 4]
            },
            Task {
                func_id: 21,
                core_type: CoreType::Aic.code(),
                args: vec![dev_out]
            },
        ]
    );
    assert_eq!(fake.edges, [(0, 1)]);
    assert_eq!(
        fake.device_bytes(dev_in),
        input.map(f32::to_ne_bytes).concat()
    );
    assert_eq!(fake.pairs, [(output_addr, dev_out, 16)]);
    assert_eq!(fake.live_buffers(), 2);
    assert_eq!(fake.prints, 1);
    assert_eq!(fake.latched, None);

    // A failing call's status comes back out of the plugin.
    let mut fake = FakeRuntime::new();
    fake.fail = Some(("copy_to_device", OrchStatus::OutOfBounds));
    // SAFETY: as above.
    let code = unsafe { entry(fake.handle(), &args.as_raw()) };
    assert_eq!(code, OrchStatus::OutOfBounds.code());
    assert_eq!(
        fake.latched,
        Some(("copy_to_device", OrchStatus::OutOfBounds))
    );

    let mut fake = FakeRuntime::new();
    // SAFETY: a live FakeRuntime; the entry ignores its arguments.
    let code = unsafe { entry_self_edge(fake.handle(), std::ptr::null()) };
    assert_eq!(code, OrchStatus::SelfEdge.code());
    assert_eq!(fake.calls, ["add_task", "add_successor"]);

    // The header's wrappers refuse a table of another ABI version without
    // calling into it.
    for (version, size) in [
        (ABI_VERSION + 1, OPS_TABLE_SIZE),
        (ABI_VERSION, OPS_TABLE_SIZE - 8),
    ] {
        let mut fake = FakeRuntime::with_table(version, size);
        // SAFETY: a live FakeRuntime whose table is only read.
        let code = unsafe { entry_self_edge(fake.handle(), std::ptr::null()) };
        assert_eq!(code, OrchStatus::AbiMismatch.code());
        assert!(fake.calls.is_empty());
    }
}

#[test]
fn c_plugin_drives_the_table() {
    check_plugin(Lang::C);
}

#[test]
fn cxx_plugin_drives_the_table() {
    check_plugin(Lang::Cxx);
}
