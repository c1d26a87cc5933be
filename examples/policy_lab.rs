//! policy_lab: every dispatch policy × graph × chip in virtual time, as
//! one table (makespan, ratio to the lower bound, core utilisation,
//! scheduler overhead), the winners, an SVG chart of it and an SVG Gantt
//! chart of one run; with `--reality`, the model checked against threaded
//! runs of kernels of known duration.
//!
//! `cargo run --release --example policy_lab -- [--graphs LIST] [--chips LIST] [--policies LIST] [--seeds N] [--quick] [--svg FILE] [--gantt FILE [--gantt-run GRAPH/CHIP/POLICY]] [--json FILE] [--reality]`
//!
//! Everything but `--reality` is simulated: the figures are the same on
//! any machine, and the wall time is only how long the simulation took.
//! See `hostgraph_examples::lab` for the graphs' kernel durations and the
//! chips.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use hostgraph::sched::BuiltIn;
use hostgraph::sim::Latencies;
use hostgraph_examples::chart::{self, Bar};
use hostgraph_examples::cli::{self, Checked, Invalid, check_outputs, once_each, policy_parser};
use hostgraph_examples::lab::{self, Case, Chip, Graph, Size, reality};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Every dispatch policy on the examples' graphs and three chips, in virtual time")]
struct Cli {
    /// Graphs to run (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_parser = graph_parser())]
    graphs: Vec<Graph>,
    /// Chips to run on (comma-separated; default: all): b3t3 = a2a3 at 3
    /// blocks and 3 threads, b24t4 = the whole a2a3, b342t16 = 1,026 cores
    /// and 16 threads.
    #[arg(long, value_delimiter = ',', value_parser = chip_parser())]
    chips: Vec<Chip>,
    /// Policies to compare (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_parser = policy_parser())]
    policies: Vec<BuiltIn>,
    /// Runs per case, each with its own draw of every task's duration; the
    /// table shows the run of median makespan, the chart the spread.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=99))]
    seeds: u64,
    /// Small graphs (about 600 tasks; paged-attention 1,024), for a quick look.
    #[arg(long)]
    quick: bool,
    /// Write a chart of the table to FILE (SVG): per chip, per graph, each
    /// policy's lower bound over makespan.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Write a Gantt chart (cores as lanes) of one run to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    gantt: Option<PathBuf>,
    /// The run --gantt draws, as GRAPH/CHIP/POLICY (its first seed).
    #[arg(long, value_name = "GRAPH/CHIP/POLICY", default_value = "bgemm/b3t3/critical-path", value_parser = parse_run, requires = "gantt")]
    gantt_run: (Graph, Chip, BuiltIn),
    /// Write every case's runs to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also check the model against threaded runs whose kernels sleep for
    /// a known time (the five shapes and paged_attention, or those of them
    /// --graphs names; b3t3; the policies --policies names, or all; its own
    /// sizes, --quick or not). Takes wall time, and measures this machine.
    #[arg(long)]
    reality: bool,
}

impl Checked for Cli {
    fn check(&self) -> Result<(), Invalid> {
        once_each("--graphs", &self.graphs, |g| g.name().to_string())?;
        once_each("--chips", &self.chips, |c| c.name.to_string())?;
        once_each("--policies", &self.policies, |p| p.name().to_string())?;
        check_outputs(&[
            ("--svg", self.svg.as_deref()),
            ("--gantt", self.gantt.as_deref()),
            ("--json", self.json.as_deref()),
        ])
    }
}

fn graph_parser() -> impl TypedValueParser<Value = Graph> {
    PossibleValuesParser::new(Graph::ALL.map(Graph::name)).map(|name| {
        name.parse()
            .expect("the parser accepts only the graphs' names")
    })
}

fn chip_parser() -> impl TypedValueParser<Value = Chip> {
    PossibleValuesParser::new(Chip::all().map(|c| c.name)).map(|name| {
        name.parse()
            .expect("the parser accepts only the chips' names")
    })
}

