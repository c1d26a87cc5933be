//! The graph store: tasks and tensor pairs as ECS entities, the tasks'
//! argument words and successors as lists they index, and the
//! [`GraphBuilder`] that the Rust API and the orchestration ABI both drive.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use hostgraph_orch_abi::{CoreType, MAX_TASK_ARGS, RESERVED_TASK_ID};
use hostgraph_platform::DeviceMemory;

use crate::error::{Error, Result};

/// A task's id: dense from 0 in the order tasks were added. It travels in
/// DATA_MAIN_BASE and COND, so it stays below [`RESERVED_TASK_ID`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Key into the kernel registry.
    pub func_id: i32,
    /// AIC (cube) or AIV (vector).
    pub core_type: CoreType,
}

/// A task: one entity per task, with everything about it in one component
/// (each component costs every entity its change ticks, so one compact
/// component keeps a 100k-task graph small). Its argument words and
/// successors are in the graph's [`TaskLists`], found by its id.
///
/// ```
/// # use hostgraph::{Runtime, RuntimeConfig, CoreType};
/// use hostgraph::graph::{Task, TaskLists};
/// let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
/// rt.build(|g| {
///     let a = g.add_task(7, CoreType::Aiv, &[1, 2])?;
///     let b = g.add_task(8, CoreType::Aic, &[3])?;
///     g.add_successor(a, b)
/// }).unwrap();
/// let world = rt.world();
/// let lists = world.resource::<TaskLists>();
/// let mut tasks = world.try_query::<&Task>().unwrap();
/// let a = tasks.iter(world).find(|t| t.id.0 == 0).unwrap();
/// assert_eq!(a.kernel.func_id, 7);
/// assert_eq!(lists.args(a), [1, 2]);
/// assert_eq!(lists.successors(a)[0].0, 1);
/// # rt.finalize().unwrap();
/// ```
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// What it runs, where.
    pub kernel: Kernel,
}

/// The graph's lists: every task's argument words and successor ids, one
/// after another in task-id order, and where each task's lists start. The
/// [`Sealed`](crate::Sealed) view shares them (they are reference-counted),
/// so a run reads the same lists without a copy.
#[derive(Resource, Clone, Debug, Default)]
pub struct TaskLists {
    pub(crate) args: Arc<[u64]>,
    pub(crate) successors: Arc<[TaskId]>,
    /// Per task id, then one past the last: where its argument words and
    /// its successors start (each ends where the next task's start).
    pub(crate) starts: Arc<[[u32; 2]]>,
}

impl TaskLists {
    /// `task`'s argument words.
    pub fn args(&self, task: &Task) -> &[u64] {
        self.args_of(task.id.0)
    }

    /// `task`'s successors.
    pub fn successors(&self, task: &Task) -> &[TaskId] {
        self.successors_of(task.id.0)
    }

    /// Argument words of the task with id `t`.
    #[inline]
    pub(crate) fn args_of(&self, t: u32) -> &[u64] {
        let t = t as usize;
        &self.args[self.starts[t][0] as usize..self.starts[t + 1][0] as usize]
    }

    /// Successors of the task with id `t`.
    #[inline]
    pub(crate) fn successors_of(&self, t: u32) -> &[TaskId] {
        let t = t as usize;
        &self.successors[self.starts[t][1] as usize..self.starts[t + 1][1] as usize]
    }
}

/// A device buffer whose contents are copied back to `host` at finalize.
///
/// Private to the crate on purpose: finalize writes through `host`, which
/// only the `unsafe` [`GraphBuilder::record_tensor_pair`] may vouch for,
/// and only until that round ends. A component users could name could be
/// spawned with any address, or taken out of the world and put back in a
/// later round.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct TensorPair {
    /// Host address the bytes are copied back to.
    pub(crate) host: u64,
    /// Device address they are copied from.
    pub(crate) dev: u64,
    /// Length in bytes.
    pub(crate) bytes: u64,
    /// Record order.
    pub(crate) index: u32,
}

/// How many tasks the built graph has (the tasks are the entities with a
/// [`TaskId`], ids `0..count`).
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCount(pub usize);

