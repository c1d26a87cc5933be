//! The hostgraph examples' package: it owns the example programs
//! (`examples/*.rs` are its `[[example]]` targets, so that running one
//! builds none of hostgraph's dev-dependencies) and holds what they share
//! with the integration tests and benches: the common command line
//! ([`cli`]), where the orchestration plugins are ([`plugins`]), per
//! example its kernels and an independent reference, the synthetic graph
//! shapes of the bench program ([`synthetic`]) and its measurements and
//! reports ([`bench`](mod@bench)), and SVG charts of runs and bench
//! results ([`chart`]).

pub mod bench;
pub mod bgemm;
pub mod chart;
pub mod cli;
pub mod dag;
pub mod lab;
pub mod matmul;
pub mod paged_attention;
pub mod plugins;
pub mod rng;
pub mod synthetic;
pub mod vector;
