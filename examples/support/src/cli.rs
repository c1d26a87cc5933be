//! The command line every example and the bench program share:
//! `--platform a2a3|a5`, `--block-dim N`, `--threads N` (defaults: a2a3, 3, 3),
//! `--trace FILE` (profile the run, write a Chrome / Perfetto trace) and
//! `--svg FILE` (profile the run, draw it as an SVG swimlane chart).

use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::Args;
use hostgraph::{Platform, Profile, RunReport, RuntimeConfig};

use crate::chart;

/// Options common to every example.
#[derive(Args, Debug, Clone)]
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
    /// Profile the run and write its per-task records to FILE as Chrome /
    /// Perfetto trace JSON (open in chrome://tracing or ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Profile the run and draw it to FILE as an SVG swimlane chart: a lane
    /// per core and per scheduler thread, a bar per kernel, each core's
    /// busy share (opens in any browser or image viewer).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// Parses `a2a3` / `a5` (the `--platform` value parser, for programs with
/// their own command line).
pub fn parse_platform(s: &str) -> Result<Platform, String> {
    s.parse::<Platform>().map_err(|e| e.to_string())
}

impl Common {
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
    profile
        .write_chrome_trace(path)
        .map_err(|e| in_writing("trace", path, e))?;
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
    /// threads; tasks and cores by type; start-up, execute and wall time.
    pub fn print_run(&self, report: &RunReport) {
        println!(
            "  platform {}  block dim {}  threads {}",
            self.platform, self.block_dim, report.threads
        );
        println!(
            "  tasks {} ({} AIC, {} AIV)  cores {} AIC + {} AIV",
            report.tasks, report.aic_tasks, report.aiv_tasks, report.aic_cores, report.aiv_cores
        );
        let per_task = report.wall.as_nanos() as f64 / report.tasks.max(1) as f64;
        println!(
            "  start-up {:?}  execute {:?}  wall {:?}  ({per_task:.0} ns/task)",
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
