//! The example programs' command lines, run as a user runs them (the
//! built example binaries as subprocesses): `--help` lists the accepted
//! values of every enum option; a bad value, a value out of the
//! platform's range or one that makes no sense names the flag (and the
//! accepted values) and exits with status 2 before any work; an output
//! file that cannot be written fails before the run; a run of 4 tasks
//! shows no ns/task; `RUST_LOG` shows the library's log, `print_runtime`
//! included.
//!
//! The binaries are the ones `cargo test` builds beside this test
//! (`target/<profile>/examples/`): run these tests with `cargo test
//! --workspace` or `cargo test -p hostgraph-examples`, which build them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every example program.
const PROGRAMS: [&str; 5] = [
    "vector_example",
    "matmul",
    "bgemm",
    "paged_attention",
    "bench",
];

/// The built example `name`.
fn program(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/cli-<hash> -> target/<profile>/examples/<name>
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run these tests with `cargo test --workspace` or `cargo test -p hostgraph-examples`",
        path.display()
    );
    path
}

/// Runs example `name` with `args` (and `RUST_LOG` unset).
fn run(name: &str, args: &[&str]) -> Output {
    run_with_log(name, args, None)
}

/// Runs example `name` with `args` and `RUST_LOG` = `log` (unset if none).
fn run_with_log(name: &str, args: &[&str], log: Option<&str>) -> Output {
    let mut command = Command::new(program(name));
    command.args(args).env_remove("RUST_LOG");
    if let Some(filter) = log {
        command.env("RUST_LOG", filter);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `name args` was refused as a usage error (status 2, nothing on
/// stdout) with a message holding each of `parts`.
fn refused(name: &str, args: &[&str], parts: &[&str]) {
    let out = run(name, args);
    let (err, what) = (stderr(&out), format!("{name} {}", args.join(" ")));
    assert_eq!(out.status.code(), Some(2), "{what}: status; stderr:\n{err}");
    assert!(
        out.stdout.is_empty(),
        "{what}: the run started:\n{}",
        stdout(&out)
    );
    for part in parts {
        assert!(err.contains(part), "{what}: no {part:?} in stderr:\n{err}");
    }
}

#[test]
fn help_lists_the_accepted_values_of_every_enum_option() {
    let examples = [
        ("vector_example", &["c", "rust", "reference"][..]),
        ("matmul", &["c", "reference"]),
        ("bgemm", &["c", "reference"]),
        (
            "paged_attention",
            &["c", "rust", "reference", "f16", "bf16"],
        ),
    ];
    for (name, own) in examples {
        let out = run(name, &["--help"]);
        assert!(out.status.success(), "{name} --help");
        let help = stdout(&out);
        let policies = [
            "round-robin",
            "work-stealing",
            "critical-path",
            "locality",
            "heft",
        ];
        for value in ["a2a3", "a5", "native", "reference"]
            .iter()
            .chain(&policies)
            .chain(own)
        {
            assert!(
                help.contains(value),
                "{name} --help lacks {value:?}:\n{help}"
            );
        }
        for option in ["--platform", "--orch", "--abi", "--policy"] {
            let at = help.find(option).expect(option);
            assert!(
                help[at..].contains("ossible values"),
                "{name} --help: no values listed after {option}"
            );
        }
        assert!(
            help.contains("1 to 24 on a2a3, 1 to 36 on a5"),
            "{name}: block dim range"
        );
        assert!(
            help.contains("1 to 4 on a2a3, 1 to 7 on a5"),
            "{name}: threads range"
        );
    }
    let help = stdout(&run("bench", &["--help"]));
    let values = [
        "a2a3",
        "a5",
        "inline",
        "threaded",
        "all",
        "independent",
        "chain",
        "layered",
        "binary-tree",
        "wavefront",
        "work-stealing",
        "heft",
    ];
    for value in values {
        assert!(
            help.contains(value),
            "bench --help lacks {value:?}:\n{help}"
        );
    }
}

#[test]
fn a_bad_platform_names_the_flag_and_the_platforms_in_every_program() {
    for name in PROGRAMS {
        refused(
            name,
            &["--platform", "a6"],
            &["'a6'", "--platform", "a2a3", "a5"],
        );
    }
}

#[test]
fn a_bad_enum_value_names_the_flag_and_the_accepted_values() {
    refused(
        "vector_example",
        &["--orch", "python"],
        &["--orch", "c, rust, reference"],
    );
    refused("matmul", &["--orch", "rust"], &["--orch", "c, reference"]);
    refused(
        "bgemm",
        &["--plugin", "x.so", "--entry", "e", "--abi", "c"],
        &["--abi", "native, reference"],
    );
    refused(
        "paged_attention",
        &["--dtype", "f32"],
        &["--dtype", "f16, bf16"],
    );
    refused(
        "bench",
        &["--shape", "chain,ring"],
        &[
            "'ring'",
            "--shape",
            "all, independent, chain, layered, binary-tree, wavefront",
        ],
    );
    refused(
        "bench",
        &["--mode", "async"],
        &["--mode", "inline, threaded, all"],
    );
    for name in PROGRAMS {
        refused(
            name,
            &["--policy", "fastest"],
            &[
                "'fastest'",
                "--policy",
                "round-robin, work-stealing, critical-path, locality, heft",
            ],
        );
    }
}

/// A task count past what the bench builds (2^25) is refused before it
/// allocates for it: before, `--tasks 18446744073709551615` ran out of
/// memory, and `--tasks 2000000000` (below the ABI's reserved ids) aborted
/// on a failed allocation (a hostile review).
/// A list naming an item twice would run, print and chart the same rows
/// twice: refused, naming the item (`all` with others is every shape once).
#[test]
fn lists_that_name_an_item_twice_are_refused() {
    refused(
        "bench",
        &["--threads", "1,2,1"],
        &["--threads", "'1'", "twice"],
    );
    refused("bench", &["--block-dim", "3,3"], &["--block-dim", "'3'"]);
    refused(
        "bench",
        &["--shape", "chain,chain"],
        &["--shape", "'chain'"],
    );
    refused(
        "bench",
        &["--policy", "heft,round-robin,heft"],
        &["--policy", "'heft'"],
    );
    refused(
        "policy_lab",
        &["--graphs", "bgemm,bgemm"],
        &["--graphs", "'bgemm'"],
    );
    refused(
        "policy_lab",
        &["--chips", "b3t3,b3t3"],
        &["--chips", "'b3t3'"],
    );
    refused(
        "policy_lab",
        &["--policies", "heft,heft"],
        &["--policies", "'heft'"],
    );
}

#[test]
fn bench_refuses_more_tasks_than_it_builds() {
    for n in ["18446744073709551615", "2000000000", "33554433"] {
        refused(
            "bench",
            &["--tasks", n, "--rounds", "1"],
            &[&format!("'{n}'"), "--tasks", "at most 33554432 tasks"],
        );
    }
}

/// A task count that a shape rounds up past what a graph holds, and more
/// simulator runners than the platform has cores, are usage errors before
/// any work (before, `--runners 18446744073709551615` panicked with
/// "capacity overflow", and the rounded count was only refused after
/// billions of tasks were built).
#[test]
fn bench_refuses_rounded_task_counts_and_runners_past_the_cores() {
    refused(
        "bench",
        &[
            "--shape",
            "binary-tree",
            "--tasks",
            "33554432",
            "--rounds",
            "1",
        ],
        &[
            "'33554432'",
            "--tasks",
            "binary-tree rounds it up to 67108863 tasks; the bench builds at most 33554432",
        ],
    );
    refused(
        "bench",
        &["--runners", "18446744073709551615", "--rounds", "1"],
        &["'18446744073709551615'", "--runners", "a2a3 has 72 cores"],
    );
    refused(
        "bench",
        &["--platform", "a5", "--runners", "109", "--rounds", "1"],
        &["'109'", "--runners", "a5 has 108 cores"],
    );
}

#[test]
fn block_dim_and_threads_outside_the_platforms_range_name_the_flag() {
    refused(
        "vector_example",
        &["--block-dim", "25"],
        &["'25'", "--block-dim", "a2a3 takes 1 to 24"],
    );
    refused(
        "matmul",
        &["--platform", "a5", "--block-dim", "37"],
        &["'37'", "--block-dim", "a5 takes 1 to 36"],
    );
    refused(
        "bgemm",
        &["--threads", "0"],
        &["'0'", "--threads", "a2a3 takes 1 to 4"],
    );
    refused(
        "paged_attention",
        &["--platform", "a5", "--threads", "8"],
        &["'8'", "--threads", "a5 takes 1 to 7"],
    );
    refused(
        "bench",
        &["--block-dim", "1,25", "--threads", "1"],
        &["'25'", "--block-dim", "a2a3 takes 1 to 24"],
    );
}

#[test]
fn paged_attention_refuses_shapes_that_make_no_sense_by_flag() {
    for flag in [
        "--batch",
        "--heads",
        "--kv-heads",
        "--head-dim",
        "--block-size",
        "--max-context",
    ] {
        refused(
            "paged_attention",
            &[flag, "0"],
            &["'0'", flag, "must be at least 1"],
        );
    }
    refused(
        "paged_attention",
        &["--context-lens", "5,0"],
        &["'0'", "--context-lens"],
    );
    refused(
        "paged_attention",
        &["--heads", "16", "--kv-heads", "3"],
        &["'3'", "--kv-heads", "does not divide heads (16)"],
    );
    refused(
        "paged_attention",
        &["--heads", "300"],
        &["'300'", "--heads", "tiles of 128"],
    );
    // Sizes past what i32 contexts, the task limit or the byte limit
    // allow: refused by flag (or, together, as the shape), never truncated,
    // overflowed or allocated.
    refused(
        "paged_attention",
        &["--max-context", "3000000000"],
        &[
            "'3000000000'",
            "--max-context",
            "must be at most 2147483647",
        ],
    );
    refused(
        "paged_attention",
        &["--block-size", "2147483648"],
        &["--block-size", "must be at most 2147483647"],
    );
    refused(
        "paged_attention",
        &["--batch", "100000000000"],
        &["--batch", "must be at most 4194304"],
    );
    refused(
        "paged_attention",
        &["--block-size", "2000000000", "--max-context", "2100000000"],
        &[
            "'2100000000'",
            "--max-context",
            "rounded up to whole blocks",
        ],
    );
    refused(
        "paged_attention",
        &["--heads", "4294967296"],
        &["--heads 4294967296", "the shape", "tasks, more than"],
    );
    refused(
        "paged_attention",
        &["--head-dim", "1000000000000"],
        &["--head-dim 1000000000000", "the shape", "GiB"],
    );
    refused(
        "paged_attention",
        &["--context-lens", "2147483647", "--block-size", "1000"],
        &["--context-lens [2147483647]", "the shape", "GiB"],
    );
    let out = run("paged_attention", &["--block-size", "0"]);
    assert!(
        !stderr(&out).contains("Config {"),
        "a Debug dump of the config:\n{}",
        stderr(&out)
    );
}

#[test]
fn an_unwritable_output_fails_before_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dir/out.json");
    let missing = missing.to_str().expect("utf-8 path");
    let a_dir = dir.path().to_str().expect("utf-8 path");
    let cases: [(&str, Vec<&str>, &str); 6] = [
        ("vector_example", vec!["--trace", missing], "--trace"),
        ("matmul", vec!["--svg", a_dir], "--svg"),
        ("bgemm", vec!["--trace", a_dir], "--trace"),
        ("paged_attention", vec!["--svg", missing], "--svg"),
        (
            "bench",
            vec![
                "--shape", "chain", "--mode", "inline", "--tasks", "200000", "--svg", missing,
            ],
            "--svg",
        ),
        (
            "bench",
            vec!["--shape", "chain", "--mode", "inline", "--trace", a_dir],
            "--trace",
        ),
    ];
    for (name, args, flag) in cases {
        let path = args.last().expect("the path");
        refused(name, &args, &[flag, path, "cannot be written"]);
    }
    assert!(
        std::fs::read_dir(dir.path())
            .expect("temp dir")
            .next()
            .is_none(),
        "the checks left files behind"
    );
}

#[test]
fn a_writable_output_is_written_after_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("run.svg");
    let out = run("vector_example", &["--svg", svg.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg).expect("the chart");
    assert!(text.contains("<svg"), "not an SVG:\n{text}");
}

#[test]
fn a_run_of_four_tasks_shows_no_ns_per_task() {
    let out = run("vector_example", &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("tasks 4 "), "{text}");
    assert!(text.contains("wall "), "{text}");
    assert!(!text.contains("ns/task"), "{text}");
}

#[test]
fn rust_log_shows_the_librarys_log_and_print_runtime() {
    let quiet = run("vector_example", &[]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "log lines without RUST_LOG:\n{}",
        stderr(&quiet)
    );
    let debug = run_with_log("vector_example", &[], Some("debug"));
    assert!(debug.status.success());
    let log = stderr(&debug);
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("hostgraph")),
        "no debug line of the library:\n{log}"
    );
    // The reference-style paged attention orchestration calls print_runtime.
    let args = ["--orch", "reference"];
    let info = run_with_log(
        "paged_attention",
        &args,
        Some("hostgraph::print_runtime=info"),
    );
    assert!(info.status.success(), "{}", stderr(&info));
    let (log, out) = (stderr(&info), stdout(&info));
    assert!(
        log.lines()
            .any(|l| l.contains("hostgraph::print_runtime")
                && l.contains("hostgraph runtime: 56 tasks")),
        "no print_runtime record:\n{log}"
    );
    assert!(
        !out.contains("hostgraph runtime:"),
        "print_runtime wrote to stdout:\n{out}"
    );
}

