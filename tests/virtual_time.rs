//! The virtual-time backend: closed forms its rules give exactly, the
//! lower bound, determinism, every policy in dependency order without
//! running kernels, a chip of 1,026 cores, stalls, and records.
//!
//! The rules are the module docs of `hostgraph::sim::VirtualTime`; the
//! derivations below cite them by number. `P`, `R`, `W` are a poll's fixed
//! cost, a COND read and a register write.

use hostgraph::cost::{Cost, CostModel};
use hostgraph::graph::Task;
use hostgraph::run::{SealedGraph, TaskResult};
use hostgraph::sched::BuiltIn;
use hostgraph::sim::{Latencies, VirtualReport};
use hostgraph::{
    CoreType, Error, KernelFn, Platform, PlatformSpec, Runtime, RuntimeConfig, TaskId, VirtualTime,
};
use hostgraph_examples::rng::SplitMix64;

mod common;
use common::Dag;

const LAT: Latencies = Latencies::A2A3;
const P: u64 = LAT.poll_ns;
const R: u64 = LAT.read_ns;
const W: u64 = LAT.write_ns;

/// A kernel for graphs whose kernels must not run (virtual time without
/// `execute_kernels`).
fn never(_: &[u64]) {
    panic!("a kernel ran under virtual time without execute_kernels");
}

/// A virtual-time runtime over `spec` at `block_dim` blocks and `threads`
/// scheduler threads.
fn runtime(
    spec: PlatformSpec,
    model: CostModel,
    seed: u64,
    block_dim: u32,
    threads: u32,
) -> Runtime<VirtualTime> {
    let config = RuntimeConfig {
        platform: spec.platform,
        block_dim,
        threads,
        ..Default::default()
    };
    let backend = VirtualTime::new(spec, model, seed).latencies(LAT);
    Runtime::with_backend(config, backend).expect("runtime")
}

/// Builds `dag`, every task of func_id 0 (AIC) or 1 (AIV) with argument
/// words `args(task)`.
fn build(rt: &mut Runtime<VirtualTime>, dag: &Dag, args: impl Fn(usize) -> Vec<u64>) {
    rt.register_kernel(0, KernelFn::rust(never));
    rt.register_kernel(1, KernelFn::rust(never));
    rt.build(|g| {
        for (t, &ty) in dag.core.iter().enumerate() {
            g.add_task(ty as i32, ty, &args(t))?;
        }
        for &(from, to) in &dag.edges {
            g.add_successor(TaskId(from), TaskId(to))?;
        }
        Ok(())
    })
    .expect("build");
}

/// Runs the built graph; its virtual report.
fn run(rt: &mut Runtime<VirtualTime>) -> VirtualReport {
    rt.run().expect("run");
    rt.backend().report().expect("a report").clone()
}

/// Every task's published result, by task id.
fn results(rt: &mut Runtime<VirtualTime>) -> Vec<TaskResult> {
    let world = rt.world_mut();
    let mut r: Vec<(u32, TaskResult)> = world
        .query::<(&Task, &TaskResult)>()
        .iter(world)
        .map(|(t, r)| (t.id.0, *r))
        .collect();
    r.sort_by_key(|&(t, _)| t);
    r.into_iter().map(|(_, r)| r).collect()
}

fn a2a3() -> PlatformSpec {
    *Platform::A2A3.spec()
}

