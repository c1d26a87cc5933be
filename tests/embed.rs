//! hostgraph inside a user's bevy world and schedule: installed into the
//! user's World, driven from the user's own systems, a phase replaced by
//! the user's system, results read back as components and an event; runs
//! started without blocking (polled, awaited, cancelled).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use hostgraph::bevy_ecs::prelude::*;
use hostgraph::bevy_ecs::schedule::ScheduleLabel;
use hostgraph::graph::Task;
use hostgraph::run::{
    AicpuThread, Core, OwnedBy, Phase, RunFinished, RunSchedule, RunState, TaskResult,
};
use hostgraph::sched::CoreView;
use hostgraph::sched::queue::{Fifo, SharedFifo};
use hostgraph::{
    Backend, CoreType, DiscoveredCore, Error, GraphBuilder, InlineSim, KernelFn, Platform, Policy,
    RoundRobin, Runtime, RuntimeConfig, VirtualTime,
};

fn noop(_: &[u64]) {}

/// A chain of `n` AIV tasks of func_id 0, each after the one before.
fn aiv_chain(g: &mut GraphBuilder, n: usize) -> hostgraph::Result<()> {
    let mut prev = g.add_task(0, CoreType::Aiv, &[])?;
    for _ in 1..n {
        let next = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_successor(prev, next)?;
        prev = next;
    }
    Ok(())
}

/// A layered graph of `layers` × `width` tasks of both types; each task
/// depends on two of the layer before. Returns the edges.
fn layered(
    g: &mut GraphBuilder<'_>,
    layers: u32,
    width: u32,
) -> hostgraph::Result<Vec<(u32, u32)>> {
    let mut edges = Vec::new();
    for l in 0..layers {
        for j in 0..width {
            let ty = if (l + j) % 3 == 0 {
                CoreType::Aic
            } else {
                CoreType::Aiv
            };
            let t = g.add_task(0, ty, &[])?;
            if l > 0 {
                for p in [j, (j + 1) % width] {
                    let from = (l - 1) * width + p;
                    if edges.last() != Some(&(from, t.0)) {
                        g.add_successor(hostgraph::TaskId(from), t)?;
                        edges.push((from, t.0));
                    }
                }
            }
        }
    }
    Ok(edges)
}

