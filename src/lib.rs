//! hostgraph: a static graph of kernel tasks, built on the host through a
//! small C vtable (or Rust), dispatched by scheduler threads to accelerator
//! cores through a per-core register handshake — the `host_build_graph`
//! runtime of the Ascend *simpler* project, rebuilt data-oriented on
//! `bevy_ecs`.
//!
//! - [`Runtime`] owns the world: tasks, successors and tensor pairs are
//!   components ([`graph`]); kernels and device memory are resources.
//! - [`Runtime::run`] seals the graph into a dense view, then the scheduler
//!   ([`sched`]) discovers cores, assigns them round-robin ([`Policy`]),
//!   seeds ready queues and runs the poll / resolve / dispatch loop.
//! - An [`Executor`] backend turns register writes into work: the default
//!   [`ThreadedSim`] steps simulated cores on a few runner threads.
//! - [`Runtime::finalize`] copies recorded outputs back and frees device memory.
//!
//! The register protocol itself lives in [`hostgraph_platform::handshake`];
//! the C ABI in [`hostgraph_orch_abi`].

mod backoff;
pub mod error;
pub mod exec;
pub mod graph;
pub mod kernels;
mod plugin;
pub mod profile;
mod reference;
mod runtime;
pub mod sched;
mod seal;
mod sharedlib;
mod vtable;

pub use error::{Error, Result, StallDiagnosis};
pub use exec::{Executor, InlineSim, SimFault, SimOptions, ThreadedSim};
pub use graph::{GraphBuilder, TaskId};
pub use hostgraph_orch_abi::{CoreType, OwnedArgs};
pub use hostgraph_platform::Platform;
pub use kernels::KernelFn;
pub use plugin::{Plugin, ReferencePlugin};
pub use profile::Profile;
pub use runtime::{FinalizeReport, Runtime, RuntimeConfig};
pub use sched::{Policy, RoundRobin, RunReport};
pub use seal::Sealed;
