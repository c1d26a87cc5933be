//! The host runtime maker: owns the world (graph store, kernels, device
//! memory, cores) and an executor backend; builds graphs, runs them, and
//! finalizes them.

use std::sync::Arc;
use std::time::Duration;

use bevy_ecs::prelude::*;
use hostgraph_orch_abi::{OrchestrationEntryFn, OwnedArgs};
use hostgraph_platform::{DeviceMemory, Platform};

use crate::error::{Error, Result};
use crate::exec::{Executor, SimOptions, ThreadedSim};
use crate::graph::{BuildSizes, DeviceMem, GraphBuilder, Task, TaskCount, TaskLists, TensorPair};
use crate::kernels::{KernelFn, KernelRegistry};
use crate::plugin::Plugin;
use crate::sched::{ActivePolicy, Core, Policy, RoundRobin, RunParams, RunReport, execute};
use crate::seal::{Sealed, seal_graph};
use crate::vtable;

/// How a runtime runs graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The chip.
    pub platform: Platform,
    /// Blocks to launch (each 1 AIC + 2 AIV): `1..=max_block_dim`.
    pub block_dim: u32,
    /// Scheduler (AICPU) threads: `1..=max_scheduler_threads`.
    pub threads: u32,
    /// Bound on start-up and on shutdown.
    pub startup_timeout: Duration,
    /// How long a run may go without any task completing before it is
    /// stopped and diagnosed.
    pub stall_timeout: Duration,
    /// Threaded-simulator options.
    pub sim: SimOptions,
    /// Record per-task times (see [`RunReport::profile`]).
    pub profiling: bool,
}

