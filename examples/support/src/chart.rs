//! Pictures drawn with `plotters` as SVG, readable in any browser or image
//! viewer (no trace viewer, nothing downloaded): a swimlane (Gantt) chart of
//! a profiled run ([`gantt_svg`]) and grouped bars of bench results
//! ([`grouped_bars_svg`]).
//!
//! What the charts are made of, so tests can check them by structure:
//! - Gantt: a text label per lane (`AIC core N`, `AIV core N`, then
//!   `scheduler N`), vertically centred on its lane; one filled rectangle
//!   per task on its core's lane, in [`kernel_colour`] of its func_id; one
//!   vertical line per dispatch on its scheduler thread's lane, in the same
//!   colour; in the utilisation strip, one `NN.N%` text per core; legend
//!   swatches are circles.
//! - Bars: one filled rectangle per bar, in [`series_colour`] of its series;
//!   a text label per group under the axis; legend swatches are circles.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use hostgraph::CoreType;
use hostgraph::profile::Profile;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DrawResult = Result<(), Box<dyn Error + Send + Sync>>;

/// Distinct colours, none of them grey (greys are the chart's own lines).
const PALETTE: [RGBColor; 9] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x9C, 0x75, 0x5F),
];

/// Colour of the utilisation bars (not in the palette).
const BUSY: RGBColor = RGBColor(0x55, 0x55, 0x66);
const SEPARATOR: RGBColor = RGBColor(0x99, 0x99, 0x99);
const FONT: &str = "sans-serif";
const WIDTH: u32 = 1400;
/// Width of the utilisation strip at the right of a Gantt chart.
const STRIP: u32 = 230;
const LEGEND_ROW: u32 = 22;

/// The colour of kernel `func_id`'s bars and dispatch marks.
pub fn kernel_colour(func_id: i32) -> RGBColor {
    PALETTE[func_id.rem_euclid(PALETTE.len() as i32) as usize]
}

/// The colour of the `series`-th series of a bar chart: the palette, then
/// the palette darkened by a third, then by two thirds (27 colours, then
/// again).
pub fn series_colour(series: usize) -> RGBColor {
    let RGBColor(r, g, b) = PALETTE[series % PALETTE.len()];
    let keep = |c: u8| (u32::from(c) * (3 - (series / PALETTE.len() % 3) as u32) / 3) as u8;
    RGBColor(keep(r), keep(g), keep(b))
}

/// `#RRGGBB`, as the SVG backend writes colours.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// One lane of a Gantt chart, top to bottom: cores (AIC, then AIV, by
/// physical id), then scheduler threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A core, by physical id.
    Core(CoreType, u32),
    /// A scheduler thread.
    Scheduler(u32),
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lane::Core(ty, id) => write!(f, "{ty} core {id}"),
            Lane::Scheduler(t) => write!(f, "scheduler {t}"),
        }
    }
}

/// The lanes of `profile`'s chart: every discovered core (AIC first), then
/// every scheduler thread.
pub fn lanes(profile: &Profile) -> Vec<Lane> {
    let usage = profile.core_usage();
    let cores = |ty: CoreType| {
        usage
            .iter()
            .filter(move |u| u.core_type == ty)
            .map(move |u| Lane::Core(ty, u.physical_id))
    };
    cores(CoreType::Aic)
        .chain(cores(CoreType::Aiv))
        .chain(profile.scheduler_threads().into_iter().map(Lane::Scheduler))
        .collect()
}

/// A time unit that keeps axis figures short for a window of `ns`.
fn time_unit(ns: u64) -> (&'static str, f64) {
    match ns {
        0..10_000 => ("ns", 1.0),
        10_000..10_000_000 => ("µs", 1e3),
        _ => ("ms", 1e6),
    }
}

/// Draws `profile` as a swimlane chart: a lane per core (AIC, then AIV)
/// with a bar per kernel, coloured by func_id; a lane per scheduler thread
/// with a mark per dispatch; a time axis; a strip of each core's busy
/// fraction; a legend of the kernels (by name where one is registered).
/// Bars shorter than a pixel are drawn one pixel wide.
pub fn gantt_svg(profile: &Profile) -> std::io::Result<String> {
    let mut svg = String::new();
    draw_gantt(profile, &mut svg).map_err(std::io::Error::other)?;
    Ok(svg)
}

