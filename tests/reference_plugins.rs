//! Orchestrations written for the reference runtime, built against the
//! reference-compatible header: deliberately broken ones
//! (`tests/plugins/ref_*.cpp`) fail with the typed error naming the bad id,
//! even where the reference's void calls hide the failure from the plugin,
//! and leave the runtime clean and reusable; arguments the reference's
//! `ChipStorageTaskArgs` cannot hold are refused before the plugin runs;
//! and loading a plugin through the other interface is refused clearly.

use hostgraph::{
    Error, KernelFn, OwnedArgs, Plugin, ReferencePlugin, Runtime, RuntimeConfig, TaskId,
};
use hostgraph_examples::plugins::{self, c_plugin, ref_plugin};
use hostgraph_examples::vector;
use hostgraph_orch_abi::{DType, OrchTensor};
use hostgraph_platform::MemError;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn noop(_args: &[u64]) {}

/// Loads the test plugin `tests/plugins/<name>.cpp` with `entry`.
fn load(name: &str, entry: &str) -> ReferencePlugin {
    // SAFETY: this project's own test plugins, built against the reference header.
    unsafe { ReferencePlugin::load(c_plugin(name), entry) }
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// Builds `plugin` with `args` (which hold no tensor).
fn build(rt: &mut Runtime, plugin: &ReferencePlugin, args: &OwnedArgs) -> hostgraph::Result<()> {
    // SAFETY: no tensor, so no host buffer the plugin could record.
    unsafe { rt.build_with_reference(plugin, args) }
}

/// No graph and no device memory are left, and a reference-runtime round
/// (vector_example) runs right after, with the right result.
fn assert_clean_and_usable(rt: &mut Runtime) {
    assert_eq!(rt.task_count(), 0, "graph left behind");
    assert!(
        rt.device_memory().live().is_empty(),
        "device memory left: {:?}",
        rt.device_memory().live()
    );
    let plugin = plugins::load_ref("vector_example", "build_example_graph").expect("load");
    let (a, b) = (vec![2.0f32; 64], vec![3.0f32; 64]);
    let (f, report) = vector::run_round(rt, &plugin, &a, &b).expect("next round");
    assert_eq!((report.tasks, f), (4, vec![42.0; 64]));
}

#[test]
fn bad_edge_is_latched_although_add_successor_returns_nothing() {
    let mut rt = runtime();
    let plugin = load("ref_bad_edge", "build_bad_edge_graph");
    let e = build(&mut rt, &plugin, &OwnedArgs::new()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnknownTask {
                from: 0,
                to: 7,
                missing: 7,
                count: 2
            }
        ),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
}

#[test]
fn unknown_func_id_is_a_missing_kernel_and_the_graph_is_kept() {
    let mut rt = runtime();
    rt.register_kernel(0, KernelFn::rust(noop));
    let plugin = load("ref_unknown_func", "build_unknown_func_graph");
    build(&mut rt, &plugin, &OwnedArgs::new()).expect("the build itself is fine");
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingKernel {
                func_id: 42,
                task: TaskId(1),
                others: 0
            }
        ),
        "{e}"
    );
    // The graph is kept: registering the kernel lets it run.
    rt.register_kernel(42, KernelFn::rust(noop));
    let report = rt.run().expect("runs once the kernel is there");
    assert_eq!((report.tasks, report.aic_tasks), (2, 1));
    rt.finalize().unwrap();
    assert_clean_and_usable(&mut rt);
}

#[test]
fn cycle_is_refused_naming_it() {
    let mut rt = runtime();
    rt.register_kernel(0, KernelFn::rust(noop));
    let plugin = load("ref_cycle", "build_cycle_graph");
    build(&mut rt, &plugin, &OwnedArgs::new()).expect("the build itself is fine");
    let e = rt.run().unwrap_err();
    let Error::Cycle(cycle) = &e else {
        panic!("expected a cycle, got {e}");
    };
    let mut on_cycle: Vec<u32> = cycle.iter().map(|t| t.0).collect();
    on_cycle.sort_unstable();
    assert_eq!(on_cycle, [1, 2, 3], "{e}");
    assert_eq!(rt.discard(), 0, "the plugin allocated nothing");
    assert_clean_and_usable(&mut rt);
}

/// Each misuse `ref_misuse.cpp` makes (scalar 0 picks it) fails the build
/// with its own error, although the plugin ignores every result and
/// returns 0 (but case 5, which returns 3).
#[test]
fn misuse_through_the_reference_table_fails_the_build() {
    let mut rt = runtime();
    let plugin = load("ref_misuse", "build_misuse_graph");
    type Check = fn(&Error) -> bool;
    let expect: [(u64, Check); 5] = [
        (1, |e| {
            matches!(e, Error::Memory(MemError::DoubleFree { .. }))
        }),
        (2, |e| {
            matches!(
                e,
                Error::NegativeArgCount {
                    func_id: 0,
                    count: -1
                }
            )
        }),
        (3, |e| matches!(e, Error::BadCoreType(7))),
        (4, |e| {
            matches!(e, Error::Memory(MemError::OutOfBounds { bytes: 8, .. }))
        }),
        (
            5,
            |e| matches!(e, Error::PluginFailed { entry, code: 3 } if entry == "build_misuse_graph"),
        ),
    ];
    for (case, check) in expect {
        let mut args = OwnedArgs::new();
        args.push_scalar(case);
        let e = build(&mut rt, &plugin, &args).unwrap_err();
        assert!(check(&e), "case {case}: {e}");
        assert_clean_and_usable(&mut rt);
    }
    // Case 0 misuses nothing.
    let mut args = OwnedArgs::new();
    args.push_scalar(0);
    build(&mut rt, &plugin, &args).expect("no misuse");
    assert_eq!(rt.task_count(), 1);
    rt.discard();
}