fn parse_run(s: &str) -> Result<(Graph, Chip, BuiltIn), String> {
    let parts: Vec<&str> = s.split('/').collect();
    let [graph, chip, policy] = parts[..] else {
        return Err(format!("'{s}' is not GRAPH/CHIP/POLICY"));
    };
    Ok((graph.parse()?, chip.parse()?, policy.parse()?))
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy_lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let graphs = or_all(&cli.graphs, &Graph::ALL);
    let chips = or_all(&cli.chips, &Chip::all());
    let policies = or_all(&cli.policies, &BuiltIn::ALL);
    let size = if cli.quick { Size::Quick } else { Size::Full };
    let seeds = lab::seeds(cli.seeds);
    let lat = Latencies::A2A3;
    println!(
        "policy lab: virtual time, a2a3 register latencies (COND read {} ns, write {} ns, poll {} ns), {} run(s) per case",
        lat.read_ns, lat.write_ns, lat.poll_ns, cli.seeds
    );
    println!(
        "the table shows each case's run of median makespan; ×bound = makespan / lower bound (1.00 is optimal),"
    );
    println!(
        "util = cores' kernel time / (cores × makespan), sched = scheduler threads' time per task and their busy share\n"
    );
    println!(
        "{:<16} {:>6} {:<8} {:>5}  {:<14} {:>12} {:>7} {:>6} {:>9} {:>7}",
        "graph",
        "tasks",
        "chip",
        "cores",
        "policy",
        "makespan µs",
        "×bound",
        "util%",
        "sched ns",
        "busy%"
    );
    let started = Instant::now();
    let cases = lab::run(&graphs, &chips, &policies, &seeds, size, |c| {
        let r = c.median();
        println!(
            "{:<16} {:>6} {:<8} {:>5}  {:<14} {:>12.1} {:>7.3} {:>6.1} {:>9.0} {:>7.1}",
            c.graph.name(),
            c.tasks,
            c.chip.name,
            c.chip.cores(),
            c.policy.name(),
            r.makespan_ns as f64 / 1e3,
            r.ratio(),
            100.0 * r.utilisation(),
            c.sched_per_task(),
            c.sched_busy(),
        );
    })?;
    let simulated: usize = cases.iter().map(|c| c.tasks * c.runs.len()).sum();
    let wall = started.elapsed();
    println!(
        "\n{simulated} tasks simulated in {:.2} s of wall time ({:.1} M tasks/s, builds included)\n",
        wall.as_secs_f64(),
        simulated as f64 / wall.as_secs_f64() / 1e6
    );
    print_winners(&cases);
    if let Some(path) = &cli.svg {
        std::fs::write(path, chart_svg(&cases)?)?;
        println!("chart: {}", path.display());
    }
    if let Some(path) = &cli.gantt {
        let (graph, chip, policy) = cli.gantt_run;
        let report = lab::profiled(graph, chip, policy, seeds[0], size)?;
        let profile = report.profile.as_ref().expect("profiling was on");
        chart::write_gantt(profile, path)?;
        println!(
            "gantt ({graph} on {} under {policy}, virtual time): {}",
            chip.name,
            path.display()
        );
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&to_json(&cases))?)?;
        println!("json: {}", path.display());
    }
    if cli.reality {
        check_reality(&cli.graphs, &policies)?;
    }
    Ok(())
}

/// `given`, or `all` when nothing was given.
fn or_all<T: Clone>(given: &[T], all: &[T]) -> Vec<T> {
    if given.is_empty() { all } else { given }.to_vec()
}

/// Per (graph, chip), the policies within [`lab::TIE`] of the least
/// median makespan, and by how much the others trail the best.
fn print_winners(cases: &[Case]) {
    println!(
        "best policies per graph and chip (median makespan, ties within {}%; the others' excess over the best):",
        lab::TIE * 100.0
    );
    for (graph, chip, best) in lab::winners(cases) {
        let of = |c: &&Case| c.graph == graph && c.chip == chip;
        let all = cases.iter().filter(of).count();
        let best_ns = cases
            .iter()
            .filter(of)
            .find(|c| c.policy == best[0])
            .expect("a winner's case")
            .median()
            .makespan_ns;
        let names = if best.len() == all {
            "all alike".to_string()
        } else {
            best.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        };
        let mut line = format!("  {:<16} {:<8} {names:<28}", graph.name(), chip.name);
        for c in cases.iter().filter(of) {
            if !best.contains(&c.policy) {
                let excess = 100.0 * (c.median().makespan_ns as f64 / best_ns as f64 - 1.0);
                let _ = write!(line, " {} +{excess:.1}%", c.policy.name());
            }
        }
        println!("{line}");
    }
    println!();
}