/// Every task's result, by task id.
fn results(world: &mut World) -> Vec<TaskResult> {
    let mut r: Vec<(u32, TaskResult)> = world
        .query::<(&Task, &TaskResult)>()
        .iter(world)
        .map(|(t, r)| (t.id.0, *r))
        .collect();
    r.sort_by_key(|&(id, _)| id);
    r.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn results_are_components_that_respect_every_edge() {
    let mut rt = Runtime::new(RuntimeConfig {
        publish: true,
        profiling: true,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    let mut edges = Vec::new();
    rt.build(|g| {
        edges = layered(g, 20, 30)?;
        Ok(())
    })
    .unwrap();
    let finished = Arc::new(Mutex::new(Vec::new()));
    let seen = finished.clone();
    rt.world_mut().add_observer(move |e: On<RunFinished>| {
        seen.lock().unwrap().push(
            e.result
                .as_ref()
                .map(|r| r.tasks)
                .map_err(|e| e.to_string()),
        );
    });
    let report = rt.run().unwrap();
    let res = results(rt.world_mut());
    assert_eq!(res.len(), 600);
    let cores: Vec<(u32, CoreType)> = rt
        .world_mut()
        .query::<&Core>()
        .iter(rt.world())
        .map(|c| (c.physical_id, c.core_type))
        .collect();
    // Orders are a permutation; every edge's source returned first.
    let mut orders: Vec<u32> = res.iter().map(|r| r.order).collect();
    orders.sort_unstable();
    assert_eq!(orders, (0..600).collect::<Vec<_>>());
    for &(from, to) in &edges {
        assert!(
            res[from as usize].order < res[to as usize].order,
            "{from} -> {to}"
        );
        let (_, end) = res[from as usize].times.unwrap();
        let (start, _) = res[to as usize].times.unwrap();
        assert!(end <= start, "{from} -> {to}: times overlap");
    }
    // Each ran on a discovered core of its type, dispatched by a thread
    // whose count of dispatches adds up.
    let profile = report.profile.as_ref().unwrap();
    for (t, r) in res.iter().enumerate() {
        let ty = profile.tasks[t].core_type;
        assert!(cores.contains(&(r.physical_id, ty)), "task {t}: {r:?}");
    }
    for (i, stats) in report.per_thread.iter().enumerate() {
        let mine = res.iter().filter(|r| r.thread == i as u32).count() as u64;
        assert_eq!(mine, stats.dispatched, "thread {i}");
    }
    assert_eq!(*finished.lock().unwrap(), vec![Ok(600)]);
    rt.finalize().unwrap();
}

#[test]
fn a_user_replaced_assignment_phase_is_honoured() {
    /// All AIC cores to thread 1, all AIV cores to thread 2; thread 0 idle.
    fn by_type(
        cores: Query<(Entity, &Core)>,
        threads: Query<(Entity, &AicpuThread)>,
        mut commands: Commands,
    ) {
        let thread = |i| threads.iter().find(|(_, t)| t.index == i).unwrap().0;
        for (e, c) in &cores {
            let t = match c.core_type {
                CoreType::Aic => thread(1),
                CoreType::Aiv => thread(2),
            };
            commands.entity(e).insert(OwnedBy(t));
        }
    }
    let mut rt = Runtime::new(RuntimeConfig {
        publish: true,
        ..Default::default()
    })
    .unwrap();
    rt.replace_phase(RunSchedule::Start, Phase::Assign, by_type);
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| layered(g, 10, 12).map(drop)).unwrap();
    for _ in 0..3 {
        let report = rt.run().unwrap();
        assert_eq!(report.per_thread[0].dispatched, 0);
        let kinds = {
            let world = rt.world_mut();
            let mut q = world.query::<(&Task, &TaskResult)>();
            q.iter(world)
                .map(|(t, r)| (t.kernel.core_type, r.thread))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds.len(), 120);
        for (ty, thread) in kinds {
            assert_eq!(thread, if ty == CoreType::Aic { 1 } else { 2 });
        }
    }
    // The relation is data: thread 1 owns exactly the AIC cores.
    let world = rt.world_mut();
    let owned: Vec<CoreType> = world
        .query::<(&Core, &OwnedBy)>()
        .iter(world)
        .filter(|(_, o)| world.get::<AicpuThread>(o.0).unwrap().index == 1)
        .map(|(c, _)| c.core_type)
        .collect();
    assert_eq!(owned, vec![CoreType::Aic; 3]);
    rt.finalize().unwrap();
}

#[test]
fn cores_persist_across_runs_of_one_configuration() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| layered(g, 3, 4).map(drop)).unwrap();
    let core_entities = |rt: &mut Runtime| {
        let world = rt.world_mut();
        let mut v: Vec<Entity> = world
            .query_filtered::<Entity, With<Core>>()
            .iter(world)
            .collect();
        v.sort();
        v
    };
    rt.run().unwrap();
    let first = core_entities(&mut rt);
    assert_eq!(first.len(), 9);
    rt.run().unwrap();
    assert_eq!(core_entities(&mut rt), first, "same cores, same entities");
    rt.reconfigure(2, 2).unwrap();
    rt.run().unwrap();
    let second = core_entities(&mut rt);
    assert_eq!(second.len(), 6, "a new launch configuration, new cores");
    rt.finalize().unwrap();
}

/// The user's world and schedule: hostgraph installed beside the user's
/// own resources, its run driven by a user system ordered between two
/// others of theirs.
#[test]
fn a_user_schedule_drives_runs_and_reads_results() {
    #[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
    struct Frame;
    #[derive(Resource, Default)]
    struct Log(Vec<String>);

    fn before(mut log: ResMut<Log>) {
        log.0.push("before".into());
    }
    fn run_graph(world: &mut World) {
        let tasks = {
            let mut rt = Runtime::<InlineSim, _>::attach(world).unwrap();
            if rt.task_count() == 0 {
                rt.register_kernel(0, KernelFn::rust(noop));
                rt.build(|g| layered(g, 4, 5).map(drop)).unwrap();
            }
            rt.run().unwrap().tasks
        };
        world.resource_mut::<Log>().0.push(format!("ran {tasks}"));
    }
    fn after(results: Query<&TaskResult>, mut log: ResMut<Log>) {
        let last = results.iter().map(|r| r.order).max();
        log.0.push(format!(
            "after: {} results, last {last:?}",
            results.iter().len()
        ));
    }

    let mut world = World::new();
    world.init_resource::<Log>();
    let config = RuntimeConfig {
        publish: true,
        ..Default::default()
    };
    Runtime::install(&mut world, config, InlineSim::new(Platform::A2A3)).unwrap();
    let mut frame = Schedule::new(Frame);
    frame.add_systems((before, run_graph, after).chain());
    world.add_schedule(frame);
    for _ in 0..2 {
        world.run_schedule(Frame);
        world.clear_trackers();
    }
    assert_eq!(
        world.resource::<Log>().0,
        [
            "before",
            "ran 20",
            "after: 20 results, last Some(19)",
            "before",
            "ran 20",
            "after: 20 results, last Some(19)"
        ]
    );
}

