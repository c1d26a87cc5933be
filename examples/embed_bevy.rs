//! hostgraph embedded in a user's bevy world: installed beside the user's
//! own resources, a graph run from the user's own schedule between two of
//! the user's systems, a user system added inside hostgraph's run schedule
//! (after the assignment phase), per-task results read back as components,
//! completion observed as an event, and one run started without blocking
//! while the host does its own work.
//!
//! `cargo run --release --example embed_bevy`

use clap::Parser;
// bevy's derives name `bevy_ecs`: this brings hostgraph's re-export into
// scope, so hostgraph is the only dependency needed.
use hostgraph::bevy_ecs;
use hostgraph::bevy_ecs::prelude::*;
use hostgraph::bevy_ecs::schedule::ScheduleLabel;
use hostgraph::graph::Task;
use hostgraph::run::{AicpuThread, Core, OwnedBy, Phase, RunFinished, RunSchedule, TaskResult};
use hostgraph::{CoreType, KernelFn, Platform, Runtime, RuntimeConfig, ThreadedSim};

/// No options: `--help` says what the program shows, and anything else is
/// refused rather than ignored.
#[derive(Parser)]
#[command(
    about = "hostgraph embedded in a user's bevy world: its own schedule, resources, systems, results as components, completion as an event, and a run started without blocking"
)]
struct Cli {}

/// The user's frame schedule.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct Frame;

/// The user's own state: the input for this frame and what came out.
#[derive(Resource, Default)]
struct Host {
    frame: u32,
    input: Vec<f32>,
    output: Vec<f32>,
}

const N: usize = 1024;

/// `out[i] = in[i] * 2 + 1` over `[in, out, n]`.
fn scale(args: &[u64]) {
    // SAFETY: the graph passes two device buffers of `args[2]` f32s.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(args[0] as *const f32, args[2] as usize),
            std::slice::from_raw_parts_mut(args[1] as *mut f32, args[2] as usize),
        )
    };
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s * 2.0 + 1.0;
    }
}

/// User system, before hostgraph: this frame's input.
fn prepare(mut host: ResMut<Host>) {
    host.frame += 1;
    let f = host.frame as f32;
    host.input = (0..N).map(|i| i as f32 + f).collect();
}

/// The user's exclusive system that runs hostgraph: builds a chain of four
/// scaling tasks (alternating cube and vector cores) over the input, runs
/// it, finalizes into `Host::output`.
fn run_graph(world: &mut World) {
    let input = world.resource::<Host>().input.clone();
    let mut output = vec![0.0f32; N];
    let report = {
        let mut rt = Runtime::<ThreadedSim, _>::attach(world).expect("hostgraph is installed");
        rt.register_kernel(0, KernelFn::rust(scale).named("scale"));
        rt.build(|g| {
            let mut buf = g.upload(&input)?;
            let mut prev = None;
            for step in 0..4 {
                let next = if step == 3 {
                    // SAFETY: `output` lives until finalize, below.
                    unsafe { g.output(&mut output)? }
                } else {
                    g.device_malloc((N * 4) as u64)?
                };
                let ty = if step % 2 == 0 {
                    CoreType::Aic
                } else {
                    CoreType::Aiv
                };
                let t = g.add_task(0, ty, &[buf, next, N as u64])?;
                if let Some(p) = prev {
                    g.add_successor(p, t)?;
                }
                (buf, prev) = (next, Some(t));
            }
            Ok(())
        })
        .expect("build");
        rt.run().expect("run")
    };
    // The per-task results are components until the graph is finalized.
    let mut placed: Vec<(u32, TaskResult)> = world
        .query::<(&Task, &TaskResult)>()
        .iter(world)
        .map(|(t, r)| (t.id.0, *r))
        .collect();
    placed.sort_by_key(|&(id, _)| id);
    for (id, r) in placed {
        println!(
            "    task {id}: core {} thread {} finished #{}",
            r.physical_id, r.thread, r.order
        );
    }
    Runtime::<ThreadedSim, _>::attach(world)
        .unwrap()
        .finalize()
        .expect("finalize");
    println!("    {} tasks in {:?}", report.tasks, report.wall);
    world.resource_mut::<Host>().output = output;
}

/// User system, after hostgraph: checks this frame's output.
fn check(host: Res<Host>) {
    let ok = host
        .input
        .iter()
        .zip(&host.output)
        .all(|(x, y)| *y == (((x * 2.0 + 1.0) * 2.0 + 1.0) * 2.0 + 1.0) * 2.0 + 1.0);
    println!(
        "  frame {}: output {}",
        host.frame,
        if ok { "correct" } else { "WRONG" }
    );
    assert!(ok);
}

/// A user system inside hostgraph's run schedule, after the assignment
/// phase: which scheduler thread owns which core.
fn show_assignment(cores: Query<(&Core, &OwnedBy)>, threads: Query<&AicpuThread>) {
    let mut owned: Vec<(u32, CoreType, usize)> = cores
        .iter()
        .map(|(c, o)| (c.physical_id, c.core_type, threads.get(o.0).unwrap().index))
        .collect();
    owned.sort_unstable();
    let shown: Vec<String> = owned
        .iter()
        .map(|(p, ty, t)| format!("{ty} {p} -> thread {t}"))
        .collect();
    println!("    assignment: {}", shown.join(", "));
}

fn main() {
    Cli::parse();
    let mut world = World::new();
    world.init_resource::<Host>();
    let config = RuntimeConfig {
        block_dim: 2,
        threads: 2,
        publish: true,
        ..Default::default()
    };
    let backend = ThreadedSim::new(Platform::A2A3, Default::default());
    Runtime::install(&mut world, config, backend).expect("install");
    world.schedule_scope(RunSchedule::Start, |_, start| {
        start.add_systems(show_assignment.after(Phase::Assign).before(Phase::Seed));
    });
    world.add_observer(|e: On<RunFinished>| match &e.result {
        Ok(r) => println!(
            "    RunFinished: {} tasks on {} threads",
            r.tasks, r.threads
        ),
        Err(err) => println!("    RunFinished: {err}"),
    });

    let mut frame = Schedule::new(Frame);
    frame.add_systems((prepare, run_graph, check).chain());
    world.add_schedule(frame);
    for _ in 0..2 {
        world.run_schedule(Frame);
        world.clear_trackers();
    }

    // A run started without blocking, the host working while it goes.
    let mut rt = Runtime::<ThreadedSim, _>::attach(&mut world).unwrap();
    rt.register_kernel(0, KernelFn::rust(|_| {}));
    rt.build(|g| {
        for _ in 0..10_000 {
            g.add_task(0, CoreType::Aiv, &[])?;
        }
        Ok(())
    })
    .expect("build");
    let mut run = rt.start().expect("start");
    let mut own_work = 0u64;
    let report = loop {
        if let Some(r) = run.try_finish() {
            break r.expect("run");
        }
        own_work += 1;
    };
    drop(run);
    println!(
        "  started run: {} tasks, {own_work} slices of the host's own work meanwhile",
        report.tasks
    );
    rt.finalize().expect("finalize");
}