/// N independent tasks of duration D on the C cores of one type, one
/// scheduler thread. By the rules:
///
/// - Poll 1 at 0 (rule 4) writes C tasks, one per core (or N < C): the
///   k-th write is visible at P + kW (rule 3), its core starts then and
///   finishes at P + kW + D.
/// - Poll 2 at P + CW (rule 4: progress) sees every ACK and writes each
///   core its next task (pipelining): the k-th write is visible at
///   2P + CW + k(R + W), before core k's FIN at P + kW + D as long as
///   D ≥ P + C(R + W). So does every later poll, woken by the FIN+ACK of
///   the wave before (rule 4). Each core therefore runs its tasks back to
///   back, and each wave of C goes out in the cores' order.
/// - With N = waves·C (or N ≤ C, one wave of r = N), the last FIN is on
///   core r = C (resp. N): at P + rW + waves·D. The first write began at
///   P (rule 3), so the makespan is waves·D + rW.
#[test]
fn independent_equal_tasks_take_their_waves_plus_the_dispatch_writes() {
    const D: u64 = 10_000;
    for ty in CoreType::ALL {
        for block_dim in [1u32, 2, 5] {
            let c = match ty {
                CoreType::Aic => block_dim,
                CoreType::Aiv => 2 * block_dim,
            } as usize;
            assert!(D >= P + c as u64 * (R + W), "the derivation's condition");
            for n in [1, c.div_ceil(2), c, 2 * c, 3 * c, 7 * c] {
                let model = CostModel::new(Cost::Constant(D));
                let mut rt = runtime(a2a3(), model, 1, block_dim, 1);
                let dag = Dag {
                    core: vec![ty; n],
                    edges: Vec::new(),
                };
                build(&mut rt, &dag, |_| Vec::new());
                let report = run(&mut rt);
                let waves = n.div_ceil(c) as u64;
                let r = (n - (n.div_ceil(c) - 1) * c) as u64;
                let what = format!("{n} {ty} tasks on {c} cores");
                assert_eq!(report.makespan_ns, waves * D + r * W, "{what}");
                assert_eq!(report.lower_bound_ns, waves * D, "{what}");
                assert_eq!(report.work_ns[ty as usize], n as u64 * D, "{what}");
                assert_eq!(report.threads[0].writes, n as u64, "{what}");
                let of_type = report.cores.iter().filter(|k| k.core_type == ty);
                for core in of_type.clone() {
                    if n >= c {
                        assert_eq!(core.tasks, waves, "{what}: every core runs every wave");
                    }
                    assert_eq!(core.busy_ns, core.tasks * D, "{what}");
                    assert_eq!(core.busy_ns + core.idle_ns, report.makespan_ns, "{what}");
                }
                assert_eq!(of_type.filter(|k| k.tasks > 0).count(), n.min(c), "{what}");
                rt.finalize().unwrap();
            }
        }
    }
}

/// A chain of n tasks, durations d_i ≥ 1 (a task's duration is its first
/// argument word), mixed core types, one thread. By the rules, with s_i
/// the start of task i and F_i = s_i + d_i its FIN:
///
/// - Poll 1 at 0 writes task 0: s_0 = P + W (rule 3).
/// - The thread polls again at s_0 (rule 4: progress), sees ACK, finds
///   nothing to do: an idle poll of P + R, ending at s_i + P + R.
/// - It wakes at F_i or at the end of that poll, whichever is later
///   (rule 4), reads the FIN, releases task i + 1 and writes it:
///   s_{i+1} = max(F_i, s_i + P + R) + P + R + W.
/// - The last FIN's poll returns Done. Makespan: F_{n-1} - P.
///
/// Scheduler time: poll 1 (P + W), n idle polls (P + R), n - 1 polls
/// that dispatch (P + R + W) and the last (P + R).
#[test]
fn a_chain_takes_its_durations_plus_one_protocol_step_per_edge() {
    let model = CostModel::new(Cost::per_task(|args| args[0]));
    for seed in 0..12u64 {
        let mut rng = SplitMix64(seed);
        let n = 1 + rng.below(60);
        let durations: Vec<u64> = (0..n)
            .map(|_| match rng.below(3) {
                0 => 1 + rng.below(2 * (P + R) as usize) as u64,
                _ => 1 + rng.below(50_000) as u64,
            })
            .collect();
        let dag = Dag {
            core: (0..n).map(|_| CoreType::ALL[rng.below(2)]).collect(),
            edges: (1..n as u32).map(|t| (t - 1, t)).collect(),
        };
        let block_dim = 1 + rng.below(4) as u32;
        let mut rt = runtime(a2a3(), model.clone(), seed, block_dim, 1);
        build(&mut rt, &dag, |t| vec![durations[t]]);
        let report = run(&mut rt);

        let mut s = P + W;
        for &d in &durations[..n - 1] {
            s = (s + d).max(s + P + R) + P + R + W;
        }
        let last_fin = s + durations[n - 1];
        let n = n as u64;
        let what = format!("seed {seed}: chain of {n} on block dim {block_dim}");
        assert_eq!(report.makespan_ns, last_fin - P, "{what}");
        assert_eq!(
            report.critical_path_ns,
            durations.iter().sum::<u64>(),
            "{what}"
        );
        assert_eq!(report.lower_bound_ns, report.critical_path_ns, "{what}");
        let t = report.threads[0];
        assert_eq!(
            (t.polls, t.reads, t.writes),
            (2 * n + 1, 2 * n, n),
            "{what}"
        );
        assert_eq!(
            t.sched_ns,
            (P + W) + n * (P + R) + (n - 1) * (P + R + W) + (P + R),
            "{what}"
        );
        // The last poll reads the last FIN, when it is visible and the
        // idle poll before it has ended.
        assert_eq!(t.end_ns, last_fin.max(s + P + R) + P + R, "{what}");
        rt.finalize().unwrap();
    }
}

