//! Policies keep per-task tables of the graph they prepared for; once the
//! graph is gone (finalized, discarded, released) those are dropped. The
//! heap is counted by a counting global allocator, so this file is its own
//! test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use hostgraph::cost::CostModel;
use hostgraph::sched::BuiltIn;
use hostgraph::{CoreType, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig, TaskId};

/// Counts the live heap bytes of the process.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn chain(rt: &mut Runtime<InlineSim>, n: u32) {
    rt.register_kernel(0, KernelFn::rust(|_| {}));
    rt.build(|g| {
        for i in 0..n {
            g.add_task(0, CoreType::Aiv, &[])?;
            if i > 0 {
                g.add_successor(TaskId(i - 1), TaskId(i))?;
            }
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(rt.run().unwrap().tasks, n as usize);
    rt.finalize().unwrap();
}

/// HEFT kept ~52 bytes per task of a finalized 200k-task graph (critical
/// path 8) until the next graph replaced them, `release_memory` included.
/// Found by a hostile review.
#[test]
fn policies_keep_no_per_task_state_of_a_graph_that_is_gone() {
    for policy in [BuiltIn::Heft, BuiltIn::CriticalPath] {
        let config = RuntimeConfig {
            block_dim: 1,
            threads: 1,
            ..Default::default()
        };
        let mut rt = Runtime::with_backend(config, InlineSim::new(Platform::A2A3)).unwrap();
        rt.set_builtin_policy(policy, &CostModel::default());
        chain(&mut rt, 10);
        rt.release_memory().unwrap();
        let before = LIVE.load(Ordering::Relaxed);
        chain(&mut rt, 200_000);
        rt.release_memory().unwrap();
        let kept = LIVE.load(Ordering::Relaxed) - before;
        assert!(
            kept < 1 << 20,
            "{policy:?}: {kept} bytes still live after finalize and release_memory of a 200k-task graph"
        );
    }
}
