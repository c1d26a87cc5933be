//! Kernels that do not return: the run is reported promptly (while the
//! kernel is still inside), the memory it may still write is held back
//! (never handed to the next build), dropping the runtime does not wait for
//! it, and the runtime recovers by itself once the kernel returns, or at
//! once with `abandon_stuck`.
//!
//! Each test has its own kernel and its own gate (a static flag), released
//! by the test when it has checked what must hold while the kernel hangs;
//! a watchdog releases it anyway after a minute, so a broken runtime fails
//! the test instead of hanging it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hostgraph::{
    CoreType, Error, HeldTask, KernelFn, Runtime, RuntimeConfig, StallDiagnosis, TaskId,
};

/// A kernel that waits for its gate to open.
struct Gate {
    entered: AtomicBool,
    open: AtomicBool,
    returned: AtomicBool,
}

impl Gate {
    const fn new() -> Self {
        Gate {
            entered: AtomicBool::new(false),
            open: AtomicBool::new(false),
            returned: AtomicBool::new(false),
        }
    }

    /// Holds the calling kernel until the gate opens (a minute at most).
    fn hold(&self) {
        self.entered.store(true, Ordering::Release);
        for _ in 0..60_000 {
            if self.open.load(Ordering::Acquire) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// Waits (bounded) until a kernel is held.
    fn wait_entered(&self) {
        for _ in 0..60_000 {
            if self.entered.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no kernel entered the gate");
    }

    /// Runs `f` on a thread of its own while this gate holds a kernel;
    /// whether `f` returned before the gate was opened (it is opened after
    /// 30 s whatever happened, and `f` then awaited).
    fn returns_while_held(&'static self, f: impl FnOnce() + Send + 'static) -> bool {
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::spawn(move || {
            f();
            tx.send(self.open.load(Ordering::Acquire)).unwrap();
        });
        let held = matches!(rx.recv_timeout(Duration::from_secs(30)), Ok(false));
        self.open();
        worker.join().unwrap();
        held
    }

    fn returned(&self) -> bool {
        self.returned.load(Ordering::Acquire)
    }

    /// Waits (bounded) until the held kernel has returned.
    fn wait_returned(&self) {
        for _ in 0..60_000 {
            if self.returned() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the held kernel never returned");
    }
}

fn noop(_: &[u64]) {}

/// Short stall bound; a start-up bound so long that waiting it out (as the
/// runtime once did, twice, after a stall) would outlast the watchdog.
fn config() -> RuntimeConfig {
    RuntimeConfig {
        stall_timeout: Duration::from_millis(300),
        startup_timeout: Duration::from_secs(120),
        ..Default::default()
    }
}

/// A graph of one held task (task 0, AIV) and `others` independent no-op
/// AIV tasks.
fn held_graph(rt: &mut Runtime, others: usize) {
    rt.build(|g| {
        g.add_task(1, CoreType::Aiv, &[])?;
        for _ in 0..others {
            g.add_task(0, CoreType::Aiv, &[])?;
        }
        Ok(())
    })
    .unwrap();
}

/// A run of two chained no-op tasks must succeed: the runtime recovered.
/// Under the default stall bound: the 300 ms of [`config`] is for the hung
/// kernels, and a loaded machine can keep a runner off a CPU that long
/// (CI once saw this run's second task finish "late").
fn small_round(rt: &mut Runtime) {
    rt.set_stall_timeout(RuntimeConfig::default().stall_timeout);
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
fn a_stall_is_reported_while_the_kernel_is_still_inside_it() {
    static GATE: Gate = Gate::new();
    fn held(_: &[u64]) {
        GATE.hold();
        GATE.returned.store(true, Ordering::Release);
    }
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 1,
        threads: 1,
        ..config()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.register_kernel(1, KernelFn::rust(held));
    held_graph(&mut rt, 30);
    let e = rt.run().unwrap_err();
    // Returned while the kernel is still held: no waiting out the start-up
    // bound for cores that cannot acknowledge, nor for the stuck runner.
    assert!(!GATE.returned(), "run() waited for the hung kernel: {e}");
    let Error::Stall {
        diagnosis: StallDiagnosis::HungKernel {
            running, waiting, ..
        },
        ..
    } = &e
    else {
        panic!("expected a hung-kernel stall, got {e}");
    };
    // Only the held task is inside a kernel; tasks written to the other
    // cores of its runner (or pipelined behind it) were never started.
    assert_eq!(running.len(), 1, "{e}");
    assert_eq!(
        (running[0].task, running[0].core_type),
        (TaskId(0), CoreType::Aiv)
    );
    assert!(
        waiting.iter().all(|h: &HeldTask| h.task != TaskId(0)),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("1 task(s) inside kernels that did not return (task 0 on AIV core"),
        "{text}"
    );
    assert!(
        !text.contains(";)") && !text.contains(" ;") && !text.ends_with(';'),
        "stray separators: {text}"
    );
    // The next run cannot launch while the kernel is inside; it says why.
    held_graph(&mut rt, 1);
    let again = rt.run().unwrap_err();
    assert!(
        matches!(&again, Error::BackendStuck(m) if m.contains("inside a kernel") && m.contains("abandon_stuck")),
        "{again}"
    );
    rt.discard();
    // It recovers by itself once the kernel returns.
    GATE.open();
    GATE.wait_returned();
    assert!(rt.wait_for_stuck(Duration::from_secs(30)));
    small_round(&mut rt);
}

/// A kernel that returns after the stall was declared, with a task
/// pipelined behind it on its core that then ran too: both are late, not
/// "written to cores but not started" (the first was acknowledged, so it
/// started, whatever its core shows now).
#[test]
fn a_task_that_returned_after_the_stall_is_late_though_its_core_moved_on() {
    static GATE: Gate = Gate::new();
    static NEXT_RAN: AtomicBool = AtomicBool::new(false);
    fn held(_: &[u64]) {
        GATE.hold();
        GATE.returned.store(true, Ordering::Release);
    }
    fn next(_: &[u64]) {
        NEXT_RAN.store(true, Ordering::Release);
    }
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 1,
        threads: 1,
        ..config()
    })
    .unwrap();
    rt.register_kernel(1, KernelFn::rust(held));
    rt.register_kernel(2, KernelFn::rust(next));
    // One AIC core: task 1 waits in its pending slot behind task 0.
    rt.build(|g| {
        g.add_task(1, CoreType::Aic, &[])?;
        g.add_task(2, CoreType::Aic, &[])?;
        Ok(())
    })
    .unwrap();
    let handle = rt.start().unwrap();
    GATE.wait_entered();
    // The scheduler declares the stall after 300 ms; the run is diagnosed
    // when it is awaited, after both kernels have run.
    std::thread::sleep(Duration::from_secs(3));
    GATE.open();
    GATE.wait_returned();
    for _ in 0..60_000 {
        if NEXT_RAN.load(Ordering::Acquire) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        NEXT_RAN.load(Ordering::Acquire),
        "the pipelined task never ran"
    );
    let e = handle.wait().unwrap_err();
    let Error::Stall {
        diagnosis:
            StallDiagnosis::HungKernel {
                running,
                late,
                waiting,
            },
        ..
    } = &e
    else {
        panic!("expected a hung-kernel stall, got {e}");
    };
    let ids = |v: &[HeldTask]| v.iter().map(|h| h.task.0).collect::<Vec<_>>();
    assert!(running.is_empty() && waiting.is_empty(), "{e}");
    assert_eq!(ids(late), [0, 1], "{e}");
    let text = e.to_string();
    assert!(!text.contains("()"), "an empty list shown: {text}");
    small_round(&mut rt);
}

#[test]
fn a_late_write_from_a_stalled_kernel_corrupts_nothing() {
    static GATE: Gate = Gate::new();
    /// Held, then fills its buffer: `[ptr, bytes]`.
    fn late_writer(args: &[u64]) {
        GATE.hold();
        // SAFETY: the graph passes a device buffer of `args[1]` bytes; the
        // runtime keeps it allocated while this kernel may run.
        unsafe { std::ptr::write_bytes(args[0] as *mut u8, 0xAB, args[1] as usize) };
        GATE.returned.store(true, Ordering::Release);
    }
    const SIZES: [u64; 3] = [256, 4096, 1 << 16];
    let mut rt = Runtime::new(config()).unwrap();
    rt.register_kernel(1, KernelFn::rust(late_writer));
    let mut held = Vec::new();
    rt.build(|g| {
        for bytes in SIZES {
            let dev = g.device_malloc(bytes)?;
            held.push((dev, bytes));
            g.add_task(1, CoreType::Aiv, &[dev, bytes])?;
        }
        Ok(())
    })
    .unwrap();
    assert!(matches!(rt.run(), Err(Error::Stall { .. })));
    // Nothing of the failed graph is live; what its kernels may write is
    // held back, not freed.
    assert!(rt.device_memory().live().is_empty());
    let mut quarantined = rt.device_memory().quarantined();
    quarantined.sort_unstable();
    held.sort_unstable();
    assert_eq!(quarantined, held);
    // The next round allocates the same sizes, device and host, while the
    // kernels still hold their buffers.
    let hosts: Vec<Vec<u8>> = (0..16)
        .flat_map(|_| SIZES)
        .map(|b| vec![7u8; b as usize])
        .collect();
    let mut fresh = Vec::new();
    rt.build(|g| {
        for h in &hosts {
            let dev = g.device_malloc(h.len() as u64)?;
            g.copy_to_device(dev, h)?;
            fresh.push((dev, h.len() as u64));
        }
        Ok(())
    })
    .unwrap();
    for &(dev, bytes) in &fresh {
        assert!(
            held.iter().all(|&(p, b)| dev + bytes <= p || dev >= p + b),
            "the next build was handed held-back memory at {dev:#x}"
        );
    }
    // Now the kernels write.
    GATE.open();
    GATE.wait_returned();
    for (h, &(dev, _)) in hosts.iter().zip(&fresh) {
        assert!(h.iter().all(|&b| b == 7), "a host buffer was overwritten");
        let mut back = vec![0u8; h.len()];
        rt.device_memory().copy_from_device(&mut back, dev).unwrap();
        assert!(
            back.iter().all(|&b| b == 7),
            "device buffer {dev:#x} was overwritten"
        );
    }
    // Once the kernels have returned, the held-back memory is released.
    assert!(rt.wait_for_stuck(Duration::from_secs(30)));
    assert!(rt.device_memory().quarantined().is_empty());
    rt.discard();
    small_round(&mut rt);
}

#[test]
fn dropping_a_runtime_with_a_hung_kernel_returns() {
    static GATE: Gate = Gate::new();
    fn held(args: &[u64]) {
        GATE.hold();
        // SAFETY: a device buffer of 64 bytes, held back (leaked) while this
        // kernel may run, even after its runtime is dropped.
        unsafe { std::ptr::write_bytes(args[0] as *mut u8, 0xCD, 64) };
        GATE.returned.store(true, Ordering::Release);
    }
    let mut rt = Runtime::new(config()).unwrap();
    rt.register_kernel(1, KernelFn::rust(held));
    rt.build(|g| {
        let dev = g.device_malloc(64)?;
        g.add_task(1, CoreType::Aic, &[dev]).map(drop)
    })
    .unwrap();
    assert!(matches!(rt.run(), Err(Error::Stall { .. })));
    drop(rt);
    assert!(!GATE.returned(), "drop waited for the hung kernel");
    // The detached runner finishes the kernel on memory that was never freed.
    GATE.open();
    GATE.wait_returned();
}

#[test]
fn abandon_stuck_starts_fresh_cores_while_a_kernel_hangs() {
    static GATE: Gate = Gate::new();
    fn held(_: &[u64]) {
        GATE.hold();
        GATE.returned.store(true, Ordering::Release);
    }
    let mut rt = Runtime::new(config()).unwrap();
    rt.register_kernel(1, KernelFn::rust(held));
    rt.build(|g| {
        let dev = g.device_malloc(128)?;
        g.add_task(1, CoreType::Aic, &[dev]).map(drop)
    })
    .unwrap();
    assert!(matches!(rt.run(), Err(Error::Stall { .. })));
    assert!(!rt.wait_for_stuck(Duration::from_millis(50)));
    assert!(rt.abandon_stuck());
    // Fresh cores: full rounds run while the old kernel still hangs.
    for _ in 0..3 {
        small_round(&mut rt);
    }
    assert!(!GATE.returned());
    assert_eq!(rt.device_memory().quarantined().len(), 1);
    GATE.open();
    GATE.wait_returned();
    assert!(rt.wait_for_stuck(Duration::from_secs(30)));
    assert!(rt.device_memory().quarantined().is_empty());
    small_round(&mut rt);
}

/// With nothing stuck, `abandon_stuck` has nothing to give up on: true on
/// every backend, and the next run works. Before, the inline and
/// virtual-time backends (which cannot abandon cores) said false, which
/// the docs say means the next run will fail. Found by a hostile review.
#[test]
fn abandon_stuck_with_nothing_stuck_is_true_on_every_backend() {
    fn check<B: hostgraph::Backend>(mut rt: Runtime<B>) {
        rt.register_kernel(0, KernelFn::rust(noop));
        assert!(rt.abandon_stuck(), "fresh");
        rt.build(|g| g.add_task(0, hostgraph::CoreType::Aiv, &[]).map(drop))
            .unwrap();
        assert_eq!(rt.run().unwrap().tasks, 1);
        assert!(rt.abandon_stuck(), "after a run");
        assert_eq!(rt.run().unwrap().tasks, 1);
        rt.finalize().unwrap();
    }
    let platform = hostgraph::Platform::A2A3;
    check(Runtime::new(config()).unwrap());
    check(Runtime::with_backend(config(), hostgraph::InlineSim::new(platform)).unwrap());
    let model = hostgraph::cost::CostModel::new(hostgraph::cost::Cost::Constant(1_000));
    let vt = hostgraph::VirtualTime::new(*platform.spec(), model, 1);
    check(Runtime::with_backend(config(), vt).unwrap());
}

/// A run handle dropped after its run stalled on a hung kernel does not
/// wait for the kernel: the run had failed, and is brought down as failed.
/// (The drop's cancel made shutdown take the orderly exit handshake,
/// bounded by `startup_timeout`: with `Duration::MAX`, forever. Found by a
/// hostile review.)
#[test]
fn dropping_the_handle_of_a_stalled_run_does_not_wait_for_the_hung_kernel() {
    static GATE: Gate = Gate::new();
    fn held(_: &[u64]) {
        GATE.hold();
    }
    let returned = GATE.returns_while_held(|| {
        let mut rt = Runtime::new(RuntimeConfig {
            stall_timeout: Duration::from_millis(200),
            startup_timeout: Duration::MAX,
            ..Default::default()
        })
        .unwrap();
        rt.register_kernel(1, KernelFn::rust(held));
        rt.build(|g| g.add_task(1, CoreType::Aiv, &[]).map(drop))
            .unwrap();
        let handle = rt.start().unwrap();
        GATE.wait_entered();
        // Well past the stall bound: the threads have stopped, the run failed.
        std::thread::sleep(Duration::from_secs(2));
        drop(handle);
    });
    assert!(
        returned,
        "dropping the stalled run's handle waited for the hung kernel to return"
    );
}

/// Dropping a runtime whose forgotten run is inside a hung kernel returns
/// within the stall bound (the cancelled run's cores get that long to
/// finish their kernels), not only once the kernel does. (It waited on
/// the exit handshake bounded by `startup_timeout`: with `Duration::MAX`,
/// forever. Found by a hostile review.)
#[test]
fn dropping_a_runtime_with_a_forgotten_run_in_a_hung_kernel_returns() {
    static GATE: Gate = Gate::new();
    fn held(_: &[u64]) {
        GATE.hold();
    }
    let returned = GATE.returns_while_held(|| {
        let mut rt = Runtime::new(RuntimeConfig {
            startup_timeout: Duration::MAX,
            ..Default::default()
        })
        .unwrap();
        rt.register_kernel(1, KernelFn::rust(held));
        rt.build(|g| g.add_task(1, CoreType::Aiv, &[]).map(drop))
            .unwrap();
        std::mem::forget(rt.start().unwrap());
        GATE.wait_entered();
        drop(rt);
    });
    assert!(
        returned,
        "dropping the runtime waited for the hung kernel to return"
    );
}
