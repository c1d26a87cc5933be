//! A run as bevy systems: two schedules of ordered, public phases.
//!
//! ```text
//!  RunSchedule::Start                       RunSchedule::Finish
//!  ┌──────┐ ┌────────┐ ┌──────────┐          ┌──────────┐ ┌──────────┐ ┌─────────┐
//!  │ Seal │→│ Launch │→│ Discover │→ ...      │ Dispatch │→│ Shutdown │→│ Publish │
//!  └──────┘ └────────┘ └──────────┘          │ (await)  │ └──────────┘ └─────────┘
//!     ... → ┌────────┐ ┌──────┐ ┌──────────┐ └──────────┘
//!           │ Assign │→│ Seed │→│ Dispatch │   the backend runs the scheduler
//!           └────────┘ └──────┘ │  (host)  │   threads between the two
//!                               └──────────┘
//! ```
//!
//! 0. Before [`Phase::Seal`], the first system of [`RunSchedule::Start`]
//!    resets the [`RunState`], so every run starts afresh whether
//!    [`Runtime`](crate::Runtime) or the user runs the schedules (a user
//!    system that records a run's failure belongs in or after
//!    [`Phase::Seal`]). Starting while the last run is in flight (its
//!    Finish not run) is refused: every phase of that Start is skipped,
//!    the refusal reported ([`Error::BackendStuck`](crate::Error::BackendStuck),
//!    logged, and a [`RunFinished`] event when publishing), and the run in
//!    flight left alone for its Finish.
//! 1. [`Phase::Seal`]: validate the graph (every func_id has a kernel, no
//!    cycle; tasks and lists agree) and seal it into the dense view the hot
//!    loop reads; redone only when the graph or the kernels changed (bevy
//!    change detection; lists that are not the sealed view's; and always
//!    when the last seal is older than bevy's change horizon).
//! 2. [`Phase::Launch`]: reset the graph's fan-in counts and launch the
//!    backend's cores. The counts come from the sealed view itself (the
//!    edges into each task in the lists it holds), never from the
//!    [`Task`](crate::graph::Task) components: a run executes exactly the
//!    graph that was sealed, so a component edited after sealing (by a
//!    system between seal and launch, or an edit that change detection
//!    missed) cannot reorder it; such an edit is refused when the graph is
//!    next sealed.
//! 3. [`Phase::Discover`]: start-up handshake with every core (steps 1-5 of
//!    [`hostgraph_platform::handshake`]); the cores become [`Core`]
//!    entities and the scheduler threads [`AicpuThread`] entities (kept
//!    across runs of the same configuration).
//! 4. [`Phase::Assign`]: the policy deals cores to threads: an [`OwnedBy`]
//!    relation per core.
//! 5. [`Phase::Seed`]: each thread's core list from those relations, local
//!    queue sizes and initially ready tasks from the policy, all checked.
//! 6. [`Phase::Dispatch`]: the threads go to the backend ([`RunSchedule::Start`]
//!    ends here, so a run can be started without blocking), and the run
//!    waits for them to return ([`RunSchedule::Finish`] begins here): the
//!    poll / resolve / dispatch loop, one system's wait, no ECS access per
//!    task.
//! 7. [`Phase::Shutdown`]: exit handshake (step 11) and landing; after a
//!    failure, cores are stopped at once and any stuck inside a kernel are
//!    reported.
//! 8. [`Phase::Publish`]: the report, `Ok` only when the threads' outcomes
//!    count every task dispatched and completed ([`Error::Incomplete`](crate::Error::Incomplete)
//!    otherwise, e.g. after a replaced dispatch phase that hosted
//!    nothing); per-task results as [`TaskResult`]
//!    components and a [`RunFinished`] event when
//!    [`RuntimeConfig::publish`](crate::RuntimeConfig::publish) is on; after a failure once a task was
//!    written to a core (unless the run was cancelled and every kernel
//!    returned), or with a kernel stuck, the graph is released (its device
//!    memory held back while a kernel may still write it).
//!
//! A phase that fails records the run's error in [`RunState`]; the phases
//! after it up to shutdown are skipped. Every phase system can be replaced
//! by a user's own in the same set (e.g. their own core assignment:
//! remove the systems in [`Phase::Assign`] and add one that inserts
//! [`OwnedBy`] on the [`Core`] entities).

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;

mod cores;
mod phases;
mod results;
mod state;