/// The device memory of the runtime's backend, and whether a launch may
/// still touch it.
///
/// Dropped while a launch may (the world dropped with a run in flight,
/// e.g. its handle forgotten in a world of one's own, or the resource
/// removed mid-run), its live allocations are leaked rather than freed
/// under kernels that may still run; otherwise they are freed.
#[derive(Resource)]
pub struct DeviceMem(
    pub Box<dyn DeviceMemory + Sync>,
    /// Set from a launch until its landing.
    pub(crate) bool,
);

impl DeviceMem {
    /// `mem`, touched by no launch yet.
    pub fn new(mem: Box<dyn DeviceMemory + Sync>) -> Self {
        DeviceMem(mem, false)
    }
}

impl Drop for DeviceMem {
    fn drop(&mut self) {
        if self.1 {
            let n = self.0.quarantine_live();
            if n > 0 {
                log::warn!(
                    "hostgraph: device memory dropped while a launch may still touch it; \
                     {n} live allocation(s) leaked, not freed"
                );
            }
        }
    }
}

/// Whether a graph is built, and how large the last build was.
#[derive(Resource, Debug, Default)]
pub struct GraphStatus {
    /// A graph is built (possibly empty) and not yet finalized or discarded.
    pub(crate) built: bool,
    /// What the last build staged: the next reserves as much.
    pub(crate) last_build: BuildSizes,
}

impl GraphStatus {
    /// Whether a graph is built and not yet finalized or discarded.
    pub fn built(&self) -> bool {
        self.built
    }
}

/// How much a build staged: the next build reserves as much up front, so
/// rebuilding a graph of the same shape grows no vector.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BuildSizes {
    tasks: usize,
    args: usize,
    edges: usize,
}

/// Tasks and edges of a build in progress, turned into entities in one
/// batch when the build commits (and freed then: a built graph holds no
/// staging memory).
struct Staged {
    /// Tasks as they will be spawned.
    tasks: Vec<Task>,
    /// Per task: where its argument words start, and its successor count
    /// (filled in by the commit).
    starts: Vec<[u32; 2]>,
    args: Vec<u64>,
    edges: Vec<(u32, u32)>,
}

/// Most entries a list of [`TaskLists`] holds: its spans are 32-bit.
const LIST_CAPACITY: usize = u32::MAX as usize;

/// Checks that a list of `len` entries has room for `more`.
fn check_room(list: &'static str, len: usize, more: usize) -> Result<()> {
    if more > LIST_CAPACITY - len {
        return Err(Error::GraphFull {
            list,
            capacity: LIST_CAPACITY,
        });
    }
    Ok(())
}

/// Counting sort of `edges` by source into one list: each task's stretch
/// (from its start, already placed) in the order its edges were added.
fn sort_by_source(starts: &[[u32; 2]], edges: &[(u32, u32)]) -> Arc<[TaskId]> {
    let mut list: Arc<[TaskId]> = std::iter::repeat_n(TaskId(0), edges.len()).collect();
    let fill = Arc::get_mut(&mut list).expect("a new list is not shared");
    let mut cursor: Vec<u32> = starts.iter().map(|s| s[1]).collect();
    for &(from, to) in edges {
        let at = &mut cursor[from as usize];
        fill[*at as usize] = TaskId(to);
        *at += 1;
    }
    list
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
    /// Device address → index of the first tensor pair recorded there, so
    /// a free finds the pairs inside its allocation without a scan.
    recorded: BTreeMap<u64, u32>,
    staged: Staged,
}

impl<'w> GraphBuilder<'w> {
    /// A builder adding to `world`'s (empty) graph, with room reserved for
    /// `sizes` (those of the previous build).
    pub(crate) fn new(world: &'w mut World, sizes: BuildSizes) -> Self {
        GraphBuilder {
            world,
            latched: None,
            pairs: 0,
            recorded: BTreeMap::new(),
            staged: Staged {
                tasks: Vec::with_capacity(sizes.tasks),
                starts: Vec::with_capacity(sizes.tasks + 1),
                args: Vec::with_capacity(sizes.args),
                edges: Vec::with_capacity(sizes.edges),
            },
        }
    }

    /// Ends the build, consuming the builder (so the world is free again):
    /// with `commit`, the staged tasks become entities. Returns the sizes
    /// staged.
    pub(crate) fn finish(self, commit: bool) -> BuildSizes {
        let sizes = BuildSizes {
            tasks: self.staged.tasks.len(),
            args: self.staged.args.len(),
            edges: self.staged.edges.len(),
        };
        if commit {
            self.commit();
        }
        sizes
    }