/// The chain again, with sleeping cores and threads (rules 3 and 4): a
/// free core takes its task `Cw` after the write is visible, a sleeping
/// thread polls `Tw` after the FIN that wakes it. With every duration
/// longer than the polls between (so the thread is asleep at each FIN):
///
/// - s_0 = P + W + Cw; the start's ACK wakes the thread, which has gone
///   back to sleep long before F_0.
/// - At F_i it polls at F_i + Tw, reads the FIN, writes task i + 1:
///   s_{i+1} = F_i + Tw + P + R + W + Cw.
/// - Makespan: F_{n-1} - P = Σd + W + Cw + (n - 1)(Tw + P + R + W + Cw):
///   every edge pays both wake-ups once, and the first task the core's.
///
/// Each task's record shows its core's wake-up between dispatch and start.
#[test]
fn wake_latencies_add_to_every_edge_of_a_chain() {
    let model = CostModel::new(Cost::per_task(|args| args[0]));
    for (cw, tw) in [
        (0, 0),
        (0, 5_000),
        (7_000, 0),
        (7_000, 5_000),
        (25_000, 40_000),
    ] {
        let lat = Latencies {
            core_wake_ns: cw,
            thread_wake_ns: tw,
            ..LAT
        };
        for seed in 0..4u64 {
            let mut rng = SplitMix64(seed);
            let n = 1 + rng.below(40);
            let durations: Vec<u64> = (0..n).map(|_| 50_000 + rng.below(50_000) as u64).collect();
            let dag = Dag {
                core: (0..n).map(|_| CoreType::ALL[rng.below(2)]).collect(),
                edges: (1..n as u32).map(|t| (t - 1, t)).collect(),
            };
            let config = RuntimeConfig {
                block_dim: 2,
                threads: 1,
                profiling: true,
                ..Default::default()
            };
            let backend = VirtualTime::new(a2a3(), model.clone(), seed).latencies(lat);
            let mut rt = Runtime::with_backend(config, backend).expect("runtime");
            build(&mut rt, &dag, |t| vec![durations[t]]);
            let profile = rt.run().expect("run").profile.expect("profiled");
            let report = rt.backend().report().expect("a report");
            let edges = n as u64 - 1;
            let what = format!("seed {seed}: chain of {n}, core wake {cw}, thread wake {tw}");
            assert_eq!(
                report.makespan_ns,
                durations.iter().sum::<u64>() + W + cw + edges * (tw + P + R + W + cw),
                "{what}"
            );
            for r in &profile.tasks {
                assert_eq!(
                    r.start_ns - r.dispatch_ns,
                    W + cw,
                    "{what}: task {}",
                    r.task
                );
            }
            rt.finalize().unwrap();
        }
    }
}

/// The model's durations for the built graph and seed, in task-id order.
fn drawn(rt: &Runtime<VirtualTime>) -> Vec<u64> {
    let graph = rt.world().resource::<SealedGraph>().get().expect("sealed");
    let backend = rt.backend();
    backend.model().durations(graph, backend.seed())
}