/// Writes [`gantt_svg`] of `profile` to `path`.
pub fn write_gantt(profile: &Profile, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, gantt_svg(profile)?)
}

fn draw_gantt(profile: &Profile, svg: &mut String) -> DrawResult {
    let lanes = lanes(profile);
    let n = lanes.len() as f64;
    let lane_px = if lanes.len() <= 40 { 22 } else { 14 };
    let mut funcs: Vec<i32> = profile.tasks.iter().map(|r| r.func_id).collect();
    funcs.sort_unstable();
    funcs.dedup();
    let legend: Vec<(String, RGBColor)> = funcs
        .iter()
        .map(|&f| {
            let label = match profile.kernel_name(f) {
                Some(name) => format!("{name} (func {f})"),
                None => format!("func {f}"),
            };
            (label, kernel_colour(f))
        })
        .collect();
    let legend_rows = legend_rows(&legend, WIDTH - 40);
    let height = 50 + lanes.len() as u32 * lane_px + 60 + LEGEND_ROW * legend_rows.len() as u32;
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}: {} tasks in {:.1?}",
        profile.run,
        profile.tasks.len(),
        profile.window
    );
    let body = root.titled(&title, (FONT, 20))?;
    let (charts, legend_area) =
        body.split_vertically(body.dim_in_pixel().1 - LEGEND_ROW * legend_rows.len() as u32);
    let (gantt_area, strip_area) = charts.split_horizontally(WIDTH - STRIP);

    let window_ns = profile.window.as_nanos() as u64;
    let (unit, per) = time_unit(window_ns);
    let x_max = (window_ns.max(1) as f64 / per) * 1.01;
    let mut chart = ChartBuilder::on(&gantt_area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(110)
        .build_cartesian_2d(0f64..x_max, 0f64..n)?;
    let x_desc = format!("time since the first dispatch ({unit})");
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_desc)
        .x_label_formatter(&|v| format!("{v}"))
        .draw()?;
    // Lane i spans y in [n - i - 1, n - i]: the first lane on top.
    let row = |i: usize| n - i as f64 - 1.0;
    let lane_of: BTreeMap<(bool, u32), usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, l)| match *l {
            Lane::Core(_, id) => ((true, id), i),
            Lane::Scheduler(t) => ((false, t), i),
        })
        .collect();
    let label_style =
        TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, lane) in lanes.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, row(i) + 0.5));
        root.draw(&Text::new(
            lane.to_string(),
            (x - 8, y),
            label_style.clone(),
        ))?;
    }
    // Lines between the AIC, AIV and scheduler groups.
    for i in 1..lanes.len() {
        let group = |l: &Lane| match l {
            Lane::Core(CoreType::Aic, _) => 0,
            Lane::Core(CoreType::Aiv, _) => 1,
            Lane::Scheduler(_) => 2,
        };
        if group(&lanes[i - 1]) != group(&lanes[i]) {
            let y = row(i) + 1.0;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, y), (x_max, y)],
                SEPARATOR.stroke_width(1),
            )))?;
        }
    }
    let px = x_max / f64::from(gantt_area.dim_in_pixel().0.max(1));
    let t = |ns: u64| ns as f64 / per;
    chart.draw_series(profile.tasks.iter().map(|r| {
        let y = row(lane_of[&(true, r.physical_id)]);
        let (x0, x1) = (t(r.start_ns), t(r.end_ns).max(t(r.start_ns) + px));
        Rectangle::new(
            [(x0, y + 0.15), (x1, y + 0.85)],
            kernel_colour(r.func_id).filled(),
        )
    }))?;
    chart.draw_series(profile.tasks.iter().map(|r| {
        let y = row(lane_of[&(false, r.thread)]);
        let x = t(r.dispatch_ns);
        PathElement::new(
            vec![(x, y + 0.2), (x, y + 0.8)],
            kernel_colour(r.func_id).stroke_width(1),
        )
    }))?;

    draw_strip(profile, &strip_area, &lanes, &row)?;
    draw_legend(&legend_area, &legend_rows)?;
    root.present()?;
    Ok(())
}

