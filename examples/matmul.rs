//! matmul: F = exp(sqrt(ln(A))·W1 + sqrt(ln(A))·W2) on 128×128 matrices with
//! A = e⁴ (f16) and W1 = W2 = 1/256 (f16), so F = e² ≈ 7.389 — a diamond of
//! one AIV task, two AIC matrix products and one AIV task, built by the C
//! orchestration plugin `examples/orch/matmul.c`.
//!
//! `cargo run --release --example matmul -- [--platform a2a3|a5] [--block-dim N] [--threads N] [--trace FILE] [--svg FILE]`

use std::process::ExitCode;

use clap::Parser;
use hostgraph::Runtime;
use hostgraph_examples::{
    cli::{self, Common},
    matmul, plugins,
};

/// Runs the matmul example on the threaded simulator and checks F against
/// an independent f64 reference.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::exit_code("matmul", run(&cli))
}

fn run(cli: &Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let plugin = plugins::load_c("matmul")?;
    let mut rt = Runtime::new(cli.common.config())?;
    let inputs = matmul::Inputs::new();
    let (f, report) = matmul::run_round(&mut rt, &plugin, &inputs)?;
    let err_ref = matmul::max_error(&f, &matmul::reference(&inputs));
    let err_e2 = matmul::max_error(&f, &vec![matmul::EXPECTED; f.len()]);
    println!("matmul (C plugin {})", plugin.path().display());
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
