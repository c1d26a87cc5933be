//! paged_attention: decode attention over a paged KV cache (per sequence,
//! head tile and KV block: QK → softmax prepare → PV → online update, the
//! updates chained), built by an orchestration plugin (C by default,
//! `--orch rust` for the Rust one, `--orch reference` for
//! `examples/orch_ref/paged_attention.cpp`, written for the reference
//! runtime), or by your own (`--plugin PATH --entry SYMBOL [--abi
//! native|reference]`), and checked against an f64 reference. Every run is
//! traced: each task of the built graph must run exactly once, after its
//! predecessors.
//!
//! The default inputs follow the reference runtime's: f16, one KV head,
//! contexts of whole blocks. `--kv-heads N`, `--dtype bf16` and
//! `--partial-blocks` (contexts ending inside a block) need the hostgraph
//! plugins, which pass the kernels' optional words.
//!
//! `cargo run --release --example paged_attention -- [--platform a2a3|a5] [--block-dim N] [--threads N] [--trace FILE] [--svg FILE] [--orch c|rust|reference] [--plugin PATH --entry SYMBOL [--abi native|reference]] [--dtype f16|bf16] [--batch N] [--heads N] [--kv-heads N] [--head-dim N] [--block-size N] [--max-context N] [--partial-blocks] [--context-lens L,..]`
//!
//! Sizes are bounded so that a mistyped one is refused by flag, not
//! truncated or allocated: contexts and blocks are i32, and the shape may
//! make at most 2^24 tasks and need at most 8 GiB of host and device memory
//! (`Config::validate`).
//!
//! `--scale` runs the reference runtime's large size instead: batch 256,
//! context 8,100, block 128, one head tile → 65,536 tasks (head dim 16,
//! 2 heads, KV blocks shared from a pool of 512), and prints ns/task.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hostgraph_examples::paged_attention::{
    self as pa, BlockPool, Config, Kernels, Precision, Problem, Round,
};
use hostgraph_examples::plugins::{Abi, Orchestration};
use hostgraph_examples::{
    cli::{self, Checked, Common, Invalid, OwnPlugin},
    plugins,
};

/// The example's own orchestration plugins.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Orch {
    /// The C plugin, `examples/orch/paged_attention.c`.
    C,
    /// The Rust plugin, `examples/orch_rs/paged_attention`.
    Rust,
    /// Written for the reference runtime: `examples/orch_ref/paged_attention.cpp`.
    Reference,
}

/// Runs paged_attention on the threaded simulator and checks it against
/// the reference.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Which of the example's orchestration plugins builds the graph.
    #[arg(long, value_enum, default_value = "c")]
    orch: Orch,
    #[command(flatten)]
    own: OwnPlugin,
    /// Run the 65,536-task scale case (ignores the shape options).
    #[arg(long)]
    scale: bool,
    /// Element type of query, keys and values.
    #[arg(long, value_enum, default_value = "f16")]
    dtype: Precision,
    /// Sequences (ragged context lengths up to --max-context).
    #[arg(long, default_value_t = 4, value_parser = size(pa::MAX_TASKS / 4))]
    batch: usize,
    /// Query heads.
    #[arg(long, default_value_t = 16, value_parser = size(u64::MAX))]
    heads: usize,
    /// Key/value heads.
    #[arg(long, default_value_t = 1, value_parser = size(u64::MAX))]
    kv_heads: usize,
    /// Elements per head.
    #[arg(long, default_value_t = 64, value_parser = size(u64::MAX))]
    head_dim: usize,
    /// Tokens per KV block.
    #[arg(long, default_value_t = 32, value_parser = size(i32::MAX as u64))]
    block_size: usize,
    /// Longest generated context.
    #[arg(long, default_value_t = 300, value_parser = size(i32::MAX as u64))]
    max_context: usize,
    /// Keep generated contexts that end inside a block (by default they
    /// are rounded up to whole blocks, as the reference's kernels need).
    #[arg(long)]
    partial_blocks: bool,
    /// Explicit context lengths (overrides --batch, --max-context and
    /// --partial-blocks).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(i32).range(1..))]
    context_lens: Option<Vec<i32>>,
}

/// The value parser of sizes: 1 to `max` (each sequence makes at least
/// 4 tasks; block and context lengths are i32; the rest is bounded by
/// [`Config::validate`]'s task and byte limits).
fn size(max: u64) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |text| match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) if n <= max => usize::try_from(n).map_err(|e| e.to_string()),
        Ok(_) => Err(format!("must be at most {max}")),
        Err(e) => Err(e.to_string()),
    }
}

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        self.common.check()?;
        self.config().and_then(|c| c.validate()).map_err(|e| {
            let (flag, value) = self.option_of(e.field);
            Invalid {
                flag,
                value,
                why: e.why,
            }
        })
    }
}

