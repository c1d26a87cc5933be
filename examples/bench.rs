//! bench: dispatch overhead of the runtime on synthetic graphs of empty
//! kernels, on the inline and the threaded simulator, as one table (or as
//! JSON or CSV, and as a chart).
//!
//! `cargo run --release --example bench -- [--shape all|independent|chain|layered|binary-tree|wavefront[,…]] [--mode inline|threaded|all] [--matrix | --block-dim N[,N…] --threads N[,N…]] [--tasks N] [--rounds R] [--runners N] [--system-slices] [--contend] [--platform a2a3|a5] [--json | --csv] [--svg FILE] [--trace FILE]`
//!
//! The whole table (every shape, both simulators, the standard grid of
//! (block dim, threads) = (1, 1), (3, 3), (24, 4)):
//!
//! `cargo run --release --example bench -- --shape all --mode all --matrix`
//!
//! Every row gets a fresh runtime, warmed up on a small graph (so thread
//! start-up and one-time allocations stay out of the figures); the shape's
//! graph is built once, run once (the first run seals it), then run `R`
//! more times: the table shows start-up, execute and wall as medians over
//! those `R` runs; `--json` gives each one's min, median and max, with the
//! machine (CPU model, CPUs, load average at the start).
//!
//! bytes/task is measured with a counting global allocator (below): the
//! live heap bytes (bytes requested from the allocator and not yet freed,
//! by any thread) after the first run minus those before the build — the
//! ECS graph store and its lists, the sealed view and the cores'
//! entities (a built graph holds no staging memory) — divided by the tasks. Allocator overhead and
//! fragmentation are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, ValueEnum};
use hostgraph::cost::CostModel;
use hostgraph::sched::BuiltIn;
use hostgraph::{InlineSim, Platform, Runtime, RuntimeConfig};
use hostgraph_examples::bench::{Machine, Results, Row, Sim, measure_row};
use hostgraph_examples::cli::{
    self, Checked, Invalid, check_config, check_outputs, once_each, per_platform, platform_parser,
    policy_parser, write_trace,
};
use hostgraph_examples::synthetic::Shape;

/// Counts the live heap bytes of the process (see the module docs).
struct CountingAlloc;

/// Bytes allocated and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The (block dim, threads) grid of `--matrix`.
const MATRIX: [(u32, u32); 3] = [(1, 1), (3, 3), (24, 4)];

/// A `--shape` value: one shape, or `all` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShapeArg {
    /// Every shape.
    All,
    /// This one.
    One(Shape),
}

/// The `--shape` value parser: `all` or a shape's name, each listed (with
/// its description) in `--help` and in the error for any other value.
fn shape_parser() -> impl TypedValueParser<Value = ShapeArg> {
    let all = PossibleValue::new("all").help("Every shape");
    let shapes = Shape::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value);
    PossibleValuesParser::new(std::iter::once(all).chain(shapes)).map(|name| {
        Shape::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .map_or(ShapeArg::All, ShapeArg::One)
    })
}

/// Which simulator runs the graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Scheduler threads and cores stepped in turn on one thread.
    Inline,
    /// Scheduler threads on OS threads, cores stepped by sim runner threads.
    Threaded,
    /// Both.
    All,
}

impl Mode {
    fn sims(self) -> &'static [Sim] {
        match self {
            Mode::Inline => &[Sim::Inline],
            Mode::Threaded => &[Sim::Threaded],
            Mode::All => &[Sim::Inline, Sim::Threaded],
        }
    }
}

