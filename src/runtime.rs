//! The host runtime maker: a world holding hostgraph's resources (graph
//! store, kernels, device memory, policy, backend) and run schedules;
//! builds graphs, runs them (blocking or not), finalizes them.

use std::borrow::BorrowMut;
use std::marker::PhantomData;
use std::time::Duration;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{IntoScheduleConfigs, ScheduleCleanupPolicy, SingleThreadedExecutor};
use bevy_ecs::system::ScheduleSystem;
use hostgraph_orch_abi::{OrchestrationEntryFn, OwnedArgs};
use hostgraph_platform::{DeviceMemory, Platform, PlatformSpec};

use crate::backend::{Backend, Hosting, Wait};
use crate::cost::CostModel;
use crate::error::{Error, Result};
use crate::graph::{DeviceMem, GraphBuilder, GraphStatus, TaskCount, TaskLists, TensorPair};
use crate::handle::RunHandle;
use crate::kernels::{KernelFn, KernelRegistry};
use crate::panics::panic_message;
use crate::plugin::Plugin;
use crate::run::{
    self, ActivePolicy, Exec, Phase, RunFinished, RunReport, RunSchedule, RunState, SealedGraph,
    clear_graph, emergency_stop, remove_results,
};
use crate::sched::{
    BuiltIn, CriticalPath, Failure, Heft, Locality, Policy, RoundRobin, WorkStealing,
};
use crate::sim::{SimOptions, ThreadedSim};
use crate::vtable;

/// How a runtime runs graphs. A resource of the runtime's world, which the
/// run's phases read.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The chip; it must be the backend's.
    pub platform: Platform,
    /// Blocks to launch (each 1 AIC + 2 AIV): `1..=max_block_dim`.
    pub block_dim: u32,
    /// Scheduler (AICPU) threads: `1..=max_scheduler_threads`.
    pub threads: u32,
    /// Bound on start-up, and on the exit handshake of a run that ended
    /// well. `Duration::MAX` means no bound.
    pub startup_timeout: Duration,
    /// How long a run may go without any task completing before it is
    /// stopped and diagnosed. `Duration::MAX` means no bound.
    pub stall_timeout: Duration,
    /// Threaded-simulator options.
    pub sim: SimOptions,
    /// Record per-task times (see [`RunReport::profile`]).
    pub profiling: bool,
    /// Publish per-task results ([`TaskResult`](crate::run::TaskResult)
    /// components) and a [`RunFinished`](crate::run::RunFinished) event
    /// after each run. Costs 7–50 ns (more on a busy machine) and about
    /// 180 bytes per task (the README's figures).
    pub publish: bool,
}

impl Default for RuntimeConfig {
    /// a2a3, block dim 3, 3 scheduler threads, 5 s start-up bound, 10 s
    /// stall bound, nothing recorded.
    fn default() -> Self {
        RuntimeConfig {
            platform: Platform::A2A3,
            block_dim: 3,
            threads: 3,
            startup_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            sim: SimOptions::default(),
            profiling: false,
            publish: false,
        }
    }
}

impl RuntimeConfig {
    /// Deadlines sized for real hardware rather than the simulator: start-up
    /// includes launching the AICore kernel (seconds on a loaded device), and
    /// kernels may run far longer than simulated ones.
    ///
    /// ```
    /// use hostgraph::RuntimeConfig;
    /// let sim = RuntimeConfig::default();
    /// let hw = sim.with_hardware_deadlines();
    /// assert!(hw.startup_timeout > sim.startup_timeout && hw.stall_timeout > sim.stall_timeout);
    /// ```
    pub fn with_hardware_deadlines(self) -> Self {
        RuntimeConfig {
            startup_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(120),
            ..self
        }
    }

    /// Checks block dim, thread count and simulator runners against the
    /// platform.
    pub fn validate(&self) -> Result<()> {
        let spec = self.platform.spec();
        check_config(spec, self.block_dim, self.threads as usize)?;
        if self.sim.runners > spec.physical_cores() as usize {
            return Err(Error::BadRunnerCount {
                runners: self.sim.runners,
                max: spec.physical_cores(),
                platform: self.platform,
            });
        }
        Ok(())
    }
}

