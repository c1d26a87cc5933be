//! The SVG charts, checked by structure rather than pixels: a swimlane
//! chart of a real profiled run parses as SVG and has a labelled lane per
//! discovered core and per scheduler thread, a bar per task on the lane of
//! the core that ran it, a dispatch mark per task on the lane of the thread
//! that dispatched it, a busy share per core and a legend naming the
//! kernels; a bar chart has a bar per row and a label per group.

use std::collections::{BTreeMap, BTreeSet};

use hostgraph::profile::Profile;
use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
use hostgraph_examples::chart::{self, Bar, Lane};
use hostgraph_examples::{bgemm, plugins};
use roxmltree::{Document, Node};

fn num(n: &Node, attr: &str) -> f64 {
    n.attribute(attr)
        .unwrap_or_else(|| panic!("<{}> without {attr}", n.tag_name().name()))
        .parse()
        .unwrap()
}

/// The `<text>` elements: trimmed content and y.
fn texts(doc: &Document) -> Vec<(String, f64)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| (n.text().unwrap_or("").trim().to_string(), num(&n, "y")))
        .collect()
}

/// What a swimlane chart shows, read back from its SVG.
struct Read {
    /// Lane label -> tasks drawn on it (bars on core lanes, dispatch marks
    /// on scheduler lanes).
    per_lane: BTreeMap<String, usize>,
    /// Lane label -> busy share shown in the utilisation strip.
    shares: BTreeMap<String, f64>,
    /// Every text.
    texts: Vec<String>,
}

/// Parses `svg` (a chart of `profile`) and assigns every kernel-coloured
/// bar and mark to the lane whose label is vertically nearest.
fn read_gantt(svg: &str, profile: &Profile) -> Read {
    let doc = Document::parse(svg).expect("well-formed SVG");
    assert!(doc.root_element().has_tag_name("svg"));
    let texts = texts(&doc);
    let lanes = chart::lanes(profile);
    let labels: Vec<(String, f64)> = lanes
        .iter()
        .map(|lane| {
            let name = lane.to_string();
            let found: Vec<&(String, f64)> = texts.iter().filter(|(t, _)| *t == name).collect();
            assert_eq!(found.len(), 1, "one label for lane {name}");
            found[0].clone()
        })
        .collect();
    let nearest = |y: f64| {
        labels
            .iter()
            .min_by(|a, b| (a.1 - y).abs().total_cmp(&(b.1 - y).abs()))
            .map(|l| l.0.clone())
            .unwrap()
    };
    let colours: BTreeSet<String> = profile
        .tasks
        .iter()
        .map(|r| chart::hex(chart::kernel_colour(r.func_id)))
        .collect();
    let mut per_lane: BTreeMap<String, usize> = BTreeMap::new();
    for n in doc.descendants() {
        let y = if n.has_tag_name("rect") && colours.contains(n.attribute("fill").unwrap_or("")) {
            num(&n, "y") + num(&n, "height") / 2.0
        } else if n.has_tag_name("polyline")
            && colours.contains(n.attribute("stroke").unwrap_or(""))
        {
            let ys: Vec<f64> = n
                .attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|p| p.split(',').nth(1).unwrap().parse::<f64>().unwrap())
                .collect();
            ys.iter().sum::<f64>() / ys.len() as f64
        } else {
            continue;
        };
        *per_lane.entry(nearest(y)).or_default() += 1;
    }
    let shares = texts
        .iter()
        .filter_map(|(t, y)| Some((nearest(*y), t.strip_suffix('%')?.parse::<f64>().ok()?)))
        .collect();
    Read {
        per_lane,
        shares,
        texts: texts.into_iter().map(|t| t.0).collect(),
    }
}

/// Tasks per lane label, from the profile's records.
fn expected_per_lane(profile: &Profile) -> BTreeMap<String, usize> {
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for r in &profile.tasks {
        *want
            .entry(Lane::Core(r.core_type, r.physical_id).to_string())
            .or_default() += 1;
        *want
            .entry(Lane::Scheduler(r.thread).to_string())
            .or_default() += 1;
    }
    want
}

