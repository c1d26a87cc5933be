//! The bench program's measurements and their machine-readable forms: one
//! [`Row`] per shape × simulator × (block dim, threads), measured by
//! [`measure_row`]; the whole result ([`Results`]) with the [`Machine`] it
//! ran on, as JSON, CSV or a chart.

use std::time::{Duration, Instant};

use hostgraph::{Backend, KernelFn, Platform, RunReport, Runtime};
use serde_json::{Value, json};

use crate::chart::{self, Bar};
use crate::synthetic::{self, Shape};

/// func_id the empty kernel is registered under.
const FUNC_EMPTY: i32 = 0;

/// Tasks of the warm-up graph each row's runtime runs first.
const WARM_UP_TASKS: usize = 64;

/// Which simulator ran a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sim {
    /// Scheduler threads and cores stepped in turn on one thread.
    Inline,
    /// Scheduler threads on OS threads, cores stepped by sim runner threads.
    Threaded,
}

impl Sim {
    /// `inline` or `threaded`.
    pub fn name(self) -> &'static str {
        match self {
            Sim::Inline => "inline",
            Sim::Threaded => "threaded",
        }
    }
}

/// Least, median and greatest of a figure over the measured runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Least.
    pub min: Duration,
    /// Median (the upper one of an even count).
    pub median: Duration,
    /// Greatest.
    pub max: Duration,
}

impl Spread {
    /// The spread of a non-empty set of durations.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hostgraph_examples::bench::Spread;
    /// let s = Spread::of([3, 1, 2, 9].map(Duration::from_nanos));
    /// assert_eq!((s.min, s.median, s.max), (Duration::from_nanos(1), Duration::from_nanos(3), Duration::from_nanos(9)));
    /// ```
    pub fn of(it: impl IntoIterator<Item = Duration>) -> Spread {
        let mut v: Vec<Duration> = it.into_iter().collect();
        v.sort_unstable();
        Spread {
            min: v[0],
            median: v[v.len() / 2],
            max: v[v.len() - 1],
        }
    }
}

/// One row of the bench: a shape's graph built once and run `rounds` times
/// on one simulator and (block dim, threads).
#[derive(Clone, Debug)]
pub struct Row {
    /// Graph shape.
    pub shape: Shape,
    /// Simulator.
    pub sim: Sim,
    /// Dispatch policy (its name).
    pub policy: &'static str,
    /// Blocks launched.
    pub block_dim: u32,
    /// Scheduler threads.
    pub threads: u32,
    /// Threaded simulator: runner threads stepping the cores.
    pub runners: Option<usize>,
    /// Tasks in the graph.
    pub tasks: usize,
    /// Building the graph in a fresh runtime.
    pub build: Duration,
    /// Building it again after a discard.
    pub rebuild: Duration,
    /// Extra time of the first (sealing) run over its own wall time.
    pub seal: Duration,
    /// Launch and start-up handshake of every core, over the measured runs.
    pub startup: Spread,
    /// First dispatch to last completion, over the measured runs.
    pub execute: Spread,
    /// Whole run, over the measured runs.
    pub wall: Spread,
    /// Live heap bytes after the first run minus before the build.
    pub bytes: usize,
}

impl Row {
    /// `d` per task in ns; `None` for an empty graph.
    pub fn per_task(&self, d: Duration) -> Option<f64> {
        (self.tasks > 0).then(|| d.as_nanos() as f64 / self.tasks as f64)
    }

    /// Tasks per second of median execute time; `None` for an empty graph.
    pub fn tasks_per_s(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.tasks as f64 / self.execute.median.as_secs_f64())
    }

    /// Bytes per task; `None` for an empty graph.
    pub fn bytes_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.bytes as f64 / self.tasks as f64)
    }

    /// The row's series in the chart: `mode (block dim, threads)`, and the
    /// policy after it `with_policy` (rows of several policies).
    fn series(&self, with_policy: bool) -> String {
        let series = format!("{} ({}, {})", self.sim.name(), self.block_dim, self.threads);
        if with_policy {
            format!("{series} {}", self.policy)
        } else {
            series
        }
    }
}