/// Runs synthetic graphs of empty kernels and prints the per-task cost of
/// building and dispatching them: one row per shape × mode × (block dim,
/// threads).
#[derive(Parser, Debug)]
struct Cli {
    /// Chip to simulate.
    #[arg(long, default_value = "a2a3", value_parser = platform_parser())]
    platform: Platform,
    /// Blocks to launch (each 1 AIC + 2 AIV); a comma-separated list runs
    /// each (crossed with --threads).
    #[arg(long, value_delimiter = ',', default_value = "3",
          help = per_platform("Blocks to launch (each 1 AIC + 2 AIV); a comma-separated list runs each (crossed with --threads)", |s| s.max_block_dim))]
    block_dim: Vec<u32>,
    /// Scheduler (AICPU) threads; a comma-separated list runs each.
    #[arg(long, value_delimiter = ',', default_value = "3",
          help = per_platform("Scheduler (AICPU) threads; a comma-separated list runs each", |s| s.max_scheduler_threads))]
    threads: Vec<u32>,
    /// Run the standard grid (block dim, threads) = (1, 1), (3, 3), (24, 4)
    /// instead of --block-dim × --threads.
    #[arg(long, conflicts_with_all = ["block_dim", "threads"])]
    matrix: bool,
    /// Dispatch policies: one or more (comma-separated), each a row.
    #[arg(long, value_delimiter = ',', default_value = "round-robin", value_parser = policy_parser())]
    policy: Vec<BuiltIn>,
    /// Publish per-task results (a TaskResult component per task after
    /// every run), to see what that costs.
    #[arg(long)]
    publish: bool,
    /// Run every row against a competing busy loop on every CPU (threads
    /// this program starts and stops), to see how the runtime behaves on a
    /// busy machine.
    #[arg(long)]
    contend: bool,
    /// Simulator: inline, threaded or all.
    #[arg(long, value_enum, default_value = "all")]
    mode: Mode,
    /// Graph shape: all, or one or more (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "all", value_parser = shape_parser())]
    shape: Vec<ShapeArg>,
    /// Tasks per graph (binary-tree and wavefront round up to a full tree
    /// or square grid). Default per shape: 100,000 independent, a chain of
    /// 100,000, 100 layers × 1,000, binary tree of depth 17 (131,071),
    /// wavefront 300 × 300. At most 33,554,432 (2^25: a graph of ~110
    /// bytes per task sealed, and its staging while built, must fit a
    /// machine's memory).
    #[arg(long, value_parser = task_count)]
    tasks: Option<usize>,
    /// Measured runs of each built graph (after the first, sealing run);
    /// the figures are medians over them.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Threaded simulator: runner threads stepping the cores (0: one per
    /// CPU not taken by a scheduler thread, at least one).
    #[arg(long, default_value_t = 0)]
    runners: usize,
    /// Threaded simulator: leave every thread's time slice as the system
    /// set it, instead of asking Linux for short ones (`SimOptions::
    /// short_slices`), to compare the two, e.g. with --contend.
    #[arg(long)]
    system_slices: bool,
    /// Profile one more run of the first row and write it to FILE as
    /// Chrome / Perfetto trace JSON.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Print the whole result as one JSON document on stdout instead of the
    /// table: every row with min / median / max, and the machine.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the rows as CSV on stdout instead of the table.
    #[arg(long)]
    csv: bool,
    /// Draw the results to FILE as an SVG chart: execute ns/task per shape,
    /// a bar per mode × (block dim, threads).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        once_each("--block-dim", &self.block_dim, u32::to_string)?;
        once_each("--threads", &self.threads, u32::to_string)?;
        once_each("--policy", &self.policy, |p| p.name().to_string())?;
        if !self.shape.iter().any(|s| matches!(s, ShapeArg::All)) {
            once_each("--shape", &self.shape, |s| match s {
                ShapeArg::One(shape) => shape.to_string(),
                ShapeArg::All => "all".into(),
            })?;
        }
        for (block_dim, threads) in self.configs() {
            check_config(self.platform, block_dim, threads)?;
        }
        let cores = self.platform.spec().physical_cores() as usize;
        if self.runners > cores {
            return Err(Invalid {
                flag: "--runners",
                value: self.runners.to_string(),
                why: format!(
                    "{} has {cores} cores: at most one runner each",
                    self.platform
                ),
            });
        }
        // The tree and the grid round the count up: the graph built must fit.
        if let Some(n) = self.tasks
            && let Some(shape) = self
                .shapes()
                .into_iter()
                .find(|s| s.task_count(n) > MAX_TASKS)
        {
            return Err(Invalid {
                flag: "--tasks",
                value: n.to_string(),
                why: format!(
                    "{shape} rounds it up to {} tasks; the bench builds at most {MAX_TASKS}",
                    shape.task_count(n)
                ),
            });
        }
        check_outputs(&[
            ("--trace", self.trace.as_deref()),
            ("--svg", self.svg.as_deref()),
        ])
    }
}