/// Random DAGs under every policy and several configurations: the
/// makespan is never below the lower bound, the critical path is the
/// longest path over the durations drawn (computed here from the edges),
/// and the cores' busy time is the drawn work.
#[test]
fn the_makespan_is_never_below_the_lower_bound() {
    let model = CostModel::new(Cost::Constant(1))
        .with(
            0,
            Cost::Normal {
                mean: 8_000,
                std_dev: 3_000,
            },
        )
        .with(
            1,
            Cost::Uniform {
                min: 200,
                max: 6_000,
            },
        );
    let mut k = 0;
    for platform in Platform::ALL {
        let spec = *platform.spec();
        for (block_dim, threads) in [
            (1, 1),
            (3, 2),
            (spec.max_block_dim, spec.max_scheduler_threads),
        ] {
            for policy in BuiltIn::ALL {
                k += 1;
                let dag = Dag::random(0xb0_0000 + k, 400);
                let mut rt = runtime(spec, model.clone(), k, block_dim, threads);
                rt.set_builtin_policy(policy, &model);
                build(&mut rt, &dag, |_| Vec::new());
                let report = run(&mut rt);
                let what = format!("{policy} on {platform} b{block_dim}t{threads}");

                let d = drawn(&rt);
                let preds = dag.preds();
                let mut longest = vec![0u64; dag.len()];
                for t in 0..dag.len() {
                    let before = preds[t].iter().map(|&p| longest[p as usize]).max();
                    longest[t] = before.unwrap_or(0) + d[t];
                }
                assert_eq!(
                    report.critical_path_ns,
                    *longest.iter().max().unwrap(),
                    "{what}"
                );
                for ty in CoreType::ALL {
                    let work: u64 = (0..dag.len())
                        .filter(|&t| dag.core[t] == ty)
                        .map(|t| d[t])
                        .sum();
                    let busy: u64 = report
                        .cores
                        .iter()
                        .filter(|c| c.core_type == ty)
                        .map(|c| c.busy_ns)
                        .sum();
                    assert_eq!((report.work_ns[ty as usize], busy), (work, work), "{what}");
                }
                assert!(report.lower_bound_ns >= report.critical_path_ns, "{what}");
                assert!(
                    report.makespan_ns >= report.lower_bound_ns,
                    "{what}: makespan {} below the lower bound {}",
                    report.makespan_ns,
                    report.lower_bound_ns
                );
                assert!(
                    report.ratio() >= 1.0 && report.utilisation() <= 1.0,
                    "{what}"
                );
                // Each thread's polls lie within its own span.
                assert!(
                    report.threads.iter().all(|t| t.sched_ns <= t.end_ns)
                        && report.sched_busy() <= 1.0,
                    "{what}: {:?}",
                    report.threads
                );
                let tasks: u64 = report.cores.iter().map(|c| c.tasks).sum();
                assert_eq!(tasks, dag.len() as u64, "{what}");
                assert_eq!(report.threads.len(), threads as usize, "{what}");
                rt.finalize().unwrap();
            }
        }
    }
}

/// One profiled, published run of a random DAG under work stealing with 3
/// threads: the virtual report, the trace as JSON text, the results.
fn traced(rt: &mut Runtime<VirtualTime>) -> (VirtualReport, String, Vec<TaskResult>) {
    let run = rt.run().expect("run");
    let profile = run.profile.expect("profiled");
    let report = rt.backend().report().expect("a report").clone();
    assert_eq!(profile.window.as_nanos(), u128::from(report.makespan_ns));
    let trace = serde_json::to_string(&profile.chrome_trace()).unwrap();
    (report, trace, results(rt))
}

fn traced_runtime(dag: &Dag, model: &CostModel, seed: u64) -> Runtime<VirtualTime> {
    let mut rt = runtime(a2a3(), model.clone(), seed, 3, 3);
    rt.set_profiling(true);
    rt.set_publish(true);
    rt.set_builtin_policy(BuiltIn::WorkStealing, model);
    build(&mut rt, dag, |_| Vec::new());
    rt
}

/// The same graph, model, seed, policy and configuration: bit-identical
/// reports, traces and results, run again or on a fresh runtime.
#[test]
fn runs_are_bit_for_bit_deterministic() {
    let model = CostModel::new(Cost::Uniform {
        min: 100,
        max: 30_000,
    });
    let dag = Dag::random(5, 2_000);
    let mut rt = traced_runtime(&dag, &model, 99);
    let first = traced(&mut rt);
    let again = traced(&mut rt);
    let fresh = traced(&mut traced_runtime(&dag, &model, 99));
    assert!(first.0 == again.0 && first.0 == fresh.0, "reports differ");
    assert!(first.1 == again.1 && first.1 == fresh.1, "traces differ");
    assert!(first.2 == again.2 && first.2 == fresh.2, "results differ");
    // Another seed draws other durations: another run.
    let other = traced(&mut traced_runtime(&dag, &model, 100));
    assert_ne!(first.0, other.0);
}

