//! The phase systems of a run, in order (the protocol is written out in the
//! [module docs](super)). Each records the phase it entered in
//! [`RunState`], and a failure there instead of panicking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::change_detection::MAX_CHANGE_AGE;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemChangeTick;
use hostgraph_orch_abi::CoreType;
use hostgraph_platform::handshake::send_exit;

use super::Phase;
use super::cores::{self, AicpuThread, Core, OwnedBy, OwnedCores};
use super::results::{RunFinished, TaskResult};
use super::state::{Exec, RunReport, RunState, SealedGraph};
use crate::backend::{Backend, Landing, Wait};
use crate::error::Error;
use crate::graph::{DeviceMem, GraphStatus, Task, TaskCount, TaskLists, TensorPair};
use crate::kernels::KernelRegistry;
use crate::profile::RunInfo;
use crate::runtime::RuntimeConfig;
use crate::sched::{
    ActivePolicy, Failure, OwnedCore, RunPlan, ThreadOutcome, ThreadPlan, check_assignment,
    check_capacity, check_seed,
};
use crate::seal;

/// The first system of [`RunSchedule::Start`](super::RunSchedule::Start),
/// before [`Phase::Seal`]: a fresh [`RunState`], so nothing of the last
/// run (its failure, whether it dispatched, its cores) carries into this
/// one, however the schedules are run.
///
/// If the last run is still in flight (launched, and its
/// [`RunSchedule::Finish`](super::RunSchedule::Finish) not run), this
/// Start is refused and the run in flight left as it was, so that Finish
/// brings it down with its own result: the refusal marks the state
/// (every phase of this Start is skipped, [`run_ok`](super::run_ok) is
/// false) and is reported as [`Error::BackendStuck`], logged and, when
/// publishing, as a [`RunFinished`] event of its own.
pub(crate) fn begin<B: Backend>(
    mut run: ResMut<RunState<B>>,
    cfg: Res<RuntimeConfig>,
    mut commands: Commands,
) {
    if run.launched || run.hosted {
        run.refused = true;
        let e = Error::BackendStuck(
            "RunSchedule::Start ran again while the last run is in flight (refused; the run \
             in flight goes on); run RunSchedule::Finish to end it first"
                .into(),
        );
        log::error!("hostgraph: {e}");
        if cfg.publish {
            commands.trigger(RunFinished { result: Err(e) });
        }
        return;
    }
    *run = RunState::default();
    run.unfinished = true;
}

/// [`Phase::Seal`]: validates and seals the graph, unless the graph (its
/// task entities, their components and its lists) and the kernels are
/// unchanged since it was last sealed.
///
/// "Unchanged" is bevy's change detection, which sees only changes younger
/// than [`MAX_CHANGE_AGE`] world ticks: when this system last ran longer
/// ago than that, the graph is sealed again whatever the ticks say. Lists
/// that are not the ones the sealed view holds (compared by pointer) are a
/// change whatever the ticks say. An edit that is missed all the same
/// (ticks wrapped without bevy's periodic check) cannot make a run wrong:
/// launch resets the counts from the sealed view, so the run executes the
/// graph that was validated.
pub(crate) fn seal<B: Backend>(
    tasks: Query<Ref<Task>>,
    lists: Option<Res<TaskLists>>,
    registry: Res<KernelRegistry>,
    ticks: SystemChangeTick,
    mut sealed: ResMut<SealedGraph>,
    mut run: ResMut<RunState<B>>,
) {
    run.phase = Some(Phase::Seal);
    let Some(lists) = lists else {
        sealed.0 = None;
        return run.fail(Error::GraphMismatch {
            why: "the TaskLists resource was removed from the world".into(),
        });
    };
    let within_horizon =
        ticks.this_run().get().wrapping_sub(ticks.last_run().get()) < MAX_CHANGE_AGE;
    let unchanged = |s: &Arc<seal::Sealed>| {
        within_horizon
            && !registry.is_changed()
            && !lists.is_changed()
            && s.holds_lists(&lists)
            && tasks.iter().len() == s.len()
            && !tasks.iter().any(|t| t.is_changed())
    };
    if sealed.0.as_ref().is_some_and(unchanged) {
        return;
    }
    sealed.0 = None;
    match seal::seal(tasks.iter().map(Ref::into_inner), &lists, &registry) {
        Ok(s) => sealed.0 = Some(Arc::new(s)),
        Err(e) => run.fail(e),
    }
}

