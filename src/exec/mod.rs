//! Executor backends: what turns register writes into work on cores.
//!
//! The scheduler is the same for every backend; a backend provides the
//! register blocks and handshake blocks, starts the cores, and decides how
//! scheduler threads and cores share the machine.

use std::sync::Arc;
use std::time::Duration;

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::{CoreSide, DeviceMemory, HandshakeBlock, PlatformSpec, RegisterAccess};

use crate::error::Result;
use crate::sched::{RunShared, SchedulerThread};
use crate::seal::Sealed;

mod inline;
mod pool;
mod threaded;

pub use inline::{InlineRegisters, InlineSim};
pub use threaded::{SimFault, SimOptions, ThreadedSim};

/// The simulated core with handshake index `index` in a launch of
/// `block_dim` blocks: the first `block_dim` cores are AIC (physical ids
/// from 0), the rest AIV (physical ids after the chip's AIC range).
pub fn sim_core(spec: &PlatformSpec, block_dim: u32, index: u32) -> CoreSide {
    let aic = block_dim * spec.aic_per_block;
    if index < aic {
        CoreSide::new(index, index, CoreType::Aic)
    } else {
        CoreSide::new(
            index,
            spec.max_block_dim * spec.aic_per_block + index - aic,
            CoreType::Aiv,
        )
    }
}

/// A backend the scheduler drives through registers.
///
/// This trait is sealed to the crate for now: its methods take scheduler
/// internals. Pick a backend with [`Runtime::with_executor`](crate::Runtime::with_executor).
pub trait Executor: Send + private::Sealed {
    /// The register access the backend provides.
    type Regs: RegisterAccess + 'static;

    /// The chip being driven.
    fn spec(&self) -> &'static PlatformSpec;

    /// Fresh device memory for a runtime on this backend.
    fn new_device_memory(&self) -> Box<dyn DeviceMemory + Sync>;

    /// Register blocks of every physical core.
    fn registers(&self) -> &Self::Regs;

    /// Handshake blocks, indexed by launch order.
    fn handshakes(&self) -> &[HandshakeBlock];

    /// Starts `block_dim` blocks of cores that will run the tasks of `graph`.
    #[doc(hidden)]
    fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<()>;

    /// Lets launched cores make progress while the caller waits on them
    /// (start-up, shutdown); true if any moved. Threaded backends return false.
    fn pump(&self) -> bool;

    /// Runs the scheduler threads until the run is done or stopped.
    #[doc(hidden)]
    fn run_schedulers<'a>(
        &self,
        threads: &mut [SchedulerThread],
        shared: &RunShared<'a, Self::Regs>,
    );

    /// Ends the launch once every core has left its loop; with `force`,
    /// abandons cores that have not (after a failure). False if the backend
    /// could not land within `timeout` (a kernel that never returns); the
    /// next launch then fails with [`Error::BackendStuck`](crate::Error::BackendStuck).
    fn land(&mut self, force: bool, timeout: Duration) -> bool;
}

mod private {
    pub trait Sealed {}
}
