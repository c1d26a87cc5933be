//! From a run's plan to its hosted threads, for whichever policy is active:
//! the policy is kept type-erased as a resource ([`ActivePolicy`]), and
//! the one call that builds and hosts the threads is compiled for the
//! policy's type, so the hot loop is too.

use std::cmp::Reverse;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use bevy_ecs::prelude::*;
use hostgraph_orch_abi::CoreType;
use hostgraph_platform::DiscoveredCore;

use super::job::Job;
use super::policy::Policy;
use super::shared::{RunShared, RunStatus, Seeds};
use super::thread::{OwnedCore, SchedulerThread};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::panics::panic_message;
use crate::seal::Sealed;

/// One scheduler thread of a run's plan: its cores (in the order it feeds
/// idle ones), its local capacities, its initially ready tasks.
#[derive(Debug, Default)]
pub(crate) struct ThreadPlan {
    pub cores: Vec<OwnedCore>,
    pub capacity: [usize; 2],
    pub seeds: Vec<(u32, CoreType)>,
}

/// What the seed phase decided: every thread's plan, by index, and the
/// initially ready tasks for the shared queues, by core type.
#[derive(Debug, Default)]
pub(crate) struct RunPlan {
    pub threads: Vec<ThreadPlan>,
    pub seeds: [Vec<u32>; 2],
}

/// A policy as the run's phases use it, whatever its type.
pub(crate) trait DynPolicy<B: Backend>: Send + Sync {
    fn name(&self) -> &'static str;
    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize>;
    fn local_capacity(&self, owned: usize) -> usize;
    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>>;
    /// The policy's [`Policy::prepare`]; refused while scheduler threads
    /// of an earlier run (never awaited) still hold the policy.
    fn prepare(&mut self, graph: &Sealed) -> Result<()>;
    /// The policy's [`Policy::forget`], unless threads of a forgotten run
    /// still hold it (they drop it when they stop).
    fn forget(&mut self);
    /// Builds the threads `plan` describes and hands those that own cores
    /// to `exec`; returns the run's shared state.
    fn host(
        &self,
        exec: &mut B,
        plan: RunPlan,
        graph: Arc<Sealed>,
        stall_timeout: Duration,
    ) -> Arc<dyn RunStatus>;
}

struct Erased<P>(Arc<P>);

impl<B: Backend, P: Policy> DynPolicy<B> for Erased<P> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn assign_cores(&self, cores: &[DiscoveredCore], threads: usize) -> Vec<usize> {
        self.0.assign_cores(cores, threads)
    }

    fn local_capacity(&self, owned: usize) -> usize {
        self.0.local_capacity(owned)
    }

    fn seed(&self, core_type: CoreType, ready: &[u32], capacity: &[usize]) -> Vec<Option<usize>> {
        self.0.seed(core_type, ready, capacity)
    }

    fn prepare(&mut self, graph: &Sealed) -> Result<()> {
        let Some(policy) = Arc::get_mut(&mut self.0) else {
            return Err(Error::BackendStuck(format!(
                "policy {:?} is still held by scheduler threads of an earlier run that was \
                 never finished (its RunSchedule::Finish did not run); they stop at their \
                 stall bound",
                self.0.name()
            )));
        };
        policy.prepare(graph);
        Ok(())
    }

    fn forget(&mut self) {
        if let Some(policy) = Arc::get_mut(&mut self.0) {
            // Forgetting only frees memory: a hook that panics must not
            // stop the graph from being cleared (nor unwind out of the
            // emergency landing, `discard` or `finalize`).
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| policy.forget())) {
                log::warn!(
                    "policy {:?} panicked forgetting a graph: {}",
                    policy.name(),
                    panic_message(p)
                );
            }
        }
    }

    fn host(
        &self,
        exec: &mut B,
        plan: RunPlan,
        graph: Arc<Sealed>,
        stall_timeout: Duration,
    ) -> Arc<dyn RunStatus> {
        let policy = &*self.0;
        let threads: Vec<SchedulerThread<P>> = plan
            .threads
            .into_iter()
            .enumerate()
            .map(|(index, tp)| {
                let mut t = SchedulerThread::new(index as u32, tp.capacity, tp.cores, policy);
                for (task, ty) in tp.seeds {
                    t.push_seed(task, ty, policy.priority(task));
                }
                t
            })
            .collect();
        // Shared seeds, the most urgent first (stable: id order otherwise;
        // each priority asked once, so one that changes between calls
        // cannot break the sort).
        let seeds = plan.seeds.map(|mut s| {
            s.sort_by_cached_key(|&t| Reverse(policy.priority(t)));
            s
        });
        let stealers = threads.iter().map(SchedulerThread::stealers).collect();
        let shared = Arc::new(RunShared::new(
            exec.registers().clone(),
            graph,
            self.0.clone(),
            Seeds::new(seeds),
            stealers,
            stall_timeout,
            B::SINGLE_THREADED,
        ));
        let jobs: Vec<Job<B::Regs, P>> = threads
            .into_iter()
            .filter(SchedulerThread::has_cores)
            .map(|t| Job::new(t, shared.clone()))
            .collect();
        exec.host(jobs);
        shared
    }
}

/// The active dispatch policy, as a resource of the runtime's world.
#[derive(Resource)]
pub struct ActivePolicy<B: Backend>(Box<dyn DynPolicy<B>>);

impl<B: Backend> ActivePolicy<B> {
    /// `policy`, made the active one.
    pub fn new<P: Policy>(policy: P) -> Self {
        ActivePolicy(Box::new(Erased(Arc::new(policy))))
    }

    /// The policy's name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub(crate) fn get(&self) -> &dyn DynPolicy<B> {
        self.0.as_ref()
    }

    pub(crate) fn get_mut(&mut self) -> &mut dyn DynPolicy<B> {
        self.0.as_mut()
    }
}
