//! vector_example: f = (a + b + 1) * (a + b + 2) over 16,384 f32 with a = 2,
//! b = 3 (so f = 42), as four AIV tasks in a diamond, built by an
//! orchestration plugin (C by default, `--orch rust` for the Rust one,
//! `--orch reference` for `examples/orch_ref/vector_example.cpp`, written for
//! the reference runtime), or by your own (`--plugin PATH --entry SYMBOL
//! [--abi native|reference]`).
//!
//! `cargo run --release --example vector_example -- [--platform a2a3|a5] [--block-dim N] [--threads N] [--trace FILE] [--svg FILE] [--orch c|rust|reference] [--plugin PATH --entry SYMBOL [--abi native|reference]]`

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hostgraph_examples::{
    cli::{self, Checked, Common, Invalid, OwnPlugin},
    plugins, vector,
};

/// The example's own orchestration plugins.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Orch {
    /// The C plugin, `examples/orch/vector_example.c`.
    C,
    /// The Rust plugin, `examples/orch_rs/vector`.
    Rust,
    /// Written for the reference runtime: `examples/orch_ref/vector_example.cpp`.
    Reference,
}

/// Runs vector_example on the threaded simulator and checks every element.
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

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        self.common.check()
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    cli::exit_code("vector_example", run(&cli))
}

fn run(cli: &Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let plugin = cli.own.or_own(|| {
        Ok(match cli.orch {
            Orch::C => plugins::load_c("vector_example")?.into(),
            Orch::Rust => plugins::load_rust("vector")?.into(),
            Orch::Reference => plugins::load_ref("vector_example", "build_example_graph")?.into(),
        })
    })?;
    let mut rt = cli.common.runtime()?;
    let a = vec![2.0f32; vector::ELEMENTS];
    let b = vec![3.0f32; vector::ELEMENTS];
    let (f, report) = vector::run_round(&mut rt, &plugin, &a, &b)?;
    let want = vector::reference(&a, &b);
    let bad: Vec<usize> = (0..f.len())
        .filter(|&i| f[i] != want[i] || f[i] != 42.0)
        .collect();
    println!("vector_example ({})", cli::describe(&plugin));
    cli.common.print_run(&report);
    cli.common.write_profile(&report)?;
    if let Some(&i) = bad.first() {
        println!(
            "  FAILED: {} of {} elements wrong; f[{i}] = {} (want {})",
            bad.len(),
            f.len(),
            f[i],
            want[i]
        );
        return Ok(false);
    }
    println!("  all {} elements = 42: PASS", f.len());
    Ok(true)
}