/// The virtual profile: every task dispatched, started after its write
/// became visible, ended after its drawn duration; a core runs one task
/// at a time; every thread and core named as the run's.
#[test]
fn records_are_in_virtual_time() {
    let model = CostModel::new(Cost::Uniform { min: 1, max: 9_000 });
    let dag = Dag::random(8, 600);
    let mut rt = runtime(a2a3(), model, 3, 2, 2);
    rt.set_profiling(true);
    build(&mut rt, &dag, |_| Vec::new());
    let profile = rt.run().unwrap().profile.unwrap();
    let d = drawn(&rt);
    for r in &profile.tasks {
        assert!(r.dispatch_ns + W <= r.start_ns, "task {}", r.task);
        assert_eq!(r.end_ns - r.start_ns, d[r.task as usize], "task {}", r.task);
        assert!(r.thread < 2);
    }
    let mut by_core: Vec<(u32, u64, u64)> = profile
        .tasks
        .iter()
        .map(|r| (r.physical_id, r.start_ns, r.end_ns))
        .collect();
    by_core.sort_unstable();
    for w in by_core.windows(2) {
        if w[0].0 == w[1].0 {
            assert!(w[0].2 <= w[1].1, "core {} overlaps: {w:?}", w[0].0);
        }
    }
    assert_eq!(profile.tasks.iter().map(|r| r.dispatch_ns).min(), Some(0));
    assert_eq!(profile.cores.len(), 6);
}

/// Every built-in policy on random DAGs, without running kernels, every
/// platform, thread counts 1..=max and block dims 1, 3, max: the published
/// results name each task's core (of its type) and thread, and complete
/// each task after all of its predecessors, each exactly once.
#[test]
fn every_policy_publishes_tasks_in_dependency_order_without_kernels() {
    let model = CostModel::new(Cost::Uniform {
        min: 500,
        max: 5_000,
    });
    for (p, platform) in Platform::ALL.into_iter().enumerate() {
        let spec = *platform.spec();
        for policy in BuiltIn::ALL {
            for (b, block_dim) in [1, 3, spec.max_block_dim].into_iter().enumerate() {
                let seed = (p * 64 + b * 8 + policy as usize) as u64;
                let dag = Dag::random(0xd00d + seed, 150 + 25 * b);
                let preds = dag.preds();
                let mut rt = runtime(spec, model.clone(), seed, block_dim, 1);
                rt.set_publish(true);
                rt.set_builtin_policy(policy, &model);
                build(&mut rt, &dag, |_| Vec::new());
                for threads in 1..=spec.max_scheduler_threads {
                    rt.reconfigure(block_dim, threads).unwrap();
                    let what = format!("{policy} on {platform} b{block_dim}t{threads}");
                    rt.run().unwrap_or_else(|e| panic!("{what}: {e}"));
                    let res = results(&mut rt);
                    let mut orders: Vec<u32> = res.iter().map(|r| r.order).collect();
                    orders.sort_unstable();
                    assert!(
                        orders.iter().copied().eq(0..dag.len() as u32),
                        "{what}: each task completes once"
                    );
                    for (t, r) in res.iter().enumerate() {
                        assert!(r.thread < threads, "{what}: task {t} thread");
                        let aic = r.physical_id < spec.max_block_dim;
                        assert_eq!(aic, dag.core[t] == CoreType::Aic, "{what}: task {t} core");
                        for &q in &preds[t] {
                            assert!(
                                res[q as usize].order < r.order,
                                "{what}: task {t} completed before its predecessor {q}"
                            );
                        }
                    }
                }
                rt.finalize().unwrap();
            }
        }
    }
}

