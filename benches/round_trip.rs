//! The machine's floor for a threaded chain step, and how close hostgraph
//! gets: in one run, (1) two threads handing a cache line back and forth
//! with release stores and acquire loads (the cheapest cross-thread round
//! trip this machine can do), and (2) a chain on the threaded simulator at
//! block dim 1 with one scheduler thread (each step needs one such round
//! trip: the scheduler writes the task, the core's runner acknowledges and
//! finishes it). Prints both medians and their ratio, so the comparison
//! calibrates itself on any machine.
//!
//! `cargo bench --bench round_trip` (a plain program, not criterion: the
//! two figures must come from the same run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hostgraph::{KernelFn, Runtime, RuntimeConfig};
use hostgraph_examples::synthetic;

/// Round trips per ping-pong sample; chain steps per chain sample.
const TRIPS: u32 = 200_000;
const STEPS: usize = 100_000;
const SAMPLES: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per round trip: the main thread writes an odd number, the partner
/// answers with the next even one.
fn ping_pong() -> f64 {
    let line = Arc::new(AtomicU32::new(0));
    let partner = {
        let line = line.clone();
        std::thread::spawn(move || {
            for i in 0..TRIPS {
                while line.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                line.store(2 * i + 2, Ordering::Release);
            }
        })
    };
    let t = Instant::now();
    for i in 0..TRIPS {
        line.store(2 * i + 1, Ordering::Release);
        while line.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = t.elapsed();
    partner.join().expect("partner");
    elapsed.as_nanos() as f64 / f64::from(TRIPS)
}

/// ns per step of a chain on the threaded simulator, block dim 1, one
/// scheduler thread (execute window over steps).
fn chain_steps(rt: &mut Runtime) -> f64 {
    let report = rt.run().expect("run");
    report.execute.as_nanos() as f64 / report.tasks as f64
}

fn main() {
    // Under `cargo test --benches` criterion benches run once; this one
    // just checks that it works, on a small chain.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (samples, steps) = if quick { (1, 1_000) } else { (SAMPLES, STEPS) };
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 1,
        threads: 1,
        ..Default::default()
    })
    .expect("runtime");
    rt.register_kernel(0, KernelFn::rust(synthetic::empty));
    rt.build(|g| synthetic::build(g, synthetic::Shape::Chain, steps, 0).map(drop))
        .expect("build");
    rt.run().expect("sealing run");
    // Interleaved, so both see the same machine.
    let (mut trips, mut chain) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        trips.push(ping_pong());
        chain.push(chain_steps(&mut rt));
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.finalize().expect("finalize");
    let (trip, step) = (median(trips), median(chain));
    println!(
        "cross-thread round trip (acquire/release ping-pong): {trip:.0} ns (median of {samples})"
    );
    println!(
        "threaded chain step, block dim 1, 1 scheduler thread: {step:.0} ns (median of {samples})"
    );
    println!("ratio: {:.2} round trips per chain step", step / trip);
}