/// A waker that unparks the thread that blocks on the future.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `f`, parks until woken.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Runs `body` on a thread of its own; fails if it has not ended within a
/// minute (a hang, not a timing: the body takes well under a second).
fn within_a_minute(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("hung (or the body panicked: see above)");
}

/// A threaded runtime with a 20-task chain of kernels sleeping 300 µs
/// (a run spans many polls), and the count of tasks run.
fn sleepy_chain() -> (Runtime, &'static std::sync::atomic::AtomicUsize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Counts itself in the counter its word points to.
    fn sleepy(args: &[u64]) {
        std::thread::sleep(std::time::Duration::from_micros(300));
        // SAFETY: the word is the address of the leaked counter below.
        let ran = unsafe { &*(args[0] as *const AtomicUsize) };
        ran.fetch_add(1, Ordering::Relaxed);
    }
    let ran: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let word = [ran as *const AtomicUsize as u64];
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(sleepy));
    rt.build(|g| {
        let mut prev = g.add_task(0, CoreType::Aiv, &word)?;
        for i in 1..20 {
            let ty = [CoreType::Aic, CoreType::Aiv][i % 2];
            let t = g.add_task(0, ty, &word)?;
            g.add_successor(prev, t)?;
            prev = t;
        }
        Ok(())
    })
    .unwrap();
    (rt, ran)
}

/// A waker that panics when woken (from a simulator's worker thread, when
/// the run's last scheduler job returns) killed that worker: the pool
/// still counted it, and once enough had died a later `run` waited for
/// ever for a job no worker took.
#[test]
fn a_waker_that_panics_breaks_no_later_run() {
    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("the host's waker panicked");
        }
    }
    within_a_minute(|| {
        use std::sync::atomic::Ordering;
        let (mut rt, ran) = sleepy_chain();
        let waker = Waker::from(Arc::new(Panics));
        for round in 0..4 {
            let mut run = rt.start().unwrap();
            let mut cx = Context::from_waker(&waker);
            while Pin::new(&mut run).poll(&mut cx).is_pending() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            drop(run);
            assert_eq!(rt.run().unwrap().tasks, 20, "round {round}");
            assert_eq!(ran.swap(0, Ordering::Relaxed), 40, "round {round}");
        }
    });
}

/// An executor that holds its own lock while it polls the run, with a
/// waker that takes that lock: the run's last job woke it under the
/// pool's lock, which the poll was waiting for — a deadlock.
#[test]
fn a_waker_is_woken_with_no_lock_of_the_runtime_held() {
    struct Queue(Arc<Mutex<u32>>);
    impl Wake for Queue {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() += 1;
        }
    }
    within_a_minute(|| {
        let (mut rt, _) = sleepy_chain();
        for _ in 0..100 {
            let queue = Arc::new(Mutex::new(0));
            let waker = Waker::from(Arc::new(Queue(queue.clone())));
            let mut run = rt.start().unwrap();
            loop {
                let held = queue.lock().unwrap();
                let mut cx = Context::from_waker(&waker);
                if let Poll::Ready(r) = Pin::new(&mut run).poll(&mut cx) {
                    assert_eq!(r.unwrap().tasks, 20);
                    break;
                }
                drop(held);
                std::thread::yield_now();
            }
        }
    });
}

#[test]
fn a_started_run_polled_gives_the_same_report_as_run() {
    fn check<B: hostgraph::Backend>(mut rt: Runtime<B>) {
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| layered(g, 30, 40).map(drop)).unwrap();
        let blocking = rt.run().unwrap();
        let mut run = rt.start().unwrap();
        let mut polls = 0;
        let polled = loop {
            polls += 1;
            if let Some(r) = run.try_finish() {
                break r.unwrap();
            }
        };
        drop(run);
        assert!(polls >= 1);
        for r in [&blocking, &polled] {
            assert_eq!(r.tasks, 1200);
            let completed: u64 = r.per_thread.iter().map(|t| t.completed).sum();
            assert_eq!(completed, 1200);
        }
        assert_eq!(
            (blocking.aic_tasks, blocking.aic_cores, blocking.threads),
            (polled.aic_tasks, polled.aic_cores, polled.threads)
        );
        // Awaited, from a minimal executor.
        let awaited = block_on(rt.start().unwrap()).unwrap();
        assert_eq!(awaited.tasks, 1200);
        rt.finalize().unwrap();
    }
    check(Runtime::new(RuntimeConfig::default()).unwrap());
    check(Runtime::with_backend(RuntimeConfig::default(), InlineSim::new(Platform::A2A3)).unwrap());
}

