//! The model against reality: a graph whose kernels sleep for a known
//! time runs on the threaded simulator (one runner per core, so every core
//! can be in a kernel at once), and the virtual-time backend predicts the
//! same graph, policy and chip:
//!
//! 0. *wake-ups* ([`calibrate`]): the threaded simulator's cores and
//!    threads sleep when idle, where hardware spins. A chain (every task
//!    dispatched to a sleeping core, every FIN waking a sleeping thread)
//!    is run threaded and in virtual time with its measured durations;
//!    the means of dispatch-to-start and of previous-end-to-dispatch,
//!    measured minus modelled, are the core's and the thread's wake-up
//!    ([`Latencies::core_wake_ns`], [`Latencies::thread_wake_ns`]);
//! 1. the real run is profiled: its makespan is the profile's dispatch
//!    window (first DATA_MAIN_BASE write to last kernel end), and every
//!    task's duration is its record's end minus start (the nominal sleep
//!    plus the operating system's overshoot);
//! 2. *replay*: virtual time with exactly those durations (a per-task cost
//!    looked up by the task's id, its second argument word) — what is left
//!    of the error is the protocol and the scheduler, which the model
//!    prices at the a2a3 register latencies; once as hardware (spinning,
//!    no wake-ups), once with the calibrated wake-ups;
//! 3. *calibrated*: virtual time with durations drawn, with a seed, from
//!    each kernel's measured ones ([`CostModel::from_profile`]) and the
//!    calibrated wake-ups — the model as a user would run it, from profiles of
//!    earlier runs.

use std::sync::Arc;
use std::time::Duration;

use hostgraph::cost::{Cost, CostModel};
use hostgraph::sched::BuiltIn;
use hostgraph::sim::{Latencies, VirtualReport};
use hostgraph::{Error, KernelFn, Profile, Runtime, SimOptions, ThreadedSim, VirtualTime};

use super::{Chip, Graph, add_tasks};
use crate::paged_attention::{self as pa, Precision};
use crate::synthetic::{self, Shape};

/// The graphs checked: the five shapes and paged_attention.
pub const GRAPHS: [Graph; 6] = [
    Graph::Synthetic(Shape::Independent),
    Graph::Synthetic(Shape::Chain),
    Graph::Synthetic(Shape::Layered),
    Graph::Synthetic(Shape::BinaryTree),
    Graph::Synthetic(Shape::Wavefront),
    Graph::PagedAttention,
];

/// Nominal kernel durations, in ns: the synthetic shapes' AIC tasks
/// 150 µs and AIV tasks 60 µs; paged_attention's QK and PV 150 µs, SF
/// 60 µs and UP 50 µs.
pub fn nominal(graph: Graph, func_id: i32) -> u64 {
    let us = match (graph, func_id) {
        (Graph::PagedAttention, pa::FUNC_UPDATE) => 50,
        (Graph::PagedAttention, pa::FUNC_SOFTMAX) => 60,
        (Graph::PagedAttention, _) => 150,
        (_, super::AIC_FUNC) => 150,
        _ => 60,
    };
    us * 1_000
}

/// Tasks per graph: about 400 for the shapes (a chain of 400 runs for
/// some 40 ms), 1,024 for paged_attention (4 sequences of 64 blocks).
const SHAPE_TASKS: usize = 400;
const PA_BATCH: usize = 4;

/// A kernel that sleeps for its first argument word, in ns.
fn sleep_kernel(args: &[u64]) {
    std::thread::sleep(Duration::from_nanos(args[0]));
}

/// Builds `graph` into `rt` (`shape_tasks` tasks for a shape): every task's words are `[nominal duration,
/// its id]`, its kernel [`sleep_kernel`].
fn build<E: hostgraph::Backend>(
    rt: &mut Runtime<E>,
    graph: Graph,
    shape_tasks: usize,
) -> Result<usize, Error> {
    for func_id in 0..4 {
        rt.register_kernel(func_id, KernelFn::rust(sleep_kernel).named("sleep"));
    }
    match graph {
        Graph::Synthetic(shape) => rt.build(|g| {
            synthetic::build_with(g, shape, shape_tasks, |g, i, ty| {
                let func = ty as i32;
                g.add_task(func, ty, &[nominal(graph, func), i as u64])
            })
            .map(drop)
        })?,
        Graph::PagedAttention => {
            let tasks = pa::expected_graph(&pa::Config::scaled(PA_BATCH, 8100, Precision::F16));
            rt.build(|g| {
                add_tasks(g, &tasks, |i| {
                    vec![nominal(graph, tasks[i].stage.func_id()), i as u64]
                })
            })?;
        }
        other => panic!("{other} is not among the graphs checked against reality"),
    }
    Ok(rt.task_count())
}

