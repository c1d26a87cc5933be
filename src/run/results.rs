//! What a run publishes when [`RuntimeConfig::publish`](crate::RuntimeConfig::publish)
//! is on: a [`TaskResult`] component on every task entity, and a
//! [`RunFinished`] event for observers.

use std::time::Duration;

use bevy_ecs::prelude::*;

use super::RunReport;
use crate::error::Error;

/// How one task ran in the last published run: written onto its task
/// entity (the one with its [`Task`](crate::graph::Task) component).
///
/// ```
/// use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
/// use hostgraph::graph::Task;
/// use hostgraph::run::TaskResult;
///
/// let mut rt = Runtime::new(RuntimeConfig { publish: true, ..Default::default() })?;
/// rt.register_kernel(0, KernelFn::rust(|_| {}));
/// rt.build(|g| {
///     let a = g.add_task(0, CoreType::Aic, &[])?;
///     let b = g.add_task(0, CoreType::Aiv, &[])?;
///     g.add_successor(a, b)
/// })?;
/// rt.run()?;
/// let world = rt.world_mut();
/// let mut results: Vec<(u32, TaskResult)> = world
///     .query::<(&Task, &TaskResult)>()
///     .iter(world)
///     .map(|(t, r)| (t.id.0, *r))
///     .collect();
/// results.sort_by_key(|&(id, _)| id);
/// assert!(results[0].1.order < results[1].1.order, "b ran after a");
/// # rt.finalize()?;
/// # Ok::<(), hostgraph::Error>(())
/// ```
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskResult {
    /// Physical id of the core that ran it.
    pub physical_id: u32,
    /// Scheduler thread that dispatched it.
    pub thread: u32,
    /// Its place among the run's kernels in the order they returned (0 first).
    pub order: u32,
    /// When its kernel started and ended, from the run's first dispatch,
    /// when the run was profiled.
    pub times: Option<(Duration, Duration)>,
}

/// Triggered at the end of every run when
/// [`RuntimeConfig::publish`](crate::RuntimeConfig::publish) is on, with how the run
/// ended; observe it with `world.add_observer(|e: On<RunFinished>| ..)`.
#[derive(Event, Debug, Clone)]
pub struct RunFinished {
    /// The run's report, or its error.
    pub result: Result<RunReport, Error>,
}
