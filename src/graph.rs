//! The graph store: tasks and tensor pairs as ECS entities, and the
//! [`GraphBuilder`] that the Rust API and the orchestration ABI both drive.

use std::fmt;

use bevy_ecs::prelude::*;
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

/// A task's argument words (device pointers and scalars), inline up to 8.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct Args(pub SmallVec<[u64; 8]>);

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

/// Entity of each task, indexed by [`TaskId`].
#[derive(Resource, Default, Debug)]
pub struct TaskTable(pub Vec<Entity>);

/// The device memory of the runtime's backend.
#[derive(Resource)]
pub struct DeviceMem(pub Box<dyn DeviceMemory + Sync>);

/// Builds a graph into the runtime's world. Obtained from
/// [`Runtime::build`](crate::Runtime::build); the C ABI drives the same type.
///
/// Every call that can fail returns an error naming the bad id or size, and
/// the first failure is latched: the build fails even if the caller carries on.
pub struct GraphBuilder<'w> {
    pub(crate) world: &'w mut World,
    pub(crate) latched: Option<Error>,
    pairs: u32,
}

impl<'w> GraphBuilder<'w> {
    pub(crate) fn new(world: &'w mut World) -> Self {
        GraphBuilder {
            world,
            latched: None,
            pairs: 0,
        }
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
        self.world.resource::<TaskTable>().0.len()
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
        let id = TaskId(n as u32);
        let entity = self
            .world
            .spawn((
                id,
                Kernel { func_id, core_type },
                Args(SmallVec::from_slice(args)),
                Fanin::default(),
                Successors::default(),
            ))
            .id();
        self.world.resource_mut::<TaskTable>().0.push(entity);
        Ok(id)
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
        let table = &self.world.resource::<TaskTable>().0;
        let count = table.len();
        let entity = |id: i64| usize::try_from(id).ok().and_then(|i| table.get(i).copied());
        let missing = |m| Error::UnknownTask {
            from,
            to,
            missing: m,
            count,
        };
        let f = entity(from).ok_or_else(|| missing(from))?;
        let t = entity(to).ok_or_else(|| missing(to))?;
        if from == to {
            return Err(Error::SelfEdge(TaskId(from as u32)));
        }
        self.world
            .get_mut::<Successors>(f)
            .expect("task entity")
            .0
            .push(TaskId(to as u32));
        self.world.get_mut::<Fanin>(t).expect("task entity").initial += 1;
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
        let mut kernels = self.world.query::<(&Kernel, &Successors)>();
        let (mut aic, mut aiv, mut edges) = (0usize, 0usize, 0usize);
        for (k, s) in kernels.iter(self.world) {
            match k.core_type {
                CoreType::Aic => aic += 1,
                CoreType::Aiv => aiv += 1,
            }
            edges += s.0.len();
        }
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
