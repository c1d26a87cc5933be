//! The graph store: tasks and tensor pairs as ECS entities, and the
//! [`GraphBuilder`] that the Rust API and the orchestration ABI both drive.

use std::fmt;

use bevy_ecs::prelude::*;
use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;
use hostgraph_orch_abi::{CoreType, MAX_TASK_ARGS, RESERVED_TASK_ID};
use hostgraph_platform::DeviceMemory;
use smallvec::SmallVec;

use crate::error::{Error, Result};

/// A task's id: dense from 0 in the order tasks were added. It travels in
/// DATA_MAIN_BASE and COND, so it stays below [`RESERVED_TASK_ID`].
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub u32);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TaskId {
    /// The id as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which kernel a task runs, and on which kind of core.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Key into the kernel registry.
    pub func_id: i32,
    /// AIC (cube) or AIV (vector).
    pub core_type: CoreType,
}

/// A task's argument words (device pointers and scalars): inline up to 2
/// (nothing sized for the worst case), on the heap beyond. The hot loop
/// reads the sealed copy, never this component.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct Args(pub SmallVec<[u64; 2]>);

/// A task's predecessor count. The count that changes while a run is in
/// flight lives in the sealed view; this initial count is what every run
/// starts from, so a built graph can run again without rebuilding.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fanin {
    /// Number of edges into the task.
    pub initial: u32,
}

/// Tasks that depend on this one (no fixed fan-out cap).
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct Successors(pub SmallVec<[TaskId; 4]>);

/// A device buffer whose contents are copied back to `host` at finalize.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorPair {
    /// Host address the bytes are copied back to.
    pub host: u64,
    /// Device address they are copied from.
    pub dev: u64,
    /// Length in bytes.
    pub bytes: u64,
    /// Record order.
    pub index: u32,
}

/// How many tasks the built graph has (the tasks are the entities with a
/// [`TaskId`], ids `0..count`).
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCount(pub usize);

/// The device memory of the runtime's backend.
#[derive(Resource)]
pub struct DeviceMem(pub Box<dyn DeviceMemory + Sync>);

/// Tasks and edges of a build in progress, staged in the build's scratch
/// arena and turned into entities in one batch when the build commits.
struct Staged<'w> {
    kernels: BumpVec<'w, Kernel>,
    arg_end: BumpVec<'w, usize>,
    args: BumpVec<'w, u64>,
    edges: BumpVec<'w, (u32, u32)>,
}

/// Builds a graph into the runtime's world. Obtained from
/// [`Runtime::build`](crate::Runtime::build); the C ABI drives the same type.
///
/// Every call that can fail returns an error naming the bad id or size, and
/// the first failure is latched: the build fails even if the caller carries on.
pub struct GraphBuilder<'w> {
    pub(crate) world: &'w mut World,
    pub(crate) latched: Option<Error>,
    pairs: u32,
    staged: Staged<'w>,
    scratch: &'w Bump,
}

impl<'w> GraphBuilder<'w> {
    /// A builder staging into `scratch` (released by the caller after the build).
    pub(crate) fn new(world: &'w mut World, scratch: &'w Bump) -> Self {
        GraphBuilder {
            world,
            latched: None,
            pairs: 0,
            staged: Staged {
                kernels: BumpVec::new_in(scratch),
                arg_end: BumpVec::new_in(scratch),
                args: BumpVec::new_in(scratch),
                edges: BumpVec::new_in(scratch),
            },
            scratch,
        }
    }

    /// Ends the build, consuming the builder (so the world is free again):
    /// with `commit`, the staged tasks become entities.
    pub(crate) fn finish(self, commit: bool) {
        if commit {
            self.commit();
        }
    }

