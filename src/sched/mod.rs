//! The AICPU scheduler: dispatch policies ([`Policy`]), each scheduler
//! thread's poll / resolve / dispatch loop, the state a run's threads share,
//! and what a stall looked like. The run's phases that drive it are in
//! [`run`](crate::run); backends host its threads as
//! [`SchedulerJob`](crate::backend::SchedulerJob)s.

mod host;
mod job;
mod policies;
mod policy;
pub mod queue;
mod shared;
mod stall;
mod thread;

#[cfg(all(test, hostgraph_loom))]
mod loom_model;
#[cfg(test)]
mod testing;

pub use host::ActivePolicy;
pub use policies::{BuiltIn, CriticalPath, Heft, Locality, WorkStealing, bottom_levels};
pub use policy::{CoreView, MAX_LOCAL_CAPACITY, Place, Policy, RoundRobin};
pub use thread::ThreadStats;

pub(crate) use host::{RunPlan, ThreadPlan};
pub(crate) use policy::{check_assignment, check_capacity, check_seed};
pub(crate) use shared::{Failure, RunStatus, ThreadOutcome};
pub(crate) use thread::OwnedCore;