#[test]
fn policy_lab_refuses_an_unknown_graph_chip_policy_or_run_by_flag() {
    refused(
        "policy_lab",
        &["--graphs", "chain,fft"],
        &["--graphs", "fft", "paged-attention", "wavefront"],
    );
    refused(
        "policy_lab",
        &["--chips", "b9t9"],
        &["--chips", "b9t9", "b342t16"],
    );
    refused(
        "policy_lab",
        &["--policies", "fastest"],
        &["--policies", "heft"],
    );
    refused(
        "policy_lab",
        &["--gantt-run", "bgemm/b9t9/heft"],
        &["--gantt-run", "no chip 'b9t9'", "b3t3"],
    );
    refused(
        "policy_lab",
        &["--gantt-run", "bgemm"],
        &["--gantt-run", "GRAPH/CHIP/POLICY"],
    );
    refused("policy_lab", &["--seeds", "0"], &["--seeds", "0"]);
    // The run to draw without a chart to draw it in.
    refused(
        "policy_lab",
        &["--gantt-run", "bgemm/b3t3/heft"],
        &["--gantt-run", "--gantt <FILE>"],
    );
}

/// `--reality` checks only the graphs `--graphs` names that it covers, and
/// says which it does not.
#[test]
fn policy_lab_checks_reality_for_the_graphs_given() {
    let args = [
        "--quick",
        "--graphs",
        "bgemm,chain",
        "--chips",
        "b3t3",
        "--policies",
        "round-robin",
        "--seeds",
        "1",
        "--reality",
    ];
    let out = run("policy_lab", &args);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, reality) = text
        .split_once("model against reality: threaded")
        .expect("the reality table");
    assert!(text.contains("not checked for bgemm"), "{text}");
    let graphs: Vec<&str> = reality
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| {
            [
                "independent",
                "chain",
                "layered",
                "binary-tree",
                "wavefront",
                "paged-attention",
            ]
            .contains(w)
        })
        .collect();
    assert_eq!(graphs, ["chain"], "{reality}");
}