    /// Turns the staged tasks into entities (one batch), with successor
    /// lists and fan-in counts from the staged edges.
    fn commit(self) {
        let Staged {
            kernels,
            arg_end,
            args,
            edges,
        } = self.staged;
        let n = kernels.len();
        let mut fanin = BumpVec::from_iter_in(std::iter::repeat_n(0u32, n), self.scratch);
        let mut succ_end = BumpVec::from_iter_in(std::iter::repeat_n(0usize, n + 1), self.scratch);
        for &(f, t) in &edges {
            succ_end[f as usize + 1] += 1;
            fanin[t as usize] += 1;
        }
        for i in 0..n {
            succ_end[i + 1] += succ_end[i];
        }
        let mut fill = BumpVec::from_iter_in(succ_end[..n].iter().copied(), self.scratch);
        let mut succ =
            BumpVec::from_iter_in(std::iter::repeat_n(TaskId(0), edges.len()), self.scratch);
        for &(f, t) in &edges {
            succ[fill[f as usize]] = TaskId(t);
            fill[f as usize] += 1;
        }
        let tasks = (0..n).map(|t| {
            let first_arg = if t == 0 { 0 } else { arg_end[t - 1] };
            (
                TaskId(t as u32),
                kernels[t],
                Args(SmallVec::from_slice(&args[first_arg..arg_end[t]])),
                Fanin { initial: fanin[t] },
                Successors(SmallVec::from_slice(&succ[succ_end[t]..succ_end[t + 1]])),
            )
        });
        let spawned = self.world.spawn_batch(tasks).count();
        self.world.resource_mut::<TaskCount>().0 = spawned;
    }