#[test]
fn a_dropped_or_cancelled_run_leaves_the_runtime_usable() {
    fn slow(_: &[u64]) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(slow));
    rt.build(|g| aiv_chain(g, 501)).unwrap();
    // Dropped mid-run: the run stops; the graph is kept.
    drop(rt.start().unwrap());
    assert_eq!(rt.task_count(), 501);
    // Cancelled: says so.
    let e = rt.start().unwrap().cancel().unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    // And the graph still runs to the end.
    rt.register_kernel(0, KernelFn::rust(noop));
    assert_eq!(rt.run().unwrap().tasks, 501);
    rt.finalize().unwrap();
}

/// A run whose every task had completed when it was cancelled is done: the
/// cancel gives its report, the `RunFinished` event carries it, and its
/// published results stay. (On the inline simulator, `start` runs a small
/// graph to its end in its first slice.) Before, the cancel made it
/// `Cancelled`, the graph was kept for a second run of kernels that had
/// all run, and the results were removed.
#[test]
fn cancelling_a_run_that_had_completed_gives_its_report() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RAN: AtomicUsize = AtomicUsize::new(0);
    let (mut world, published) = published_world();
    let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
    rt.register_kernel(
        0,
        KernelFn::rust(|_| {
            RAN.fetch_add(1, Ordering::Relaxed);
        }),
    );
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aiv, &[])?;
        let b = g.add_task(0, CoreType::Aic, &[])?;
        g.add_successor(a, b)
    })
    .unwrap();
    let run = rt.start().unwrap();
    assert_eq!(
        RAN.load(Ordering::Relaxed),
        2,
        "start ran the graph to its end"
    );
    assert_eq!(run.cancel().unwrap().tasks, 2);
    let world = rt.world_mut();
    let results = world.query::<&TaskResult>().iter(world).count();
    assert_eq!(results, 2);
    assert!(matches!(published.lock().unwrap()[..], [Ok(2)]));
    rt.finalize().unwrap();
}

/// Installing again into a world hostgraph is installed in is refused, for
/// any backend: it would replace the device memory under the built graph.
/// Before, the second install was accepted and freed the graph's buffers;
/// the next run's kernel read freed memory and the run said Ok. Found by a
/// hostile review.
#[test]
fn installing_again_is_refused_and_the_graph_keeps_its_memory() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static READ: AtomicU64 = AtomicU64::new(0);
    let mut world = World::new();
    let config = RuntimeConfig::default();
    Runtime::install(&mut world, config, InlineSim::new(Platform::A2A3)).unwrap();
    let mut out = [0u8; 64];
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        rt.register_kernel(
            0,
            KernelFn::rust(|args| {
                // SAFETY: the task's one argument is a 64-byte device
                // buffer of the built graph, allocated until finalize.
                let word = unsafe { std::ptr::read_volatile(args[0] as *const u64) };
                READ.store(word, Ordering::SeqCst);
            }),
        );
        rt.build(|g| {
            // SAFETY: `out` outlives the graph (finalize below).
            let dev = unsafe { g.output(&mut out)? };
            g.copy_to_device(dev, &[0x5A; 64])?;
            g.add_task(0, CoreType::Aiv, &[dev]).map(drop)
        })
        .unwrap();
    }
    let again = Runtime::install(&mut world, config, InlineSim::new(Platform::A2A3));
    assert!(matches!(again, Err(Error::AlreadyInstalled)), "{again:?}");
    let other = Runtime::install(
        &mut world,
        config,
        hostgraph::ThreadedSim::new(config.platform, Default::default()),
    );
    assert!(matches!(other, Err(Error::AlreadyInstalled)), "{other:?}");
    let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
    assert_eq!(rt.device_memory().live().len(), 1);
    assert_eq!(rt.run().unwrap().tasks, 1);
    assert_eq!(READ.load(Ordering::SeqCst), 0x5A5A_5A5A_5A5A_5A5A);
    rt.finalize().unwrap();
    assert_eq!(out, [0x5A; 64]);
}

/// What each `RunFinished` event carried: tasks run, or the error.
type Published = Arc<Mutex<Vec<Result<usize, Error>>>>;

/// A world with an inline runtime installed, publishing, and the results
/// its `RunFinished` events carried (tasks run, or the error), in order.
fn published_world() -> (World, Published) {
    let mut world = World::new();
    let config = RuntimeConfig {
        publish: true,
        ..Default::default()
    };
    Runtime::install(&mut world, config, InlineSim::new(Platform::A2A3)).unwrap();
    let results: Published = Default::default();
    let sink = results.clone();
    world.add_observer(move |e: On<RunFinished>| {
        sink.lock()
            .unwrap()
            .push(e.result.as_ref().map(|r| r.tasks).map_err(Clone::clone));
    });
    (world, results)
}