/// A spec with no real limit on scheduler threads: what the protocol could
/// add to a run is bounded by the threads the run can host (each owns a
/// core), not by the spec's limit (which refused 20 ms of work as 670
/// years with `WorkTooLong`).
#[test]
fn a_spec_without_a_thread_limit_runs() {
    let spec = PlatformSpec {
        max_block_dim: 342,
        max_scheduler_threads: u32::MAX,
        ..a2a3()
    };
    let mut rt = runtime(spec, CostModel::new(Cost::Constant(1_000)), 1, 342, 16);
    let dag = Dag::random(1026, 20_000);
    build(&mut rt, &dag, |_| Vec::new());
    let report = run(&mut rt);
    assert_eq!(report.cores.iter().map(|c| c.tasks).sum::<u64>(), 20_000);
    assert!(report.makespan_ns >= report.lower_bound_ns);
}

/// 342 blocks of a2a3 cores (1,026 cores) and 16 scheduler threads: a
/// run of 20,000 tasks completes, every core takes part, and the figures
/// add up.
#[test]
fn a_chip_of_1026_cores_runs() {
    let spec = PlatformSpec {
        max_block_dim: 342,
        max_scheduler_threads: 16,
        ..a2a3()
    };
    let model = CostModel::new(Cost::Uniform {
        min: 20_000,
        max: 60_000,
    });
    let mut rt = runtime(spec, model.clone(), 7, 342, 16);
    rt.set_builtin_policy(BuiltIn::CriticalPath, &model);
    let dag = Dag::random(1026, 20_000);
    build(&mut rt, &dag, |_| Vec::new());
    let report = run(&mut rt);
    assert_eq!(report.cores.len(), 1026);
    assert_eq!(report.threads.len(), 16);
    assert!(
        report.cores.iter().all(|c| c.tasks > 0),
        "every core ran a task"
    );
    let tasks: u64 = report.cores.iter().map(|c| c.tasks).sum();
    assert_eq!(tasks, 20_000);
    assert!(report.makespan_ns >= report.lower_bound_ns);
    assert!(
        report
            .threads
            .iter()
            .all(|t| t.sched_ns > 0 && t.writes > 0)
    );
    let writes: u64 = report.threads.iter().map(|t| t.writes).sum();
    assert_eq!(writes, 20_000, "one write per task");
    rt.finalize().unwrap();
}

/// A started run polled without blocking ends as the blocking run does.
#[test]
fn a_polled_run_ends_as_a_blocking_one() {
    let model = CostModel::new(Cost::Uniform { min: 10, max: 900 });
    let dag = Dag::random(21, 30_000);
    let mut rt = runtime(a2a3(), model, 5, 4, 2);
    build(&mut rt, &dag, |_| Vec::new());
    let blocking = run(&mut rt);
    let mut handle = rt.start().unwrap();
    let mut polls = 0;
    let result = loop {
        polls += 1;
        if let Some(r) = handle.try_finish() {
            break r;
        }
    };
    drop(handle);
    assert_eq!(result.unwrap().tasks, 30_000);
    assert!(polls > 1, "a slice at a time");
    assert_eq!(rt.backend().report(), Some(&blocking));
}

/// With `execute_kernels`, kernels run (in dependency order, at their
/// virtual start) and a failing one fails the run as on the other
/// backends.
#[test]
fn kernels_run_when_asked_and_their_faults_are_reported() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RAN: AtomicU64 = AtomicU64::new(0);
    fn count(args: &[u64]) {
        assert_eq!(RAN.fetch_add(1, Ordering::Relaxed), args[0], "chain order");
        assert_ne!(args[0], 1_000, "the task that fails");
    }
    let config = RuntimeConfig {
        block_dim: 2,
        threads: 2,
        ..Default::default()
    };
    let backend = VirtualTime::new(a2a3(), CostModel::default(), 0).execute_kernels(true);
    let mut rt = Runtime::with_backend(config, backend).unwrap();
    rt.register_kernel(0, KernelFn::rust(count));
    let chain = |rt: &mut Runtime<VirtualTime>, n: u64| {
        rt.build(|g| {
            let mut prev = g.add_task(0, CoreType::Aiv, &[0])?;
            for i in 1..n {
                let t = g.add_task(0, CoreType::ALL[i as usize % 2], &[i])?;
                g.add_successor(prev, t)?;
                prev = t;
            }
            Ok(())
        })
    };
    chain(&mut rt, 500).unwrap();
    rt.run().unwrap();
    assert_eq!(RAN.load(Ordering::Relaxed), 500);
    rt.finalize().unwrap();
    RAN.store(0, Ordering::Relaxed);
    rt.register_kernel(0, KernelFn::rust(count));
    chain(&mut rt, 1_200).unwrap();
    match rt.run().expect_err("task 1000 fails") {
        Error::KernelFault { task, .. } => assert_eq!(task, TaskId(1_000)),
        other => panic!("expected a kernel fault, got {other}"),
    }
    assert!(rt.backend().report().is_none());
}

