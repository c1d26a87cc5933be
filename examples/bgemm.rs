//! bgemm: C = A·B for 256×256 f32 matrices in 64×64 tiles — per output tile
//! a chain of four AIC tile products and four AIV tile additions over one
//! reused partial-product buffer (64 + 64 tasks), built by the C
//! orchestration plugin `examples/orch/bgemm.c` (`--orch reference`:
//! `examples/orch_ref/bgemm.cpp`, written for the reference runtime), or by
//! your own (`--plugin PATH --entry SYMBOL [--abi native|reference]`).
//! Inputs are seeded standard-normal × 0.01, tile-major as the reference's.
//!
//! `cargo run --release --example bgemm -- [--platform a2a3|a5] [--block-dim N] [--threads N] [--trace FILE] [--svg FILE] [--orch c|reference] [--plugin PATH --entry SYMBOL [--abi native|reference]]`

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hostgraph_examples::{
    bgemm,
    cli::{self, Checked, Common, Invalid, OwnPlugin},
    plugins,
};

/// Runs the bgemm example on the threaded simulator and checks C against
/// an independent f64 reference.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Which of the example's orchestration plugins builds the graph.
    #[arg(long, value_enum, default_value = "c")]
    orch: Orch,
    #[command(flatten)]
    own: OwnPlugin,
}

/// The example's own orchestration plugins.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Orch {
    /// The C plugin, `examples/orch/bgemm.c`.
    C,
    /// Written for the reference runtime: `examples/orch_ref/bgemm.cpp`.
    Reference,
}

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        self.common.check()
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    cli::exit_code("bgemm", run(&cli))
}

fn run(cli: &Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let plugin = cli.own.or_own(|| {
        Ok(match cli.orch {
            Orch::C => plugins::load_c("bgemm")?.into(),
            Orch::Reference => plugins::load_ref("bgemm", "build_bgemm_graph")?.into(),
        })
    })?;
    let mut rt = cli.common.runtime()?;
    let inputs = bgemm::Inputs::random(bgemm::SEED);
    let (c, report) = bgemm::run_round(&mut rt, &plugin, &inputs)?;
    let err = bgemm::max_error(&c, &bgemm::reference(&inputs));
    println!("bgemm ({})", cli::describe(&plugin));
    cli.common.print_run(&report);
    cli.common.write_profile(&report)?;
    println!(
        "  {0}×{0} in {1}×{1} tiles: max error {err:.3e} vs reference (tolerance {2:.0e})",
        bgemm::SIZE,
        bgemm::TILE,
        bgemm::TOLERANCE
    );
    let pass = err <= bgemm::TOLERANCE;
    println!("  {}", if pass { "PASS" } else { "FAILED" });
    Ok(pass)
}