/// Arguments the reference's `ChipStorageTaskArgs` cannot hold are refused
/// before the plugin runs, naming the tensor and why.
#[test]
fn arguments_that_do_not_fit_are_refused_before_the_plugin_runs() {
    let mut rt = runtime();
    let plugin = plugins::load_ref("vector_example", "build_example_graph").expect("load");
    let data = [0.0f64; 4];
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(data.as_ptr(), &[4], DType::F64));
    // SAFETY: refused before the plugin runs; `data` outlives the call anyway.
    let e = unsafe { rt.build_with_reference(&plugin, &args) }.unwrap_err();
    let Error::ReferenceArgs(why) = &e else {
        panic!("expected ReferenceArgs, got {e}");
    };
    assert!(why.starts_with("tensor 0: dtype f64"), "{why}");
    let many = OwnedArgs::from_parts(Vec::new(), vec![0; 129]);
    // SAFETY: as above.
    let e = unsafe { rt.build_with_reference(&plugin, &many) }.unwrap_err();
    assert!(
        matches!(&e, Error::ReferenceArgs(why) if why.starts_with("129 scalars")),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
}

#[test]
fn native_plugin_loaded_as_reference_is_refused() {
    let path = c_plugin("vector_example");
    // SAFETY: refused before anything of the plugin is called.
    let e = unsafe { ReferencePlugin::load(&path, "entry") }.unwrap_err();
    match &e {
        Error::WrongAbi { path: p, message } => {
            assert_eq!(p, &path);
            assert!(
                message.contains("hostgraph_orch_abi_version")
                    && message.contains("Plugin::load_entry"),
                "{message}"
            );
        }
        other => panic!("expected WrongAbi, got {other}"),
    }
    let bytes = std::fs::read(&path).expect("read the plugin");
    // SAFETY: as above.
    let e = unsafe { ReferencePlugin::from_bytes(&bytes, "entry") }.unwrap_err();
    assert!(matches!(e, Error::WrongAbi { .. }), "{e}");
}

#[test]
fn reference_plugin_loaded_as_native_is_refused() {
    let path = ref_plugin("vector_example");
    // SAFETY: refused before anything of the plugin is called.
    let e = unsafe { Plugin::load_entry(&path, "build_example_graph") }.unwrap_err();
    match &e {
        Error::WrongAbi { path: p, message } => {
            assert_eq!(p, &path);
            assert!(
                message.contains("reference-compatible orchestration_api.h")
                    && message.contains("ReferencePlugin::load"),
                "{message}"
            );
        }
        other => panic!("expected WrongAbi, got {other}"),
    }
    // A plugin without either symbol (as one built against the reference
    // runtime's own header would be) cannot be told apart: loaded as
    // native, the missing version symbol is the error, with the hint.
    let e = plugins::load_c("no_version").unwrap_err();
    let message = e.to_string();
    assert!(
        matches!(e, Error::Load { .. })
            && message.contains("hostgraph_orch_abi_version")
            && message.contains("ReferencePlugin::load"),
        "{message}"
    );
}

#[test]
fn missing_reference_entry_carries_the_loaders_reason() {
    // SAFETY: the lookup fails before anything of the plugin is called.
    let e = unsafe { ReferencePlugin::load(ref_plugin("vector_example"), "build_nothing") }
        .unwrap_err();
    assert!(
        matches!(&e, Error::Load { message, .. } if message.contains("undefined symbol: build_nothing")),
        "{e}"
    );
}

/// The reference's interface beyond the entry and the ops table -- its
/// other include names, `TaskArgs`' builders and writable accessors, the
/// `to_u64`/`from_u64` scalar bits, the type names, an `int`
/// `CHIP_MAX_TENSOR_ARGS` -- compiles against the reference-compatible
/// header (with `-Wall -Wextra -Werror`) and behaves as the reference's:
/// the plugin checks each (a failed check is its return code) and adds a
/// task from what they give.
#[test]
fn the_reference_helpers_compile_and_behave_alike() {
    use hostgraph::CoreType;
    use hostgraph::graph::{Task, TaskLists};
    let mut rt = runtime();
    rt.register_kernel(0, KernelFn::rust(noop));
    let plugin = load("ref_helpers", "build_helpers_graph");
    let mut args = OwnedArgs::new();
    args.push_scalar(u64::from(0.75f32.to_bits()));
    build(&mut rt, &plugin, &args).unwrap_or_else(|e| panic!("{e}"));
    let world = rt.world();
    let lists = world.resource::<TaskLists>();
    let mut tasks = world.try_query::<&Task>().unwrap();
    let tasks: Vec<&Task> = tasks.iter(world).collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].kernel.core_type, CoreType::Aiv);
    let word = u64::from(1.5f32.to_bits());
    assert_eq!(lists.args(tasks[0]), [word, word]);
    rt.discard();
}