/// The durations a run meets are the sampler's, in task-id order.
#[test]
fn durations_are_the_samplers_in_task_order() {
    let model = CostModel::new(Cost::Normal {
        mean: 5_000,
        std_dev: 2_000,
    })
    .with(1, Cost::per_task(|args| args[0] * 3));
    let dag = Dag::random(2, 500);
    let mut rt = runtime(a2a3(), model.clone(), 77, 3, 3);
    build(&mut rt, &dag, |t| vec![t as u64]);
    run(&mut rt);
    let mut sampler = model.sampler(77);
    let expected: Vec<u64> = (0..dag.len())
        .map(|t| sampler.sample(dag.core[t] as i32, &[t as u64]))
        .collect();
    assert_eq!(drawn(&rt), expected);
}

/// `Cost::Uniform` with its bounds given high first is the same range:
/// its mean is the midpoint and its draws stay within it. Before, the
/// mean wrapped (`max - min` underflowed: a mean near 2^63 ns that the
/// cost-aware policies ranked by) and every draw panicked in fastrand
/// (`empty range`), escaping `CostSampler::sample` and failing a
/// virtual-time run as `Panicked`.
#[test]
fn a_uniform_cost_with_its_bounds_swapped_is_the_same_range() {
    let model = CostModel::new(Cost::Uniform { min: 30, max: 10 });
    assert_eq!(model.estimate(0, &[]), 20);
    let mut draws = model.sampler(7);
    assert!((0..100).all(|_| (10..=30).contains(&draws.sample(0, &[]))));
    let dag = Dag {
        core: vec![CoreType::Aiv; 4],
        edges: vec![(0, 1), (1, 2), (2, 3)],
    };
    let mut rt = runtime(a2a3(), model, 1, 1, 1);
    build(&mut rt, &dag, |_| Vec::new());
    let report = run(&mut rt);
    assert!((40..=120).contains(&report.lower_bound_ns), "{report:?}");
    rt.finalize().unwrap();
}