impl Default for RuntimeConfig {
    /// a2a3, block dim 3, 3 scheduler threads, 5 s start-up bound, 10 s stall bound.
    fn default() -> Self {
        RuntimeConfig {
            platform: Platform::A2A3,
            block_dim: 3,
            threads: 3,
            startup_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            sim: SimOptions::default(),
            profiling: false,
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

    /// Checks block dim and thread count against the platform.
    pub fn validate(&self) -> Result<()> {
        let spec = self.platform.spec();
        if !(1..=spec.max_block_dim).contains(&self.block_dim) {
            return Err(Error::BadBlockDim {
                block_dim: self.block_dim,
                max: spec.max_block_dim,
                platform: self.platform,
            });
        }
        if !(1..=spec.max_scheduler_threads).contains(&self.threads) {
            return Err(Error::BadThreadCount {
                threads: self.threads,
                max: spec.max_scheduler_threads,
                platform: self.platform,
            });
        }
        Ok(())
    }
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

/// The host runtime: build a graph, run it (as often as wanted), finalize.
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
pub struct Runtime<E: Executor = ThreadedSim> {
    world: World,
    exec: E,
    config: RuntimeConfig,
    built: bool,
    sealed: Option<Arc<Sealed>>,
    /// What the last build staged: the next reserves as much.
    last_build: BuildSizes,
}

impl Runtime<ThreadedSim> {
    /// A runtime on the threaded simulator of `config.platform`.
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
        Self::with_executor(config, ThreadedSim::new(config.platform, sim))
    }
}

impl<E: Executor> Runtime<E> {
    /// A runtime on the executor `exec`.
    pub fn with_executor(config: RuntimeConfig, exec: E) -> Result<Self> {
        config.validate()?;
        let mut world = World::new();
        world.init_resource::<TaskCount>();
        world.init_resource::<TaskLists>();
        world.init_resource::<KernelRegistry>();
        world.insert_resource(DeviceMem(exec.new_device_memory()));
        world.insert_resource(ActivePolicy(Box::new(RoundRobin)));
        Ok(Runtime {
            world,
            exec,
            config,
            built: false,
            sealed: None,
            last_build: BuildSizes::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Changes block dim and thread count for later runs (the platform and
    /// the backend stay).
    pub fn reconfigure(&mut self, block_dim: u32, threads: u32) -> Result<()> {
        let next = RuntimeConfig {
            block_dim,
            threads,
            ..self.config
        };
        next.validate()?;
        self.config = next;
        Ok(())
    }

    /// Sets the bound on a run without progress.
    pub fn set_stall_timeout(&mut self, timeout: Duration) {
        self.config.stall_timeout = timeout;
    }

    /// Turns per-task records on or off for later runs.
    pub fn set_profiling(&mut self, on: bool) {
        self.config.profiling = on;
    }

    /// Replaces the dispatch policy (default: [`RoundRobin`]).
    pub fn set_policy(&mut self, policy: impl Policy) {
        self.world.insert_resource(ActivePolicy(Box::new(policy)));
    }

    /// The world: graph entities, cores of the last run, resources.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The device memory (to inspect live allocations).
    pub fn device_memory(&self) -> &dyn DeviceMemory {
        self.world.resource::<DeviceMem>().0.as_ref()
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.exec
    }

    /// Registers `kernel` for `func_id`. Registering a func_id again
    /// replaces its kernel (the old one is dropped once) and returns true.
    pub fn register_kernel(&mut self, func_id: i32, kernel: KernelFn) -> bool {
        self.sealed = None;
        self.world
            .resource_mut::<KernelRegistry>()
            .insert(func_id, kernel)
            .is_some()
    }

    /// Removes every kernel; returns how many there were.
    pub fn remove_kernels(&mut self) -> usize {
        self.sealed = None;
        self.world.resource_mut::<KernelRegistry>().clear()
    }

    /// Tasks in the built graph.
    pub fn task_count(&self) -> usize {
        self.world.resource::<TaskCount>().0
    }

    /// Builds a graph with Rust code. On error nothing of the build remains
    /// (tasks removed, device memory freed) and the error is returned; an
    /// error latched by any builder call fails the build even if `f` ignored it.
    pub fn build<F>(&mut self, f: F) -> Result<()>
    where
        F: FnOnce(&mut GraphBuilder<'_>) -> Result<()>,
    {
        self.begin_build()?;
        let mut b = GraphBuilder::new(&mut self.world, self.last_build);
        let r = f(&mut b);
        let r = b.latched.take().map_or(r, Err);
        self.last_build = b.finish(r.is_ok());
        self.end_build(r)
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
        self.begin_build()?;
        let raw = args.as_raw();
        let mut b = GraphBuilder::new(&mut self.world, self.last_build);
        // SAFETY: the caller vouches for `entry`; `raw` points into `args`,
        // which outlives the call.
        let code = unsafe { vtable::call_entry(entry, &mut b, &raw) };
        let r = match (b.latched.take(), code) {
            (Some(e), _) => Err(e),
            (None, 0) => Ok(()),
            (None, code) => Err(Error::PluginFailed {
                entry: name.to_string(),
                code,
            }),
        };
        self.last_build = b.finish(r.is_ok());
        self.end_build(r)
    }

    fn begin_build(&mut self) -> Result<()> {
        if self.built {
            return Err(Error::GraphPresent(self.task_count()));
        }
        Ok(())
    }

    /// Marks the graph built, or cleans up after a failed build.
    fn end_build(&mut self, r: Result<()>) -> Result<()> {
        match r {
            Ok(()) => {
                self.built = true;
                Ok(())
            }
            Err(e) => {
                self.clear_graph();
                Err(e)
            }
        }
    }

    /// Runs the built graph once: validates and seals it (first run only),
    /// launches and discovers the cores, dispatches every task, shuts the
    /// cores down. A built graph can be run again without rebuilding.
    ///
    /// A graph that fails validation (cycle, missing kernel) is kept, so it
    /// can run once the cause is fixed (e.g. the kernel registered). A run
    /// that fails after launch (kernel fault, stall, start-up or protocol
    /// failure) ends in an emergency shutdown of every core and scheduler
    /// thread, and the graph and its device memory are released: the
    /// runtime is ready for the next build.
    pub fn run(&mut self) -> Result<RunReport> {
        if !self.built {
            return Err(Error::NoGraph);
        }
        let sealed = match &self.sealed {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(
                    self.world
                        .run_system_cached(seal_graph)
                        .expect("seal_graph system runs")?,
                );
                self.sealed = Some(s.clone());
                s
            }
        };
        let params = RunParams {
            block_dim: self.config.block_dim,
            threads: self.config.threads as usize,
            startup_timeout: self.config.startup_timeout,
            stall_timeout: self.config.stall_timeout,
            profiling: self.config.profiling,
        };
        let r = execute(&mut self.world, &mut self.exec, &sealed, params);
        if r.is_err() {
            self.clear_graph();
        }
        r
    }

    /// Ends a round: copies every recorded tensor pair back to the host,
    /// frees all device memory, removes the graph and the kernels. The
    /// runtime is then ready for the next round. A failed copy-back is
    /// reported after everything else has been released.
    pub fn finalize(&mut self) -> Result<FinalizeReport> {
        let mut pairs: Vec<TensorPair> = self
            .world
            .query::<&TensorPair>()
            .iter(&self.world)
            .copied()
            .collect();
        pairs.sort_by_key(|p| p.index);
        let mut report = FinalizeReport::default();
        let mut first_err = None;
        {
            let mem = &self.world.resource::<DeviceMem>().0;
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
        report.freed = self.clear_graph();
        report.kernels_removed = self.remove_kernels();
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Drops the built graph without copying anything back; frees its
    /// device memory. Kernels stay registered.
    pub fn discard(&mut self) -> usize {
        self.clear_graph()
    }

    /// Removes tasks, tensor pairs and cores; frees device memory.
    fn clear_graph(&mut self) -> usize {
        let entities: Vec<Entity> = self
            .world
            .query_filtered::<Entity, Or<(With<Task>, With<TensorPair>, With<Core>)>>()
            .iter(&self.world)
            .collect();
        // Last row first: each removal takes its table's last row, so no
        // row is moved to fill the gap.
        for e in entities.into_iter().rev() {
            self.world.despawn(e);
        }
        self.world.resource_mut::<TaskCount>().0 = 0;
        self.world.insert_resource(TaskLists::default());
        self.built = false;
        self.sealed = None;
        self.world.resource_mut::<DeviceMem>().0.free_all()
    }
}
