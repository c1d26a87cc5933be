//! The AICPU scheduler: systems over the world that discover cores, assign
//! them to threads, seed the ready queues and run the poll / resolve /
//! dispatch loop (protocol in [`hostgraph_platform::handshake`]).

mod policy;
mod run;
mod thread;

pub use policy::{Policy, RoundRobin};
pub use run::{Core, RunReport, RunShared};
pub use thread::{Poll, SchedulerThread, ThreadStats};

pub(crate) use run::{ActivePolicy, RunParams, execute};