/// One graph, chip and policy: the measured makespan and the two
/// predictions, in ns.
#[derive(Debug, Clone)]
pub struct Check {
    /// The graph.
    pub graph: Graph,
    /// Its tasks.
    pub tasks: usize,
    /// The policy.
    pub policy: BuiltIn,
    /// The threaded run's makespan (its profile's dispatch window).
    pub measured_ns: u64,
    /// Virtual time, replaying every task's measured duration, with no
    /// wake-ups (the threaded simulator modelled as hardware).
    pub spinning_ns: u64,
    /// Mean kernel duration measured, over the nominal one (the sleep's
    /// overshoot shows here).
    pub stretch: f64,
    /// Virtual time, replaying every task's measured duration, with the
    /// calibrated wake-ups.
    pub replay_ns: u64,
    /// The critical path of the measured durations: no run of these
    /// tasks, real or simulated, is shorter.
    pub replay_critical_path_ns: u64,
    /// Virtual time, durations drawn from each kernel's measured ones, with
    /// the calibrated wake-ups.
    pub calibrated_ns: u64,
}

impl Check {
    /// The spinning replay's error relative to the measurement, in percent.
    pub fn spinning_error(&self) -> f64 {
        error(self.spinning_ns, self.measured_ns)
    }

    /// Replay's error relative to the measurement, in percent (negative:
    /// the model is optimistic).
    pub fn replay_error(&self) -> f64 {
        error(self.replay_ns, self.measured_ns)
    }

    /// The calibrated model's error, in percent.
    pub fn calibrated_error(&self) -> f64 {
        error(self.calibrated_ns, self.measured_ns)
    }
}

fn error(predicted: u64, measured: u64) -> f64 {
    100.0 * (predicted as f64 - measured as f64) / measured as f64
}

/// Tasks of a calibration chain, and how many are run: the wake-ups are
/// the median over the chains of each chain's mean.
const CALIBRATION_TASKS: usize = 300;
const CALIBRATION_RUNS: usize = 5;