pub use crate::sched::ActivePolicy;
pub use cores::{AicpuThread, Core, OwnedBy, OwnedCores};
pub use results::{RunFinished, TaskResult};
pub use state::{Exec, RunReport, RunState, SealedGraph};

pub(crate) use phases::{clear_graph, emergency_stop, remove_results};

use crate::backend::Backend;

/// The two schedules of a run: [`Start`](Self::Start) (seal to handing the
/// scheduler threads to the backend) and [`Finish`](Self::Finish) (waiting
/// for them, shutdown, publish). A blocking run is one after the other.
#[derive(ScheduleLabel, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunSchedule {
    /// Seal, launch, discover, assign, seed, dispatch (host).
    Start,
    /// Dispatch (await), shutdown, publish.
    Finish,
}

/// The phases of a run, in order; each a public system set.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Validate and seal the graph.
    Seal,
    /// Reset the fan-in counts and launch the cores.
    Launch,
    /// Start-up handshake; cores and threads as entities.
    Discover,
    /// Cores dealt to scheduler threads.
    Assign,
    /// Threads' core lists, queue sizes, initially ready tasks.
    Seed,
    /// Scheduler threads handed to the backend, and awaited.
    Dispatch,
    /// Exit handshake and landing.
    Shutdown,
    /// Report, results, event; release after a failure.
    Publish,
}

/// The set of the system that resets the run state, before every phase
/// of [`RunSchedule::Start`]: not a [`Phase`], so replacing
/// [`Phase::Seal`] keeps it.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Begin;

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Phase::Seal => "seal",
            Phase::Launch => "launch",
            Phase::Discover => "discover",
            Phase::Assign => "assign",
            Phase::Seed => "seed",
            Phase::Dispatch => "dispatch",
            Phase::Shutdown => "shutdown",
            Phase::Publish => "publish",
        };
        f.write_str(name)
    }
}

/// Whether the run has not failed so far (and its Start was not refused,
/// a run being in flight): the run condition of every phase from seal to
/// dispatch.
pub fn run_ok<B: Backend>(run: Res<RunState<B>>) -> bool {
    run.ok() && !run.refused
}

/// Whether a run's Start has run and its Finish not yet published: the
/// run condition of the Finish phases (a Finish run twice, or with no
/// Start, does nothing).
pub fn run_unfinished<B: Backend>(run: Res<RunState<B>>) -> bool {
    run.unfinished
}

/// Adds the run schedules, with hostgraph's phase systems for backend `B`,
/// to `world`'s [`Schedules`] (creating it if needed). The world must also
/// hold hostgraph's resources: [`Runtime`](crate::Runtime) installs both;
/// to embed, see [`Runtime::install`](crate::Runtime::install).
pub fn add_schedules<B: Backend>(world: &mut World) {
    let mut start = Schedule::new(RunSchedule::Start);
    start.configure_sets(
        (
            Begin,
            Phase::Seal,
            Phase::Launch,
            Phase::Discover,
            Phase::Assign,
            Phase::Seed,
            Phase::Dispatch,
        )
            .chain(),
    );
    start.add_systems((
        phases::begin::<B>.in_set(Begin),
        phases::seal::<B>.in_set(Phase::Seal).run_if(run_ok::<B>),
        phases::launch::<B>
            .in_set(Phase::Launch)
            .run_if(run_ok::<B>),
        phases::discover::<B>
            .in_set(Phase::Discover)
            .run_if(run_ok::<B>),
        phases::assign::<B>
            .in_set(Phase::Assign)
            .run_if(run_ok::<B>),
        phases::seed::<B>.in_set(Phase::Seed).run_if(run_ok::<B>),
        phases::host::<B>
            .in_set(Phase::Dispatch)
            .run_if(run_ok::<B>),
    ));
    let mut finish = Schedule::new(RunSchedule::Finish);
    finish.configure_sets((Phase::Dispatch, Phase::Shutdown, Phase::Publish).chain());
    finish.add_systems((
        phases::await_threads::<B>
            .in_set(Phase::Dispatch)
            .run_if(run_unfinished::<B>),
        phases::shutdown::<B>
            .in_set(Phase::Shutdown)
            .run_if(run_unfinished::<B>),
        phases::publish::<B>
            .in_set(Phase::Publish)
            .run_if(run_unfinished::<B>),
    ));
    world.init_resource::<Schedules>();
    let mut schedules = world.resource_mut::<Schedules>();
    schedules.insert(start);
    schedules.insert(finish);
}