/// [`Phase::Launch`]: resets the graph's fan-in counts (from the sealed
/// graph's own lists, not the [`Task`] components) and run records, and
/// launches the backend's cores.
pub(crate) fn launch<B: Backend>(
    sealed: Res<SealedGraph>,
    cfg: Res<RuntimeConfig>,
    mut exec: ResMut<Exec<B>>,
    mut run: ResMut<RunState<B>>,
    mut mem: ResMut<DeviceMem>,
) {
    run.phase = Some(Phase::Launch);
    let Some(graph) = sealed.0.clone() else {
        return run.fail(Error::NoGraph);
    };
    if let Err(e) = crate::runtime::check_config(exec.0.spec(), cfg.block_dim, cfg.threads as usize)
    {
        return run.fail(e);
    }
    graph.reset(cfg.profiling, cfg.publish);
    run.times.launch = Some(Instant::now());
    run.config = Some(*cfg);
    match exec.0.launch(cfg.block_dim, graph) {
        Ok(()) => {
            run.launched = true;
            mem.1 = true;
        }
        Err(e) => {
            // A backend that started cores before failing must not leave
            // them stepping: land it (a no-op when nothing runs; a runner
            // stuck in an earlier launch's kernel stays as it was).
            let _ = exec.0.land(true, cfg.startup_timeout);
            run.fail(e)
        }
    }
}

/// [`Phase::Discover`]: the start-up handshake with every launched core;
/// the cores and threads become entities.
pub(crate) fn discover<B: Backend>(world: &mut World) {
    let cfg = *world.resource::<RuntimeConfig>();
    world.resource_mut::<RunState<B>>().phase = Some(Phase::Discover);
    let found = world.resource_scope(|_, mut exec: Mut<Exec<B>>| {
        let n = (cfg.block_dim * exec.0.spec().cores_per_block()) as usize;
        cores::discover(&mut exec.0, n, cfg.startup_timeout)
    });
    match found {
        Ok(found) => {
            cores::sync_entities(world, &found, cfg.threads as usize);
            let mut run = world.resource_mut::<RunState<B>>();
            run.times.startup = run.times.launch.map_or(Duration::ZERO, |t| t.elapsed());
            run.cores = found;
        }
        Err(e) => world.resource_mut::<RunState<B>>().fail(e),
    }
}

/// [`Phase::Assign`]: the policy deals the discovered cores to the
/// scheduler threads; each core entity gets an [`OwnedBy`] relation (only
/// where it changed).
pub(crate) fn assign<B: Backend>(
    policy: Res<ActivePolicy<B>>,
    cfg: Res<RuntimeConfig>,
    mut run: ResMut<RunState<B>>,
    cores: Query<(Entity, &Core, Option<&OwnedBy>)>,
    threads: Query<(Entity, &AicpuThread)>,
    mut commands: Commands,
) {
    run.phase = Some(Phase::Assign);
    let owner = policy.get().assign_cores(&run.cores, cfg.threads as usize);
    if let Err(e) = check_assignment(policy.name(), &owner, &run.cores, cfg.threads as usize) {
        return run.fail(e);
    }
    let mut thread_entity = vec![Entity::PLACEHOLDER; cfg.threads as usize];
    for (e, t) in &threads {
        if let Some(slot) = thread_entity.get_mut(t.index) {
            *slot = e;
        }
    }
    for (e, core, owned) in &cores {
        let Some(i) = run.cores.iter().position(|c| c.index == core.index) else {
            continue;
        };
        let want = thread_entity[owner[i]];
        if owned.map(|o| o.0) != Some(want) {
            commands.entity(e).insert(OwnedBy(want));
        }
    }
}

