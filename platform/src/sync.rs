//! The atomics the handshake protocol uses, through one shim: the standard
//! library's normally, loom's when the crate is built for the model check
//! (`RUSTFLAGS="--cfg hostgraph_loom"`), so the loom model runs this very
//! code (as tokio's `loom` module does). The cfg has its own name because
//! some dependencies change behaviour under a plain `cfg(loom)`.

#[cfg(hostgraph_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};
#[cfg(not(hostgraph_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, Ordering};
