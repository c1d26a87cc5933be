//! Faults while running: a panicking kernel, a hung kernel, cores that fail
//! start-up. Each ends in an error naming what went wrong, no thread left
//! spinning, and a runtime that runs the next graph.

use std::time::Duration;

use hostgraph::{
    CoreType, Error, HeldTask, KernelFn, Runtime, RuntimeConfig, SimFault, StallDiagnosis, TaskId,
};
use hostgraph_platform::ProtocolError;

fn noop(_: &[u64]) {}

fn boom(args: &[u64]) {
    if args.first() == Some(&13) {
        panic!("kernel exploded on purpose");
    }
}

fn sleepy(args: &[u64]) {
    std::thread::sleep(Duration::from_millis(args[0]));
}

fn assert_next_run_works(rt: &mut Runtime) {
    assert_eq!(rt.task_count(), 0, "a failed run releases its graph");
    assert!(
        rt.device_memory().live().is_empty(),
        "a failed run frees device memory"
    );
    // Under the default stall bound: the short ones some tests set are for
    // the failure they provoke, not for this run on a loaded machine.
    rt.set_stall_timeout(RuntimeConfig::default().stall_timeout);
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| {
        let mut prev = g.add_task(0, CoreType::Aic, &[])?;
        for i in 0..20 {
            let t = g.add_task(
                0,
                if i % 2 == 0 {
                    CoreType::Aiv
                } else {
                    CoreType::Aic
                },
                &[],
            )?;
            g.add_successor(prev, t)?;
            prev = t;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(rt.run().unwrap().tasks, 21);
    rt.finalize().unwrap();
}

#[test]
fn panicking_kernel_names_task_and_func_id() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    for round in 0..3 {
        rt.register_kernel(9, KernelFn::rust(boom));
        rt.build(|g| {
            g.device_malloc(128)?;
            for i in 0..200u64 {
                g.add_task(
                    9,
                    if i % 3 == 0 {
                        CoreType::Aic
                    } else {
                        CoreType::Aiv
                    },
                    &[i],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let e = rt.run().unwrap_err();
        match &e {
            Error::KernelFault {
                task,
                func_id,
                message,
                ..
            } => {
                assert_eq!((*task, *func_id), (TaskId(13), 9), "round {round}");
                assert!(message.contains("exploded on purpose"), "{message}");
            }
            other => panic!("expected a kernel fault, got {other}"),
        }
        assert!(
            e.to_string().contains("func_id 9") && e.to_string().contains("task 13"),
            "{e}"
        );
        assert_next_run_works(&mut rt);
    }
}

/// A panic payload whose `Drop` panics in turn.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the payload's drop panicked too");
        }
    }
}

/// A kernel that panics with a payload whose drop panics is a kernel fault
/// like any other, on either simulator: the second panic is not let out of
/// the simulator's runner (which died holding its core: a hung-kernel
/// stall, then `BackendStuck` for good) or out of `run` (inline).
#[test]
fn a_panic_whose_payload_panics_when_dropped_is_a_kernel_fault() {
    fn bad(_: &[u64]) {
        std::panic::panic_any(PanicsWhenDropped);
    }
    fn check<B: hostgraph::Backend>(rt: &mut Runtime<B>) {
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.register_kernel(3, KernelFn::rust(bad));
        rt.build(|g| {
            g.add_task(0, CoreType::Aiv, &[])?;
            g.add_task(3, CoreType::Aiv, &[]).map(drop)
        })
        .unwrap();
        let e = rt.run().unwrap_err();
        assert!(
            matches!(e, Error::KernelFault { task: TaskId(1), func_id: 3, ref message, .. }
                if message.contains("non-string payload")),
            "{e}"
        );
    }
    let mut rt = Runtime::new(RuntimeConfig {
        stall_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .unwrap();
    check(&mut rt);
    assert!(rt.wait_for_stuck(Duration::ZERO), "no kernel is stuck");
    assert_next_run_works(&mut rt);
    let config = RuntimeConfig::default();
    let mut inline =
        Runtime::with_backend(config, hostgraph::InlineSim::new(config.platform)).unwrap();
    check(&mut inline);
}

#[test]
fn c_unwind_kernel_panic_is_contained() {
    extern "C-unwind" fn bad(_args: *const u64) {
        panic!("C-unwind kernel failed");
    }
    let mut rt = Runtime::new(RuntimeConfig {
        threads: 1,
        block_dim: 1,
        ..Default::default()
    })
    .unwrap();
    // SAFETY: `bad` reads no argument words.
    rt.register_kernel(1, unsafe { KernelFn::c_unwind(bad) });
    rt.build(|g| g.add_task(1, CoreType::Aic, &[]).map(drop))
        .unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(&e, Error::KernelFault { func_id: 1, message, .. } if message.contains("C-unwind")),
        "{e}"
    );
    assert_next_run_works(&mut rt);
}

#[test]
fn hung_kernel_is_diagnosed_by_time() {
    let cfg = RuntimeConfig {
        stall_timeout: Duration::from_millis(150),
        ..Default::default()
    };
    let mut rt = Runtime::new(cfg).unwrap();
    rt.register_kernel(0, KernelFn::rust(sleepy));
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aic, &[0])?;
        let b = g.add_task(0, CoreType::Aiv, &[900])?;
        g.add_successor(a, b)
    })
    .unwrap();
    let e = rt.run().unwrap_err();
    match &e {
        Error::Stall {
            diagnosis:
                StallDiagnosis::HungKernel {
                    running, waiting, ..
                },
            remaining: 1,
            elapsed,
        } => {
            assert_eq!(running.len(), 1, "{e}");
            assert!(waiting.is_empty(), "{e}");
            let HeldTask {
                physical_id,
                core_type,
                task,
            } = running[0];
            assert_eq!((core_type, task), (CoreType::Aiv, TaskId(1)));
            assert!(
                physical_id >= 24,
                "AIV physical ids follow the AIC ones: {physical_id}"
            );
            assert!(*elapsed >= Duration::from_millis(150));
        }
        other => panic!("expected a hung-kernel stall, got {other}"),
    }
    assert!(
        e.to_string().contains("hung kernel") && e.to_string().contains("task 1"),
        "{e}"
    );
    // A stall with the task still held by its core: detected while the
    // kernel was running (had it finished, the run would have succeeded).
    // The backend is back once the kernel has returned.
    assert!(rt.wait_for_stuck(Duration::from_secs(30)));
    assert_next_run_works(&mut rt);
}

