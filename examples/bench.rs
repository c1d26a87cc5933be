//! bench: dispatch overhead of the runtime on synthetic graphs of empty
//! kernels, on the threaded simulator.
//!
//! `cargo run --release --example bench -- [--shape all|independent|chain|layered|binary-tree|wavefront[,…]] [--tasks N] [--rounds R] [--runners N] [--platform a2a3|a5] [--block-dim N] [--threads N]`
//!
//! Each shape's graph is built once and run `R` times; per shape one row:
//! build time, sealing time (first run only), and medians over the rounds
//! of start-up, steady-state execution per task and whole run per task.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hostgraph::{KernelFn, RunReport, Runtime};
use hostgraph_examples::cli::Common;
use hostgraph_examples::synthetic::{self, Shape};

/// func_id the empty kernel is registered under.
const FUNC_EMPTY: i32 = 0;

/// The shapes to run: `all` or a comma-separated list.
#[derive(Debug, Clone)]
struct Shapes(Vec<Shape>);

fn parse_shapes(s: &str) -> Result<Shapes, String> {
    if s == "all" {
        return Ok(Shapes(Shape::ALL.to_vec()));
    }
    s.split(',')
        .map(|name| {
            Shape::from_str(name.trim(), true).map_err(|_| {
                let known: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown shape {name:?}; expected all, or {}",
                    known.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Shapes)
}

/// Runs synthetic graphs of empty kernels and prints the per-task cost of
/// building and dispatching them.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Graph shape: all, or one or more (comma-separated) of independent,
    /// chain, layered, binary-tree, wavefront.
    #[arg(long, default_value = "all", value_parser = parse_shapes)]
    shape: Shapes,
    /// Tasks per graph (binary-tree and wavefront round up to a full tree
    /// or square grid). Default: 100000, but 10000 for chain, which has
    /// one task in flight at a time and so measures latency, not throughput.
    #[arg(long)]
    tasks: Option<usize>,
    /// Runs of each built graph; the figures are medians over them.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Simulator runner threads stepping the cores (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    runners: usize,
}

/// One table row.
struct Row {
    shape: Shape,
    tasks: usize,
    edges: usize,
    build: Duration,
    seal: Duration,
    startup: Duration,
    execute: Duration,
    wall: Duration,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), hostgraph::Error> {
    let mut config = cli.common.config();
    config.sim.runners = cli.runners;
    let mut rt = Runtime::new(config)?;
    let c = &cli.common;
    println!(
        "hostgraph bench: {} block dim {} ({} AIC + {} AIV cores), {} scheduler threads, {} sim runners, {} rounds, empty kernels",
        c.platform,
        c.block_dim,
        c.block_dim,
        2 * c.block_dim,
        c.threads,
        rt.executor().runner_count(),
        cli.rounds
    );
    println!();
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "shape",
        "tasks",
        "edges",
        "build ms",
        "build",
        "seal ms",
        "start-up",
        "execute",
        "wall",
        "tasks/s",
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "", "", "", "", "ns/task", "", "µs", "ns/task", "ns/task", "(execute)",
    );
    for &shape in &cli.shape.0 {
        let n = cli.tasks.unwrap_or(match shape {
            Shape::Chain => 10_000,
            _ => 100_000,
        });
        let row = bench_shape(&mut rt, shape, n, cli.rounds)?;
        print_row(&row);
    }
    println!();
    println!(
        "build: graph construction through GraphBuilder; seal: extra time of the first run (validation, dense view); \
         start-up, execute (first dispatch to last completion), wall (whole run incl. start-up and shutdown): medians over rounds"
    );
    Ok(())
}

/// Builds `shape` for `n` tasks once, runs it `rounds` times, finalizes.
fn bench_shape(
    rt: &mut Runtime,
    shape: Shape,
    n: usize,
    rounds: u32,
) -> Result<Row, hostgraph::Error> {
    rt.register_kernel(FUNC_EMPTY, KernelFn::rust(synthetic::empty));
    let t = Instant::now();
    let mut tasks = 0;
    rt.build(|g| {
        tasks = synthetic::build(g, shape, n, FUNC_EMPTY)?;
        Ok(())
    })?;
    let build = t.elapsed();
    let mut seal = Duration::ZERO;
    let mut reports: Vec<RunReport> = Vec::with_capacity(rounds as usize);
    for round in 0..rounds {
        let t = Instant::now();
        let report = match rt.run() {
            Ok(r) => r,
            Err(e) => {
                rt.discard();
                return Err(e);
            }
        };
        if round == 0 {
            seal = t.elapsed().saturating_sub(report.wall);
        }
        assert_eq!(report.tasks, tasks, "{shape}: every task ran");
        reports.push(report);
    }
    rt.finalize()?;
    Ok(Row {
        shape,
        tasks,
        edges: shape.edge_count(n),
        build,
        seal,
        startup: median(reports.iter().map(|r| r.startup)),
        execute: median(reports.iter().map(|r| r.execute)),
        wall: median(reports.iter().map(|r| r.wall)),
    })
}

/// Median of a non-empty set of durations (the upper one of an even count).
fn median(it: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = it.collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn print_row(r: &Row) {
    // Per-task figures of an empty graph would be meaningless: "-".
    let per_task = |d: Duration| match r.tasks {
        0 => "-".to_string(),
        n => format!("{:.0}", d.as_nanos() as f64 / n as f64),
    };
    let rate = match r.tasks {
        0 => "-".to_string(),
        n => si(n as f64 / r.execute.as_secs_f64()),
    };
    println!(
        "{:<12} {:>9} {:>9} {:>9.1} {:>8} {:>8.1} {:>9.0} {:>9} {:>9} {:>10}",
        r.shape.name(),
        r.tasks,
        r.edges,
        r.build.as_secs_f64() * 1e3,
        per_task(r.build),
        r.seal.as_secs_f64() * 1e3,
        r.startup.as_secs_f64() * 1e6,
        per_task(r.execute),
        per_task(r.wall),
        rate,
    );
}

/// `x` with a k / M suffix.
fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
