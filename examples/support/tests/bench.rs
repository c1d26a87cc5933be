//! The bench program's results on a real (small) bench: JSON that parses
//! and has every row with min <= median <= max, the machine; CSV with a
//! header and one line per row; a chart with a bar per row.

use hostgraph::{InlineSim, Platform, Runtime, RuntimeConfig};
use hostgraph_examples::bench::{CSV_COLUMNS, Machine, Results, Row, Sim, measure_row};
use hostgraph_examples::chart;
use hostgraph_examples::synthetic::Shape;
use serde_json::Value;

const TASKS: usize = 300;
const ROUNDS: u32 = 3;

/// The live heap bytes are counted by the bench program's allocator only.
fn no_count() -> usize {
    0
}

/// Four rows: independent and chain, inline and threaded, block dim 1 and
/// 2 threads.
fn small_bench() -> Results {
    let cfg = RuntimeConfig {
        block_dim: 1,
        threads: 2,
        ..Default::default()
    };
    let mut rows: Vec<Row> = vec![];
    for shape in [Shape::Independent, Shape::Chain] {
        let rt = Runtime::with_backend(cfg, InlineSim::new(cfg.platform)).unwrap();
        let (row, traced) =
            measure_row(rt, Sim::Inline, shape, TASKS, ROUNDS, false, no_count).unwrap();
        assert!(traced.is_none());
        rows.push(row);
        let rt = Runtime::new(cfg).unwrap();
        let runners = rt.backend().runner_count();
        let (row, _) =
            measure_row(rt, Sim::Threaded, shape, TASKS, ROUNDS, false, no_count).unwrap();
        rows.push(Row {
            runners: Some(runners),
            ..row
        });
    }
    Results {
        machine: Machine::read(),
        platform: Platform::A2A3,
        rounds: ROUNDS,
        rows,
    }
}

#[test]
fn json_csv_and_chart_of_a_real_bench() {
    let results = small_bench();

    let text = serde_json::to_string_pretty(&results.to_json()).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["platform"], "a2a3");
    assert_eq!(json["rounds"], ROUNDS);
    let machine = &json["machine"];
    assert!(machine["cpus"].as_u64().unwrap() >= 1);
    assert!(!machine["cpu_model"].as_str().unwrap().is_empty());
    let load = &machine["load_average"];
    assert!(
        load.is_null() || load.as_array().unwrap().len() == 3,
        "{load}"
    );
    let rows = json["rows"].as_array().unwrap();
    let want = [
        ("independent", "inline"),
        ("independent", "threaded"),
        ("chain", "inline"),
        ("chain", "threaded"),
    ];
    assert_eq!(rows.len(), want.len());
    for (row, (shape, mode)) in rows.iter().zip(want) {
        assert_eq!(
            (row["shape"].as_str(), row["mode"].as_str()),
            (Some(shape), Some(mode))
        );
        assert_eq!(row["tasks"], TASKS);
        assert_eq!(
            (row["block_dim"].as_u64(), row["threads"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(row["runners"].is_null(), mode == "inline", "{row}");
        for figure in ["execute_ns_per_task", "wall_ns_per_task", "startup_us"] {
            let f = |k: &str| row[figure][k].as_f64().unwrap();
            let (min, median, max) = (f("min"), f("median"), f("max"));
            assert!(
                0.0 < min && min <= median && median <= max,
                "{figure}: {row}"
            );
        }
        assert!(
            row["wall_ns_per_task"]["min"].as_f64() >= row["execute_ns_per_task"]["min"].as_f64(),
            "a run's wall includes its execute: {row}"
        );
        for figure in ["build_ns_per_task", "rebuild_ns_per_task", "tasks_per_s"] {
            assert!(row[figure].as_f64().unwrap() > 0.0, "{figure}: {row}");
        }
    }

    let csv = results.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + want.len(), "a header and a line per row");
    for (line, (shape, mode)) in lines[1..].iter().zip(want) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), CSV_COLUMNS.len(), "{line}");
        assert_eq!((fields[0], fields[1]), (shape, mode));
        let median = CSV_COLUMNS
            .iter()
            .position(|c| *c == "execute_ns_per_task_median")
            .unwrap();
        assert!(fields[median].parse::<f64>().unwrap() > 0.0, "{line}");
    }

    let svg = results.chart_svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(bars(&doc, 2), want.len(), "a bar per row");
}

/// The bars of a chart drawn in the colours of its first `series` series.
fn bars(doc: &roxmltree::Document<'_>, series: usize) -> usize {
    let fills: Vec<String> = (0..series)
        .map(|s| chart::hex(chart::series_colour(s)))
        .collect();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| {
            fills
                .iter()
                .any(|f| Some(f.as_str()) == n.attribute("fill"))
        })
        .count()
}

#[test]
fn overloaded_when_the_load_exceeds_the_cpus() {
    let machine = |load: Option<[f64; 3]>| Machine {
        cpu_model: "test".into(),
        cpus: 2,
        load,
    };
    assert!(machine(Some([2.5, 0.0, 0.0])).overloaded());
    assert!(!machine(Some([2.0, 9.0, 9.0])).overloaded());
    assert!(!machine(None).overloaded());
}

/// Rows of several policies are told apart in the chart: each a series of
/// its own, named with its policy, in a colour of its own.
#[test]
fn rows_of_two_policies_are_two_series_in_the_chart() {
    let results = small_bench();
    let twin = |r: &Row| Row {
        policy: "heft",
        ..r.clone()
    };
    let rows: Vec<Row> = results
        .rows
        .iter()
        .flat_map(|r| [r.clone(), twin(r)])
        .collect();
    let svg = Results { rows, ..results }.chart_svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for series in ["inline (1, 2) round-robin", "inline (1, 2) heft"] {
        assert!(
            texts.contains(&series),
            "no legend entry {series:?}: {texts:?}"
        );
    }
    assert_eq!(bars(&doc, 4), 8, "a bar per row: two shapes x four series");
}

/// Bar charts have 27 distinct series colours before they repeat.
#[test]
fn series_colours_are_distinct_for_27_series() {
    let colours: std::collections::HashSet<String> = (0..27)
        .map(|s| chart::hex(chart::series_colour(s)))
        .collect();
    assert_eq!(colours.len(), 27);
}