/// Per chip a panel, per graph a group, per policy a bar: lower bound over
/// makespan in percent, median run, whiskers from the least to the most
/// efficient run.
fn chart_svg(cases: &[Case]) -> std::io::Result<String> {
    let mut panels: Vec<(String, Vec<Bar>)> = Vec::new();
    for c in cases {
        let caption = format!(
            "{}: {} cores, {} scheduler threads",
            c.chip.name,
            c.chip.cores(),
            c.chip.threads
        );
        if panels.last().is_none_or(|(p, _)| *p != caption) {
            match panels.iter().position(|(p, _)| *p == caption) {
                Some(i) => {
                    let panel = panels.remove(i);
                    panels.push(panel);
                }
                None => panels.push((caption, Vec::new())),
            }
        }
        let (value, min, max) = c.efficiency();
        panels.last_mut().expect("a panel").1.push(Bar {
            group: c.graph.name().to_string(),
            series: c.policy.name().to_string(),
            value,
            range: (min, max),
        });
    }
    chart::grouped_bar_panels_svg(
        "policy lab (virtual time): lower bound / makespan",
        "% of the lower bound",
        &panels,
    )
}

fn to_json(cases: &[Case]) -> serde_json::Value {
    let cases: Vec<_> = cases
        .iter()
        .map(|c| {
            let runs: Vec<_> = c
                .runs
                .iter()
                .map(|r| {
                    json!({
                        "makespan_ns": r.makespan_ns,
                        "lower_bound_ns": r.lower_bound_ns,
                        "critical_path_ns": r.critical_path_ns,
                        "work_ns": r.work_ns,
                        "utilisation": r.utilisation(),
                        "sched_ns": r.sched_ns(),
                    })
                })
                .collect();
            json!({
                "graph": c.graph.name(),
                "tasks": c.tasks,
                "chip": c.chip.name,
                "cores": c.chip.cores(),
                "threads": c.chip.threads,
                "policy": c.policy.name(),
                "runs": runs,
            })
        })
        .collect();
    let Latencies {
        read_ns,
        write_ns,
        poll_ns,
        core_wake_ns,
        thread_wake_ns,
    } = Latencies::A2A3;
    json!({
        "latencies": {
            "read_ns": read_ns,
            "write_ns": write_ns,
            "poll_ns": poll_ns,
            "core_wake_ns": core_wake_ns,
            "thread_wake_ns": thread_wake_ns,
        },
        "cases": cases,
    })
}

/// The model against threaded runs (see `lab::reality`): b3t3, every
/// policy given, the graphs given among the five shapes and
/// paged_attention (all six when none was given), at the check's own
/// sizes; wake-ups calibrated first on a chain.
fn check_reality(given: &[Graph], policies: &[BuiltIn]) -> Result<(), Box<dyn std::error::Error>> {
    let chip: Chip = "b3t3".parse()?;
    let graphs: Vec<Graph> = reality::GRAPHS
        .into_iter()
        .filter(|g| given.is_empty() || given.contains(g))
        .collect();
    let left: Vec<&str> = given
        .iter()
        .filter(|g| !reality::GRAPHS.contains(g))
        .map(|g| g.name())
        .collect();
    if !left.is_empty() {
        println!(
            "\nmodel against reality: not checked for {} (it covers the five shapes and paged-attention)",
            left.join(", ")
        );
    }
    if graphs.is_empty() {
        return Ok(());
    }
    println!(
        "\nmodel against reality: threaded simulator, {} ({} cores, {} threads, one runner per core), kernels sleeping 50-150 µs",
        chip.name,
        chip.cores(),
        chip.threads
    );
    let wakes = reality::calibrate(chip)?;
    println!(
        "wake-ups calibrated on a chain: core {:.1} µs, scheduler thread {:.1} µs",
        wakes.core_wake_ns as f64 / 1e3,
        wakes.thread_wake_ns as f64 / 1e3
    );
    println!(
        "replay = virtual time with every task's measured duration (spinning: no wake-ups; woken: the calibrated ones); calibrated = durations drawn from each kernel's measured ones, woken"
    );
    println!(
        "{:<16} {:>6} {:<14} {:>12} {:>8} {:>9} {:>12} {:>8} {:>12} {:>8}",
        "graph",
        "tasks",
        "policy",
        "measured µs",
        "stretch",
        "spinning",
        "woken µs",
        "error",
        "calibr. µs",
        "error"
    );
    for &graph in &graphs {
        for &policy in policies {
            let c = reality::check(graph, chip, policy, wakes)?;
            println!(
                "{:<16} {:>6} {:<14} {:>12.0} {:>8.3} {:>8.1}% {:>12.0} {:>7.1}% {:>12.0} {:>7.1}%",
                graph.name(),
                c.tasks,
                policy.name(),
                c.measured_ns as f64 / 1e3,
                c.stretch,
                c.spinning_error(),
                c.replay_ns as f64 / 1e3,
                c.replay_error(),
                c.calibrated_ns as f64 / 1e3,
                c.calibrated_error(),
            );
        }
    }
    Ok(())
}