/// Run schedules run directly, as an embedding may: each run starts from a
/// fresh run state. A run that fails before dispatch (a kernel removed
/// after a good run: `MissingKernel`) keeps the graph and its device
/// memory, as the error says, and runs once the kernel is back. Before, the
/// earlier run's state survived: the failure counted as one after
/// dispatch and released the graph.
#[test]
fn schedules_run_directly_start_each_run_afresh() {
    let (mut world, results) = published_world();
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| {
            let dev = g.upload(&[1u8; 64])?;
            let a = g.add_task(0, CoreType::Aiv, &[dev])?;
            let b = g.add_task(0, CoreType::Aic, &[dev])?;
            g.add_successor(a, b)
        })
        .unwrap();
    }
    let run = |world: &mut World| {
        world.run_schedule(RunSchedule::Start);
        world.run_schedule(RunSchedule::Finish);
        results.lock().unwrap().pop().expect("a RunFinished event")
    };
    assert_eq!(run(&mut world).unwrap(), 2);
    Runtime::<InlineSim, _>::attach(&mut world)
        .unwrap()
        .remove_kernels();
    let e = run(&mut world).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingKernel {
                func_id: 0,
                task: hostgraph::TaskId(0),
                others: 1
            }
        ),
        "{e:?}"
    );
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        assert_eq!(rt.task_count(), 2, "the graph is kept");
        assert_eq!(rt.device_memory().live().len(), 1, "so is its memory");
        rt.register_kernel(0, KernelFn::rust(noop));
    }
    for _ in 0..2 {
        assert_eq!(run(&mut world).unwrap(), 2);
    }
    let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
    rt.finalize().unwrap();
    assert_eq!(rt.task_count(), 0);
}

/// Start run again before the last run's Finish: the new Start is refused
/// at once (its own RunFinished error; nothing launched, nothing sealed),
/// and the run in flight is left alone: Finish awaits its threads, lands
/// the cores and reports its own success; its graph is kept for finalize.
/// (The refused Start once failed the run in flight, releasing its graph
/// unfinalized.)
#[test]
fn starting_while_a_run_is_in_flight_is_refused_and_the_run_goes_on() {
    let (mut world, results) = published_world();
    let build = |world: &mut World| {
        let mut rt = Runtime::<InlineSim, _>::attach(world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| layered(g, 3, 4).map(drop)).unwrap();
    };
    build(&mut world);
    world.run_schedule(RunSchedule::Start);
    world.run_schedule(RunSchedule::Start);
    let refused = results.lock().unwrap().pop().unwrap().unwrap_err();
    assert!(
        matches!(&refused, Error::BackendStuck(why) if why.contains("in flight") && why.contains("refused")),
        "{refused:?}"
    );
    assert!(world.resource::<RunState<InlineSim>>().failure().is_none());
    world.run_schedule(RunSchedule::Finish);
    let report = results.lock().unwrap().pop().unwrap().unwrap();
    assert_eq!(report, 12);
    assert!(results.lock().unwrap().is_empty(), "one event per Start");
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        assert_eq!(rt.task_count(), 12, "the graph is kept");
        rt.finalize().unwrap();
    }
    build(&mut world);
    let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
    assert_eq!(rt.run().unwrap().tasks, 12);
    rt.finalize().unwrap();
}