/// Step 0: the wake-up latencies of the threaded simulator on this
/// machine, measured on chains of 300 tasks on `chip` (see
/// the module docs): a2a3's register latencies with `core_wake_ns` and
/// `thread_wake_ns` set.
pub fn calibrate(chip: Chip) -> Result<Latencies, Error> {
    let graph = Graph::Synthetic(Shape::Chain);
    let plan = nominal_model(graph);
    let (mut core, mut thread) = (Vec::new(), Vec::new());
    for _ in 0..CALIBRATION_RUNS {
        let (_, measured) = threaded(graph, CALIBRATION_TASKS, chip, BuiltIn::RoundRobin, &plan)?;
        let replay = replay_model(&measured);
        let modelled = simulate(
            graph,
            CALIBRATION_TASKS,
            chip,
            BuiltIn::RoundRobin,
            replay,
            &plan,
            Latencies::A2A3,
        )?
        .1;
        let (c, t) = wakes(&measured);
        let (c_0, t_0) = wakes(&modelled);
        core.push(c.saturating_sub(c_0));
        thread.push(t.saturating_sub(t_0));
    }
    Ok(Latencies {
        core_wake_ns: median(&mut core),
        thread_wake_ns: median(&mut thread),
        ..Latencies::A2A3
    })
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The means of a chain's dispatch-to-start and of its
/// previous-end-to-dispatch, in ns (means, not medians: a makespan adds
/// them up, long tails included).
fn wakes(chain: &Profile) -> (u64, u64) {
    let mut by_task = chain.tasks.clone();
    by_task.sort_by_key(|r| r.task);
    let start = mean(by_task.iter().map(|r| r.start_ns - r.dispatch_ns));
    let step = mean(
        by_task
            .windows(2)
            .map(|w| w[1].dispatch_ns.saturating_sub(w[0].end_ns)),
    );
    (start, step)
}

fn mean(v: impl ExactSizeIterator<Item = u64>) -> u64 {
    let n = v.len().max(1) as u64;
    v.sum::<u64>() / n
}

/// Runs `graph` under `policy` on `chip` with the threaded simulator, then
/// predicts it in virtual time with the wake-ups of `wakes` (from
/// [`calibrate`]; see the module docs).
pub fn check(graph: Graph, chip: Chip, policy: BuiltIn, wakes: Latencies) -> Result<Check, Error> {
    let nominal_costs = nominal_model(graph);
    // 1. The real run, profiled; one runner per core.
    let (tasks, profile) = threaded(graph, SHAPE_TASKS, chip, policy, &nominal_costs)?;
    let measured_ns = profile.window.as_nanos() as u64;
    let durations = durations(&profile);
    let nominal_total: u64 = profile
        .tasks
        .iter()
        .map(|r| nominal(graph, r.func_id))
        .sum();
    let stretch = durations.iter().sum::<u64>() as f64 / nominal_total as f64;
    // 2. Replay: every task as long as it took, spinning and waking.
    let replay = replay_model(&profile);
    let predict = |model: CostModel, lat: Latencies| {
        simulate(graph, SHAPE_TASKS, chip, policy, model, &nominal_costs, lat).map(|(r, _)| r)
    };
    let spinning = predict(replay.clone(), Latencies::A2A3)?;
    let replayed = predict(replay, wakes)?;
    // 3. Calibrated: drawn from each kernel's measured durations.
    let calibrated = predict(CostModel::from_profile(&profile), wakes)?;
    Ok(Check {
        graph,
        tasks,
        policy,
        measured_ns,
        stretch,
        spinning_ns: spinning.makespan_ns,
        replay_ns: replayed.makespan_ns,
        replay_critical_path_ns: replayed.critical_path_ns,
        calibrated_ns: calibrated.makespan_ns,
    })
}

/// `graph` (`shape_tasks` tasks for a shape) under `policy` on `chip`,
/// threaded and profiled, one runner per core: its tasks and profile.
fn threaded(
    graph: Graph,
    shape_tasks: usize,
    chip: Chip,
    policy: BuiltIn,
    plan: &CostModel,
) -> Result<(usize, Profile), Error> {
    let backend = ThreadedSim::new(
        chip.spec.platform,
        SimOptions {
            runners: chip.cores() as usize,
            ..SimOptions::default()
        },
    );
    let mut rt = Runtime::with_backend(chip.config(true), backend)?;
    let tasks = build(&mut rt, graph, shape_tasks)?;
    rt.set_builtin_policy(policy, plan);
    let report = rt.run();
    rt.discard();
    Ok((tasks, report?.profile.expect("profiling was on")))
}

/// Every task exactly as long as `profile` measured it.
fn replay_model(profile: &Profile) -> CostModel {
    let durations = Arc::new(durations(profile));
    CostModel::new(Cost::per_task(move |args| durations[args[1] as usize]))
}

/// Every kernel at its nominal duration: what the planning policies are
/// given, in the real run and in the predictions alike.
fn nominal_model(graph: Graph) -> CostModel {
    (0..4).fold(CostModel::new(Cost::Constant(0)), |m, f| {
        m.with(f, Cost::Constant(nominal(graph, f)))
    })
}

/// Each task's measured duration, by task id.
fn durations(profile: &Profile) -> Vec<u64> {
    let mut d = vec![0; profile.tasks.len()];
    for r in &profile.tasks {
        d[r.task as usize] = r.end_ns - r.start_ns;
    }
    d
}

/// What virtual time predicts for `graph` with `model` and `lat`: its
/// report and profile.
fn simulate(
    graph: Graph,
    shape_tasks: usize,
    chip: Chip,
    policy: BuiltIn,
    model: CostModel,
    plan: &CostModel,
    lat: Latencies,
) -> Result<(VirtualReport, Profile), Error> {
    let backend = VirtualTime::new(chip.spec, model, 0).latencies(lat);
    let mut rt = Runtime::with_backend(chip.config(true), backend)?;
    build(&mut rt, graph, shape_tasks)?;
    rt.set_builtin_policy(policy, plan);
    let run = rt.run();
    rt.discard();
    let profile = run?.profile.expect("profiling was on");
    Ok((
        rt.backend().report().expect("a completed run").clone(),
        profile,
    ))
}