#[test]
fn swimlane_chart_of_a_profiled_bgemm_run() {
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 3,
        threads: 2,
        profiling: true,
        ..Default::default()
    })
    .unwrap();
    let plugin = plugins::load_c("bgemm").unwrap();
    let (_, report) =
        bgemm::run_round(&mut rt, &plugin, &bgemm::Inputs::random(bgemm::SEED)).unwrap();
    let profile = report.profile.expect("profiled");
    assert_eq!(profile.tasks.len(), 128);

    let svg = chart::gantt_svg(&profile).unwrap();
    let read = read_gantt(&svg, &profile);
    let lanes = chart::lanes(&profile);
    assert_eq!(lanes.len(), 9 + 2, "3 AIC + 6 AIV cores, 2 threads");
    assert!(
        lanes[..3]
            .iter()
            .all(|l| matches!(l, Lane::Core(CoreType::Aic, _)))
            && lanes[3..9]
                .iter()
                .all(|l| matches!(l, Lane::Core(CoreType::Aiv, _))),
        "AIC lanes, then AIV: {lanes:?}"
    );
    assert_eq!(read.per_lane, expected_per_lane(&profile));
    let cores: Vec<String> = lanes[..9].iter().map(|l| l.to_string()).collect();
    assert_eq!(
        read.shares.keys().cloned().collect::<BTreeSet<_>>(),
        cores.into_iter().collect(),
        "a busy share per core, on its lane"
    );
    assert!(read.shares.values().all(|s| (0.0..=100.0).contains(s)));
    for kernel in ["gemm_tile", "tile_add"] {
        assert!(
            read.texts
                .iter()
                .any(|t| t.starts_with(&format!("{kernel} (func "))),
            "legend names {kernel}"
        );
    }

    let path = std::env::temp_dir().join(format!("hostgraph-gantt-{}.svg", std::process::id()));
    chart::write_gantt(&profile, &path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), svg);
    std::fs::remove_file(path).unwrap();
}

fn noop(_: &[u64]) {}

#[test]
fn idle_cores_and_threads_keep_their_lanes() {
    let mut rt = Runtime::new(RuntimeConfig {
        block_dim: 2,
        threads: 2,
        profiling: true,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(3, KernelFn::rust(noop));
    // One AIC task: five of the six cores and one of the two threads idle.
    rt.build(|g| g.add_task(3, CoreType::Aic, &[]).map(drop))
        .unwrap();
    let profile = rt.run().unwrap().profile.expect("profiled");
    let svg = chart::gantt_svg(&profile).unwrap();
    let read = read_gantt(&svg, &profile);
    assert_eq!(chart::lanes(&profile).len(), 6 + 2);
    assert_eq!(read.per_lane, expected_per_lane(&profile));
    assert_eq!(read.per_lane.len(), 2, "one core lane, one thread lane");
    assert_eq!(read.shares.len(), 6, "a busy share per core");
    for (lane, share) in &read.shares {
        if !read.per_lane.contains_key(lane) {
            assert_eq!(*share, 0.0, "{lane} ran nothing");
        }
    }
    assert!(read.texts.iter().any(|t| t == "func 3"), "unnamed kernel");
}

#[test]
fn grouped_bars_have_a_bar_per_row_and_a_label_per_group() {
    let mut bars = vec![];
    for group in ["independent", "chain"] {
        for (s, series) in ["inline (1, 1)", "threaded (1, 1)", "threaded (3, 3)"]
            .into_iter()
            .enumerate()
        {
            let value = 40.0 + 10.0 * s as f64;
            bars.push(Bar {
                group: group.into(),
                series: series.into(),
                value,
                range: (value - 2.0, value + 3.0),
            });
        }
    }
    let svg = chart::grouped_bars_svg("bench", "ns/task", &bars).unwrap();
    let doc = Document::parse(&svg).expect("well-formed SVG");
    let series_fill: Vec<String> = (0..3)
        .map(|s| chart::hex(chart::series_colour(s)))
        .collect();
    let mut per_series = [0; 3];
    for n in doc.descendants().filter(|n| n.has_tag_name("rect")) {
        if let Some(s) = series_fill
            .iter()
            .position(|f| Some(f.as_str()) == n.attribute("fill"))
        {
            per_series[s] += 1;
        }
    }
    assert_eq!(per_series, [2, 2, 2], "a bar per row, one per group");
    let texts: Vec<String> = texts(&doc).into_iter().map(|t| t.0).collect();
    for label in ["independent", "chain", "inline (1, 1)", "threaded (3, 3)"] {
        assert_eq!(
            texts.iter().filter(|t| *t == label).count(),
            1,
            "{label} once"
        );
    }
}