/// Checks a block dim and thread count against `spec`.
pub(crate) fn check_config(spec: &PlatformSpec, block_dim: u32, threads: usize) -> Result<()> {
    if !(1..=spec.max_block_dim).contains(&block_dim) {
        return Err(Error::BadBlockDim {
            block_dim,
            max: spec.max_block_dim,
            platform: spec.platform,
        });
    }
    if !(1..=spec.max_scheduler_threads as usize).contains(&threads) {
        return Err(Error::BadThreadCount {
            threads: threads as u32,
            max: spec.max_scheduler_threads,
            platform: spec.platform,
        });
    }
    Ok(())
}

/// What [`Runtime::finalize`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinalizeReport {
    /// Tensor pairs copied back.
    pub copied: usize,
    /// Bytes copied back.
    pub bytes: u64,
    /// Device allocations freed.
    pub freed: usize,
    /// Kernels removed.
    pub kernels_removed: usize,
}

/// The world a runtime works on: its own ([`World`]), or one it was
/// installed in and attached to (`&mut World`).
pub trait RuntimeWorld: BorrowMut<World> {
    /// Whether the runtime owns the world, and so may clear its change
    /// trackers (a borrowed world's owner does that, as bevy's `App` does
    /// once per frame).
    const OWNED: bool;
}

impl RuntimeWorld for World {
    const OWNED: bool = true;
}

impl RuntimeWorld for &mut World {
    const OWNED: bool = false;
}

/// The host runtime: build a graph, run it (as often as wanted), finalize.
///
/// It works on a bevy [`World`] that holds hostgraph's resources and run
/// schedules: its own (`Runtime::new`, [`with_backend`](Self::with_backend)),
/// or a user's, where [`install`](Self::install) put them and
/// [`attach`](Self::attach) finds them.
///
/// ```
/// use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
///
/// fn add_one(args: &[u64]) {
///     // SAFETY: the graph below passes one device pointer to an f32.
///     unsafe { *(args[0] as *mut f32) += 1.0 };
/// }
///
/// let mut rt = Runtime::new(RuntimeConfig::default())?;
/// rt.register_kernel(7, KernelFn::rust(add_one));
/// let mut out = [0.0f32];
/// rt.build(|g| {
///     // SAFETY: `out` outlives `finalize` below.
///     let dev = unsafe { g.output(&mut out)? };
///     let a = g.add_task(7, CoreType::Aiv, &[dev])?;
///     let b = g.add_task(7, CoreType::Aic, &[dev])?;
///     g.add_successor(a, b)
/// })?;
/// let report = rt.run()?;
/// assert_eq!(report.tasks, 2);
/// rt.finalize()?;
/// assert_eq!(out, [2.0]);
/// # Ok::<(), hostgraph::Error>(())
/// ```
pub struct Runtime<B: Backend = ThreadedSim, W: RuntimeWorld = World> {
    world: W,
    _backend: PhantomData<fn() -> B>,
}

impl Runtime<ThreadedSim> {
    /// A runtime on the threaded simulator of `config.platform`, in a world
    /// of its own.
    ///
    /// With `config.sim.runners == 0` the simulator gets one runner thread
    /// per CPU not taken by a scheduler thread (at least one), so polling
    /// threads do not outnumber CPUs more than they must.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        config.validate()?;
        let mut sim = config.sim;
        if sim.runners == 0 {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            sim.runners = cpus.saturating_sub(config.threads as usize).max(1);
        }
        Self::with_backend(config, ThreadedSim::new(config.platform, sim))
    }
}