#[test]
fn silent_core_times_out_start_up() {
    // Long enough that the eight other cores answer on a loaded machine
    // (the error counts them), and the next runs start up within it.
    let cfg = RuntimeConfig {
        startup_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let mut rt = Runtime::new(cfg).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.backend().inject_fault(Some(SimFault::SilentCore(4)));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::StartupTimeout {
                pending: 1,
                cores: 9,
                first: 4,
                ..
            }
        ),
        "{e}"
    );
    // No task was dispatched: the graph is kept, and runs once the fault
    // is gone.
    assert_eq!(rt.task_count(), 1);
    rt.backend().inject_fault(None);
    assert_eq!(rt.run().unwrap().tasks, 1);
    rt.finalize().unwrap();
    assert_next_run_works(&mut rt);
}

/// A start-up bound of 0 or 1 ms fails start-up at once, and the run
/// still keeps its graph and frees nothing early or late: landing gave
/// runners that had not yet left (none inside a kernel) only that bound,
/// then counted them stuck — the graph released, its memory held back.
#[test]
fn a_start_up_bound_of_zero_keeps_the_graph() {
    for i in 0..20 {
        let mut rt = Runtime::new(RuntimeConfig {
            startup_timeout: Duration::from_millis(i % 2),
            ..Default::default()
        })
        .unwrap();
        rt.backend().inject_fault(Some(SimFault::SilentCore(4)));
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| {
            g.device_malloc(64)?;
            g.add_task(0, CoreType::Aiv, &[]).map(drop)
        })
        .unwrap();
        let e = rt.run().unwrap_err();
        assert!(matches!(e, Error::StartupTimeout { .. }), "run {i}: {e}");
        assert_eq!(rt.task_count(), 1, "run {i}: the graph was released");
        assert!(
            rt.device_memory().quarantined().is_empty() && rt.device_memory().live().len() == 1,
            "run {i}: memory held back although no kernel ran"
        );
        assert_eq!(rt.discard(), 1, "run {i}: the allocation is freed");
    }
}

