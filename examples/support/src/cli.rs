//! The command line every example and the bench program share:
//! `--platform a2a3|a5`, `--block-dim N`, `--threads N` (defaults: a2a3, 3, 3),
//! `--trace FILE` (profile the run, write a Chrome / Perfetto trace) and
//! `--svg FILE` (profile the run, draw it as an SVG swimlane chart); and
//! every example's `--plugin PATH --entry SYMBOL [--abi native|reference]`
//! ([`OwnPlugin`]: check an orchestration built elsewhere against the
//! example's kernels, inputs and reference).
//!
//! Programs parse with [`parse`], which installs the logger (`RUST_LOG`)
//! and refuses, before any work, what the parsers alone cannot: a block
//! dim or thread count outside the platform's range, an output file that
//! cannot be written ([`Checked`]).

mod check;

use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use hostgraph::cost::CostModel;
use hostgraph::sched::BuiltIn;
use hostgraph::{Error, Platform, Profile, RunReport, Runtime, RuntimeConfig};

pub use check::{Checked, Invalid, check_config, check_outputs, once_each, parse, per_platform};

use crate::plugins::{Abi, AnyPlugin, Orchestration};

use crate::chart;

/// Below this many tasks the run summary shows no ns/task: a few tasks'
/// wall time is start-up and hand-over, not a cost per task.
pub const PER_TASK_MIN: usize = 1_000;

/// Options common to every example.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Chip to simulate.
    #[arg(long, default_value = "a2a3", value_parser = platform_parser())]
    pub platform: Platform,
    /// Blocks to launch (each 1 AIC + 2 AIV), up to the platform's maximum.
    #[arg(long, default_value_t = 3, help = per_platform("Blocks to launch (each 1 AIC + 2 AIV)", |s| s.max_block_dim))]
    pub block_dim: u32,
    /// Scheduler (AICPU) threads, up to the platform's maximum.
    #[arg(long, default_value_t = 3, help = per_platform("Scheduler (AICPU) threads", |s| s.max_scheduler_threads))]
    pub threads: u32,
    /// Profile the run and write its per-task records to FILE as Chrome /
    /// Perfetto trace JSON (open in chrome://tracing or ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Profile the run and draw it to FILE as an SVG swimlane chart: a lane
    /// per core and per scheduler thread, a bar per kernel, each core's
    /// busy share (opens in any browser or image viewer).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Dispatch policy (see hostgraph::sched): which thread owns which
    /// core, the ready queues' order, where ready tasks go.
    #[arg(long, default_value = "round-robin", value_parser = policy_parser())]
    pub policy: BuiltIn,
}

/// Options that load a user-built orchestration instead of the example's own.
#[derive(Args, Debug, Clone)]
pub struct OwnPlugin {
    /// Build the graph with this orchestration shared object instead of the
    /// example's own, and check it against the example's kernels, inputs
    /// and reference.
    #[arg(long, value_name = "PATH", requires = "entry", conflicts_with = "orch")]
    pub plugin: Option<PathBuf>,
    /// The entry symbol of --plugin (e.g. `build_example_graph` for an
    /// orchestration written for the reference runtime, `entry` for a
    /// native one).
    #[arg(long, value_name = "SYMBOL", requires = "plugin")]
    pub entry: Option<String>,
    /// The interface --plugin was written for: hostgraph's
    /// `orchestration_api.h` (native), or the reference runtime's
    /// (reference: built against `orch_abi/include/reference`).
    #[arg(long, value_enum, default_value = "native", requires = "plugin")]
    pub abi: Abi,
}

impl OwnPlugin {
    /// The orchestration to build with: the one `--plugin` names, or else
    /// the example's own from `own`.
    pub fn or_own(
        &self,
        own: impl FnOnce() -> Result<AnyPlugin, Error>,
    ) -> Result<AnyPlugin, Error> {
        let (Some(path), Some(entry)) = (&self.plugin, &self.entry) else {
            return own();
        };
        // SAFETY: the user asked for this object to be run, with an entry of
        // the interface they named.
        unsafe { AnyPlugin::load(path, entry, self.abi) }.map_err(|e| match e {
            Error::WrongAbi { path, message } => {
                let other = match self.abi {
                    Abi::Native => "reference",
                    Abi::Reference => "native",
                };
                Error::WrongAbi {
                    path,
                    message: format!("{message} (on the command line: --abi {other})"),
                }
            }
            other => other,
        })
    }
}

/// One line naming `plugin`: its interface, path and entry.
pub fn describe(plugin: &impl Orchestration) -> String {
    let abi = match plugin.abi() {
        Abi::Native => "native",
        Abi::Reference => "reference-runtime",
    };
    format!(
        "{abi} plugin {} (entry {})",
        plugin.path().display(),
        plugin.entry_name()
    )
}

