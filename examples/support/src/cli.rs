//! The command line every example and the bench program share:
//! `--platform a2a3|a5`, `--block-dim N`, `--threads N` (defaults: a2a3, 3, 3).

use clap::Args;
use hostgraph::{Platform, RuntimeConfig};

/// Options common to every example.
#[derive(Args, Debug, Clone, Copy)]
pub struct Common {
    /// Chip to simulate.
    #[arg(long, default_value = "a2a3", value_parser = parse_platform)]
    pub platform: Platform,
    /// Blocks to launch (each 1 AIC + 2 AIV).
    #[arg(long, default_value_t = 3)]
    pub block_dim: u32,
    /// Scheduler (AICPU) threads.
    #[arg(long, default_value_t = 3)]
    pub threads: u32,
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    s.parse::<Platform>().map_err(|e| e.to_string())
}

impl Common {
    /// The runtime configuration these options describe.
    pub fn config(&self) -> RuntimeConfig {
        RuntimeConfig {
            platform: self.platform,
            block_dim: self.block_dim,
            threads: self.threads,
            ..Default::default()
        }
    }
}