/// A published run that fails while the graph is kept (here
/// `MissingKernel`, before dispatch) leaves no `TaskResult` of an earlier
/// run on the tasks: the components describe the last published run, and
/// that run ran nothing. Before, the first run's results stayed, as if the
/// failed run had placed every task.
#[test]
fn a_failed_published_run_leaves_no_stale_task_results() {
    let mut rt = Runtime::new(RuntimeConfig {
        publish: true,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| layered(g, 3, 4).map(|_| ())).unwrap();
    rt.run().unwrap();
    assert_eq!(results(rt.world_mut()).len(), 12);
    rt.remove_kernels();
    let e = rt.run().unwrap_err();
    assert!(matches!(e, Error::MissingKernel { .. }), "{e}");
    assert_eq!(
        rt.task_count(),
        12,
        "a failure before dispatch keeps the graph"
    );
    assert!(
        results(rt.world_mut()).is_empty(),
        "the failed run's tasks still carry the earlier run's results"
    );
    // Once the kernel is back, the next run publishes again.
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.run().unwrap();
    assert_eq!(results(rt.world_mut()).len(), 12);
    rt.finalize().unwrap();
}

/// A panic escaping the Finish schedule (here a user system in it) still
/// ends a published run with one `RunFinished` event carrying the
/// `Panicked` error the run returns. Before, the event was missing: the
/// schedule unwound before Publish, and the runtime's own recovery
/// brought the backend down without telling observers.
#[test]
fn a_panic_in_the_finish_schedule_still_triggers_run_finished() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static ARMED: AtomicBool = AtomicBool::new(true);
    fn panic_once() {
        if ARMED.swap(false, Ordering::Relaxed) {
            panic!("a user system in Finish");
        }
    }
    let mut rt = Runtime::new(RuntimeConfig {
        publish: true,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| layered(g, 2, 3).map(|_| ())).unwrap();
    let seen: Arc<Mutex<Vec<Result<usize, String>>>> = Default::default();
    let log = seen.clone();
    rt.world_mut().add_observer(move |e: On<RunFinished>| {
        log.lock().unwrap().push(
            e.result
                .as_ref()
                .map(|r| r.tasks)
                .map_err(|e| e.to_string()),
        );
    });
    rt.world_mut().resource_mut::<Schedules>().add_systems(
        RunSchedule::Finish,
        panic_once.after(Phase::Shutdown).before(Phase::Publish),
    );
    let e = rt.run().unwrap_err();
    assert!(matches!(e, Error::Panicked { .. }), "{e}");
    assert_eq!(*seen.lock().unwrap(), vec![Err(e.to_string())]);
    seen.lock().unwrap().clear();
    rt.build(|g| layered(g, 2, 3).map(|_| ())).unwrap();
    assert_eq!(rt.run().unwrap().tasks, 6);
    assert_eq!(*seen.lock().unwrap(), vec![Ok(6)]);
    rt.finalize().unwrap();
}

/// A hostile embedding throws the run state of a run in flight away (a
/// fresh `RunState` inserted after Start) and starts again: the scheduler
/// jobs of the forgotten run still hold the policy, so the new run cannot
/// prepare it: a typed error naming the policy (it was a panic inside the
/// seed phase). Landing that launch drops the forgotten jobs (on both
/// single-threaded backends they stayed hosted, and every later run failed
/// the same way), so the runtime runs again.
#[test]
fn a_run_state_thrown_away_in_flight_is_an_error_not_a_panic() {
    thrown_away(InlineSim::new(Platform::A2A3));
    thrown_away(VirtualTime::new(
        *Platform::A2A3.spec(),
        Default::default(),
        1,
    ));
}

fn thrown_away<B: Backend>(backend: B) {
    let mut world = World::new();
    Runtime::install(&mut world, RuntimeConfig::default(), backend).unwrap();
    {
        let mut rt = Runtime::<B, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| layered(g, 3, 4).map(drop)).unwrap();
    }
    world.run_schedule(RunSchedule::Start);
    world.insert_resource(RunState::<B>::default());
    world.run_schedule(RunSchedule::Start);
    let failure = world.resource::<RunState<B>>().failure().cloned();
    assert!(
        matches!(&failure, Some(Error::BackendStuck(why)) if why.contains("round-robin") && why.contains("earlier run")),
        "{failure:?}"
    );
    world.run_schedule(RunSchedule::Finish);
    let mut rt = Runtime::<B, _>::attach(&mut world).unwrap();
    assert_eq!(
        rt.task_count(),
        12,
        "failed before dispatch: the graph is kept"
    );
    assert_eq!(rt.run().unwrap().tasks, 12);
    rt.finalize().unwrap();
}

