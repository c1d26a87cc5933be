//! hostgraph: a static graph of kernel tasks, built on the host through a
//! small C vtable (or from Rust), dispatched by scheduler threads to
//! accelerator cores through a per-core register handshake — the
//! `host_build_graph` runtime of the Ascend *simpler* project, rebuilt
//! data-oriented on [`bevy_ecs`].
//!
//! # The pieces
//!
//! - [`Runtime`] works on a bevy [`World`](bevy_ecs::world::World): tasks
//!   and tensor pairs are entities ([`graph`]), kernels, device memory, the
//!   policy and the backend are resources, and a run is two schedules of
//!   public phase systems ([`run`]).
//! - An orchestration plugin builds the graph through the C ABI of
//!   [`hostgraph_orch_abi`] ([`Plugin`]; plugins written for the reference
//!   runtime through [`ReferencePlugin`]), or Rust code does
//!   ([`Runtime::build`]).
//! - The scheduler ([`sched`]): scheduler threads own cores, poll their
//!   COND registers, resolve fan-in counts, and write ready task ids into
//!   DATA_MAIN_BASE; a [`Policy`] decides which thread owns which core and
//!   where ready tasks go. The register protocol itself is written once in
//!   [`hostgraph_platform::handshake`].
//! - A [`Backend`] turns register writes into work:
//!   [`ThreadedSim`] (default) steps simulated cores on runner threads;
//!   [`InlineSim`] steps scheduler and cores on the caller's thread;
//!   [`VirtualTime`] does so in simulated time, deterministically, with
//!   kernel durations from a [cost model](cost).
//! - [`Runtime::finalize`] copies recorded outputs back and frees device
//!   memory.
//!
//! # A run
//!
//! ```text
//! build ──► Seal ► Launch ► Discover ► Assign ► Seed ► Dispatch ► Shutdown ► Publish ──► finalize
//!           └──────────── RunSchedule::Start ─────────────┘└────── RunSchedule::Finish ──────┘
//! ```
//!
//! [`Runtime::run`] runs both schedules; [`Runtime::start`] runs the first
//! and returns a [`RunHandle`] to poll, wait on or `.await`.
//!
//! ```
//! use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
//!
//! /// out[i] = in[i] * 2, for the 4 f32s the task's words point at.
//! fn double(args: &[u64]) {
//!     // SAFETY: the graph below passes [input, output] device pointers
//!     // to 4 f32s each.
//!     let (src, dst) = unsafe {
//!         (
//!             std::slice::from_raw_parts(args[0] as *const f32, 4),
//!             std::slice::from_raw_parts_mut(args[1] as *mut f32, 4),
//!         )
//!     };
//!     for (d, s) in dst.iter_mut().zip(src) {
//!         *d = s * 2.0;
//!     }
//! }
//!
//! let mut rt = Runtime::new(RuntimeConfig::default())?;
//! rt.register_kernel(0, KernelFn::rust(double).named("double"));
//! let input = [1.0f32, 2.0, 3.0, 4.0];
//! let mut output = [0.0f32; 4];
//! rt.build(|g| {
//!     let a = g.upload(&input)?;
//!     let mid = g.device_malloc(16)?;
//!     // SAFETY: `output` stays in place until finalize.
//!     let out = unsafe { g.output(&mut output)? };
//!     let first = g.add_task(0, CoreType::Aiv, &[a, mid])?;
//!     let second = g.add_task(0, CoreType::Aiv, &[mid, out])?;
//!     g.add_successor(first, second)
//! })?;
//! let report = rt.run()?;
//! assert_eq!(report.tasks, 2);
//! rt.finalize()?;
//! assert_eq!(output, [4.0, 8.0, 12.0, 16.0]);
//! # Ok::<(), hostgraph::Error>(())
//! ```
//!
//! # Where to plug in
//!
//! - A dispatch policy: implement [`Policy`] (placement once the cores
//!   are discovered, and hooks inside the hot loop: priority, placement of a ready task, the
//!   core that takes it, stealing) and [`Runtime::set_policy`]; or pick a
//!   built-in ([`sched::BuiltIn`]: round-robin, work-stealing,
//!   critical-path, locality, HEFT) with [`Runtime::set_builtin_policy`].
//!   Compare them in [`VirtualTime`], where every policy meets the same
//!   drawn durations and a run is the same on any machine (the examples'
//!   `policy_lab` does so over graphs × chips).
//! - A backend: implement [`Backend`] (its chip's spec, device memory,
//!   register access, handshake blocks, launch, hosting and driving the
//!   scheduler threads, land) and
//!   [`Runtime::with_backend`].
//! - A phase: replace a phase system in its [`run::Phase`] set of the
//!   [`run::RunSchedule`]s ([`Runtime::world_mut`]).
//! - Your own bevy world: [`Runtime::install`] and [`Runtime::attach`].
//!
//! One dependency is enough: [`bevy_ecs`] is re-exported, and so are the
//! types a plugin host, a policy or a backend needs from the sibling crates
//! ([`hostgraph_orch_abi`], [`hostgraph_platform`]). bevy's derives
//! (`Component`, `Resource`, `ScheduleLabel`, ...) name the `bevy_ecs`
//! crate; `use hostgraph::bevy_ecs;` where you use them brings the
//! re-export into scope.

pub mod backend;
mod backoff;
pub mod cost;
pub mod error;
pub mod graph;
mod handle;
pub mod kernels;
mod panics;
mod plugin;
pub mod profile;
mod reference;
pub mod run;
mod runtime;
pub mod sched;
mod seal;
mod sharedlib;
pub mod sim;
mod sync;
mod vtable;

pub use bevy_ecs;
pub use hostgraph_orch_abi;
pub use hostgraph_platform;

pub use backend::Backend;
pub use error::{Error, HeldTask, QueuedIn, QueuedTask, Result, StallDiagnosis};
pub use graph::{GraphBuilder, TaskId};
pub use handle::RunHandle;
pub use hostgraph_orch_abi::{CoreType, DType, OrchTensor, OwnedArgs};
pub use hostgraph_platform::{DiscoveredCore, Platform, PlatformSpec};
pub use kernels::KernelFn;
pub use plugin::{Plugin, ReferencePlugin};
pub use profile::Profile;
pub use run::RunReport;
pub use runtime::{FinalizeReport, Runtime, RuntimeConfig, RuntimeWorld};
pub use sched::{Policy, RoundRobin};
pub use seal::Sealed;
pub use sim::{InlineSim, SimFault, SimOptions, ThreadedSim, VirtualTime};
