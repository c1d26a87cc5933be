//! Bad input: each case gets a clear, typed error naming the bad id, size or
//! path, and leaves the runtime clean (no graph, no device memory) and able
//! to run the next graph.

use std::time::Duration;

use hostgraph::{
    CoreType, Error, InlineSim, KernelFn, OwnedArgs, Platform, Plugin, Runtime, RuntimeConfig,
    TaskId, ThreadedSim,
};
use hostgraph_examples::plugins::{c_plugin, load_c};
use hostgraph_platform::MemError;

fn noop(_: &[u64]) {}

fn runtime() -> Runtime {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt
}

/// The runtime holds nothing and still runs a small graph end to end.
fn assert_clean_and_usable(rt: &mut Runtime) {
    assert_eq!(rt.task_count(), 0, "graph left behind");
    assert!(
        rt.device_memory().live().is_empty(),
        "device memory left: {:?}",
        rt.device_memory().live()
    );
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aic, &[])?;
        let b = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_successor(a, b)
    })
    .unwrap();
    assert_eq!(rt.run().unwrap().tasks, 2);
    rt.finalize().unwrap();
}

#[test]
fn edge_to_or_from_a_missing_task_names_it() {
    let mut rt = runtime();
    let e = rt
        .build(|g| {
            let a = g.add_task(0, CoreType::Aiv, &[])?;
            g.add_successor(a, TaskId(9))
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnknownTask {
                from: 0,
                to: 9,
                missing: 9,
                count: 1
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("task 9 does not exist"), "{e}");
    assert_clean_and_usable(&mut rt);
    let e = rt
        .build(|g| {
            let a = g.add_task(0, CoreType::Aiv, &[])?;
            g.add_successor(TaskId(4), a)
        })
        .unwrap_err();
    assert!(matches!(e, Error::UnknownTask { missing: 4, .. }), "{e}");
    assert_clean_and_usable(&mut rt);
}

#[test]
fn an_ignored_error_still_fails_the_build() {
    let mut rt = runtime();
    let e = rt
        .build(|g| {
            let a = g.add_task(0, CoreType::Aiv, &[])?;
            let _ = g.add_successor(a, TaskId(5));
            let b = g.add_task(0, CoreType::Aiv, &[])?;
            g.add_successor(a, b)
        })
        .unwrap_err();
    assert!(matches!(e, Error::UnknownTask { missing: 5, .. }), "{e}");
    assert_clean_and_usable(&mut rt);
}

#[test]
fn self_edge_is_refused() {
    let mut rt = runtime();
    let e = rt
        .build(|g| {
            let a = g.add_task(0, CoreType::Aiv, &[])?;
            g.add_successor(a, a)
        })
        .unwrap_err();
    assert!(matches!(e, Error::SelfEdge(TaskId(0))), "{e}");
    assert_clean_and_usable(&mut rt);
}

#[test]
fn cycle_lists_its_tasks_and_the_graph_can_be_discarded() {
    let mut rt = runtime();
    rt.build(|g| {
        let t: Vec<TaskId> = (0..5)
            .map(|_| g.add_task(0, CoreType::Aic, &[]))
            .collect::<Result<_, _>>()?;
        g.add_successor(t[0], t[1])?;
        g.add_successor(t[1], t[2])?;
        g.add_successor(t[2], t[3])?;
        g.add_successor(t[3], t[1])?;
        g.add_successor(t[3], t[4])
    })
    .unwrap();
    let e = rt.run().unwrap_err();
    match &e {
        Error::Cycle(c) => assert_eq!(c, &[TaskId(1), TaskId(2), TaskId(3)]),
        other => panic!("expected a cycle, got {other}"),
    }
    assert!(e.to_string().contains("1 -> 2 -> 3 -> 1"), "{e}");
    // Nothing was launched; the graph is kept until discarded.
    assert_eq!(rt.task_count(), 5);
    rt.discard();
    assert_clean_and_usable(&mut rt);
}

#[test]
fn missing_kernel_is_named_and_the_graph_runs_once_it_is_registered() {
    let mut rt = runtime();
    rt.build(|g| {
        g.add_task(0, CoreType::Aic, &[])?;
        g.add_task(5, CoreType::Aiv, &[])?;
        g.add_task(6, CoreType::Aiv, &[])?;
        Ok(())
    })
    .unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingKernel {
                func_id: 5,
                task: TaskId(1),
                others: 1
            }
        ),
        "{e}"
    );
    // The count is of tasks without a kernel, whatever their func_id.
    assert_eq!(
        e.to_string(),
        "no kernel registered for func_id 5 (first used by task 1); 1 other task has no kernel either"
    );
    rt.register_kernel(5, KernelFn::rust(noop));
    rt.register_kernel(6, KernelFn::rust(noop));
    assert_eq!(rt.run().unwrap().tasks, 3);
    rt.finalize().unwrap();
    assert_clean_and_usable(&mut rt);
}