/// The `--policy` value parser (also for programs with their own command
/// line): one of the built-in policies' names, listed in `--help` and in
/// the error for any other value.
pub fn policy_parser() -> impl TypedValueParser<Value = BuiltIn> {
    PossibleValuesParser::new(BuiltIn::ALL.map(BuiltIn::name)).map(|name| {
        name.parse()
            .expect("the parser accepts only the policies' names")
    })
}

/// The `--platform` value parser (also for programs with their own command
/// line): one of the platforms' names, listed in `--help` and in the error
/// for any other value.
pub fn platform_parser() -> impl TypedValueParser<Value = Platform> {
    PossibleValuesParser::new(Platform::ALL.map(Platform::name)).map(|name| {
        Platform::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .expect("the parser accepts only the platforms' names")
    })
}

impl Common {
    /// Checks what the parsers cannot: block dim and threads in the
    /// platform's range, `--trace` and `--svg` writable.
    pub fn check(&self) -> Result<(), Invalid> {
        check_config(self.platform, self.block_dim, self.threads)?;
        check_outputs(&[
            ("--trace", self.trace.as_deref()),
            ("--svg", self.svg.as_deref()),
        ])
    }

    /// A runtime on the threaded simulator as these options describe, with
    /// the `--policy` active (the policies that plan with durations get
    /// the default cost model: every kernel alike).
    pub fn runtime(&self) -> Result<Runtime, Error> {
        let mut rt = Runtime::new(self.config())?;
        rt.set_builtin_policy(self.policy, &CostModel::default());
        Ok(rt)
    }

    /// The runtime configuration these options describe; profiling is on
    /// when `--trace` or `--svg` was given.
    pub fn config(&self) -> RuntimeConfig {
        RuntimeConfig {
            platform: self.platform,
            block_dim: self.block_dim,
            threads: self.threads,
            profiling: self.trace.is_some() || self.svg.is_some(),
            ..Default::default()
        }
    }

    /// With `--trace FILE` and / or `--svg FILE`: prints the profile's
    /// summary, writes the trace and / or the chart of `report` and prints
    /// their paths. Does nothing without either.
    pub fn write_profile(&self, report: &RunReport) -> std::io::Result<()> {
        if self.trace.is_none() && self.svg.is_none() {
            return Ok(());
        }
        let profile = profile_of(report)?;
        println!("  {}", profile.summary());
        if let Some(path) = &self.trace {
            trace_to(profile, path)?;
        }
        if let Some(path) = &self.svg {
            chart::write_gantt(profile, path).map_err(|e| in_writing("chart", path, e))?;
            println!("  chart: {} (SVG)", path.display());
        }
        Ok(())
    }
}

/// The profile of `report`; an error if the run was not profiled.
fn profile_of(report: &RunReport) -> std::io::Result<&Profile> {
    report.profile.as_ref().ok_or_else(|| {
        std::io::Error::other("the run was not profiled (profiling off), nothing to write")
    })
}

/// `e`, saying which output at `path` it came from.
fn in_writing(what: &str, path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("writing {what} {}: {e}", path.display()))
}

/// Writes `profile` to `path` as Chrome trace JSON and prints the path.
fn trace_to(profile: &Profile, path: &Path) -> std::io::Result<()> {
    profile.write_chrome_trace(path)?;
    println!(
        "  trace: {} ({} tasks; open in ui.perfetto.dev or chrome://tracing)",
        path.display(),
        profile.tasks.len()
    );
    Ok(())
}

/// Writes the profile of `report` (a run made with profiling on) to `path`
/// as Chrome trace JSON, and prints its summary and the path. Fails if the
/// run was not profiled.
pub fn write_trace(path: &Path, report: &RunReport) -> std::io::Result<()> {
    let profile = profile_of(report)?;
    println!("  {}", profile.summary());
    trace_to(profile, path)
}

impl Common {
    /// Prints the run lines every example shows: platform, block dim,
    /// threads; tasks and cores by type; start-up, execute and wall time,
    /// and wall time per task from [`PER_TASK_MIN`] tasks on.
    pub fn print_run(&self, report: &RunReport) {
        println!(
            "  platform {}  block dim {}  threads {}",
            self.platform, self.block_dim, report.threads
        );
        println!(
            "  tasks {} ({} AIC, {} AIV)  cores {} AIC + {} AIV",
            report.tasks, report.aic_tasks, report.aiv_tasks, report.aic_cores, report.aiv_cores
        );
        let per_task = if report.tasks >= PER_TASK_MIN {
            let ns = report.wall.as_nanos() as f64 / report.tasks as f64;
            format!("  ({ns:.0} ns/task)")
        } else {
            String::new()
        };
        println!(
            "  start-up {:?}  execute {:?}  wall {:?}{per_task}",
            report.startup, report.execute, report.wall
        );
    }
}

/// An example's exit status: success only if it ran and its check passed;
/// an error is printed with the example's name.
pub fn exit_code(name: &str, outcome: Result<bool, Box<dyn std::error::Error>>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