/// The utilisation strip: per core lane, its busy share of the window as a
/// bar and a percentage; per scheduler lane, the tasks it dispatched.
fn draw_strip(
    profile: &Profile,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    lanes: &[Lane],
    row: &dyn Fn(usize) -> f64,
) -> DrawResult {
    let mut strip = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(40)
        .build_cartesian_2d(0f64..150f64, 0f64..lanes.len() as f64)?;
    strip
        .configure_mesh()
        .disable_mesh()
        .y_labels(0)
        .x_labels(4)
        .x_desc("busy (% of the window)")
        .x_label_formatter(&|v| {
            if *v <= 100.0 {
                format!("{v}")
            } else {
                String::new()
            }
        })
        .draw()?;
    let usage: BTreeMap<u32, f64> = profile
        .core_usage()
        .iter()
        .map(|u| {
            let share = u.busy.as_secs_f64() / profile.window.as_secs_f64().max(f64::MIN_POSITIVE);
            (u.physical_id, 100.0 * share.min(1.0))
        })
        .collect();
    let mut dispatched: BTreeMap<u32, usize> = BTreeMap::new();
    for r in &profile.tasks {
        *dispatched.entry(r.thread).or_default() += 1;
    }
    let text = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, lane) in lanes.iter().enumerate() {
        let y = row(i);
        match *lane {
            Lane::Core(_, id) => {
                let pct = usage[&id];
                strip.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (pct, y + 0.85)],
                    BUSY.filled(),
                )))?;
                strip.draw_series(std::iter::once(Text::new(
                    format!("{pct:.1}%"),
                    (pct + 3.0, y + 0.5),
                    text.clone(),
                )))?;
            }
            Lane::Scheduler(t) => {
                let n = dispatched.get(&t).copied().unwrap_or(0);
                strip.draw_series(std::iter::once(Text::new(
                    format!("{n} dispatched"),
                    (3.0, y + 0.5),
                    text.clone(),
                )))?;
            }
        }
    }
    Ok(())
}

/// Legend entries laid out in rows no wider than `width` pixels.
fn legend_rows(entries: &[(String, RGBColor)], width: u32) -> Vec<Vec<(String, RGBColor)>> {
    let mut rows: Vec<Vec<(String, RGBColor)>> = vec![];
    let mut used = width;
    for e in entries {
        let w = entry_width(&e.0);
        if used + w > width {
            rows.push(vec![]);
            used = 0;
        }
        used += w;
        rows.last_mut().expect("a row").push(e.clone());
    }
    rows
}

/// Pixels a legend entry takes: swatch, label (estimated at 7 px a
/// character), gap.
fn entry_width(label: &str) -> u32 {
    30 + 7 * label.chars().count() as u32
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[Vec<(String, RGBColor)>],
) -> DrawResult {
    let text = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (r, entries) in rows.iter().enumerate() {
        let y = (r as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        let mut x = 20;
        for (label, colour) in entries {
            area.draw(&Circle::new((x + 6, y), 6, colour.filled()))?;
            area.draw(&Text::new(label.clone(), (x + 18, y), text.clone()))?;
            x += entry_width(label) as i32;
        }
    }
    Ok(())
}

/// One bar of a grouped bar chart: its group (along the x axis), its
/// series (colour and legend), its value and the range it varied over.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The x-axis group.
    pub group: String,
    /// The series (one colour per series, in order of first appearance).
    pub series: String,
    /// Height of the bar.
    pub value: f64,
    /// Low and high end of a whisker over the bar (e.g. min and max).
    pub range: (f64, f64),
}

/// Draws `bars` as grouped bars: one group per distinct `group` (in order
/// of first appearance), one bar per series within it, min–max whiskers,
/// each bar's value on top, a legend of the series.
pub fn grouped_bars_svg(title: &str, y_desc: &str, bars: &[Bar]) -> std::io::Result<String> {
    grouped_bar_panels_svg(title, y_desc, &[(String::new(), bars.to_vec())])
}

