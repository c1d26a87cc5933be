//! Test helpers: a sealed graph built with the real builder and sealing,
//! without a runtime; shared to build a run's state by hand.

use std::sync::Arc;
use std::time::Duration;

use bevy_ecs::prelude::*;
use hostgraph_platform::SimDeviceMemory;

use super::policy::RoundRobin;
use super::shared::{RunShared, Seeds};
use crate::graph::{DeviceMem, GraphBuilder, Task, TaskCount, TaskLists};
use crate::kernels::{KernelFn, KernelRegistry};
use crate::seal::{self, Sealed};

/// A built graph, ready to be sealed (as often as wanted: under loom, each
/// model iteration seals its own, since loom atomics live in one iteration).
pub(crate) struct Built {
    tasks: Vec<Task>,
    lists: TaskLists,
    kernels: KernelRegistry,
}

impl Built {
    /// The graph `build` makes, every func_id running `kernel`.
    pub fn new(
        kernel: fn(&[u64]),
        func_ids: &[i32],
        build: impl FnOnce(&mut GraphBuilder<'_>),
    ) -> Self {
        let mut world = World::new();
        world.init_resource::<TaskCount>();
        world.init_resource::<TaskLists>();
        world.insert_resource(DeviceMem::new(Box::new(SimDeviceMemory::new())));
        let mut g = GraphBuilder::new(&mut world, Default::default());
        build(&mut g);
        g.finish(true);
        let mut kernels = KernelRegistry::default();
        for &f in func_ids {
            kernels.insert(f, KernelFn::rust(kernel));
        }
        let mut tasks: Vec<Task> = world.query::<&Task>().iter(&world).copied().collect();
        tasks.sort_by_key(|t| t.id);
        Built {
            tasks,
            lists: world.resource::<TaskLists>().clone(),
            kernels,
        }
    }

    /// The graph sealed and reset for a run.
    pub fn seal(&self) -> Arc<Sealed> {
        let sealed = seal::seal(self.tasks.iter(), &self.lists, &self.kernels).expect("seals");
        sealed.reset(false, false);
        Arc::new(sealed)
    }
}

/// A run's shared state over `regs` and `graph` under round-robin, with
/// `seeds` for the shared queues and `threads` threads (none stealable).
pub(crate) fn shared<R>(
    regs: R,
    graph: Arc<Sealed>,
    seeds: [Vec<u32>; 2],
    threads: usize,
) -> RunShared<R, RoundRobin> {
    RunShared::new(
        regs,
        graph,
        Arc::new(RoundRobin),
        Seeds::new(seeds),
        vec![[(), ()]; threads],
        Duration::from_secs(1),
        false,
    )
}