/// Durations that add up past what a `u64` of nanoseconds can hold
/// refuse the run at launch, naming the total, and keep the graph. Before,
/// the clocks wrapped and the run was `Ok` with a makespan of 318 ns
/// under a lower bound of 2^64 - 2 ns.
#[test]
fn durations_past_what_virtual_time_counts_refuse_the_run() {
    let dag = Dag {
        core: vec![CoreType::Aiv; 3],
        edges: vec![(0, 1), (1, 2)],
    };
    let mut rt = runtime(
        a2a3(),
        CostModel::new(Cost::Constant(u64::MAX / 2)),
        1,
        1,
        1,
    );
    build(&mut rt, &dag, |_| Vec::new());
    let e = rt.run().unwrap_err();
    match &e {
        Error::WorkTooLong { total_ns, max_ns } => {
            // The durations alone: three times the most there is room for.
            assert_eq!(*total_ns, 3 * u128::from(u64::MAX / 2), "{e}");
            assert_eq!(*max_ns, u64::MAX / 2, "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(rt.backend().report().is_none());
    assert_eq!(
        rt.task_count(),
        3,
        "refused before dispatch: the graph is kept"
    );
    rt.finalize().unwrap();
}

/// Latencies so large that the protocol's costs could carry a clock past
/// what virtual time counts refuse the run at launch (`WorkTooLong`),
/// keeping the graph, whichever latency it is. Before, a debug build
/// panicked on the overflow inside the simulation, and a release build
/// wrapped the clocks and reported a makespan of 24 µs for a chain of 21
/// 1 µs tasks with `thread_wake_ns` at `u64::MAX`. Found by a hostile
/// review.
#[test]
fn latencies_past_what_virtual_time_counts_refuse_the_run() {
    let dag = Dag {
        core: vec![CoreType::Aiv; 21],
        edges: (0..20).map(|t| (t, t + 1)).collect(),
    };
    let fields: [fn(&mut Latencies); 5] = [
        |l| l.read_ns = u64::MAX,
        |l| l.write_ns = u64::MAX,
        |l| l.poll_ns = u64::MAX,
        |l| l.core_wake_ns = u64::MAX,
        |l| l.thread_wake_ns = u64::MAX,
    ];
    for (i, set) in fields.into_iter().enumerate() {
        let mut lat = LAT;
        set(&mut lat);
        let backend =
            VirtualTime::new(a2a3(), CostModel::new(Cost::Constant(1_000)), 1).latencies(lat);
        let config = RuntimeConfig {
            block_dim: 1,
            threads: 1,
            ..Default::default()
        };
        let mut rt = Runtime::with_backend(config, backend).unwrap();
        build(&mut rt, &dag, |_| Vec::new());
        let e = rt.run().unwrap_err();
        assert!(
            matches!(e, Error::WorkTooLong { total_ns, max_ns } if total_ns > u128::from(max_ns)),
            "field {i}: {e}"
        );
        assert_eq!(rt.task_count(), 21, "field {i}: the graph is kept");
        assert!(rt.backend().report().is_none(), "field {i}");
    }
    // A second per register access is a slow chip, not one past counting.
    let mut slow = LAT;
    slow.read_ns = 1_000_000_000;
    let backend =
        VirtualTime::new(a2a3(), CostModel::new(Cost::Constant(1_000)), 1).latencies(slow);
    let mut rt = Runtime::with_backend(RuntimeConfig::default(), backend).unwrap();
    build(&mut rt, &dag, |_| Vec::new());
    assert_eq!(rt.run().unwrap().tasks, 21);
}

/// Rule 3 when a core's FIN becomes visible before the task written to it
/// meanwhile: the core is free by then, so the task starts when its write
/// becomes visible plus `core_wake_ns`. Two independent AIC tasks on one
/// AIC core (a2a3, block dim 1), one thread, `core_wake_ns` K = 1,000; T0
/// lasts d0, T1 100; P = 30, R = 100, W = 20. Poll 1 at 0 writes T0
/// (visible 50; the core is free: starts 50 + K = 1,050). Its ACK wakes
/// the thread, whose poll at 1,050 reads it and writes T1 into the pending
/// slot, visible at 1,050 + P + R + W = 1,200. T0's FIN is at 1,050 + d0.
/// (The wake-up was skipped when the FIN came first: a T0 100 ns longer
/// made the run 1 µs shorter. Found by a hostile review.)
#[test]
fn a_write_visible_after_the_fin_pays_the_core_wake_up() {
    fn makespan(d0: u64) -> u64 {
        let lat = Latencies {
            core_wake_ns: 1_000,
            ..Latencies::A2A3
        };
        let model = CostModel::new(Cost::per_task(|a| a[0]));
        let backend = VirtualTime::new(*Platform::A2A3.spec(), model, 0).latencies(lat);
        let config = RuntimeConfig {
            block_dim: 1,
            threads: 1,
            ..Default::default()
        };
        let mut rt = Runtime::with_backend(config, backend).unwrap();
        rt.register_kernel(0, KernelFn::rust(|_| {}));
        rt.build(|g| {
            g.add_task(0, CoreType::Aic, &[d0])?;
            g.add_task(0, CoreType::Aic, &[100])?;
            Ok(())
        })
        .unwrap();
        rt.run().unwrap();
        rt.backend().report().unwrap().makespan_ns
    }
    // The makespan counts from the first dispatch, at 30. FIN before the
    // write (1,050 or 1,150 < 1,200): T1 starts at 1,200 + K and ends 100
    // later.
    assert_eq!(makespan(0), 2_300 - 30);
    assert_eq!(makespan(100), 2_270, "a longer T0, the same makespan");
    // FIN after the write (1,250 > 1,200): pipelined, T1 starts at the FIN.
    assert_eq!(makespan(200), 1_250 + 100 - 30);
}