/// The same on the threaded simulator: its runners still step the
/// forgotten launch, so the next launch is refused (saying how to get out)
/// and `abandon_stuck` starts fresh cores. The forgotten jobs keep the old
/// cores' registers (they never touch the new ones) and the policy until
/// they stop at their stall bound: until then a run is refused with the
/// typed error, after it runs.
#[test]
fn a_run_state_thrown_away_in_flight_on_threads_recovers_with_abandon_stuck() {
    type Sim = hostgraph::ThreadedSim;
    let mut world = World::new();
    let config = RuntimeConfig {
        stall_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    Runtime::install(
        &mut world,
        config,
        Sim::new(Platform::A2A3, Default::default()),
    )
    .unwrap();
    {
        let mut rt = Runtime::<Sim, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| layered(g, 3, 4).map(drop)).unwrap();
    }
    world.run_schedule(RunSchedule::Start);
    world.insert_resource(RunState::<Sim>::default());
    let mut rt = Runtime::<Sim, _>::attach(&mut world).unwrap();
    let e = rt.run().unwrap_err();
    assert!(
        matches!(&e, Error::BackendStuck(why) if why.contains("abandon_stuck")),
        "{e}"
    );
    assert!(rt.abandon_stuck());
    // The forgotten jobs keep the 300 ms bound they were made with; the
    // runs from here get the default, not to fail on a loaded machine.
    rt.set_stall_timeout(RuntimeConfig::default().stall_timeout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let report = loop {
        match rt.run() {
            Err(Error::BackendStuck(why)) if why.contains("stall bound") => {
                assert!(std::time::Instant::now() < deadline, "{why}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(report.tasks, 12);
    rt.finalize().unwrap();
}

/// Round-robin, but `choose_core` panics (an in-loop hook).
struct PanicInChooseCore;

impl Policy for PanicInChooseCore {
    type Local = Fifo;
    type Shared = SharedFifo;
    type Thread = ();
    const CHOOSES_CORE: bool = true;

    fn name(&self) -> &'static str {
        "panic-in-choose-core"
    }
    fn thread(&self, _index: usize, _cores: &[CoreView]) {}
    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        RoundRobin.assign_cores(cores, threads)
    }
    fn seed(&self, ty: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        RoundRobin.seed(ty, ready, capacity)
    }
    fn choose_core(&self, _t: &mut (), _task: u32, _free: &[CoreView]) -> usize {
        panic!("choose_core failed on purpose")
    }
}

/// On the inline simulator a panic in an in-loop policy hook, polled by a
/// non-blocking start, is the run's `Panicked` error, as on the other
/// backends and in a blocking run. (It escaped `Runtime::start`: the
/// inline backend did not catch its jobs' panics. Found by a hostile
/// review.)
#[test]
fn a_policy_panic_in_the_loop_does_not_escape_start_on_inline() {
    let mut rt =
        Runtime::with_backend(RuntimeConfig::default(), InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| {
        for _ in 0..8 {
            g.add_task(0, CoreType::Aiv, &[])?;
        }
        Ok(())
    })
    .unwrap();
    rt.set_policy(PanicInChooseCore);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match rt.start() {
        Ok(h) => h.wait().map(|r| r.tasks),
        Err(e) => Err(e),
    }));
    let r = r.expect("the policy's panic escaped Runtime::start");
    assert!(matches!(r, Err(Error::Panicked { .. })), "{r:?}");
}

/// `RunSchedule::Finish` run a second time after a run that finished well
/// (an embedding driving the schedules by hand) does nothing: no run to
/// finish. (It reported a bogus `Incomplete` and released the built
/// graph: tasks despawned, device memory freed without finalize's
/// copy-back. Found by a hostile review.)
#[test]
fn finish_run_twice_does_not_release_the_graph() {
    let mut world = World::new();
    Runtime::install(
        &mut world,
        RuntimeConfig::default(),
        InlineSim::new(Platform::A2A3),
    )
    .unwrap();
    let mut out = [0u8; 8];
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| {
            // SAFETY: `out` outlives finalize below.
            let dev = unsafe { g.output(&mut out)? };
            g.copy_to_device(dev, &[7u8; 8])?;
            g.add_task(0, CoreType::Aiv, &[dev]).map(drop)
        })
        .unwrap();
    }
    let events: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sink = events.clone();
    world.add_observer(move |e: On<hostgraph::run::RunFinished>| {
        sink.lock()
            .unwrap()
            .push(format!("{:?}", e.result.as_ref().map(|r| r.tasks)));
    });
    world.resource_mut::<RuntimeConfig>().publish = true;
    world.run_schedule(RunSchedule::Start);
    world.run_schedule(RunSchedule::Finish);
    // Again (no Start in between): there is no run to finish.
    world.run_schedule(RunSchedule::Finish);
    assert_eq!(*events.lock().unwrap(), ["Ok(1)"], "one run, one event");
    let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
    assert_eq!(rt.task_count(), 1, "a second Finish released the graph");
    assert_eq!(rt.device_memory().live().len(), 1, "its memory was freed");
    rt.finalize().unwrap();
    assert_eq!(out, [7u8; 8], "finalize copied nothing back");
}

/// Reconfiguring between Start and Finish does not change the run's
/// report: it describes the configuration the run was launched with (it
/// described the new one: 1 thread, the per-thread counters cut. Found by
/// a hostile review.)
#[test]
fn a_reconfigure_between_start_and_finish_leaves_the_report_alone() {
    let mut world = World::new();
    let config = RuntimeConfig {
        publish: true,
        ..Default::default()
    };
    Runtime::install(&mut world, config, InlineSim::new(Platform::A2A3)).unwrap();
    let seen: Arc<Mutex<Vec<(usize, usize, u64)>>> = Default::default();
    let sink = seen.clone();
    world.add_observer(move |e: On<RunFinished>| {
        let r = e.result.as_ref().unwrap();
        let completed = r.per_thread.iter().map(|t| t.completed).sum();
        sink.lock()
            .unwrap()
            .push((r.threads, r.per_thread.len(), completed));
    });
    {
        let mut rt = Runtime::<InlineSim, _>::attach(&mut world).unwrap();
        rt.register_kernel(0, KernelFn::rust(noop));
        rt.build(|g| {
            for _ in 0..30 {
                g.add_task(0, CoreType::Aiv, &[])?;
            }
            Ok(())
        })
        .unwrap();
    }
    world.run_schedule(RunSchedule::Start);
    Runtime::<InlineSim, _>::attach(&mut world)
        .unwrap()
        .reconfigure(1, 1)
        .unwrap();
    world.run_schedule(RunSchedule::Finish);
    let (threads, per_thread, completed) = seen.lock().unwrap()[0];
    assert_eq!(
        (threads, per_thread, completed),
        (3, 3, 30),
        "the Ok report of a 3-thread run"
    );
}

