//! Many rounds on one runtime: rebuild every round through the C plugin,
//! and re-run one built graph; failed rounds mixed in. Resident memory stays
//! flat and every device allocation comes back.
//!
//! Resident memory is per process, so the tests here run one at a time, and
//! the planned kernel panics are silenced (printing a backtrace loads the
//! binary's debug symbols once, tens of MiB that are not a leak).

use std::sync::{Mutex, MutexGuard};

use hostgraph::{CoreType, Error, KernelFn, Runtime, RuntimeConfig};
use hostgraph_examples::{plugins, vector};

const ROUNDS: usize = 1000;
const SLACK: u64 = 8 << 20;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn quiet_planned_panics() -> MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("planned failure") {
            eprintln!("{info}");
        }
    }));
    guard
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn boom(_: &[u64]) {
    panic!("planned failure");
}

/// A round that fails on purpose (a panicking kernel after a real build).
fn failed_round(rt: &mut Runtime) {
    rt.register_kernel(77, KernelFn::rust(boom));
    rt.build(|g| {
        g.device_malloc(4096)?;
        g.add_task(77, CoreType::Aiv, &[]).map(drop)
    })
    .unwrap();
    assert!(matches!(
        rt.run(),
        Err(Error::KernelFault { func_id: 77, .. })
    ));
    assert!(rt.device_memory().live().is_empty());
    rt.remove_kernels();
}

#[test]
fn thousand_rebuild_rounds_keep_memory_flat() {
    let _serial = quiet_planned_panics();
    let plugin = plugins::load_c("vector_example").unwrap();
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let a: Vec<f32> = (0..vector::ELEMENTS).map(|i| (i % 7) as f32).collect();
    let b: Vec<f32> = (0..vector::ELEMENTS)
        .map(|i| (i % 5) as f32 * 0.5)
        .collect();
    let want = vector::reference(&a, &b);
    let mut base = 0;
    for round in 0..ROUNDS {
        if round == 50 {
            base = resident_bytes();
        }
        if round % 100 == 20 {
            failed_round(&mut rt);
        }
        let (f, report) = vector::run_round(&mut rt, &plugin, &a, &b).unwrap();
        assert_eq!(report.tasks, 4);
        assert!(f == want, "round {round}: wrong result");
        assert!(
            rt.device_memory().live().is_empty(),
            "round {round}: device memory left"
        );
    }
    let grown = resident_bytes().saturating_sub(base);
    assert!(
        grown < SLACK,
        "resident memory grew by {grown} bytes over {ROUNDS} rounds"
    );
}

#[test]
fn thousand_reruns_of_one_built_graph() {
    let _serial = quiet_planned_panics();
    fn bump(args: &[u64]) {
        // SAFETY: the graph passes a pointer to one u64 counter per task.
        unsafe { *(args[0] as *mut u64) += 1 };
    }
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 2,
        threads: 2,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(bump));
    let mut counts = vec![0u64; 64];
    rt.build(|g| {
        // SAFETY: `counts` outlives finalize.
        let dev = unsafe { g.output(&mut counts)? };
        let mut prev = None;
        for i in 0..64u64 {
            let t = g.add_task(
                0,
                if i % 2 == 0 {
                    CoreType::Aic
                } else {
                    CoreType::Aiv
                },
                &[dev + 8 * i],
            )?;
            if let Some(p) = prev.filter(|_| i % 4 != 0) {
                g.add_successor(p, t)?;
            }
            prev = Some(t);
        }
        Ok(())
    })
    .unwrap();
    let mut base = 0;
    for round in 0..ROUNDS {
        if round == 50 {
            base = resident_bytes();
        }
        assert_eq!(rt.run().unwrap().tasks, 64);
    }
    let grown = resident_bytes().saturating_sub(base);
    rt.finalize().unwrap();
    assert!(
        counts.iter().all(|&c| c == ROUNDS as u64),
        "every task ran once per round: {counts:?}"
    );
    assert!(
        grown < SLACK,
        "resident memory grew by {grown} bytes over {ROUNDS} re-runs"
    );
}