/// More simulator runners than cores is a typed error naming both (one
/// per core is the most that can step anything), from `Runtime::new`;
/// `ThreadedSim::new` panics saying so. Before, `usize::MAX` runners
/// panicked with "capacity overflow", and 500 started 500 threads. Found
/// by a hostile review.
#[test]
fn more_runners_than_cores_are_refused() {
    use hostgraph::sim::SimOptions;
    for (platform, cores) in [(Platform::A2A3, 72usize), (Platform::A5, 108)] {
        for runners in [cores + 1, usize::MAX] {
            let cfg = RuntimeConfig {
                platform,
                sim: SimOptions {
                    runners,
                    ..SimOptions::default()
                },
                ..Default::default()
            };
            let e = Runtime::new(cfg).err().expect("too many runners refused");
            assert!(
                matches!(e, Error::BadRunnerCount { runners: r, max, platform: p }
                    if r == runners && max as usize == cores && p == platform),
                "{e}"
            );
            assert!(e.to_string().contains(&format!("{cores} cores")), "{e}");
        }
        let one_each = RuntimeConfig {
            platform,
            sim: SimOptions {
                runners: cores,
                ..SimOptions::default()
            },
            ..Default::default()
        };
        assert_eq!(
            Runtime::new(one_each).unwrap().backend().runner_count(),
            cores
        );
    }
    let panic = std::panic::catch_unwind(|| {
        ThreadedSim::new(
            Platform::A2A3,
            SimOptions {
                runners: 73,
                ..SimOptions::default()
            },
        )
    })
    .err()
    .expect("ThreadedSim::new panics");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("73 simulator runner threads for the 72 cores"),
        "{message}"
    );
}

#[test]
fn block_dim_and_thread_count_are_checked_against_the_platform() {
    for (platform, max_dim, max_threads) in [(Platform::A2A3, 24, 4), (Platform::A5, 36, 7)] {
        let cfg = |block_dim, threads| RuntimeConfig {
            platform,
            block_dim,
            threads,
            ..Default::default()
        };
        for dim in [0, max_dim + 1] {
            let e = Runtime::new(cfg(dim, 1))
                .err()
                .expect("bad block dim refused");
            assert!(
                matches!(e, Error::BadBlockDim { block_dim, max, .. } if block_dim == dim && max == max_dim),
                "{e}"
            );
        }
        for threads in [0, max_threads + 1] {
            let e = Runtime::new(cfg(1, threads))
                .err()
                .expect("bad thread count refused");
            assert!(
                matches!(e, Error::BadThreadCount { threads: t, max, .. } if t == threads && max == max_threads),
                "{e}"
            );
        }
        let mut rt = Runtime::new(cfg(max_dim, max_threads)).unwrap();
        assert!(matches!(
            rt.reconfigure(max_dim + 1, 1),
            Err(Error::BadBlockDim { .. })
        ));
        assert!(matches!(
            rt.reconfigure(1, 0),
            Err(Error::BadThreadCount { .. })
        ));
        assert_eq!(
            (rt.config().block_dim, rt.config().threads),
            (max_dim, max_threads),
            "failed reconfigure changed nothing"
        );
        assert_clean_and_usable(&mut rt);
    }
}

#[test]
fn too_many_argument_words() {
    let mut rt = runtime();
    let words = vec![0u64; hostgraph_orch_abi::MAX_TASK_ARGS + 1];
    let e = rt
        .build(|g| g.add_task(0, CoreType::Aiv, &words).map(drop))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooManyArgs {
                func_id: 0,
                count: 4097,
                max: 4096
            }
        ),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
    // The limit itself is fine (finalize removed the kernels: register again).
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &words[1..]).map(drop))
        .unwrap();
    rt.run().unwrap();
    rt.finalize().unwrap();
}

