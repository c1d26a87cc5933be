//! The simulated backends: [`ThreadedSim`] (cores stepped by runner
//! threads, scheduler threads on persistent workers), [`InlineSim`]
//! (scheduler threads and cores stepped in turn on the caller's thread)
//! and [`VirtualTime`] (the same on the caller's thread, in simulated
//! time: a deterministic discrete-event model). All implement
//! [`Backend`](crate::backend::Backend) and run the same scheduler code
//! through the same register protocol.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::{CoreSide, PlatformSpec};

mod bell;
mod inline;
mod pool;
mod slice;
mod threaded;
pub mod virtual_time;

pub use inline::{InlineRegisters, InlineSim};
pub use threaded::{SimFault, SimOptions, ThreadedRegisters, ThreadedSim};
pub use virtual_time::{
    CoreTime, Latencies, ThreadTime, VirtualRegisters, VirtualReport, VirtualTime,
};

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