/// A task id edited after the graph was sealed (by a system between seal
/// and launch) changes neither the run nor its success: the sealed graph
/// runs, and publishing gives results to the entities whose ids the
/// graph has (none to the edited one). It panicked in publish indexing the
/// run's records by the new id: a run that completed failed, and its graph
/// was released. Found by a hostile review.
#[test]
fn a_task_id_edited_after_seal_does_not_break_publish() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    static ARMED: AtomicBool = AtomicBool::new(true);
    static RAN: AtomicUsize = AtomicUsize::new(0);
    fn edit_once(mut tasks: Query<&mut Task>) {
        if ARMED.swap(false, Ordering::Relaxed) {
            for mut t in &mut tasks {
                if t.id == hostgraph::TaskId(1) {
                    t.id = hostgraph::TaskId(99);
                }
            }
        }
    }
    let cfg = RuntimeConfig {
        block_dim: 1,
        threads: 1,
        publish: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(cfg, InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(
        0,
        KernelFn::rust(|_| {
            RAN.fetch_add(1, Ordering::Relaxed);
        }),
    );
    rt.build(|g| {
        let a = g.add_task(0, CoreType::Aiv, &[])?;
        let b = g.add_task(0, CoreType::Aiv, &[])?;
        g.add_successor(a, b)
    })
    .unwrap();
    rt.world_mut().resource_mut::<Schedules>().add_systems(
        RunSchedule::Start,
        edit_once.after(Phase::Seal).before(Phase::Launch),
    );
    let r = rt.run();
    assert_eq!(RAN.load(Ordering::Relaxed), 2, "the sealed graph ran");
    assert_eq!(r.unwrap().tasks, 2);
    let world = rt.world_mut();
    let mut ids: Vec<(u32, bool)> = world
        .query::<(&Task, Option<&TaskResult>)>()
        .iter(world)
        .map(|(t, r)| (t.id.0, r.is_some()))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [(0, true), (99, false)]);
    // The next run reseals the edited graph and refuses it.
    let e = rt.run().unwrap_err();
    assert!(matches!(e, Error::GraphMismatch { .. }), "{e}");
    rt.discard();
}

/// A user's world dropped with a run in flight (its handle forgotten, as
/// is allowed): the run's scheduler threads stop polling the dropped
/// simulator and leave, releasing what they hold (here the policy). They
/// used to go on until the stall bound — for ever with `Duration::MAX`.
#[test]
fn dropping_a_world_with_a_run_in_flight_stops_its_scheduler_threads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    type Sim = hostgraph::ThreadedSim;
    static DROPPED: AtomicBool = AtomicBool::new(false);
    /// Round-robin, and says when the last holder let it go.
    struct Flagged;
    impl Drop for Flagged {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::Release);
        }
    }
    impl Policy for Flagged {
        type Local = Fifo;
        type Shared = SharedFifo;
        type Thread = ();
        fn name(&self) -> &'static str {
            "flagged"
        }
        fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
            RoundRobin.assign_cores(cores, threads)
        }
        fn seed(&self, ty: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
            RoundRobin.seed(ty, ready, capacity)
        }
        fn thread(&self, _: usize, _: &[CoreView]) {}
    }
    fn millisecond(_: &[u64]) {
        std::thread::sleep(Duration::from_millis(1));
    }
    within_a_minute(|| {
        let mut world = World::new();
        let config = RuntimeConfig {
            stall_timeout: Duration::MAX,
            ..Default::default()
        };
        Runtime::install(
            &mut world,
            config,
            Sim::new(config.platform, Default::default()),
        )
        .unwrap();
        let mut rt = Runtime::<Sim, _>::attach(&mut world).unwrap();
        rt.set_policy(Flagged);
        rt.register_kernel(0, KernelFn::rust(millisecond));
        // A chain of 1 ms kernels: a run of some 10 s.
        rt.build(|g| aiv_chain(g, 10_001)).unwrap();
        let handle = rt.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        std::mem::forget(handle);
        drop(rt);
        drop(world);
        for _ in 0..5_000 {
            if DROPPED.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the run's scheduler threads still hold its policy 5 s after the world was dropped");
    });
}