/// Warms `rt` up, builds `shape` for `n` tasks, runs it once (sealing) and
/// `rounds` more times, and with `trace` once more with profiling on (the
/// profiled report comes back beside the row). `live_bytes` reads the live
/// heap bytes of the process (the bench program counts them in its global
/// allocator).
pub fn measure_row<E: Backend>(
    mut rt: Runtime<E>,
    sim: Sim,
    shape: Shape,
    n: usize,
    rounds: u32,
    trace: bool,
    live_bytes: fn() -> usize,
) -> Result<(Row, Option<RunReport>), hostgraph::Error> {
    rt.register_kernel(FUNC_EMPTY, KernelFn::rust(synthetic::empty).named("empty"));
    // Warm-up: spawns the scheduler workers, registers the seal system.
    rt.build(|g| synthetic::build(g, Shape::Independent, WARM_UP_TASKS, FUNC_EMPTY).map(drop))?;
    rt.run()?;
    rt.discard();

    let before = live_bytes();
    let t = Instant::now();
    let mut tasks = 0;
    rt.build(|g| {
        tasks = synthetic::build(g, shape, n, FUNC_EMPTY)?;
        Ok(())
    })?;
    let build = t.elapsed();
    let (seal, bytes, reports, traced) = match runs(&mut rt, before, rounds, trace, live_bytes) {
        Ok(r) => r,
        Err(e) => {
            rt.discard();
            return Err(e);
        }
    };
    rt.discard();
    // The same build again, into the store the first one grew.
    let t = Instant::now();
    rt.build(|g| synthetic::build(g, shape, n, FUNC_EMPTY).map(drop))?;
    let rebuild = t.elapsed();
    rt.discard();
    for r in &reports {
        assert_eq!(r.tasks, tasks, "{shape}: every task ran");
    }
    let row = Row {
        shape,
        sim,
        policy: rt.policy_name(),
        block_dim: rt.config().block_dim,
        threads: rt.config().threads,
        runners: None,
        tasks,
        build,
        rebuild,
        seal,
        startup: Spread::of(reports.iter().map(|r| r.startup)),
        execute: Spread::of(reports.iter().map(|r| r.execute)),
        wall: Spread::of(reports.iter().map(|r| r.wall)),
        bytes,
    };
    Ok((row, traced))
}

/// Runs the built graph once (sealing it), then `rounds` times, then with
/// `trace` once more profiled. Returns the extra time of the first run over
/// its own wall time, the live heap bytes after the first run minus
/// `before`, the measured reports and the profiled one.
#[allow(clippy::type_complexity)]
fn runs<E: Backend>(
    rt: &mut Runtime<E>,
    before: usize,
    rounds: u32,
    trace: bool,
    live_bytes: fn() -> usize,
) -> Result<(Duration, usize, Vec<RunReport>, Option<RunReport>), hostgraph::Error> {
    let t = Instant::now();
    let first = rt.run()?;
    let seal = t.elapsed().saturating_sub(first.wall);
    drop(first);
    let bytes = live_bytes().saturating_sub(before);
    let mut reports = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        reports.push(rt.run()?);
    }
    let traced = if trace {
        rt.set_profiling(true);
        let r = rt.run();
        rt.set_profiling(false);
        Some(r?)
    } else {
        None
    };
    Ok((seal, bytes, reports, traced))
}

/// The machine a bench ran on.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`), or `unknown CPU`.
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// Load average over 1, 5 and 15 minutes (`/proc/loadavg`), if known.
    pub load: Option<[f64; 3]>,
}

impl Machine {
    /// Reads the machine's figures now.
    pub fn read() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| parse_loadavg(&s));
        Machine {
            cpu_model,
            cpus,
            load,
        }
    }

    /// Whether more was runnable over the last minute than there are CPUs
    /// (threaded figures are then inflated by waiting for a CPU).
    pub fn overloaded(&self) -> bool {
        self.load.is_some_and(|l| l[0] > self.cpus as f64)
    }

    /// The load average as `1.00 0.50 0.25`, or `?`.
    pub fn load_text(&self) -> String {
        match self.load {
            Some([a, b, c]) => format!("{a:.2} {b:.2} {c:.2}"),
            None => "?".into(),
        }
    }
}