impl Cli {
    /// The option that sets `field` of the [`Config`], and its value (for
    /// the sizes together, `shape`, all of them).
    fn option_of(&self, field: &str) -> (&'static str, String) {
        match field {
            "heads" => ("--heads", self.heads.to_string()),
            "kv_heads" => ("--kv-heads", self.kv_heads.to_string()),
            "head_dim" => ("--head-dim", self.head_dim.to_string()),
            "block_size" => ("--block-size", self.block_size.to_string()),
            "context_lens" => match &self.context_lens {
                Some(lens) => ("--context-lens", format!("{lens:?}")),
                None => ("--max-context", self.max_context.to_string()),
            },
            _ => ("the shape", self.shape()),
        }
    }

    /// The shape options as given.
    fn shape(&self) -> String {
        let contexts = match &self.context_lens {
            Some(lens) => format!("--context-lens {lens:?}"),
            None => format!("--max-context {}", self.max_context),
        };
        format!(
            "--batch {} --heads {} --kv-heads {} --head-dim {} --block-size {} {contexts}",
            self.batch, self.heads, self.kv_heads, self.head_dim, self.block_size
        )
    }

    /// The problem the options describe; an error (naming the field) when
    /// rounding the generated contexts up to whole blocks passes `i32`.
    fn config(&self) -> Result<Config, pa::BadConfig> {
        if self.scale {
            return Ok(Config::scaled(256, 8100, self.dtype));
        }
        let config = Config {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            block_size: self.block_size,
            context_lens: pa::ragged_context_lens(self.batch, self.block_size, self.max_context),
            pool: BlockPool::Distinct,
            precision: self.dtype,
            seed: 0x5eed,
        };
        match &self.context_lens {
            Some(lens) => Ok(Config {
                context_lens: lens.clone(),
                ..config
            }),
            None if self.partial_blocks => Ok(config),
            None => config.whole_blocks(),
        }
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    cli::exit_code("paged_attention", run(&cli))
}

fn run(cli: &Cli) -> Result<bool, Box<dyn std::error::Error>> {
    let config = cli.config()?;
    let plugin = cli.own.or_own(|| {
        Ok(match cli.orch {
            Orch::C => plugins::load_c("paged_attention")?.into(),
            Orch::Rust => plugins::load_rust("paged_attention")?.into(),
            Orch::Reference => {
                plugins::load_ref("paged_attention", "build_paged_attention_graph")?.into()
            }
        })
    })?;
    println!("paged_attention ({})", cli::describe(&plugin));
    if let (Abi::Reference, Some(why)) = (plugin.abi(), config.reference_limits()) {
        println!("  note: beyond what the reference's kernel words express: {why}");
    }
    let mut rt = cli.common.runtime()?;
    let problem = Problem::generate(config);
    let round = pa::run_round(&mut rt, &plugin, &problem, Kernels::Traced)?;
    let err = pa::max_abs_error(&round.out, &pa::reference(&problem));
    print_summary(cli, &problem.config, &round);
    cli.common.write_profile(&round.report)?;
    Ok(verdict(&problem.config, &round, err))
}

fn print_summary(cli: &Cli, c: &Config, round: &Round) {
    let r = &round.report;
    println!(
        "  batch {}  heads {} (kv {}, tile {})  head dim {}  block {}  {}  context {}",
        c.batch(),
        c.heads,
        c.kv_heads,
        c.head_tile(),
        c.head_dim,
        c.block_size,
        c.precision.dtype(),
        context_summary(&c.context_lens)
    );
    cli.common.print_run(r);
}

/// The context lengths, or their range when there are many.
fn context_summary(lens: &[i32]) -> String {
    if lens.len() <= 8 {
        return format!("{lens:?}");
    }
    let (min, max) = (lens.iter().min(), lens.iter().max());
    format!(
        "{} sequences, {}..={}",
        lens.len(),
        min.unwrap(),
        max.unwrap()
    )
}

/// Prints the checks; true when all pass.
fn verdict(c: &Config, round: &Round, err: f64) -> bool {
    let r = &round.report;
    let trace = round.trace.as_ref().expect("traced round");
    let count_ok = r.tasks == c.task_count() && r.aic_tasks == r.aiv_tasks;
    println!(
        "  task count {} (want 4 × Σ ceil(ctx/block) × head tiles = {}): {}",
        r.tasks,
        c.task_count(),
        pass(count_ok)
    );
    println!(
        "  exactly once {}/{}, violations {}: {}",
        trace.exactly_once,
        trace.tasks,
        trace.order_violations,
        pass(trace.ok())
    );
    if let Some(problem) = &trace.first_problem {
        println!("    first problem: {problem}");
    }
    let err_ok = err <= pa::TOLERANCE;
    println!(
        "  max |out - reference| {err:.3e} (tolerance {:.0e}): {}",
        pa::TOLERANCE,
        pass(err_ok)
    );
    count_ok && trace.ok() && err_ok
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAILED" }
}