impl<B: Backend> Runtime<B> {
    /// Installs hostgraph into a user's `world`: its resources (graph
    /// store, kernels, device memory from `backend`, policy, configuration,
    /// the backend, run state) and its run schedules ([`RunSchedule`], with
    /// the phase systems of [`run`](crate::run)). Work on it with
    /// [`Runtime::attach`] — from the user's own exclusive systems too —
    /// or run its schedules directly (see the [`run`](crate::run) module).
    /// A world it is installed in already is refused
    /// ([`Error::AlreadyInstalled`]).
    ///
    /// ```
    /// use hostgraph::bevy_ecs::prelude::*;
    /// use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig, ThreadedSim};
    ///
    /// let mut world = World::new();
    /// let config = RuntimeConfig::default();
    /// let backend = ThreadedSim::new(config.platform, Default::default());
    /// Runtime::install(&mut world, config, backend)?;
    /// let mut rt = Runtime::<ThreadedSim, _>::attach(&mut world).unwrap();
    /// rt.register_kernel(0, KernelFn::rust(|_| {}));
    /// rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))?;
    /// assert_eq!(rt.run()?.tasks, 1);
    /// rt.finalize()?;
    /// # Ok::<(), hostgraph::Error>(())
    /// ```
    pub fn install(world: &mut World, config: RuntimeConfig, backend: B) -> Result<()> {
        // Installing again would replace the device memory, backend and run
        // state under a built graph or a run in flight.
        if world.contains_resource::<DeviceMem>() {
            return Err(Error::AlreadyInstalled);
        }
        let spec = backend.spec();
        if config.platform != spec.platform {
            return Err(Error::ConfigMismatch {
                config: config.platform,
                backend: spec.platform,
                why: "the configured platform is not the backend's".into(),
            });
        }
        check_config(spec, config.block_dim, config.threads as usize)?;
        world.insert_resource(config);
        world.insert_resource(DeviceMem::new(backend.new_device_memory()));
        world.insert_resource(Exec(backend));
        world.init_resource::<KernelRegistry>();
        world.insert_resource(ActivePolicy::<B>::new(RoundRobin));
        run::add_schedules::<B>(world);
        Runtime::<B, &mut World>::attach_unchecked(world).init_graph_resources();
        Ok(())
    }

    /// A runtime on `backend`, in a world of its own. The configuration
    /// must fit the backend: the same platform, block dim and thread count
    /// within its limits ([`Error::ConfigMismatch`], [`Error::BadBlockDim`],
    /// [`Error::BadThreadCount`] otherwise).
    pub fn with_backend(config: RuntimeConfig, backend: B) -> Result<Self> {
        let mut world = World::new();
        Self::install(&mut world, config, backend)?;
        Ok(Runtime {
            world,
            _backend: PhantomData,
        })
    }

    /// Frees what the world keeps after large graphs: bevy keeps the
    /// capacity of its tables and entity records after the graph's
    /// entities are gone (on the order of 100 bytes per task of the largest
    /// graph built), and the next build reserves staging as large as the
    /// last. This moves hostgraph's resources (configuration, backend,
    /// device memory, kernels, policy) into a fresh world with fresh run
    /// schedules; cores and threads are found again by the next run.
    /// Anything else put into the world through
    /// [`world_mut`](Self::world_mut) — systems added to the run schedules,
    /// observers, other entities and resources — is dropped with the old
    /// world. Refused while a graph is built. With glibc, the freed memory
    /// is then handed back to the operating system (`malloc_trim`, which
    /// trims the whole process's heap, not only the runtime's): the
    /// allocator keeps freed blocks below its mmap threshold, which it
    /// raises as large blocks are freed. (What stays resident is free
    /// memory at the top of a thread's arena, below glibc's trim threshold:
    /// in `tests/rounds.rs`, 45 MB of the 240 MB a 2M-task graph held, all
    /// of it free.)
    pub fn release_memory(&mut self) -> Result<()> {
        self.settle();
        if self.graph_built() {
            return Err(Error::GraphPresent(self.task_count()));
        }
        let old = &mut self.world;
        let mut fresh = World::new();
        macro_rules! carry {
            ($($t:ty),* $(,)?) => {
                $(if let Some(r) = old.remove_resource::<$t>() {
                    fresh.insert_resource(r);
                })*
            };
        }
        carry!(
            RuntimeConfig,
            Exec<B>,
            DeviceMem,
            KernelRegistry,
            ActivePolicy<B>
        );
        run::add_schedules::<B>(&mut fresh);
        Runtime::<B, &mut World>::attach_unchecked(&mut fresh).init_graph_resources();
        drop(std::mem::replace(&mut self.world, fresh));
        trim_heap();
        Ok(())
    }
}

impl<B: Backend> Runtime<B, &mut World> {
    /// The runtime installed in `world` by [`install`](Runtime::install)
    /// (with the same backend type), working on it in place; `None` if it
    /// was not installed there.
    pub fn attach(world: &mut World) -> Option<Runtime<B, &mut World>> {
        world
            .contains_resource::<Exec<B>>()
            .then(|| Self::attach_unchecked(world))
    }

    fn attach_unchecked(world: &mut World) -> Runtime<B, &mut World> {
        Runtime {
            world,
            _backend: PhantomData,
        }
    }
}

impl<B: Backend, W: RuntimeWorld> Runtime<B, W> {
    fn init_graph_resources(&mut self) {
        let world = self.world.borrow_mut();
        world.init_resource::<TaskCount>();
        world.init_resource::<TaskLists>();
        world.init_resource::<GraphStatus>();
        world.init_resource::<SealedGraph>();
        world.insert_resource(RunState::<B>::default());
    }