/// [`Phase::Seed`]: lets the policy see the sealed graph, then plans each
/// scheduler thread from the cores it owns (its [`OwnedCores`]): local
/// queue sizes and initially ready tasks as the policy says, every answer
/// checked.
pub(crate) fn seed<B: Backend>(
    mut policy: ResMut<ActivePolicy<B>>,
    cfg: Res<RuntimeConfig>,
    sealed: Res<SealedGraph>,
    threads: Query<(&AicpuThread, Option<&OwnedCores>)>,
    cores: Query<&Core>,
    mut run: ResMut<RunState<B>>,
) {
    run.phase = Some(Phase::Seed);
    let Some(graph) = sealed.0.clone() else {
        return run.fail(Error::NoGraph);
    };
    if let Err(e) = policy.get_mut().prepare(&graph) {
        return run.fail(e);
    }
    let (policy, name) = (policy.get(), policy.name());
    let n = cfg.threads as usize;
    let mut lists: Vec<Vec<Core>> = vec![Vec::new(); n];
    for (t, owned) in &threads {
        if let (Some(list), Some(owned)) = (lists.get_mut(t.index), owned) {
            list.extend(owned.cores().iter().filter_map(|&e| cores.get(e).ok()));
            list.sort_by_key(|c| c.index);
        }
    }
    let owned: Vec<[usize; 2]> = lists
        .iter()
        .map(|l| CoreType::ALL.map(|ty| l.iter().filter(|c| c.core_type == ty).count()))
        .collect();
    let tasks_of = |ty: CoreType| match ty {
        CoreType::Aic => graph.aic_tasks(),
        CoreType::Aiv => graph.len() - graph.aic_tasks(),
    };
    for ty in CoreType::ALL {
        if tasks_of(ty) > 0 && owned.iter().all(|o| o[ty as usize] == 0) {
            return run.fail(Error::NoCoreForType {
                core_type: ty,
                tasks: tasks_of(ty),
            });
        }
    }
    // Local capacities; a queue never holds more tasks than the graph has
    // of its type, so none is allocated beyond that.
    let mut plan = RunPlan::default();
    for (list, owned) in lists.iter().zip(&owned) {
        let mut capacity = [0usize; 2];
        for ty in CoreType::ALL {
            let n = owned[ty as usize];
            if n > 0 {
                match check_capacity(name, policy.local_capacity(n), n, ty) {
                    Ok(c) => capacity[ty as usize] = c.min(tasks_of(ty)),
                    Err(e) => return run.fail(e),
                }
            }
        }
        let cores = list
            .iter()
            .map(|c| OwnedCore {
                physical_id: c.physical_id,
                core_type: c.core_type,
                slot: Default::default(),
            })
            .collect();
        plan.threads.push(ThreadPlan {
            cores,
            capacity,
            seeds: Vec::new(),
        });
    }
    for ty in CoreType::ALL {
        let ready = graph.roots(ty);
        let caps: Vec<usize> = plan
            .threads
            .iter()
            .map(|t| t.capacity[ty as usize])
            .collect();
        let owns: Vec<usize> = owned.iter().map(|o| o[ty as usize]).collect();
        let places = policy.seed(ty, ready, &caps);
        if let Err(e) = check_seed(name, ty, &places, ready.len(), &caps, &owns) {
            return run.fail(e);
        }
        for (&task, dest) in ready.iter().zip(places) {
            match dest {
                Some(t) => plan.threads[t].seeds.push((task, ty)),
                None => plan.seeds[ty as usize].push(task),
            }
        }
    }
    run.plan = Some(plan);
}

/// [`Phase::Dispatch`], first half: the active policy builds the threads
/// the plan describes and hands those that own cores to the backend; then
/// this returns.
pub(crate) fn host<B: Backend>(
    policy: Res<ActivePolicy<B>>,
    cfg: Res<RuntimeConfig>,
    sealed: Res<SealedGraph>,
    mut run: ResMut<RunState<B>>,
    mut exec: ResMut<Exec<B>>,
) {
    run.phase = Some(Phase::Dispatch);
    let Some(graph) = sealed.0.clone() else {
        return run.fail(Error::NoGraph);
    };
    // A Seed phase replaced by one that made no plan: nothing can run.
    let Some(plan) = run.plan.take() else {
        return run.fail(Error::Incomplete {
            completed: 0,
            dispatched: 0,
            tasks: graph.len(),
        });
    };
    run.times.dispatch = Some(Instant::now());
    let shared = policy
        .get()
        .host(&mut exec.0, plan, graph, cfg.stall_timeout);
    run.shared = Some(shared);
    (run.hosted, run.dispatched) = (true, true);
}