    /// Latches the first error of the build.
    pub(crate) fn latch<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && self.latched.is_none()
        {
            self.latched = Some(e.clone());
        }
        r
    }

    /// Tasks added so far.
    pub fn task_count(&self) -> usize {
        self.staged.kernels.len()
    }

    /// Adds a task running `func_id` on a core of `core_type` with argument words `args`.
    ///
    /// ```
    /// # use hostgraph::{Runtime, RuntimeConfig, CoreType};
    /// let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    /// rt.build(|g| {
    ///     let a = g.add_task(0, CoreType::Aiv, &[1, 2])?;
    ///     let b = g.add_task(0, CoreType::Aic, &[])?;
    ///     g.add_successor(a, b)
    /// }).unwrap();
    /// assert_eq!(rt.task_count(), 2);
    /// # rt.finalize().unwrap();
    /// ```
    pub fn add_task(&mut self, func_id: i32, core_type: CoreType, args: &[u64]) -> Result<TaskId> {
        let r = self.try_add_task(func_id, core_type, args);
        self.latch(r)
    }

    fn try_add_task(&mut self, func_id: i32, core_type: CoreType, args: &[u64]) -> Result<TaskId> {
        if args.len() > MAX_TASK_ARGS {
            return Err(Error::TooManyArgs {
                func_id,
                count: args.len(),
                max: MAX_TASK_ARGS,
            });
        }
        let n = self.task_count();
        if n >= RESERVED_TASK_ID as usize {
            return Err(Error::TooManyTasks(RESERVED_TASK_ID));
        }
        let staged = &mut self.staged;
        staged.kernels.push(Kernel { func_id, core_type });
        staged.args.extend_from_slice(args);
        staged.arg_end.push(staged.args.len());
        Ok(TaskId(n as u32))
    }

    /// Adds the edge `from -> to`: `to` starts only after `from` finished.
    pub fn add_successor(&mut self, from: TaskId, to: TaskId) -> Result<()> {
        let r = self.try_add_edge(from.0 as i64, to.0 as i64);
        self.latch(r)
    }

    /// [`add_successor`](Self::add_successor) for raw ids from the C ABI.
    pub(crate) fn add_successor_raw(&mut self, from: i64, to: i64) -> Result<()> {
        let r = self.try_add_edge(from, to);
        self.latch(r)
    }

    fn try_add_edge(&mut self, from: i64, to: i64) -> Result<()> {
        let count = self.task_count();
        let exists = |id: i64| usize::try_from(id).is_ok_and(|i| i < count);
        for id in [from, to] {
            if !exists(id) {
                return Err(Error::UnknownTask {
                    from,
                    to,
                    missing: id,
                    count,
                });
            }
        }
        if from == to {
            return Err(Error::SelfEdge(TaskId(from as u32)));
        }
        self.staged.edges.push((from as u32, to as u32));
        Ok(())
    }

    /// Records that `bytes` at device address `dev` are copied back to `host`
    /// at [`finalize`](crate::Runtime::finalize). The device range must lie
    /// inside one live allocation.
    ///
    /// # Safety
    /// `host` must be valid for writes of `bytes` bytes until the runtime is
    /// finalized (or the graph discarded).
    pub unsafe fn record_tensor_pair(&mut self, host: *mut u8, dev: u64, bytes: u64) -> Result<()> {
        let host = host as u64;
        let why = if host == 0 {
            Some("null host pointer")
        } else if dev == 0 {
            Some("null device pointer")
        } else if bytes == 0 {
            Some("zero size")
        } else {
            None
        };
        let r = match why {
            Some(why) => Err(Error::BadTensorPair {
                host,
                dev,
                bytes,
                why,
            }),
            None => self
                .world
                .resource::<DeviceMem>()
                .0
                .check_range(dev, bytes)
                .map_err(Error::from),
        };
        if r.is_ok() {
            self.world.spawn(TensorPair {
                host,
                dev,
                bytes,
                index: self.pairs,
            });
            self.pairs += 1;
        }
        self.latch(r)
    }

    /// Allocates `bytes` of zeroed device memory.
    pub fn device_malloc(&mut self, bytes: u64) -> Result<u64> {
        let r = self
            .world
            .resource_mut::<DeviceMem>()
            .0
            .malloc(bytes)
            .map_err(Error::from);
        self.latch(r)
    }

    /// Frees device memory from [`device_malloc`](Self::device_malloc).
    pub fn device_free(&mut self, dev: u64) -> Result<()> {
        let r = self
            .world
            .resource_mut::<DeviceMem>()
            .0
            .free(dev)
            .map_err(Error::from);
        self.latch(r)
    }

    /// Copies `host` into device memory at `dev` (inside one allocation).
    pub fn copy_to_device(&mut self, dev: u64, host: &[u8]) -> Result<()> {
        let r = self
            .world
            .resource_mut::<DeviceMem>()
            .0
            .copy_to_device(dev, host)
            .map_err(Error::from);
        self.latch(r)
    }

    /// Allocates device memory holding a copy of `host`; returns its address.
    pub fn upload<T: Copy>(&mut self, host: &[T]) -> Result<u64> {
        let bytes = as_bytes(host);
        let dev = self.device_malloc(bytes.len() as u64)?;
        self.copy_to_device(dev, bytes)?;
        Ok(dev)
    }

    /// Allocates device memory initialised from `host` and records it as a
    /// tensor pair, so `host` receives the device contents at finalize.
    ///
    /// # Safety
    /// As [`record_tensor_pair`](Self::record_tensor_pair): `host` must stay
    /// valid (and not be moved) until finalize.
    pub unsafe fn output<T: Copy>(&mut self, host: &mut [T]) -> Result<u64> {
        let dev = self.upload(host)?;
        // SAFETY: the caller keeps `host` valid until finalize.
        unsafe {
            self.record_tensor_pair(
                host.as_mut_ptr().cast(),
                dev,
                std::mem::size_of_val(host) as u64,
            )?
        };
        Ok(dev)
    }

    /// A one-line summary of the graph, as the ABI's `print_runtime` prints it.
    pub fn summary(&mut self) -> String {
        let aic = self
            .staged
            .kernels
            .iter()
            .filter(|k| k.core_type == CoreType::Aic)
            .count();
        let aiv = self.staged.kernels.len() - aic;
        let edges = self.staged.edges.len();
        let pairs = self.world.query::<&TensorPair>().iter(self.world).len();
        let live = self.world.resource::<DeviceMem>().0.live().len();
        format!(
            "hostgraph runtime: {} tasks ({aic} AIC, {aiv} AIV), {edges} edges, {pairs} tensor pairs, {live} device allocations",
            aic + aiv
        )
    }
}

/// Views a slice of plain values as bytes.
pub(crate) fn as_bytes<T: Copy>(s: &[T]) -> &[u8] {
    // SAFETY: any initialised `T: Copy` value may be read as bytes; the
    // length covers exactly the slice.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), std::mem::size_of_val(s)) }
}