    fn world_ref(&self) -> &World {
        self.world.borrow()
    }

    /// The configuration in force.
    pub fn config(&self) -> RuntimeConfig {
        *self.world_ref().resource::<RuntimeConfig>()
    }

    fn config_mut(&mut self) -> Mut<'_, RuntimeConfig> {
        self.world.borrow_mut().resource_mut::<RuntimeConfig>()
    }

    /// Changes block dim and thread count for later runs (the platform and
    /// the backend stay).
    pub fn reconfigure(&mut self, block_dim: u32, threads: u32) -> Result<()> {
        check_config(self.backend().spec(), block_dim, threads as usize)?;
        let mut c = self.config_mut();
        (c.block_dim, c.threads) = (block_dim, threads);
        Ok(())
    }

    /// Sets the bound on a run without progress (`Duration::MAX`: none).
    pub fn set_stall_timeout(&mut self, timeout: Duration) {
        self.config_mut().stall_timeout = timeout;
    }

    /// Turns per-task records on or off for later runs.
    pub fn set_profiling(&mut self, on: bool) {
        self.config_mut().profiling = on;
    }

    /// Turns publishing of per-task results on or off for later runs.
    pub fn set_publish(&mut self, on: bool) {
        self.config_mut().publish = on;
    }

    /// Replaces the dispatch policy (default: [`RoundRobin`]).
    pub fn set_policy(&mut self, policy: impl Policy) {
        self.world
            .borrow_mut()
            .insert_resource(ActivePolicy::<B>::new(policy));
    }

    /// Makes the built-in policy `which` active; `costs` feeds those that
    /// plan with durations ([`CriticalPath`](crate::sched::CriticalPath),
    /// [`Heft`](crate::sched::Heft)).
    pub fn set_builtin_policy(&mut self, which: BuiltIn, costs: &CostModel) {
        match which {
            BuiltIn::RoundRobin => self.set_policy(RoundRobin),
            BuiltIn::WorkStealing => self.set_policy(WorkStealing),
            BuiltIn::CriticalPath => self.set_policy(CriticalPath::with_costs(costs.clone())),
            BuiltIn::Locality => self.set_policy(Locality),
            BuiltIn::Heft => self.set_policy(Heft::new(costs.clone())),
        }
    }

    /// The active policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.world_ref().resource::<ActivePolicy<B>>().name()
    }

    /// The world: graph entities, cores and threads of the last run,
    /// resources, run schedules.
    pub fn world(&self) -> &World {
        self.world_ref()
    }

    /// The world, to add systems to the run schedules, read results, or
    /// replace a phase. Do not remove hostgraph's resources.
    pub fn world_mut(&mut self) -> &mut World {
        self.world.borrow_mut()
    }

    /// Replaces the systems of `phase` in run schedule `schedule` with
    /// `system` (put in the same set, so it runs where the phase did): for
    /// a user's own core assignment, seeding, publishing, ...
    ///
    /// ```
    /// use hostgraph::bevy_ecs::prelude::*;
    /// use hostgraph::run::{AicpuThread, Core, OwnedBy, Phase, RunSchedule};
    /// use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
    ///
    /// /// Every core to scheduler thread 0.
    /// fn all_to_thread_0(
    ///     cores: Query<Entity, With<Core>>,
    ///     threads: Query<(Entity, &AicpuThread)>,
    ///     mut commands: Commands,
    /// ) {
    ///     let (t0, _) = threads.iter().find(|(_, t)| t.index == 0).unwrap();
    ///     for core in &cores {
    ///         commands.entity(core).insert(OwnedBy(t0));
    ///     }
    /// }
    ///
    /// let mut rt = Runtime::new(RuntimeConfig::default())?;
    /// rt.replace_phase(RunSchedule::Start, Phase::Assign, all_to_thread_0);
    /// rt.register_kernel(0, KernelFn::rust(|_| {}));
    /// rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))?;
    /// let report = rt.run()?;
    /// assert_eq!(report.per_thread[0].completed, 1);
    /// # rt.finalize()?;
    /// # Ok::<(), hostgraph::Error>(())
    /// ```
    pub fn replace_phase<M>(
        &mut self,
        schedule: RunSchedule,
        phase: Phase,
        system: impl IntoScheduleConfigs<ScheduleSystem, M>,
    ) {
        let world = self.world.borrow_mut();
        let mut s = world
            .resource_mut::<Schedules>()
            .remove(schedule)
            .expect("run schedules are installed");
        // Not an error: a set without systems has none to remove.
        let _ = s.remove_systems_in_set(phase, world, ScheduleCleanupPolicy::RemoveSystemsOnly);
        s.add_systems(system.in_set(phase));
        world.resource_mut::<Schedules>().insert(s);
    }

    /// The device memory (to inspect live allocations).
    pub fn device_memory(&self) -> &dyn DeviceMemory {
        self.world_ref().resource::<DeviceMem>().0.as_ref()
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.world_ref().resource::<Exec<B>>().0
    }

    /// Registers `kernel` for `func_id`. Registering a func_id again
    /// replaces its kernel (the old one is dropped once) and returns true.
    pub fn register_kernel(&mut self, func_id: i32, kernel: KernelFn) -> bool {
        self.world
            .borrow_mut()
            .resource_mut::<KernelRegistry>()
            .insert(func_id, kernel)
            .is_some()
    }

    /// Removes every kernel; returns how many there were.
    pub fn remove_kernels(&mut self) -> usize {
        self.world
            .borrow_mut()
            .resource_mut::<KernelRegistry>()
            .clear()
    }

    /// Tasks in the built graph.
    pub fn task_count(&self) -> usize {
        self.world_ref()
            .get_resource::<TaskCount>()
            .map_or(0, |c| c.0)
    }

    /// Whether a graph is built; with the status removed from the world,
    /// whether any task is (so `discard` still clears it).
    fn graph_built(&self) -> bool {
        let world = self.world_ref();
        match world.get_resource::<GraphStatus>() {
            Some(s) => s.built,
            None => self.task_count() > 0,
        }
    }

    /// Builds a graph with Rust code. On error nothing of the build remains
    /// (tasks removed, device memory freed) and the error is returned; an
    /// error latched by any builder call fails the build even if `f` ignored it.
    /// If `f` panics, nothing of the build remains either, and the panic
    /// goes on to the caller.
    pub fn build<F>(&mut self, f: F) -> Result<()>
    where
        F: FnOnce(&mut GraphBuilder<'_>) -> Result<()>,
    {
        self.begin_build()?;
        let world = self.world.borrow_mut();
        let sizes = world.resource::<GraphStatus>().last_build;
        let mut b = GraphBuilder::new(world, sizes);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut b)));
        let r = r.map(|r| b.latched.take().map_or(r, Err));
        let sizes = b.finish(matches!(r, Ok(Ok(()))));
        world.resource_mut::<GraphStatus>().last_build = sizes;
        match r {
            Ok(r) => self.end_build(r),
            Err(panic) => {
                // Its device memory and tensor pairs are already in the
                // world: a later finalize would copy into a host buffer
                // the unwind may free.
                self.clear(false);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// Builds a graph by calling an orchestration plugin's entry with `args`.
    ///
    /// # Safety
    /// The plugin's code runs here; the host pointers it records as tensor
    /// pairs (typically from `args`) must stay valid until [`finalize`](Self::finalize).
    pub unsafe fn build_with_plugin(&mut self, plugin: &Plugin, args: &OwnedArgs) -> Result<()> {
        // SAFETY: `plugin` passed its ABI checks at load; the rest is the
        // caller's promise.
        unsafe { self.build_with_entry(plugin.entry, plugin.entry_name(), args) }
    }

    /// Builds a graph by calling an orchestration entry linked into this
    /// process (no shared object), through the same ops table and checks as
    /// [`build_with_plugin`](Self::build_with_plugin); `name` labels errors.
    ///
    /// # Safety
    /// `entry` must follow `orchestration_api.h`, and the contract of
    /// [`build_with_plugin`](Self::build_with_plugin) holds.
    pub unsafe fn build_with_entry(
        &mut self,
        entry: OrchestrationEntryFn,
        name: &str,
        args: &OwnedArgs,
    ) -> Result<()> {
        let raw = args.as_raw();
        self.build(|b| {
            // SAFETY: the caller vouches for `entry`; `raw` points into
            // `args`, which outlives the call.
            match unsafe { vtable::call_entry(entry, b, &raw) } {
                0 => Ok(()),
                code => Err(Error::PluginFailed {
                    entry: name.to_string(),
                    code,
                }),
            }
        })
    }

    fn begin_build(&mut self) -> Result<()> {
        self.settle();
        if self.graph_built() {
            return Err(Error::GraphPresent(self.task_count()));
        }
        Ok(())
    }

    /// Marks the graph built, or cleans up after a failed build.
    fn end_build(&mut self, r: Result<()>) -> Result<()> {
        match r {
            Ok(()) => {
                self.world.borrow_mut().resource_mut::<GraphStatus>().built = true;
                log::debug!("hostgraph: built a graph of {} tasks", self.task_count());
                Ok(())
            }
            Err(e) => {
                self.clear(false);
                Err(e)
            }
        }
    }

    /// Runs the built graph once, blocking until it ends: validates and
    /// seals it (when the graph or kernels changed), launches and discovers
    /// the cores, dispatches every task, shuts the cores down (the phases
    /// of [`run`](crate::run)). A built graph can be run again without
    /// rebuilding.
    ///
    /// `Ok` means every task ran exactly once, after its predecessors.
    ///
    /// A run that fails before any task is dispatched (validation: cycle,
    /// missing kernel; start-up; a bad policy answer) keeps the graph, so
    /// it can run once the cause is fixed, or be discarded. A run that
    /// fails once tasks were dispatched (kernel fault, stall, protocol
    /// error, a panic in scheduler code) releases the graph. Either way
    /// every core is stopped and the backend landed, and the runtime is
    /// ready for the next round; device memory that a kernel which never
    /// returned may still write is held back, not freed, until the kernel
    /// returns ([`wait_for_stuck`](Self::wait_for_stuck),
    /// [`abandon_stuck`](Self::abandon_stuck)).
    pub fn run(&mut self) -> Result<RunReport> {
        self.begin_run()?;
        self.run_schedule(RunSchedule::Start);
        self.finish()
    }

    /// Starts a run without blocking: the phases up to handing the
    /// scheduler threads to the backend; the returned handle finishes it
    /// ([`RunHandle::try_finish`], [`RunHandle::wait`], or `.await`). A run
    /// that fails before dispatch returns its error here.
    pub fn start(&mut self) -> Result<RunHandle<'_, B, W>> {
        self.begin_run()?;
        self.run_schedule(RunSchedule::Start);
        if !self.run_state().hosted {
            return Err(self.finish().err().unwrap_or_else(|| Error::Panicked {
                phase: "start".into(),
                message: "the run was not dispatched".into(),
            }));
        }
        // Set the hosted threads going.
        self.world
            .borrow_mut()
            .resource_mut::<Exec<B>>()
            .0
            .drive(Wait::Nonblocking, None);
        Ok(RunHandle::new(self))
    }

    fn begin_run(&mut self) -> Result<()> {
        self.settle();
        if !self.graph_built() {
            return Err(Error::NoGraph);
        }
        // The Start schedule's first system resets the run state too; this
        // reset also covers a Start schedule missing from the world (its
        // failure is recorded into a fresh state, not the last run's).
        self.world
            .borrow_mut()
            .insert_resource(RunState::<B>::default());
        let c = self.config();
        log::debug!(
            "hostgraph: run of {} tasks: {}, block dim {}, {} scheduler threads, policy {}",
            self.task_count(),
            c.platform,
            c.block_dim,
            c.threads,
            self.policy_name()
        );
        Ok(())
    }

    pub(crate) fn run_state(&self) -> &RunState<B> {
        self.world_ref().resource::<RunState<B>>()
    }

    /// Makes progress on a started run without blocking.
    pub(crate) fn poll_hosted(&mut self, waker: Option<&std::task::Waker>) -> Hosting {
        self.world
            .borrow_mut()
            .resource_mut::<Exec<B>>()
            .0
            .drive(Wait::Nonblocking, waker)
    }

    /// Cancels a started run: its scheduler threads stop at their next poll.
    /// (The dispatch phase marks the run cancelled when the stop it finds
    /// is this one: a run that had failed already stays failed.)
    pub(crate) fn cancel_run(&mut self) {
        let run = self.world.borrow_mut().resource_mut::<RunState<B>>();
        if let Some(sh) = &run.shared {
            sh.fail(Failure::Cancelled);
        }
    }

    /// Runs one of the run schedules; a panic escaping it (from policy or
    /// phase code) is recorded as the run's error, and the schedule put
    /// back. False if it panicked.
    fn run_schedule(&mut self, label: RunSchedule) -> bool {
        let world = self.world.borrow_mut();
        let Some(mut schedule) = world.resource_mut::<Schedules>().remove(label) else {
            world.resource_mut::<RunState<B>>().fail(Error::Panicked {
                phase: format!("{label:?}"),
                message: "the run schedule is not installed in this world".into(),
            });
            return false;
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| schedule.run(world)));
        if r.is_err() {
            // bevy's executor clears its record of the systems it ran only
            // at the end of a run; after an unwind a fresh executor makes
            // the next run start from the first phase again.
            schedule.set_executor(SingleThreadedExecutor::new());
        }
        world.resource_mut::<Schedules>().insert(schedule);
        let Err(payload) = r else {
            return true;
        };
        let mut run = world.resource_mut::<RunState<B>>();
        let phase = run
            .phase
            .map_or_else(|| format!("{label:?}"), |p| p.to_string());
        run.fail(Error::Panicked {
            phase,
            message: panic_message(payload),
        });
        false
    }

    /// The second half of a run: the Finish schedule, and the result.
    pub(crate) fn finish(&mut self) -> Result<RunReport> {
        let finished = self.run_schedule(RunSchedule::Finish);
        let world = self.world.borrow_mut();
        let result = match world.resource_mut::<RunState<B>>().result.take() {
            Some(r) if finished => r,
            _ => {
                // A panic escaped the Finish schedule: bring the backend
                // down here and release the graph as publishing would.
                let stuck = emergency_stop::<B>(world);
                let mut run = world.resource_mut::<RunState<B>>();
                // Publish began (its event may have been sent, or an
                // observer of it panicked): it is not sent again.
                let published = run.phase == Some(Phase::Publish);
                let e = run.failure.take().unwrap_or(Error::Panicked {
                    phase: "finish".into(),
                    message: "the run ended without a result".into(),
                });
                if stuck || run.dispatched {
                    clear_graph::<B>(world, stuck);
                }
                // Publish never ran: tell observers here, as it would have.
                if !published && world.resource::<RuntimeConfig>().publish {
                    remove_results(world);
                    world.trigger(RunFinished {
                        result: Err(e.clone()),
                    });
                }
                Err(e)
            }
        };
        if W::OWNED {
            world.clear_trackers();
        }
        match &result {
            Ok(r) => log::debug!(
                "hostgraph: ran {} tasks on {} AIC + {} AIV cores in {:?}",
                r.tasks,
                r.aic_cores,
                r.aiv_cores,
                r.wall
            ),
            Err(e) => log::warn!("hostgraph: run failed: {e}"),
        }
        result
    }

    /// Ends a round: copies every recorded tensor pair back to the host,
    /// frees all device memory, removes the graph and the kernels. The
    /// runtime is then ready for the next round. A failed copy-back is
    /// reported after everything else has been released.
    pub fn finalize(&mut self) -> Result<FinalizeReport> {
        self.settle();
        let world = self.world.borrow_mut();
        let mut pairs: Vec<TensorPair> =
            world.query::<&TensorPair>().iter(world).copied().collect();
        pairs.sort_by_key(|p| p.index);
        let mut report = FinalizeReport::default();
        let mut first_err = None;
        {
            let mem = &world.resource::<DeviceMem>().0;
            for p in &pairs {
                // SAFETY: `record_tensor_pair`'s contract: `host` is valid for
                // `bytes` bytes of writes until finalize.
                let host =
                    unsafe { std::slice::from_raw_parts_mut(p.host as *mut u8, p.bytes as usize) };
                match mem.copy_from_device(host, p.dev) {
                    Ok(()) => {
                        report.copied += 1;
                        report.bytes += p.bytes;
                    }
                    Err(source) => {
                        first_err.get_or_insert(Error::CopyBack {
                            index: p.index as usize,
                            dev: p.dev,
                            bytes: p.bytes,
                            source,
                        });
                    }
                }
            }
        }
        report.freed = self.clear(false);
        report.kernels_removed = self.remove_kernels();
        log::debug!(
            "hostgraph: finalized: {} tensor pair(s), {} bytes copied back, {} allocation(s) freed",
            report.copied,
            report.bytes,
            report.freed
        );
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Drops the built graph without copying anything back; frees its
    /// device memory. Kernels stay registered. The graph is every entity
    /// with a [`Task`](crate::graph::Task) component: in a world of your
    /// own, an entity you gave one is despawned with the rest. Returns how
    /// many device allocations it freed.
    pub fn discard(&mut self) -> usize {
        self.settle();
        self.clear(false)
    }

    fn clear(&mut self, quarantine: bool) -> usize {
        let world = self.world.borrow_mut();
        let n = clear_graph::<B>(world, quarantine);
        if W::OWNED {
            world.clear_trackers();
        }
        n
    }

    /// Gives up on kernels of earlier runs that never returned: their
    /// cores are left to finish on their own, with their device memory held
    /// back until they do, and the backend gets fresh cores, so the next
    /// run need not wait for them. True if the backend could do so (or
    /// nothing was stuck); false if it cannot (the next run then fails with
    /// [`Error::BackendStuck`] until the kernels return).
    pub fn abandon_stuck(&mut self) -> bool {
        self.settle();
        let exec = &mut self.world.borrow_mut().resource_mut::<Exec<B>>().0;
        if exec.landed() {
            return true;
        }
        let abandoned = exec.abandon();
        if abandoned {
            log::warn!("hostgraph: abandoned cores stuck inside kernels; fresh cores started");
        }
        abandoned
    }

    /// Waits up to `timeout` for kernels of earlier runs that did not
    /// return to return (so the next run can launch, and their held-back
    /// memory is released); true once nothing of an earlier launch runs.
    pub fn wait_for_stuck(&mut self, timeout: Duration) -> bool {
        self.settle();
        let start = std::time::Instant::now();
        loop {
            if self.world.borrow_mut().resource_mut::<Exec<B>>().0.landed() {
                self.reap();
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Ends a run still in flight before anything that would take its
    /// graph, memory or backend from under it, then [`reap`](Self::reap)s.
    /// A run is in flight from its launch until Finish lands it: after
    /// [`start`](Self::start) until its handle finishes it; a handle that
    /// was forgotten (`std::mem::forget` is safe) never does, nor does an
    /// embedding that ran the Start schedule without Finish (also one that
    /// failed after Launch, before its threads were hosted). Such a run is
    /// cancelled and finished here, as dropping its handle would have
    /// done: its threads stop, the cores finish their kernels and are shut
    /// down, the backend lands.
    fn settle(&mut self) {
        let world = self.world_ref();
        if world
            .get_resource::<RunState<B>>()
            .is_some_and(|r| r.hosted || r.launched)
        {
            log::warn!("hostgraph: a run still in flight (its handle forgotten?) is cancelled");
            self.cancel_run();
            let _ = self.finish();
        }
        self.reap();
    }

    /// Releases device memory held back after a stuck kernel once the
    /// backend says nothing of an earlier launch runs any more (and marks
    /// the memory as touched by no launch).
    fn reap(&mut self) {
        let world = self.world.borrow_mut();
        let mem = world.resource::<DeviceMem>();
        if mem.0.quarantined().is_empty() && !mem.1 {
            return;
        }
        if world.resource_mut::<Exec<B>>().0.landed() {
            let mut mem = world.resource_mut::<DeviceMem>();
            mem.1 = false;
            let n = mem.0.release_quarantine();
            if n > 0 {
                log::info!(
                    "hostgraph: stuck kernels returned; released {n} held-back allocation(s)"
                );
            }
        }
    }
}

impl<B: Backend, W: RuntimeWorld> Drop for Runtime<B, W> {
    /// Releases held-back memory if the stuck kernels have returned. An
    /// owned world first has a run still in flight (its handle forgotten)
    /// cancelled and finished (its cores given at most the stall bound to
    /// finish the kernels they are in), and is then dropped: the backend
    /// detaches cores still inside kernels (never waiting for them), and
    /// memory they may write is leaked rather than freed under them. (A
    /// runtime attached to a user's world leaves the world's run alone: the world
    /// outlives it, and the next call that needs the run ended ends it; a
    /// world dropped with its run in flight leaks the device memory the
    /// run may still touch rather than free it, see
    /// [`DeviceMem`](crate::graph::DeviceMem); the threaded simulator,
    /// dropped with the world, stops the run's scheduler threads.)
    fn drop(&mut self) {
        if W::OWNED {
            self.settle();
        } else {
            self.reap();
        }
    }
}

/// Hands the heap's free memory back to the operating system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory of the allocator's own
    // heaps; it takes the allocator's locks and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators give freed memory back on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}