/// [`Phase::Dispatch`], second half: waits for every hosted thread to
/// return, then turns how the run went into its result: the first kernel
/// fault, failure or stall (diagnosed), or a check that every task ran.
pub(crate) fn await_threads<B: Backend>(mut run: ResMut<RunState<B>>, mut exec: ResMut<Exec<B>>) {
    if !run.hosted {
        return;
    }
    run.phase = Some(Phase::Dispatch);
    exec.0.drive(Wait::Block, None);
    run.hosted = false;
    run.times.execute = run.times.dispatch.map_or(Duration::ZERO, |t| t.elapsed());
    let Some(shared) = run.shared.clone() else {
        return;
    };
    let outcomes = shared.take_outcomes();
    // Whether a task may have been written to a core: a thread that left
    // no outcome may have.
    run.dispatched = outcomes
        .iter()
        .any(|o| o.as_ref().is_none_or(|o| o.stats.dispatched > 0));
    let outcomes: Vec<ThreadOutcome> = outcomes
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let graph = shared.graph();
    let error = match (graph.fault(), shared.take_failure()) {
        (Some(f), _) => Some(Error::KernelFault {
            task: crate::graph::TaskId(f.task),
            func_id: graph.func_id(f.task),
            physical_id: f.physical_id,
            message: f.message,
        }),
        (None, Some(Failure::Error(e))) => Some(e),
        // Declared while another thread counted the last completion:
        // every task ran, as in a cancel that came too late (below).
        (None, Some(Failure::Stall(_))) if incomplete(&outcomes, graph.len()).is_none() => None,
        (None, Some(Failure::Stall(elapsed))) => Some(shared.diagnose(&outcomes, elapsed)),
        (None, Some(Failure::Panic { thread, message })) => Some(Error::Panicked {
            phase: format!("dispatch (scheduler thread {thread})"),
            message,
        }),
        // Every task had completed when the cancel came: nothing was
        // stopped, and the run is as good as one not cancelled.
        (None, Some(Failure::Cancelled)) if incomplete(&outcomes, graph.len()).is_none() => None,
        (None, Some(Failure::Cancelled)) => {
            run.cancelled = true;
            Some(Error::Cancelled)
        }
        // Whether every task ran is publish's check, for every run.
        (None, None) => None,
    };
    if let Some(e) = error {
        run.fail(e);
    }
    run.outcomes = outcomes;
}

/// [`Phase::Shutdown`]: after a run that went well (or was cancelled), the
/// exit handshake with every core, bounded by the start-up timeout, then a
/// normal landing. After a failure, every core is sent the exit signal and
/// the backend is landed at once with `abort`: cores inside kernels that
/// do not return are reported, not waited for.
pub(crate) fn shutdown<B: Backend>(
    cfg: Res<RuntimeConfig>,
    mut run: ResMut<RunState<B>>,
    mut exec: ResMut<Exec<B>>,
    mut mem: ResMut<DeviceMem>,
) {
    if !run.launched {
        return;
    }
    run.phase = Some(Phase::Shutdown);
    let cores = std::mem::take(&mut run.cores);
    // A run that went well, or was cancelled with nothing else wrong,
    // lets the cores finish the kernels they are in: bounded by the
    // start-up bound, and for a cancelled run by the stall bound too (a
    // kernel longer than that counts as hung; its memory is held back).
    let orderly = run.ok() || run.cancelled;
    let bound = if run.cancelled {
        cfg.startup_timeout.min(cfg.stall_timeout)
    } else {
        cfg.startup_timeout
    };
    let landing = if orderly {
        let unacked = cores::exit(&mut exec.0, &cores, &[], bound);
        if unacked.is_empty() {
            exec.0.land(false, cfg.startup_timeout)
        } else {
            run.fail(Error::ShutdownTimeout(unacked));
            exec.0.land(true, cfg.startup_timeout)
        }
    } else {
        for c in &cores {
            send_exit(exec.0.registers(), c.physical_id);
        }
        exec.0.land(true, cfg.startup_timeout)
    };
    run.cores = cores;
    run.launched = false;
    // Kernels that did not return may still touch it.
    mem.1 = matches!(landing, Landing::Stuck(_));
    if let Landing::Stuck(stuck) = landing {
        let shown: Vec<String> = stuck
            .iter()
            .map(|s| format!("task {} on core {}", s.task, s.physical_id))
            .collect();
        run.fail(Error::BackendStuck(format!(
            "kernels did not return at shutdown ({}); their memory is held back until they do",
            shown.join(", ")
        )));
        run.stuck = true;
    }
}