/// The three load averages at the start of `/proc/loadavg`.
///
/// ```
/// use hostgraph_examples::bench::parse_loadavg;
/// assert_eq!(parse_loadavg("2.50 1.25 0.75 3/412 9001\n"), Some([2.5, 1.25, 0.75]));
/// assert_eq!(parse_loadavg("garbage"), None);
/// ```
pub fn parse_loadavg(s: &str) -> Option<[f64; 3]> {
    let mut it = s.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// A whole bench: what ran where, and every row.
#[derive(Clone, Debug)]
pub struct Results {
    /// The machine, read when the bench started.
    pub machine: Machine,
    /// The chip simulated.
    pub platform: Platform,
    /// Measured runs per row (after the sealing run).
    pub rounds: u32,
    /// The rows, in the order they ran.
    pub rows: Vec<Row>,
}

/// The columns of [`Results::to_csv`], in order.
pub const CSV_COLUMNS: [&str; 22] = [
    "shape",
    "mode",
    "policy",
    "block_dim",
    "threads",
    "runners",
    "tasks",
    "build_ns_per_task",
    "rebuild_ns_per_task",
    "seal_ns_per_task",
    "execute_ns_per_task_min",
    "execute_ns_per_task_median",
    "execute_ns_per_task_max",
    "wall_ns_per_task_min",
    "wall_ns_per_task_median",
    "wall_ns_per_task_max",
    "startup_us_min",
    "startup_us_median",
    "startup_us_max",
    "tasks_per_s",
    "bytes_per_task",
    "rounds",
];

impl Results {
    /// The whole result as one JSON document: the machine, the platform,
    /// the measured runs per row, and per row its figures per task (ns; min,
    /// median and max for those measured over every run; `null` for an
    /// empty graph).
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let per_task = |s: Spread| {
                    json!({"min": r.per_task(s.min), "median": r.per_task(s.median), "max": r.per_task(s.max)})
                };
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                json!({
                    "shape": r.shape.name(),
                    "mode": r.sim.name(),
                    "policy": r.policy,
                    "block_dim": r.block_dim,
                    "threads": r.threads,
                    "runners": r.runners,
                    "tasks": r.tasks,
                    "build_ns_per_task": r.per_task(r.build),
                    "rebuild_ns_per_task": r.per_task(r.rebuild),
                    "seal_ns_per_task": r.per_task(r.seal),
                    "execute_ns_per_task": per_task(r.execute),
                    "wall_ns_per_task": per_task(r.wall),
                    "startup_us": {"min": us(r.startup.min), "median": us(r.startup.median), "max": us(r.startup.max)},
                    "tasks_per_s": r.tasks_per_s(),
                    "bytes_per_task": r.bytes_per_task(),
                })
            })
            .collect();
        json!({
            "machine": {
                "cpu_model": self.machine.cpu_model,
                "cpus": self.machine.cpus,
                "load_average": self.machine.load,
            },
            "platform": self.platform.to_string(),
            "kernel": "empty",
            "rounds": self.rounds,
            "rows": rows,
        })
    }

    /// The rows as CSV: a header ([`CSV_COLUMNS`]) and one line per row;
    /// an empty field where a figure does not apply (per-task figures of an
    /// empty graph, runners of the inline simulator). The machine is in
    /// [`to_json`](Self::to_json) only.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push('\n');
        let field = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.1}"));
        for r in &self.rows {
            let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
            let spread = |s: Spread| {
                [s.min, s.median, s.max]
                    .map(|d| field(r.per_task(d)))
                    .join(",")
            };
            let line = [
                r.shape.name().to_string(),
                r.sim.name().to_string(),
                r.policy.to_string(),
                r.block_dim.to_string(),
                r.threads.to_string(),
                r.runners.map_or(String::new(), |n| n.to_string()),
                r.tasks.to_string(),
                field(r.per_task(r.build)),
                field(r.per_task(r.rebuild)),
                field(r.per_task(r.seal)),
                spread(r.execute),
                spread(r.wall),
                [r.startup.min, r.startup.median, r.startup.max]
                    .map(us)
                    .join(","),
                field(r.tasks_per_s()),
                field(r.bytes_per_task()),
                self.rounds.to_string(),
            ];
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// The rows as a grouped bar chart (SVG): execute ns/task (median, with
    /// a min–max whisker) per shape, a bar per simulator × (block dim,
    /// threads). Rows of empty graphs have no bar.
    pub fn chart_svg(&self) -> std::io::Result<String> {
        let with_policy = self.rows.iter().any(|r| r.policy != self.rows[0].policy);
        let bars: Vec<Bar> = self
            .rows
            .iter()
            .filter_map(|r| {
                Some(Bar {
                    group: r.shape.name().to_string(),
                    series: r.series(with_policy),
                    value: r.per_task(r.execute.median)?,
                    range: (r.per_task(r.execute.min)?, r.per_task(r.execute.max)?),
                })
            })
            .collect();
        let title = format!(
            "hostgraph bench, {}, empty kernels: execute ns/task (median of {} runs, min–max whiskers); series: mode (block dim, threads){}",
            self.platform,
            self.rounds,
            if with_policy { " policy" } else { "" }
        );
        chart::grouped_bars_svg(&title, "ns/task", &bars)
    }
}