impl Cli {
    /// The (block dim, threads) pairs to run.
    fn configs(&self) -> Vec<(u32, u32)> {
        if self.matrix {
            return MATRIX.to_vec();
        }
        self.block_dim
            .iter()
            .flat_map(|&b| self.threads.iter().map(move |&t| (b, t)))
            .collect()
    }

    /// The shapes to run, in the order given (every shape once for `all`).
    fn shapes(&self) -> Vec<Shape> {
        if self.shape.iter().any(|s| matches!(s, ShapeArg::All)) {
            return Shape::ALL.to_vec();
        }
        self.shape
            .iter()
            .filter_map(|s| match s {
                ShapeArg::One(shape) => Some(*shape),
                ShapeArg::All => None,
            })
            .collect()
    }

    /// Whether stdout carries JSON or CSV (notes then go to stderr).
    fn machine_readable(&self) -> bool {
        self.json || self.csv
    }
}

/// The most tasks a bench graph may have: 2^25, memory for ~110 bytes per
/// task sealed and its staging while built (the task ids the ABI reserves
/// are far above).
const MAX_TASKS: usize = 1 << 25;

/// `--tasks`: at most [`MAX_TASKS`], refused before anything is allocated
/// for it.
fn task_count(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n > MAX_TASKS {
        return Err(format!("the bench builds at most {MAX_TASKS} tasks"));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Busy loops, one per CPU, until dropped.
struct Contenders {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Contenders {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cpus)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        eprintln!("bench: {cpus} busy loops competing for the CPUs (--contend)");
        Contenders { stop, threads }
    }
}

impl Drop for Contenders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let configs = cli.configs();
    let machine = Machine::read();
    if machine.overloaded() {
        eprintln!(
            "bench: warning: load average {} exceeds the {} CPUs: threaded figures will be inflated",
            machine.load_text(),
            machine.cpus
        );
    }
    if !cli.machine_readable() {
        print_header(cli, &machine);
    }
    let _contenders = cli.contend.then(Contenders::start);
    let mut results = Results {
        machine,
        platform: cli.platform,
        rounds: cli.rounds,
        rows: vec![],
    };
    let mut traced = None;
    for shape in cli.shapes() {
        let n = cli.tasks.unwrap_or(shape.default_tasks());
        for &sim in cli.mode.sims() {
            for &(block_dim, threads) in &configs {
                for &policy in &cli.policy {
                    let trace = cli.trace.is_some() && traced.is_none();
                    let cfg = config(cli, block_dim, threads);
                    let (row, report) = match sim {
                        Sim::Inline => {
                            let mut rt = Runtime::with_backend(cfg, InlineSim::new(cfg.platform))?;
                            rt.set_builtin_policy(policy, &CostModel::default());
                            measure_row(rt, sim, shape, n, cli.rounds, trace, live_bytes)?
                        }
                        Sim::Threaded => {
                            let mut rt = Runtime::new(cfg)?;
                            rt.set_builtin_policy(policy, &CostModel::default());
                            let runners = rt.backend().runner_count();
                            let (row, report) =
                                measure_row(rt, sim, shape, n, cli.rounds, trace, live_bytes)?;
                            (
                                Row {
                                    runners: Some(runners),
                                    ..row
                                },
                                report,
                            )
                        }
                    };
                    if let Some(report) = report {
                        traced = Some((report, shape, sim, block_dim, threads));
                    }
                    if cli.machine_readable() {
                        eprintln!(
                            "bench: {shape} {} {policy} ({block_dim}, {threads}) done",
                            sim.name()
                        );
                    } else {
                        print_row(&row);
                    }
                    results.rows.push(row);
                }
            }
        }
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&results.to_json())?);
    } else if cli.csv {
        print!("{}", results.to_csv());
    } else {
        print_footer(cli, &results);
    }
    if let Some(path) = &cli.svg {
        std::fs::write(path, results.chart_svg()?)
            .map_err(|e| format!("writing chart {}: {e}", path.display()))?;
        note(cli, &format!("chart: {}", path.display()));
    }
    if let (Some(path), Some((report, shape, sim, block_dim, threads))) = (&cli.trace, traced) {
        let what = format!(
            "one more run of {shape} {} at block dim {block_dim}, {threads} threads",
            sim.name()
        );
        if cli.machine_readable() {
            let profile = report.profile.as_ref().expect("the traced run is profiled");
            profile
                .write_chrome_trace(path)
                .map_err(|e| e.to_string())?;
            eprintln!("bench: traced {what}: {}", path.display());
        } else {
            println!();
            println!("traced: {what}");
            write_trace(path, &report)?;
        }
    }
    Ok(())
}

