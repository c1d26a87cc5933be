//! matmul: F = exp(sqrt(ln(A))·W1 + sqrt(ln(A))·W2) on 128×128 matrices with
//! A = e⁴ (f16) and W1 = W2 = 1/256 (f16), so F = e² ≈ 7.389 — a diamond of
//! one AIV task, two AIC matrix products and one AIV task, built by the C
//! orchestration plugin `examples/orch/matmul.c` (`--orch reference`:
//! `examples/orch_ref/matmul.cpp`, written for the reference runtime), or by
//! your own (`--plugin PATH --entry SYMBOL [--abi native|reference]`).
//!
//! `cargo run --release --example matmul -- [--platform a2a3|a5] [--block-dim N] [--threads N] [--trace FILE] [--svg FILE] [--orch c|reference] [--plugin PATH --entry SYMBOL [--abi native|reference]]`

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hostgraph_examples::{
    cli::{self, Checked, Common, Invalid, OwnPlugin},
    matmul, plugins,
};

/// Runs the matmul example on the threaded simulator and checks F against
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
    /// The C plugin, `examples/orch/matmul.c`.
    C,
    /// Written for the reference runtime: `examples/orch_ref/matmul.cpp`.
    Reference,
}

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        self.common.check()
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    cli::exit_code("matmul", run(&cli))
}

fn run(cli: &Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let plugin = cli.own.or_own(|| {
        Ok(match cli.orch {
            Orch::C => plugins::load_c("matmul")?.into(),
            Orch::Reference => plugins::load_ref("matmul", "build_matmul_graph")?.into(),
        })
    })?;
    let mut rt = cli.common.runtime()?;
    let inputs = matmul::Inputs::new();
    let (f, report) = matmul::run_round(&mut rt, &plugin, &inputs)?;
    let err_ref = matmul::max_error(&f, &matmul::reference(&inputs));
    let err_e2 = matmul::max_error(&f, &vec![matmul::EXPECTED; f.len()]);
    println!("matmul ({})", cli::describe(&plugin));
    cli.common.print_run(&report);
    cli.common.write_profile(&report)?;
    println!(
        "  {}×{} elements: max error {err_ref:.3e} vs reference, {err_e2:.3e} vs e² (tolerance {:.0e})",
        matmul::SIZE,
        matmul::SIZE,
        matmul::TOLERANCE
    );
    let pass = err_ref <= matmul::TOLERANCE && err_e2 <= matmul::TOLERANCE;
    println!("  {}", if pass { "PASS" } else { "FAILED" });
    Ok(pass)
}