/// What a reference plugin prints (C++ `std::cout`) comes before the
/// run's summary when stdout is a pipe (it came at exit, after PASS).
#[test]
fn a_plugins_output_comes_before_the_summary_through_a_pipe() {
    let out = run("vector_example", &["--orch", "reference"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let plugin = text
        .find("build_example_graph: 4 tasks")
        .expect("the plugin's line");
    let summary = text.find("PASS").expect("the summary");
    assert!(plugin < summary, "{text}");
}

#[test]
fn embed_bevy_refuses_arguments_it_does_not_take() {
    refused("embed_bevy", &["--threads", "4"], &["--threads"]);
}

#[test]
fn policy_lab_prints_its_table_and_writes_the_chart_the_gantt_and_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let (svg, gantt, json) = (path("lab.svg"), path("gantt.svg"), path("lab.json"));
    let out = run(
        "policy_lab",
        &[
            "--quick",
            "--seeds",
            "2",
            "--chips",
            "b3t3",
            "--graphs",
            "bgemm,chain",
            "--svg",
            &svg,
            "--gantt",
            &gantt,
            "--json",
            &json,
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for policy in [
        "round-robin",
        "work-stealing",
        "critical-path",
        "locality",
        "heft",
    ] {
        for graph in ["bgemm", "chain"] {
            let row = format!("{graph:<16} ");
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&row) && l.contains(" b3t3 ") && l.contains(policy)),
                "no {graph} row for {policy}:\n{text}"
            );
        }
    }
    assert!(text.contains("best policies per graph and chip"), "{text}");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid json");
    let cases = cases["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 10);
    assert!(
        cases
            .iter()
            .all(|c| c["runs"].as_array().unwrap().len() == 2)
    );
    let chart = std::fs::read_to_string(&svg).expect("chart");
    roxmltree::Document::parse(&chart).expect("the chart is XML");
    assert!(
        chart.contains("b3t3: 9 cores, 3 scheduler threads"),
        "{chart}"
    );
    let gantt = std::fs::read_to_string(&gantt).expect("gantt");
    roxmltree::Document::parse(&gantt).expect("the gantt is XML");
    // The default run: bgemm, its kernels by name.
    assert!(gantt.contains("gemm_tile") && gantt.contains("tile_add"));
}

/// Two output flags naming one file (the same path, spelled two ways, or
/// through a link) are refused by the later flag: the first output written
/// was silently overwritten by the second. Found by a hostile review.
#[test]
fn two_outputs_naming_one_file_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let one = dir.path().join("out.file");
    let one = one.to_str().expect("utf-8 path");
    let dotted = dir.path().join(".").join("out.file");
    let dotted = dotted.to_str().expect("utf-8 path");
    refused(
        "vector_example",
        &["--trace", one, "--svg", dotted],
        &["--svg", dotted, "names the same file as --trace"],
    );
    refused(
        "policy_lab",
        &["--quick", "--svg", one, "--gantt", one],
        &["--gantt", one, "names the same file as --svg"],
    );
    std::fs::write(one, "kept").unwrap();
    #[cfg(unix)]
    {
        let link = dir.path().join("link.file");
        std::os::unix::fs::symlink(one, &link).expect("symlink");
        let link = link.to_str().expect("utf-8 path");
        refused(
            "bench",
            &[
                "--tasks", "10", "--rounds", "1", "--trace", one, "--svg", link,
            ],
            &["--svg", link, "names the same file as --trace"],
        );
    }
    assert_eq!(std::fs::read_to_string(one).unwrap(), "kept", "untouched");
}

/// An output through a symbolic link to a file not made yet is written
/// through the link (it was refused: "File exists", from an exclusive
/// create that does not follow the link). Found by a hostile review.
#[cfg(unix)]
#[test]
fn an_output_through_a_link_to_a_file_not_yet_made_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target.svg");
    let link = dir.path().join("link.svg");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = run("vector_example", &["--svg", link.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "status {}:\n{}",
        out.status,
        stderr(&out)
    );
    let text = std::fs::read_to_string(&target).expect("the chart, through the link");
    assert!(text.contains("<svg"), "not an SVG");
}
