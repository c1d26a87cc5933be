//! The resources a run reads and writes: its configuration, the active
//! policy, the sealed graph, and the state of the run in flight, which
//! carries what one phase hands the next.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use hostgraph_platform::DiscoveredCore;

use super::Phase;
use crate::backend::Backend;
use crate::error::Error;
use crate::profile::Profile;
use crate::sched::{RunPlan, RunStatus, ThreadOutcome, ThreadStats};
use crate::seal::Sealed;

/// The sealed view of the built graph, made by the seal phase and kept
/// while neither the graph nor the kernels change.
#[derive(Resource, Default)]
pub struct SealedGraph(pub(crate) Option<Arc<Sealed>>);

impl SealedGraph {
    /// The sealed graph, once a run has sealed it.
    pub fn get(&self) -> Option<&Arc<Sealed>> {
        self.0.as_ref()
    }
}

/// The backend, as a resource of the world its runs use.
#[derive(Resource)]
pub struct Exec<B: Backend>(pub B);

/// Figures from one run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Tasks run (every task of the graph, each once).
    pub tasks: usize,
    /// Of which on AIC cores.
    pub aic_tasks: usize,
    /// Of which on AIV cores.
    pub aiv_tasks: usize,
    /// AIC cores discovered.
    pub aic_cores: usize,
    /// AIV cores discovered.
    pub aiv_cores: usize,
    /// Scheduler threads.
    pub threads: usize,
    /// Launch and start-up handshake of every core (not the per-run reset
    /// of the graph's fan-in counts, which `wall` includes).
    pub startup: Duration,
    /// From handing the scheduler threads to the backend to the last of
    /// them returning (the last completion, plus the threads noticing).
    pub execute: Duration,
    /// Whole run, including shutdown.
    pub wall: Duration,
    /// Per-thread counters.
    pub per_thread: Vec<ThreadStats>,
    /// Per-task records, when profiling is on ([`RuntimeConfig::profiling`](crate::RuntimeConfig::profiling)).
    pub profile: Option<Profile>,
}

/// Times a run takes, as its phases record them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunTimes {
    pub begin: Instant,
    pub launch: Option<Instant>,
    pub startup: Duration,
    pub dispatch: Option<Instant>,
    pub execute: Duration,
}

/// The run in flight: what each phase hands the next, and how it is going.
/// Reset at the start of every run, by the first system of
/// [`RunSchedule::Start`](super::RunSchedule::Start).
#[derive(Resource)]
pub struct RunState<B: Backend> {
    /// The phase the run entered last.
    pub(crate) phase: Option<Phase>,
    /// The first error; later phases up to shutdown are skipped.
    pub(crate) failure: Option<Error>,
    /// The backend was launched (so it must be landed).
    pub(crate) launched: bool,
    /// A kernel did not return by the landing: the run's memory is held back.
    pub(crate) stuck: bool,
    /// The scheduler jobs are with the backend (until awaited).
    pub(crate) hosted: bool,
    /// A task may have been written to a core in this run: set when the
    /// jobs go to the backend, then, once they are awaited, only if a
    /// thread's outcome counts a dispatch (or a thread left none).
    pub(crate) dispatched: bool,
    /// The run was cancelled (a dropped run handle).
    pub(crate) cancelled: bool,
    /// A Start ran while this run was in flight and was refused: its
    /// phases are skipped; this run goes on.
    pub(crate) refused: bool,
    /// The run's Start ran and its Finish has not yet published: the
    /// Finish phases run only then (a Finish with no run to finish does
    /// nothing).
    pub(crate) unfinished: bool,
    /// The configuration the run was launched with (its report describes
    /// it, whatever is reconfigured before Finish).
    pub(crate) config: Option<crate::runtime::RuntimeConfig>,
    /// Cores the discovery phase filed, in launch order.
    pub(crate) cores: Vec<DiscoveredCore>,
    /// The seed phase's plan, taken by dispatch.
    pub(crate) plan: Option<RunPlan>,
    /// Shared state of the hosted threads.
    pub(crate) shared: Option<Arc<dyn RunStatus>>,
    /// Threads' final states, once dispatch has ended.
    pub(crate) outcomes: Vec<ThreadOutcome>,
    pub(crate) times: RunTimes,
    /// How the run ended, once the publish phase has run.
    pub(crate) result: Option<Result<RunReport, Error>>,
    _backend: PhantomData<fn() -> B>,
}

impl<B: Backend> Default for RunState<B> {
    fn default() -> Self {
        RunState {
            phase: None,
            failure: None,
            launched: false,
            stuck: false,
            hosted: false,
            dispatched: false,
            cancelled: false,
            refused: false,
            unfinished: false,
            config: None,
            cores: Vec::new(),
            plan: None,
            shared: None,
            outcomes: Vec::new(),
            times: RunTimes {
                begin: Instant::now(),
                launch: None,
                startup: Duration::ZERO,
                dispatch: None,
                execute: Duration::ZERO,
            },
            result: None,
            _backend: PhantomData,
        }
    }
}

impl<B: Backend> RunState<B> {
    /// The phase the run entered last (`None` before a run).
    pub fn phase(&self) -> Option<Phase> {
        self.phase
    }

    /// The run's first error so far.
    pub fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// The cores this run discovered, in launch order.
    pub fn cores(&self) -> &[DiscoveredCore] {
        &self.cores
    }

    /// Records the run's first error.
    pub fn fail(&mut self, e: Error) {
        self.failure.get_or_insert(e);
    }

    /// Whether nothing has gone wrong so far.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}