    /// Turns the staged tasks into entities (one batch) and the staged
    /// edges into successor lists, each list in the order its edges were
    /// added.
    fn commit(self) {
        let Staged {
            tasks,
            mut starts,
            args,
            edges,
        } = self.staged;
        for &(from, _) in &edges {
            starts[from as usize][1] += 1;
        }
        // Each list starts where the previous one ends.
        let mut start = 0;
        for s in starts.iter_mut() {
            let len = s[1];
            s[1] = start;
            start += len;
        }
        starts.push([args.len() as u32, edges.len() as u32]);
        let successors = if edges.is_sorted_by_key(|&(from, _)| from) {
            // Added source by source, as graphs usually are: the lists are
            // the targets, as they stand.
            edges.iter().map(|&(_, to)| TaskId(to)).collect()
        } else {
            sort_by_source(&starts, &edges)
        };
        let lists = TaskLists {
            args: Arc::from(args.as_slice()),
            successors,
            starts: Arc::from(starts.as_slice()),
        };
        let spawned = self.world.spawn_batch(tasks.iter().copied()).count();
        self.world.insert_resource(lists);
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
        self.staged.tasks.len()
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
    #[inline]
    pub fn add_task(&mut self, func_id: i32, core_type: CoreType, args: &[u64]) -> Result<TaskId> {
        let staged = &mut self.staged;
        let (n, words) = (staged.tasks.len(), staged.args.len());
        if args.len() > MAX_TASK_ARGS
            || n >= RESERVED_TASK_ID as usize
            || args.len() > LIST_CAPACITY - words
        {
            let e = self.task_error(func_id, args.len());
            return self.latch(Err(e));
        }
        let id = TaskId(n as u32);
        staged.tasks.push(Task {
            id,
            kernel: Kernel { func_id, core_type },
        });
        staged.starts.push([words as u32, 0]);
        staged.args.extend_from_slice(args);
        Ok(id)
    }

    /// Why a task of `func_id` with `args` words was refused.
    #[cold]
    fn task_error(&self, func_id: i32, args: usize) -> Error {
        if args > MAX_TASK_ARGS {
            return Error::TooManyArgs {
                func_id,
                count: args,
                max: MAX_TASK_ARGS,
            };
        }
        if self.task_count() >= RESERVED_TASK_ID as usize {
            return Error::TooManyTasks(RESERVED_TASK_ID);
        }
        check_room("argument words", self.staged.args.len(), args)
            .expect_err("the argument list is full")
    }

    /// Adds the edge `from -> to`: `to` starts only after `from` finished.
    ///
    /// Adding the same edge again is allowed and changes nothing about when
    /// `to` runs (once, after `from`): the duplicate counts once more in
    /// `to`'s fan-in and releases it once more, and costs one more edge.
    #[inline]
    pub fn add_successor(&mut self, from: TaskId, to: TaskId) -> Result<()> {
        self.add_successor_raw(from.0 as i64, to.0 as i64)
    }

    /// [`add_successor`](Self::add_successor) for raw ids from the C ABI.
    #[inline]
    pub(crate) fn add_successor_raw(&mut self, from: i64, to: i64) -> Result<()> {
        let count = self.task_count() as u64;
        // A negative id wraps above any count.
        let known = |id: i64| (id as u64) < count;
        let edges = &mut self.staged.edges;
        if known(from) && known(to) && from != to && edges.len() < LIST_CAPACITY {
            edges.push((from as u32, to as u32));
            return Ok(());
        }
        let e = self.edge_error(from, to);
        self.latch(Err(e))
    }

    /// Why `from -> to` was refused.
    #[cold]
    fn edge_error(&self, from: i64, to: i64) -> Error {
        let count = self.task_count();
        let exists = |id: i64| usize::try_from(id).is_ok_and(|i| i < count);
        if let Some(missing) = [from, to].into_iter().find(|&id| !exists(id)) {
            return Error::UnknownTask {
                from,
                to,
                missing,
                count,
            };
        }
        if from == to {
            return Error::SelfEdge(TaskId(from as u32));
        }
        check_room("edges", self.staged.edges.len(), 1).expect_err("the edge list is full")
    }

    /// Records that `bytes` at device address `dev` are copied back to `host`
    /// at [`finalize`](crate::Runtime::finalize). The device range must lie
    /// inside one live allocation.
    ///
    /// This is the only way to record a pair: the component that holds it
    /// is private to the crate, so safe code can neither make one with an
    /// address of its choosing nor keep one past its round:
    ///
    /// ```compile_fail,E0603
    /// use hostgraph::graph::TensorPair;
    /// ```
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
            self.recorded.entry(dev).or_insert(self.pairs);
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
    /// A buffer that a tensor pair was recorded in is refused
    /// ([`Error::FreeOfRecorded`]): finalize copies it back. Freeing the
    /// null address (0, which no allocation has) does nothing, as C's
    /// `free(NULL)` does: cleanup code ported from the reference runtime,
    /// whose simulator frees with `free`, may free a buffer it never
    /// allocated.
    pub fn device_free(&mut self, dev: u64) -> Result<()> {
        if dev == 0 {
            return Ok(());
        }
        let r = match self.recorded_in(dev) {
            Some((pair, pair_dev)) => Err(Error::FreeOfRecorded {
                dev,
                pair: pair as usize,
                pair_dev,
            }),
            None => self
                .world
                .resource_mut::<DeviceMem>()
                .0
                .free(dev)
                .map_err(Error::from),
        };
        self.latch(r)
    }

    /// The first tensor pair recorded inside the live allocation that
    /// starts at `dev`, if any: its index and device address. Costs a
    /// lookup and the pairs inside that allocation, so freeing many
    /// buffers stays linear.
    fn recorded_in(&self, dev: u64) -> Option<(u32, u64)> {
        if self.recorded.is_empty() {
            return None;
        }
        let bytes = self.world.resource::<DeviceMem>().0.allocation(dev)?;
        self.recorded
            .range(dev..dev.saturating_add(bytes))
            .map(|(&pair_dev, &index)| (index, pair_dev))
            .min()
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
        let tasks = &self.staged.tasks;
        let aic = tasks
            .iter()
            .filter(|t| t.kernel.core_type == CoreType::Aic)
            .count();
        let aiv = tasks.len() - aic;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::KernelRegistry;

    /// Builds `edges` over five tasks; returns each task's successors.
    fn built(edges: &[(u32, u32)]) -> Vec<Vec<u32>> {
        let mut world = World::new();
        world.init_resource::<TaskCount>();
        world.init_resource::<KernelRegistry>();
        let mut g = GraphBuilder::new(&mut world, BuildSizes::default());
        for _ in 0..5 {
            g.add_task(0, CoreType::Aiv, &[]).unwrap();
        }
        for &(from, to) in edges {
            g.add_successor(TaskId(from), TaskId(to)).unwrap();
        }
        g.finish(true);
        let lists = world.resource::<TaskLists>().clone();
        let mut tasks: Vec<Task> = world.query::<&Task>().iter(&world).copied().collect();
        tasks.sort_by_key(|t| t.id);
        let succ = |t: &Task| lists.successors(t).iter().map(|s| s.0).collect();
        tasks.iter().map(succ).collect()
    }

    #[test]
    fn successor_lists_keep_edge_order_whether_grouped_by_source_or_not() {
        // Same edges per source, in the same order: added source by source,
        // and interleaved.
        let grouped = [(0, 3), (0, 1), (1, 4), (1, 2), (3, 4)];
        let mixed = [(3, 4), (0, 3), (1, 4), (0, 1), (1, 2)];
        let want = vec![vec![3, 1], vec![4, 2], vec![], vec![4], vec![]];
        assert_eq!(built(&grouped), want);
        assert_eq!(built(&mixed), want);
        let reversed = [(1, 2), (1, 4), (0, 1), (0, 3), (3, 4)];
        assert_eq!(built(&reversed)[0], vec![1, 3]);
        assert_eq!(built(&reversed)[1], vec![2, 4]);
    }

    #[test]
    fn a_full_list_is_refused_with_its_name() {
        assert!(check_room("edges", LIST_CAPACITY - 1, 1).is_ok());
        let err = check_room("edges", LIST_CAPACITY - 1, 2).unwrap_err();
        assert!(matches!(
            err,
            Error::GraphFull {
                list: "edges",
                capacity: LIST_CAPACITY
            }
        ));
        assert!(err.to_string().contains("edges"), "{err}");
        assert!(check_room("argument words", 0, LIST_CAPACITY + 1).is_err());
    }
}