#[test]
fn bad_tensor_pairs() {
    let mut rt = runtime();
    let mut host = [0u8; 16];
    let hp = host.as_mut_ptr();
    for (host, why) in [
        (hp, "null device pointer"),
        (std::ptr::null_mut(), "null host pointer"),
    ] {
        let e = rt
            .build(|g| {
                let dev = if host.is_null() {
                    g.device_malloc(16)?
                } else {
                    0
                };
                // SAFETY: `host` is null or points at 16 live bytes.
                unsafe { g.record_tensor_pair(host, dev, 16) }
            })
            .unwrap_err();
        assert!(
            matches!(e, Error::BadTensorPair { why: w, .. } if w == why),
            "{e}"
        );
        assert_clean_and_usable(&mut rt);
    }
    let e = rt
        .build(|g| {
            let dev = g.device_malloc(16)?;
            // SAFETY: `host` is 16 live bytes.
            unsafe { g.record_tensor_pair(hp, dev, 0) }
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadTensorPair {
                bytes: 0,
                why: "zero size",
                ..
            }
        ),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
}

#[test]
fn device_memory_misuse() {
    let mut rt = runtime();
    let e = rt
        .build(|g| {
            let p = g.device_malloc(64)?;
            g.device_free(p)?;
            g.device_free(p)
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Memory(MemError::DoubleFree { .. })),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
    let e = rt
        .build(|g| {
            let p = g.device_malloc(64)?;
            g.device_free(p + 8)
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Memory(MemError::UnknownPointer { .. })),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
    let e = rt
        .build(|g| {
            let p = g.device_malloc(64)?;
            g.copy_to_device(p + 32, &[0u8; 64])
        })
        .unwrap_err();
    assert!(
        matches!(e, Error::Memory(MemError::OutOfBounds { bytes: 64, .. })),
        "{e}"
    );
    assert_clean_and_usable(&mut rt);
}

#[test]
fn building_twice_or_running_nothing() {
    let mut rt = runtime();
    assert!(matches!(rt.run(), Err(Error::NoGraph)));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    let e = rt.build(|_| Ok(())).unwrap_err();
    assert!(matches!(e, Error::GraphPresent(1)), "{e}");
    // A graph that failed to seal is kept: discard() is the way out.
    assert!(e.to_string().contains("discard()"), "{e}");
    rt.finalize().unwrap();
    assert_clean_and_usable(&mut rt);
}

#[test]
fn registering_a_kernel_twice_replaces_it() {
    fn first(args: &[u64]) {
        // SAFETY: the graph passes one pointer to a u32.
        unsafe { *(args[0] as *mut u32) = 1 };
    }
    fn second(args: &[u64]) {
        // SAFETY: as above.
        unsafe { *(args[0] as *mut u32) = 2 };
    }
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    assert!(!rt.register_kernel(3, KernelFn::rust(first)));
    assert!(rt.register_kernel(3, KernelFn::rust(second)));
    let mut out = [0u32];
    rt.build(|g| {
        // SAFETY: `out` outlives finalize.
        let d = unsafe { g.output(&mut out)? };
        g.add_task(3, CoreType::Aiv, &[d]).map(drop)
    })
    .unwrap();
    rt.run().unwrap();
    let report = rt.finalize().unwrap();
    assert_eq!(out, [2]);
    assert_eq!(report.kernels_removed, 1, "one entry per func_id");
}

fn build_plugin(rt: &mut Runtime, name: &str, args: &OwnedArgs) -> hostgraph::Result<()> {
    let plugin = load_c(name)?;
    // SAFETY: the plugins record no tensor pair whose host buffer outlives `args`.
    unsafe { rt.build_with_plugin(&plugin, args) }
}

#[test]
fn plugin_bad_edge_is_latched_even_though_it_returns_zero() {
    let mut rt = runtime();
    let e = build_plugin(&mut rt, "bad_edge", &OwnedArgs::new()).unwrap_err();
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
fn plugin_returning_non_zero_fails_and_frees_its_memory() {
    let mut rt = runtime();
    let e = build_plugin(&mut rt, "returns_error", &OwnedArgs::new()).unwrap_err();
    assert!(
        matches!(&e, Error::PluginFailed { entry, code: 3 } if entry == "entry"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "orchestration entry point \"entry\" returned 3"
    );
    assert_clean_and_usable(&mut rt);
}

#[test]
fn plugin_without_entry_symbol_names_the_symbol_and_path() {
    let e = load_c("no_entry").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Load { .. }), "{e}");
    assert!(
        msg.contains("\"entry\"") && msg.contains("libno_entry.so"),
        "{msg}"
    );
    // The symbol it does export works when named.
    let path = c_plugin("no_entry");
    // SAFETY: our own test plugin.
    let plugin = unsafe { Plugin::load_entry(&path, "build_graph") }.unwrap();
    let mut rt = runtime();
    // SAFETY: the plugin records nothing.
    unsafe { rt.build_with_plugin(&plugin, &OwnedArgs::new()) }.unwrap();
    rt.finalize().unwrap();
}

#[test]
fn plugin_for_another_abi_version_is_refused() {
    let e = load_c("old_abi").unwrap_err();
    assert!(
        matches!(
            e,
            Error::AbiMismatch {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = load_c("no_version").unwrap_err();
    assert!(e.to_string().contains("hostgraph_orch_abi_version"), "{e}");
}

#[test]
fn not_a_shared_object_carries_the_loaders_message() {
    // SAFETY: loading fails before any code could run.
    let e = unsafe { Plugin::from_bytes(b"definitely not an ELF file", "entry") }.unwrap_err();
    match &e {
        Error::Load { path, message, .. } => {
            assert!(!message.is_empty());
            assert!(!path.exists(), "the temp file was unlinked");
        }
        other => panic!("expected a load error, got {other}"),
    }
    // SAFETY: as above.
    let e = unsafe { Plugin::load("/nonexistent/dir/libnothing.so") }.unwrap_err();
    assert!(
        e.to_string().contains("/nonexistent/dir/libnothing.so"),
        "{e}"
    );
}

#[test]
fn plugin_memory_and_argument_misuse_through_the_abi() {
    let mut rt = runtime();
    type Check = fn(&Error) -> bool;
    let expect: [(u64, Check); 7] = [
        (1, |e| {
            matches!(e, Error::Memory(MemError::DoubleFree { .. }))
        }),
        (2, |e| {
            matches!(e, Error::Memory(MemError::UnknownPointer { .. }))
        }),
        (3, |e| {
            matches!(e, Error::Memory(MemError::OutOfBounds { bytes: 64, .. }))
        }),
        (4, |e| {
            matches!(
                e,
                Error::BadTensorPair {
                    why: "null host pointer",
                    ..
                }
            )
        }),
        (5, |e| {
            matches!(
                e,
                Error::BadTensorPair {
                    why: "zero size",
                    ..
                }
            )
        }),
        (6, |e| matches!(e, Error::BadCoreType(7))),
        (7, |e| matches!(e, Error::TooManyArgs { count: 4097, .. })),
    ];
    for (case, check) in expect {
        let mut args = OwnedArgs::new();
        args.push_scalar(case);
        let e = build_plugin(&mut rt, "memory_abuse", &args).unwrap_err();
        assert!(check(&e), "case {case}: {e}");
        assert_clean_and_usable(&mut rt);
    }
}

/// Freeing the null address does nothing, as C's `free(NULL)` does: the
/// build goes on, through the Rust API and the C ABI alike.
#[test]
fn freeing_null_does_nothing() {
    let mut rt = runtime();
    rt.build(|g| {
        let p = g.device_malloc(64)?;
        g.device_free(0)?;
        g.device_free(p)?;
        g.add_task(0, CoreType::Aiv, &[]).map(|_| ())
    })
    .unwrap();
    assert_eq!(rt.task_count(), 1);
    assert_eq!(rt.discard(), 0, "no allocation left");
    let mut args = OwnedArgs::new();
    args.push_scalar(8);
    build_plugin(&mut rt, "memory_abuse", &args).unwrap();
    assert_eq!(rt.task_count(), 1);
    assert!(rt.device_memory().live().is_empty());
}

#[test]
fn freeing_a_recorded_buffer_is_refused() {
    let mut rt = runtime();
    let mut host = [0u8; 256];
    let e = rt
        .build(|g| {
            let dev = g.device_malloc(512)?;
            // SAFETY: `host` outlives the build (which fails, so nothing
            // is ever copied back into it).
            unsafe { g.record_tensor_pair(host.as_mut_ptr(), dev + 128, 256)? };
            // Finalize would copy whatever reused the address into `host`.
            g.device_free(dev)
        })
        .unwrap_err();
    assert!(matches!(e, Error::FreeOfRecorded { pair: 0, .. }), "{e}");
    assert!(e.to_string().contains("tensor pair 0"), "{e}");
    assert!(host.iter().all(|&b| b == 0));
    assert_clean_and_usable(&mut rt);
}

#[test]
fn a_config_for_another_chip_than_the_backend_is_refused() {
    let a5 = RuntimeConfig {
        platform: Platform::A5,
        block_dim: 36,
        ..Default::default()
    };
    let backend = ThreadedSim::new(Platform::A2A3, Default::default());
    let e = Runtime::with_backend(a5, backend).err().unwrap();
    assert!(
        matches!(
            e,
            Error::ConfigMismatch {
                config: Platform::A5,
                backend: Platform::A2A3,
                ..
            }
        ),
        "{e}"
    );
    // Same chip, a block dim beyond it.
    let wide = RuntimeConfig {
        block_dim: 36,
        ..Default::default()
    };
    let backend = InlineSim::new(Platform::A2A3);
    assert!(matches!(
        Runtime::with_backend(wide, backend).err().unwrap(),
        Error::BadBlockDim {
            block_dim: 36,
            max: 24,
            ..
        }
    ));
}

#[test]
fn unbounded_timeouts_mean_no_bound() {
    let mut rt = Runtime::new(RuntimeConfig {
        startup_timeout: Duration::MAX,
        stall_timeout: Duration::MAX,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    for _ in 0..2 {
        assert_clean_and_usable(&mut rt);
    }
}

/// The graph's tasks and lists are public in the runtime's world: a change
/// that makes them disagree, before the first run or between runs, is
/// refused when the run seals the graph (`GraphMismatch` naming what
/// disagrees), not read out of bounds in the hot loop or run as some other
/// graph. (Fan-ins are not in the world to disagree: sealing counts them
/// from the lists.)
#[test]
fn tasks_or_lists_changed_in_the_world_are_refused_at_seal() {
    use hostgraph::bevy_ecs::entity::Entity;
    use hostgraph::graph::{Task, TaskLists};

    fn three_tasks(rt: &mut Runtime) {
        rt.build(|g| {
            let a = g.add_task(0, CoreType::Aiv, &[1])?;
            let b = g.add_task(0, CoreType::Aiv, &[])?;
            let c = g.add_task(0, CoreType::Aic, &[])?;
            g.add_successor(a, b)?;
            g.add_successor(b, c)
        })
        .unwrap();
    }
    fn edit(rt: &mut Runtime, id: u32, f: impl Fn(&mut Task)) {
        let world = rt.world_mut();
        for mut task in world.query::<&mut Task>().iter_mut(world) {
            if task.id.0 == id {
                f(&mut task);
            }
        }
    }
    fn despawn(rt: &mut Runtime, id: u32) {
        let world = rt.world_mut();
        let e = world
            .query::<(Entity, &Task)>()
            .iter(world)
            .find(|(_, t)| t.id.0 == id)
            .map(|(e, _)| e)
            .unwrap();
        world.despawn(e);
    }
    type Change = fn(&mut Runtime);
    let cases: [(&str, Change, &str); 4] = [
        (
            "lists replaced",
            |rt| rt.world_mut().insert_resource(TaskLists::default()),
            "the lists describe 0 tasks (0 starts), the world holds 3 task entities",
        ),
        (
            "task despawned",
            |rt| despawn(rt, 1),
            "the lists describe 3 tasks (4 starts), the world holds 2 task entities",
        ),
        (
            "id out of range",
            |rt| edit(rt, 2, |t| t.id = TaskId(3)),
            "a task entity has id 3, but the graph has 3 tasks",
        ),
        (
            "id duplicated",
            |rt| edit(rt, 2, |t| t.id = TaskId(0)),
            "two task entities have id 0",
        ),
    ];
    let mut rt = runtime();
    for (name, change, why) in cases {
        // Before the first run, and after a run (the graph sealed already).
        for runs_first in [false, true] {
            three_tasks(&mut rt);
            if runs_first {
                assert_eq!(rt.run().unwrap().tasks, 3);
            }
            change(&mut rt);
            let err = rt.run().unwrap_err();
            match &err {
                Error::GraphMismatch { why: w } => assert_eq!(w, why, "{name}"),
                other => panic!("{name}, after a run {runs_first}: {other}"),
            }
            rt.discard();
        }
    }
    assert_clean_and_usable(&mut rt);
}

thread_local! {
    // The tasks the fan-in graph's kernel ran, in order, on this thread
    // (the inline simulator runs kernels on the thread that runs the
    // graph, so each test sees only its own).
    static RAN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The fan-in graph's kernel: records its task (its argument word).
fn record(args: &[u64]) {
    RAN.with_borrow_mut(|ran| ran.push(args[0]));
}

/// The tasks run since the last look, taken.
fn ran() -> Vec<u64> {
    RAN.with_borrow_mut(std::mem::take)
}

/// The diamond-with-a-tail the fan-in tests run on one thread and one
/// block, inline, so the order kernels run in is the order of dispatch:
/// a(0) → c(3), b1(1) → b2(2) → c(3). Every kernel records its first word
/// (its task id): `record`.
fn fan_in_graph() -> Runtime<InlineSim> {
    let cfg = RuntimeConfig {
        block_dim: 1,
        threads: 1,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(cfg, InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(0, KernelFn::rust(record));
    build_fan_in_graph(&mut rt);
    rt
}

fn build_fan_in_graph(rt: &mut Runtime<InlineSim>) {
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aiv, &[0])?;
        let b1 = g.add_task(0, CoreType::Aiv, &[1])?;
        let b2 = g.add_task(0, CoreType::Aiv, &[2])?;
        let c = g.add_task(0, CoreType::Aiv, &[3])?;
        g.add_successor(a, c)?;
        g.add_successor(b1, b2)?;
        g.add_successor(b2, c)
    })
    .unwrap();
}

/// Sets task 3's func_id in `world` to `func_id`.
fn set_kernel_of_task_3(world: &mut hostgraph::bevy_ecs::world::World, func_id: i32) {
    for mut t in world.query::<&mut hostgraph::graph::Task>().iter_mut(world) {
        if t.id == TaskId(3) {
            t.kernel.func_id = func_id;
        }
    }
}

/// Asserts that `e` is the missing kernel 99 of task 3.
fn assert_kernel_99_of_task_3_missing(e: &Error) {
    assert!(
        matches!(
            e,
            Error::MissingKernel {
                func_id: 99,
                task: TaskId(3),
                others: 0
            }
        ),
        "{e:?}"
    );
}

/// Asserts that every task ran once, after its predecessors.
fn assert_ran_in_order() {
    let order = ran();
    let pos = |t| order.iter().position(|&x| x == t).unwrap();
    assert_eq!(order.len(), 4, "{order:?}");
    assert!(
        pos(0) < pos(3) && pos(1) < pos(2) && pos(2) < pos(3),
        "{order:?}"
    );
}

/// A task edited after the graph was sealed and before it is launched (a
/// user system between the two phases) does not change the run: it
/// executes the graph that was sealed, in order, with the kernels it was
/// sealed with, and the edit is seen by the next run, which seals again.
#[test]
fn a_task_edited_between_seal_and_launch_does_not_change_the_run() {
    use hostgraph::bevy_ecs::prelude::*;
    use hostgraph::run::{Phase, RunSchedule};
    use std::sync::atomic::{AtomicBool, Ordering};

    static ARMED: AtomicBool = AtomicBool::new(true);
    /// Once: task 3's kernel to one that is not registered.
    fn edit_once(mut tasks: Query<&mut hostgraph::graph::Task>) {
        if ARMED.swap(false, Ordering::Relaxed) {
            for mut t in &mut tasks {
                if t.id == TaskId(3) {
                    t.kernel.func_id = 99;
                }
            }
        }
    }
    let mut rt = fan_in_graph();
    rt.world_mut().resource_mut::<Schedules>().add_systems(
        RunSchedule::Start,
        edit_once.after(Phase::Seal).before(Phase::Launch),
    );
    assert_eq!(rt.run().unwrap().tasks, 4);
    assert_ran_in_order();
    assert_kernel_99_of_task_3_missing(&rt.run().unwrap_err());
    assert!(ran().is_empty(), "a kernel ran");
    // Nothing was dispatched: the graph is kept until discarded.
    assert_eq!(rt.task_count(), 4);
    rt.discard();
    build_fan_in_graph(&mut rt);
    for _ in 0..2 {
        assert_eq!(rt.run().unwrap().tasks, 4);
        assert_ran_in_order();
    }
    rt.finalize().unwrap();
}

/// An edit older than bevy's change-detection horizon (`MAX_CHANGE_AGE`
/// world ticks, about 3.26e9, before the run: an application that runs its
/// graph rarely) is still seen at the next run: a seal older than the
/// horizon is redone. Before, the edit went unseen and the old sealed view
/// was kept: here a task whose kernel is no longer registered ran, and the
/// run said Ok.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "billions of world ticks: about half a minute unoptimised; run with --release"
)]
fn an_edit_older_than_the_change_horizon_is_still_refused() {
    use hostgraph::bevy_ecs::change_detection::MAX_CHANGE_AGE;

    let mut rt = fan_in_graph();
    assert_eq!(rt.run().unwrap().tasks, 4);
    assert_ran_in_order();
    let world = rt.world_mut();
    set_kernel_of_task_3(world, 99);
    for _ in 0..MAX_CHANGE_AGE as u64 + 10_000_000 {
        world.increment_change_tick();
    }
    assert_kernel_99_of_task_3_missing(&rt.run().unwrap_err());
    assert!(ran().is_empty(), "a kernel ran");
    assert_eq!(rt.task_count(), 4);
    // Put back, the graph runs again, in order.
    set_kernel_of_task_3(rt.world_mut(), 0);
    assert_eq!(rt.run().unwrap().tasks, 4);
    assert_ran_in_order();
    rt.finalize().unwrap();
}

/// A run whose Dispatch phase was replaced by a system that hosts nothing
/// ran no task: it is `Incomplete` (0 of 1 completed, 0 dispatched), from
/// `run` and from `start`, not `Ok`; the graph is kept (nothing ran on
/// it). Fresh run schedules (`release_memory`) run the next graph.
#[test]
fn a_run_that_dispatched_nothing_is_not_ok() {
    use hostgraph::run::{Phase, RunSchedule};
    use std::sync::atomic::{AtomicU64, Ordering};

    static RAN: AtomicU64 = AtomicU64::new(0);
    let mut rt = runtime();
    rt.register_kernel(
        0,
        KernelFn::rust(|_| {
            RAN.fetch_add(1, Ordering::Relaxed);
        }),
    );
    let mut out = [0u32; 4];
    rt.build(|g| {
        // SAFETY: `out` outlives the graph (finalize or discard below).
        let dev = unsafe { g.output(&mut out)? };
        g.add_task(0, CoreType::Aiv, &[dev]).map(drop)
    })
    .unwrap();
    rt.replace_phase(RunSchedule::Start, Phase::Dispatch, || {});
    for _ in 0..2 {
        let from_run = rt.run().unwrap_err();
        let from_start = rt.start().map(drop).unwrap_err();
        for e in [from_run, from_start] {
            assert!(
                matches!(
                    e,
                    Error::Incomplete {
                        completed: 0,
                        dispatched: 0,
                        tasks: 1
                    }
                ),
                "{e:?}"
            );
        }
        assert_eq!(RAN.load(Ordering::Relaxed), 0);
        assert_eq!(rt.task_count(), 1, "nothing ran: the graph is kept");
        assert_eq!(rt.device_memory().live().len(), 1);
    }
    rt.discard();
    rt.release_memory().unwrap();
    assert_clean_and_usable(&mut rt);
}

/// Lists replaced by another graph's are run even when bevy's change
/// detection cannot see the change: here 2^32 + 5e8 world ticks pass with
/// no schedule run (so no periodic check of the ticks), the replacement's
/// tick wraps round to look older than the last seal, and the last seal
/// looks recent. The sealed view's lists are compared by pointer, so the
/// run seals again and executes the lists the world holds (their edges and
/// argument words), not the ones sealed before.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "billions of world ticks: about half a minute unoptimised; run with --release"
)]
fn lists_replaced_are_run_when_change_detection_wraps() {
    let mut rt = fan_in_graph();
    assert_eq!(rt.run().unwrap().tasks, 4);
    assert_ran_in_order();
    // Four tasks again, words 10-13, task 3 now an input of every other.
    let mut other = fan_in_graph();
    other.discard();
    other
        .build(|g| {
            let mut t = Vec::new();
            for w in [10, 11, 12, 13] {
                t.push(g.add_task(0, CoreType::Aiv, &[w])?);
            }
            for &to in &t[..3] {
                g.add_successor(t[3], to)?;
            }
            Ok(())
        })
        .unwrap();
    let lists = other
        .world()
        .resource::<hostgraph::graph::TaskLists>()
        .clone();
    let world = rt.world_mut();
    for _ in 0..1_000_000_000u64 {
        world.increment_change_tick();
    }
    world.insert_resource(lists);
    for _ in 0..(1u64 << 32) - 500_000_000 {
        world.increment_change_tick();
    }
    assert_eq!(rt.run().unwrap().tasks, 4);
    let order = ran();
    assert_eq!(order.len(), 4, "{order:?}");
    assert_eq!(order[0], 13, "{order:?}");
    let mut rest = order[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, [10, 11, 12], "{order:?}");
    rt.discard();
    build_fan_in_graph(&mut rt);
    assert_eq!(rt.run().unwrap().tasks, 4);
    assert_ran_in_order();
    rt.finalize().unwrap();
    other.discard();
}

/// A Seed phase replaced by one that plans nothing: the run is
/// `Incomplete` with nothing dispatched (not `NoGraph`: a graph is built),
/// and the graph is kept.
#[test]
fn a_seed_phase_that_made_no_plan_is_incomplete_not_no_graph() {
    use hostgraph::run::{Phase, RunSchedule};
    let mut rt = runtime();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    rt.replace_phase(RunSchedule::Start, Phase::Seed, || {});
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Incomplete {
                completed: 0,
                dispatched: 0,
                tasks: 1
            }
        ),
        "{e:?}"
    );
    assert_eq!(rt.task_count(), 1, "nothing ran: the graph is kept");
    rt.discard();
    rt.release_memory().unwrap();
    assert_clean_and_usable(&mut rt);
}

/// The TaskLists resource removed from the world: GraphMismatch saying so
/// (not a panic from a system parameter), and discard brings it back.
#[test]
fn removed_task_lists_are_a_graph_mismatch() {
    let mut rt = runtime();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    rt.world_mut()
        .remove_resource::<hostgraph::graph::TaskLists>();
    match rt.run().unwrap_err() {
        Error::GraphMismatch { why } => assert!(why.contains("TaskLists"), "{why}"),
        e => panic!("expected GraphMismatch, got {e:?}"),
    }
    rt.discard();
    assert_clean_and_usable(&mut rt);
}

/// An empty graph described by `TaskLists::default()` (the lists of no
/// tasks) is an empty graph, not a mismatch.
#[test]
fn default_lists_describe_an_empty_graph() {
    let mut rt = runtime();
    rt.build(|_| Ok(())).unwrap();
    rt.world_mut()
        .insert_resource(hostgraph::graph::TaskLists::default());
    assert_eq!(rt.run().unwrap().tasks, 0);
    rt.discard();
    assert_clean_and_usable(&mut rt);
}

/// A plugin's runtime handle is valid only in its entry call, on the
/// entry's thread. A call through a handle kept after the entry returned
/// is refused (it used to reach a dead stack frame: a write to whatever
/// ran there since, or a crash), and a call from a thread the plugin
/// started is refused and fails the build, even though the plugin ignores
/// the status. Found by a hostile review.
#[test]
fn calls_through_a_kept_handle_or_from_another_thread_are_refused() {
    let null_argument = hostgraph_orch_abi::OrchStatus::NullArgument.code();
    let path = c_plugin("keeps_handle");
    // SAFETY: the test plugin's initialisers do nothing.
    let lib = unsafe { libloading::Library::new(&path) }.unwrap();
    // SAFETY: both exported functions take no arguments and return int32_t.
    let poke: libloading::Symbol<unsafe extern "C" fn() -> i32> =
        unsafe { lib.get(b"poke_later\0") }.unwrap();
    // SAFETY: as above.
    let thread_status: libloading::Symbol<unsafe extern "C" fn() -> i32> =
        unsafe { lib.get(b"thread_status\0") }.unwrap();

    let mut rt = runtime();
    build_plugin(&mut rt, "keeps_handle", &OwnedArgs::new()).unwrap();
    assert_eq!(rt.task_count(), 1);
    /// Overwrites the stack the entry call used.
    #[inline(never)]
    fn clobber_stack() {
        let mut junk = [0x41u8; 1 << 16];
        std::hint::black_box(&mut junk);
    }
    clobber_stack();
    // SAFETY: `poke_later` calls through the kept handle only.
    assert_eq!(unsafe { poke() }, null_argument, "a kept handle");
    assert_eq!(rt.task_count(), 1, "nothing reached the graph");
    rt.discard();

    // SAFETY: `entry_threaded` has the entry signature.
    let plugin = unsafe { Plugin::load_entry(&path, "entry_threaded") }.unwrap();
    // SAFETY: it records no tensor pair.
    let e = unsafe { rt.build_with_plugin(&plugin, &OwnedArgs::new()) }.unwrap_err();
    assert!(matches!(e, Error::StaleHandle { refused: 1 }), "{e}");
    assert_eq!(
        // SAFETY: `thread_status` reads a static.
        unsafe { thread_status() },
        null_argument,
        "the thread's call"
    );
    assert_eq!(rt.task_count(), 0, "the failed build left nothing");
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    assert_eq!(rt.run().unwrap().tasks, 1);
    rt.finalize().unwrap();
}

/// A build closure that panics leaves nothing behind, as one that fails
/// does, and the panic reaches the caller: its device memory was kept and
/// its tensor pair stayed recorded, so the next round's finalize copied
/// into the panicked build's host buffer (in real use, one the unwind had
/// freed). Found by a hostile review.
#[test]
fn a_panicking_build_leaves_nothing_behind() {
    let mut rt = runtime();
    // Kept alive for the whole test so that a stale copy-back is observable.
    let mut first = vec![0u8; 64];
    let first_ptr = first.as_mut_ptr();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = rt.build(|g| {
            let dev = g.device_malloc(64)?;
            g.copy_to_device(dev, &[0xEE; 64])?;
            // SAFETY: `first` outlives the runtime.
            unsafe { g.record_tensor_pair(first_ptr, dev, 64)? };
            panic!("planned panic in a build closure");
        });
    }));
    assert!(r.is_err(), "the panic reached the caller");
    assert!(rt.device_memory().live().is_empty(), "its memory was freed");
    assert_eq!(rt.task_count(), 0);
    let mut second = [0u8; 8];
    rt.build(|g| {
        // SAFETY: `second` outlives finalize.
        let dev = unsafe { g.output(&mut second)? };
        g.add_task(0, CoreType::Aiv, &[dev]).map(drop)
    })
    .unwrap();
    rt.run().unwrap();
    assert_eq!(rt.finalize().unwrap().copied, 1, "this round's pair only");
    assert!(
        first.iter().all(|&b| b == 0),
        "nothing written back into it"
    );
}

/// Hostgraph's resources removed from the world through `world_mut` (the
/// docs say not to): a run fails with a typed error, and `discard` puts
/// the runtime back in order. Removing the sealed view made `discard`
/// panic half way, and every later build was refused ("a graph of 0
/// tasks is already built"). Found by a hostile review.
#[test]
fn a_removed_graph_resource_is_recovered_by_discard() {
    use hostgraph::graph::{GraphStatus, TaskCount};
    use hostgraph::run::SealedGraph;
    for which in ["sealed", "count", "status"] {
        let mut rt = runtime();
        rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
            .unwrap();
        let world = rt.world_mut();
        match which {
            "sealed" => drop(world.remove_resource::<SealedGraph>()),
            "count" => drop(world.remove_resource::<TaskCount>()),
            _ => drop(world.remove_resource::<GraphStatus>()),
        }
        let run = rt.run();
        if which == "sealed" {
            assert!(run.is_err(), "{which}: {run:?}");
        }
        rt.discard();
        rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
            .unwrap_or_else(|e| panic!("{which}: {e}"));
        assert_eq!(rt.run().unwrap().tasks, 1, "{which}");
        rt.finalize().unwrap();
    }
}
