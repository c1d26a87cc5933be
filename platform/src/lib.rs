//! What differs per chip and per backend in hostgraph: platform specs
//! ([`spec`]), register ids and the COND encoding ([`regs`]), register
//! access ([`access`]), the handshake protocol both sides run
//! ([`handshake`]), and device memory ([`memory`]).

pub mod access;
pub mod handshake;
pub mod memory;
pub mod regs;
pub mod spec;
mod sync;

pub use access::{MmioRegisters, RegisterAccess, SimRegisters};
pub use handshake::{
    AicpuStartup, CoreSide, CoreSlot, CoreStep, DiscoveredCore, HandshakeBlock, ProtocolError,
};
pub use hostgraph_orch_abi::CoreType;
pub use memory::{DeviceMemory, MemError, SimDeviceMemory};
pub use spec::{Platform, PlatformSpec};