/// [`Phase::Publish`]: the run's result; per-task results and the
/// [`RunFinished`] event when publishing; after a failure once tasks were
/// dispatched, the graph is released (its device memory held back if a
/// kernel may still write it).
///
/// The result is `Ok` only if the scheduler threads' outcomes count every
/// task of the graph completed (and dispatched) once; a run that recorded
/// no failure but did not (its dispatch phase replaced by one that hosted
/// nothing, or awaited by one that kept no outcomes) is
/// [`Error::Incomplete`], naming the counts.
pub(crate) fn publish<B: Backend>(world: &mut World) {
    let platform = world.resource::<Exec<B>>().0.spec().platform;
    let sealed = world.resource::<SealedGraph>().0.clone();
    let now = *world.resource::<RuntimeConfig>();
    let mut run = world.resource_mut::<RunState<B>>();
    run.phase = Some(Phase::Publish);
    run.unfinished = false;
    // The report describes the configuration the run was launched with.
    let cfg = run.config.unwrap_or(now);
    let result = match (run.failure.take(), &sealed) {
        (Some(e), _) => Err(e),
        (None, None) => Err(Error::NoGraph),
        (None, Some(graph)) if let Some(e) = incomplete(&run.outcomes, graph.len()) => Err(e),
        (None, Some(graph)) => {
            let count = |ty| run.cores.iter().filter(|c| c.core_type == ty).count();
            let mut per_thread = vec![Default::default(); cfg.threads as usize];
            for (slot, o) in per_thread.iter_mut().zip(&run.outcomes) {
                *slot = o.stats;
            }
            let info = RunInfo {
                platform,
                block_dim: cfg.block_dim,
                threads: cfg.threads as usize,
            };
            Ok(RunReport {
                tasks: graph.len(),
                aic_tasks: graph.aic_tasks(),
                aiv_tasks: graph.len() - graph.aic_tasks(),
                aic_cores: count(CoreType::Aic),
                aiv_cores: count(CoreType::Aiv),
                threads: cfg.threads as usize,
                startup: run.times.startup,
                execute: run.times.execute,
                wall: run.times.begin.elapsed(),
                per_thread,
                profile: graph.take_profile(info, &run.cores),
            })
        }
    };
    // A failure once a task was written to a core releases the graph:
    // kernels ran on its memory, some may not have returned. Before that
    // (start-up, a policy's answer refused before its first task was
    // written), the graph is kept; so is a cancelled run's whose kernels
    // all returned.
    let release = result.is_err() && (run.stuck || (run.dispatched && !run.cancelled));
    let stuck = run.stuck;
    run.shared = None;
    run.outcomes.clear();
    if cfg.publish {
        match (&result, &sealed) {
            (Ok(report), Some(graph)) => write_results(world, graph, report),
            // The components describe the last published run; a failed
            // one placed no task, so an earlier run's results must not
            // stay on a graph it kept.
            (Err(_), _) => remove_results(world),
            (Ok(_), None) => {}
        }
        world.trigger(RunFinished {
            result: result.clone(),
        });
    }
    if release {
        clear_graph::<B>(world, stuck);
    }
    world.resource_mut::<RunState<B>>().result = Some(result);
}

