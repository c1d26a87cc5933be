//! The threaded simulator's threads on short time slices
//! (`SimOptions::short_slices`): runners and scheduler workers run on
//! Linux's shortest slice (and a thread a kernel starts on the default
//! one), the caller's thread runs its scheduler job on it and gets its own
//! slice back after the run, and with the option off no thread's slice
//! changes. Linux with glibc only; on a kernel that does not report slices
//! (before 6.12) every slice reads 0 and the test checks only that.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig, SimOptions, TaskId};

/// Linux's shortest slice, which the simulator asks for.
const SHORT: u64 = 100_000;

fn attr(tid: i32) -> libc::sched_attr {
    let mut a = libc::sched_attr {
        size: 0,
        sched_policy: 0,
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: 0,
        sched_deadline: 0,
        sched_period: 0,
    };
    let size = std::mem::size_of::<libc::sched_attr>() as libc::c_uint;
    // SAFETY: sched_getattr writes at most `size` bytes to `a`, a live
    // sched_attr of that size.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, tid, &raw mut a, size, 0) };
    assert_eq!(
        r,
        0,
        "sched_getattr({tid}): {}",
        std::io::Error::last_os_error()
    );
    a
}

fn slice_of(tid: i32) -> u64 {
    attr(tid).sched_runtime
}

/// Sets the calling thread's slice (0: the default).
fn set_own_slice(ns: u64) {
    let a = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_runtime: ns,
        ..attr(0)
    };
    // SAFETY: sched_setattr reads `a.size` bytes of `a`, a live sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const a, 0) };
    assert_eq!(r, 0, "sched_setattr: {}", std::io::Error::last_os_error());
}

fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// The caller's thread id, and the slices a kernel saw: its runner's, the
/// caller's (while the caller ran its scheduler job), and that of a thread
/// the kernel started.
static CALLER: AtomicI32 = AtomicI32::new(0);
static RUNNER_SAW: AtomicU64 = AtomicU64::new(u64::MAX);
static CALLER_SAW: AtomicU64 = AtomicU64::new(u64::MAX);
static CHILD_SAW: AtomicU64 = AtomicU64::new(u64::MAX);

fn look(_args: &[u64]) {
    RUNNER_SAW.store(slice_of(0), Ordering::Relaxed);
    CALLER_SAW.store(slice_of(CALLER.load(Ordering::Relaxed)), Ordering::Relaxed);
    let child = std::thread::spawn(|| slice_of(0)).join().unwrap();
    CHILD_SAW.store(child, Ordering::Relaxed);
}

/// The slices of this process's threads whose names start with `prefix`
/// (as the kernel keeps them: 15 bytes at most).
fn slices_named(prefix: &str) -> Vec<u64> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let tid: i32 = e.file_name().to_str()?.parse().ok()?;
            comm.starts_with(prefix).then(|| slice_of(tid))
        })
        .collect()
}

/// What one blocking run of a one-task graph saw.
#[derive(Debug, PartialEq)]
struct Seen {
    /// The kernel's runner, the caller, and a thread the kernel started.
    runner: u64,
    caller: u64,
    child: u64,
    /// After the run: the runners and the workers.
    runners: Vec<u64>,
    workers: Vec<u64>,
}

/// One blocking run of a one-task graph with `short_slices`, on 3 blocks
/// and `threads` scheduler threads (the first the caller's, the others
/// workers): the slices seen.
fn run_once(short_slices: bool, threads: u32) -> Seen {
    let cfg = RuntimeConfig {
        block_dim: 3,
        threads,
        sim: SimOptions {
            runners: 1,
            short_slices,
        },
        ..Default::default()
    };
    let mut rt = Runtime::new(cfg).unwrap();
    rt.register_kernel(0, KernelFn::rust(look));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(|_: TaskId| ()))
        .unwrap();
    CALLER.store(gettid(), Ordering::Relaxed);
    rt.run().unwrap();
    rt.finalize().unwrap();
    let after = (
        slices_named("hostgraph-sim-"),
        slices_named("hostgraph-aicpu"),
    );
    assert_eq!(after.0.len(), 1, "one runner");
    assert_eq!(
        after.1.len(),
        threads as usize - 1,
        "a worker per thread but the caller's"
    );
    Seen {
        runner: RUNNER_SAW.swap(u64::MAX, Ordering::Relaxed),
        caller: CALLER_SAW.swap(u64::MAX, Ordering::Relaxed),
        child: CHILD_SAW.swap(u64::MAX, Ordering::Relaxed),
        runners: after.0,
        workers: after.1,
    }
}

/// What a thread's attributes say: policy, flags, nice, slice.
fn key(a: libc::sched_attr) -> (u32, u64, i32, u64) {
    (a.sched_policy, a.sched_flags, a.sched_nice, a.sched_runtime)
}

#[test]
fn runners_and_the_callers_job_run_on_short_slices_and_the_caller_gets_its_own_back() {
    // A thread of the test's own, whose slice it may change.
    std::thread::spawn(|| {
        let before = attr(0);
        let default = before.sched_runtime;
        let seen = |short: bool, threads: u32, caller: u64| Seen {
            runner: if short { SHORT } else { default },
            caller,
            child: default,
            runners: vec![if short { SHORT } else { default }],
            workers: vec![if short { SHORT } else { default }; threads as usize - 1],
        };
        if default == 0 {
            // No reported slices: nothing reads otherwise, either way.
            assert_eq!(run_once(true, 2), seen(true, 2, 0));
            assert_eq!(slice_of(0), 0);
            return;
        }
        assert_ne!(
            default, SHORT,
            "the test needs a thread on the default slice"
        );

        for threads in [1, 3] {
            assert_eq!(run_once(true, threads), seen(true, threads, SHORT));
            assert_eq!(
                key(attr(0)),
                key(before),
                "the caller's attributes are back"
            );
        }

        // A slice of the caller's own comes back as it was.
        let own = 2_500_000;
        set_own_slice(own);
        assert_eq!(run_once(true, 1), seen(true, 1, SHORT));
        assert_eq!(slice_of(0), own, "the caller's own slice is back");

        // Off: nobody's slice changes (the threads inherit the caller's).
        set_own_slice(0);
        assert_eq!(run_once(false, 2), seen(false, 2, default));
        assert_eq!(key(attr(0)), key(before));
    })
    .join()
    .unwrap();
}
