//! The simulated backends: [`ThreadedSim`] (cores stepped by runner
//! threads, scheduler threads on persistent workers) and [`InlineSim`]
//! (scheduler threads and cores stepped in turn on the caller's thread).
//! Both implement [`Backend`](crate::backend::Backend) and run the same
//! scheduler code through the same register protocol.

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::{CoreSide, PlatformSpec};

mod bell;
mod inline;
mod pool;
mod threaded;

pub use inline::{InlineRegisters, InlineSim};
pub use threaded::{SimFault, SimOptions, ThreadedRegisters, ThreadedSim};

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