/// [`Error::Incomplete`] unless the threads' `outcomes` count each of the
/// graph's `tasks` dispatched and completed: what a run must show to be
/// `Ok`.
fn incomplete(outcomes: &[ThreadOutcome], tasks: usize) -> Option<Error> {
    let sum = |f: fn(&ThreadOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let (completed, dispatched) = (sum(|o| o.stats.completed), sum(|o| o.stats.dispatched));
    (completed != tasks as u64 || dispatched != tasks as u64).then_some(Error::Incomplete {
        completed,
        dispatched,
        tasks,
    })
}

/// Inserts every task's [`TaskResult`] from the run's records (and its
/// times from the report's profile, when profiled).
///
/// Results go to the entities that hold each task id now; an entity whose
/// id the run's graph does not have (its component edited after the graph
/// was sealed) gets none.
fn write_results(world: &mut World, graph: &crate::seal::Sealed, report: &RunReport) {
    let Some(rec) = graph.recorder() else {
        return;
    };
    let outside: Vec<Entity> = world
        .query_filtered::<(Entity, &Task), With<TaskResult>>()
        .iter(world)
        .filter(|(_, t)| t.id.index() >= graph.len())
        .map(|(e, _)| e)
        .collect();
    for e in outside {
        world.entity_mut(e).remove::<TaskResult>();
    }
    let records = report.profile.as_ref().map(|p| &p.tasks);
    let results: Vec<(Entity, TaskResult)> = world
        .query::<(Entity, &Task)>()
        .iter(world)
        .filter(|(_, t)| t.id.index() < graph.len())
        .map(|(e, t)| {
            let (physical_id, thread, order) = rec.placement(t.id.0);
            let times = records.map(|r| {
                let r = &r[t.id.index()];
                (
                    Duration::from_nanos(r.start_ns),
                    Duration::from_nanos(r.end_ns),
                )
            });
            (
                e,
                TaskResult {
                    physical_id,
                    thread,
                    order,
                    times,
                },
            )
        })
        .collect();
    world.insert_batch(results);
}

/// Removes every task's [`TaskResult`] (after a failed published run).
pub(crate) fn remove_results(world: &mut World) {
    let stale: Vec<Entity> = world
        .query_filtered::<Entity, With<TaskResult>>()
        .iter(world)
        .collect();
    for e in stale {
        world.entity_mut(e).remove::<TaskResult>();
    }
}

/// Removes the graph: its task and tensor-pair entities, its lists and
/// sealed view; frees its device memory, or with `quarantine` holds it back
/// (a kernel may still write it). Returns the allocations freed or held.
pub(crate) fn clear_graph<B: Backend>(world: &mut World, quarantine: bool) -> usize {
    if let Some(mut policy) = world.get_resource_mut::<ActivePolicy<B>>() {
        policy.get_mut().forget();
    }
    let entities: Vec<Entity> = world
        .query_filtered::<Entity, Or<(With<Task>, With<TensorPair>)>>()
        .iter(world)
        .collect();
    // Last row first: each removal takes its table's last row, so no row
    // is moved to fill the gap.
    for e in entities.into_iter().rev() {
        world.despawn(e);
    }
    // Inserted afresh: a user who removed one of them gets it back, and
    // the runtime with it (the status keeps what the last build staged).
    world.insert_resource(TaskCount(0));
    world.insert_resource(TaskLists::default());
    world.insert_resource(SealedGraph::default());
    let last_build = world
        .get_resource::<GraphStatus>()
        .map(|s| s.last_build)
        .unwrap_or_default();
    world.insert_resource(GraphStatus {
        built: false,
        last_build,
    });
    let mut mem = world.resource_mut::<DeviceMem>();
    if quarantine {
        mem.0.quarantine_live()
    } else {
        mem.0.free_all()
    }
}

/// Brings the backend down whatever state a run was left in (after a
/// panic escaped the run's schedules): stops and awaits hosted threads,
/// sends every discovered core the exit signal, lands with `abort`.
/// Returns whether a kernel is still stuck.
pub(crate) fn emergency_stop<B: Backend>(world: &mut World) -> bool {
    let cfg = *world.resource::<RuntimeConfig>();
    world.resource_scope(|world, mut exec: Mut<Exec<B>>| {
        let mut run = world.resource_mut::<RunState<B>>();
        if run.hosted {
            if let Some(sh) = &run.shared {
                sh.fail(Failure::Cancelled);
            }
            exec.0.drive(Wait::Block, None);
            run.hosted = false;
        }
        run.shared = None;
        run.plan = None;
        if !run.launched {
            return run.stuck;
        }
        for c in &run.cores {
            send_exit(exec.0.registers(), c.physical_id);
        }
        run.launched = false;
        run.stuck = matches!(exec.0.land(true, cfg.startup_timeout), Landing::Stuck(_));
        let stuck = run.stuck;
        // Kernels that did not return may still touch it.
        world.resource_mut::<DeviceMem>().1 = stuck;
        stuck
    })
}