/// Prints `line` where it does not mix with JSON or CSV output.
fn note(cli: &Cli, line: &str) {
    if cli.machine_readable() {
        eprintln!("bench: {line}");
    } else {
        println!("{line}");
    }
}

fn config(cli: &Cli, block_dim: u32, threads: u32) -> RuntimeConfig {
    let mut config = RuntimeConfig {
        platform: cli.platform,
        block_dim,
        threads,
        publish: cli.publish,
        ..Default::default()
    };
    config.sim.runners = cli.runners;
    config.sim.short_slices = !cli.system_slices;
    config
}

fn print_header(cli: &Cli, machine: &Machine) {
    println!(
        "hostgraph bench: {} CPUs ({}), load average {}; platform {}; empty kernels; \
         {} measured runs per row after one sealing run",
        machine.cpus,
        machine.cpu_model,
        machine.load_text(),
        cli.platform,
        cli.rounds
    );
    println!();
    println!(
        "{:<11} {:<8} {:<13} {:>4} {:>4} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>6}",
        "shape",
        "mode",
        "policy",
        "bdim",
        "thr",
        "tasks",
        "build",
        "rebuild",
        "seal",
        "execute",
        "wall",
        "tasks/s",
        "start-up",
        "bytes",
    );
    println!(
        "{:<11} {:<8} {:<13} {:>4} {:>4} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>6}",
        "",
        "",
        "",
        "",
        "",
        "",
        "ns/task",
        "ns/task",
        "ns/task",
        "ns/task",
        "ns/task",
        "(execute)",
        "µs",
        "/task",
    );
}

fn print_footer(cli: &Cli, results: &Results) {
    let mut runners: Vec<(u32, usize)> = results
        .rows
        .iter()
        .filter_map(|r| Some((r.threads, r.runners?)))
        .collect();
    runners.sort_unstable();
    runners.dedup();
    println!();
    let notes = [
        "build      graph construction through GraphBuilder (Rust API) in a fresh runtime, its memory touched for the first time".to_string(),
        "rebuild    the same build again after a discard (graph store grown, staging reserved from the last build)".to_string(),
        "seal       extra time of the first run: validation, dense view".to_string(),
        format!("execute    first dispatch to last completion; wall: whole run incl. start-up and shutdown; medians over {} runs", cli.rounds),
        "tasks/s    tasks / execute".to_string(),
        "start-up   launch and start-up handshake of every core (median)".to_string(),
        "bytes      live heap bytes after the first run minus before the build (graph store and lists, sealed view, core entities), per task".to_string(),
    ];
    for n in notes {
        println!("{n}");
    }
    if !runners.is_empty() {
        let list: Vec<String> = runners
            .iter()
            .map(|(t, r)| format!("{r} with {t} scheduler thread(s)"))
            .collect();
        println!(
            "threaded: simulator runner threads stepping the cores: {}",
            list.join(", ")
        );
    }
}

fn print_row(r: &Row) {
    // Per-task figures of an empty graph would be meaningless: "-".
    let shown = |x: Option<f64>, f: fn(f64) -> String| x.map_or("-".to_string(), f);
    let per_task = |d: Duration| shown(r.per_task(d), |x| format!("{x:.0}"));
    println!(
        "{:<11} {:<8} {:<13} {:>4} {:>4} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9.0} {:>6}",
        r.shape.name(),
        r.sim.name(),
        r.policy,
        r.block_dim,
        r.threads,
        r.tasks,
        per_task(r.build),
        per_task(r.rebuild),
        per_task(r.seal),
        per_task(r.execute.median),
        per_task(r.wall.median),
        shown(r.tasks_per_s(), si),
        r.startup.median.as_secs_f64() * 1e6,
        shown(r.bytes_per_task(), |x| format!("{x:.0}")),
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
