//! The AICPU scheduler: dispatch policies ([`Policy`]), each scheduler
//! thread's poll / resolve / dispatch loop, the state a run's threads share,
//! and what a stall looked like. The run's phases that drive it are in
//! [`run`](crate::run); backends host its threads as
//! [`SchedulerJob`](crate::backend::SchedulerJob)s.

mod job;
mod policy;
mod shared;
mod stall;
mod thread;

#[cfg(all(test, hostgraph_loom))]
mod loom_model;
#[cfg(test)]
mod testing;

pub use policy::{MAX_LOCAL_CAPACITY, Policy, RoundRobin};
pub use thread::ThreadStats;

pub(crate) use job::Job;
pub(crate) use policy::{check_assignment, check_capacity, check_seed};
pub(crate) use shared::{Failure, RunShared, Seeds, ThreadOutcome};
pub(crate) use stall::diagnose;
pub(crate) use thread::{OwnedCore, SchedulerThread};