#[test]
fn bad_physical_core_id_is_refused() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.backend().inject_fault(Some(SimFault::BadPhysicalId {
        index: 2,
        physical_id: 500,
    }));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(ProtocolError::BadPhysicalId {
                index: 2,
                physical_id: 500,
                physical_cores: 72
            })
        ),
        "{e}"
    );
    // No task was dispatched: the graph is kept, and runs once the fault
    // is gone.
    assert_eq!(rt.task_count(), 1);
    rt.backend().inject_fault(None);
    assert_eq!(rt.run().unwrap().tasks, 1);
    rt.finalize().unwrap();
    assert_next_run_works(&mut rt);
}

/// Two cores reporting the same physical id would both be dealt to
/// scheduler threads: two slots writing one core's registers, each taking
/// the other's FIN for its own task. Refused at start-up, naming both.
#[test]
fn two_cores_reporting_one_physical_id_are_refused() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    // Cores 0 and 1 are AIC with physical ids 0 and 1.
    rt.backend().inject_fault(Some(SimFault::BadPhysicalId {
        index: 1,
        physical_id: 0,
    }));
    rt.build(|g| {
        for _ in 0..40 {
            g.add_task(0, CoreType::Aic, &[])?;
        }
        Ok(())
    })
    .unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(ProtocolError::DuplicatePhysicalId {
                first: 0,
                index: 1,
                physical_id: 0,
            })
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("cores 0 and 1 both reported physical core id 0"),
        "{e}"
    );
    assert_eq!(rt.task_count(), 40, "nothing dispatched: the graph is kept");
    rt.backend().inject_fault(None);
    assert_eq!(rt.run().unwrap().tasks, 40);
    rt.finalize().unwrap();
    assert_next_run_works(&mut rt);
}

/// A kernel that is only slow — it returns after the stall was declared,
/// before the run is finished — is diagnosed as such (`HungKernel` with
/// the task in `late`), not as a scheduler deadlock. Found by a hostile
/// review.
#[test]
fn a_slow_kernel_that_returns_after_the_stall_is_named_late() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static GO: AtomicBool = AtomicBool::new(false);
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 1,
        threads: 1,
        stall_timeout: Duration::from_millis(50),
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(
        0,
        KernelFn::rust(|_| {
            while !GO.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }),
    );
    rt.register_kernel(1, KernelFn::rust(|_| {}));
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aiv, &[])?;
        let b = g.add_task(1, CoreType::Aiv, &[])?;
        g.add_successor(a, b)
    })
    .unwrap();
    let run = rt.start().unwrap();
    // The scheduler declares the stall after 50 ms; the kernel returns later.
    std::thread::sleep(Duration::from_millis(500));
    GO.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_millis(100));
    let e = run.wait().unwrap_err();
    match &e {
        Error::Stall {
            diagnosis:
                StallDiagnosis::HungKernel {
                    running,
                    late,
                    waiting,
                },
            ..
        } => {
            assert!(running.is_empty() && waiting.is_empty(), "{e}");
            assert_eq!(
                late.iter().map(|h| h.task).collect::<Vec<_>>(),
                [TaskId(0)],
                "{e}"
            );
        }
        other => panic!("{other}"),
    }
    rt.discard();
}