/// [`grouped_bars_svg`] for several sets of bars, one panel each, stacked
/// under one title, with its caption (`panels[i].0`) and one legend for
/// all (a series keeps its colour across panels).
pub fn grouped_bar_panels_svg(
    title: &str,
    y_desc: &str,
    panels: &[(String, Vec<Bar>)],
) -> std::io::Result<String> {
    let mut svg = String::new();
    draw_bars(title, y_desc, panels, &mut svg).map_err(std::io::Error::other)?;
    Ok(svg)
}

/// Distinct values of `key` over `bars`, in order of first appearance.
fn distinct<'a>(
    bars: impl IntoIterator<Item = &'a Bar>,
    key: impl Fn(&'a Bar) -> &'a str,
) -> Vec<&'a str> {
    let mut seen: Vec<&str> = vec![];
    for b in bars {
        if !seen.contains(&key(b)) {
            seen.push(key(b));
        }
    }
    seen
}

/// Height of one panel of grouped bars, in pixels.
const PANEL: u32 = 520;

fn draw_bars(
    title: &str,
    y_desc: &str,
    panels: &[(String, Vec<Bar>)],
    svg: &mut String,
) -> DrawResult {
    let series = distinct(panels.iter().flat_map(|(_, bars)| bars), |b| &b.series);
    let legend: Vec<(String, RGBColor)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.to_string(), series_colour(i)))
        .collect();
    let legend_rows = legend_rows(&legend, WIDTH - 40);
    let height = 40 + PANEL * panels.len().max(1) as u32 + LEGEND_ROW * legend_rows.len() as u32;
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 20))?;
    let (plot_area, legend_area) =
        body.split_vertically(body.dim_in_pixel().1 - LEGEND_ROW * legend_rows.len() as u32);
    let areas = plot_area.split_evenly((panels.len().max(1), 1));
    for (area, (caption, bars)) in areas.iter().zip(panels) {
        draw_panel(&root, area, caption, y_desc, bars, &series)?;
    }
    draw_legend(&legend_area, &legend_rows)?;
    root.present()?;
    Ok(())
}

/// One panel of grouped bars in `area`, a series' colour by its place in
/// `series`; group labels are drawn on `root` under the axis.
fn draw_panel(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    y_desc: &str,
    bars: &[Bar],
    series: &[&str],
) -> DrawResult {
    let groups = distinct(bars, |b| &b.group);
    let shown = distinct(bars, |b| &b.series);
    let top = bars
        .iter()
        .map(|b| b.value.max(b.range.1))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if !caption.is_empty() {
        builder.caption(caption, (FONT, 16));
    }
    let mut chart = builder.build_cartesian_2d(0f64..groups.len().max(1) as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    // Each group takes one x unit: the panel's series side by side in its
    // middle 80%.
    let slot = 0.8 / shown.len().max(1) as f64;
    let x_of = |b: &Bar| {
        let g = groups.iter().position(|g| *g == b.group).expect("group");
        let s = shown.iter().position(|s| *s == b.series).expect("series");
        (
            g as f64 + 0.1 + s as f64 * slot,
            colour_of(series, &b.series),
        )
    };
    chart.draw_series(bars.iter().map(|b| {
        let (x, colour) = x_of(b);
        Rectangle::new(
            [(x + 0.1 * slot, 0.0), (x + 0.9 * slot, b.value)],
            colour.filled(),
        )
    }))?;
    chart.draw_series(bars.iter().map(|b| {
        let x = x_of(b).0 + slot / 2.0;
        PathElement::new(vec![(x, b.range.0), (x, b.range.1)], BLACK.stroke_width(1))
    }))?;
    let value_style =
        TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(bars.iter().map(|b| {
        let x = x_of(b).0 + slot / 2.0;
        Text::new(
            format!("{:.0}", b.value),
            (x, b.value.max(b.range.1) + top * 0.01),
            value_style.clone(),
        )
    }))?;
    let group_style =
        TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (g, name) in groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            name.to_string(),
            (x, y + 8),
            group_style.clone(),
        ))?;
    }
    Ok(())
}

/// The colour of `name` among all `series`.
fn colour_of(series: &[&str], name: &str) -> RGBColor {
    series_colour(series.iter().position(|s| *s == name).expect("series"))
}
