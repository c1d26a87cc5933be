//! Profiling: every task gets a record with consistent times on the core
//! that ran it; the trace is valid Chrome trace JSON with a named process,
//! a named track per discovered core and per scheduler thread, and slices
//! named after their kernels; off means no records.

use std::collections::{BTreeMap, BTreeSet};

use hostgraph::profile::RunInfo;
use hostgraph::{CoreType, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig};
use hostgraph_examples::plugins::c_plugin;
use serde_json::Value;

fn spin(args: &[u64]) {
    let until = std::time::Instant::now() + std::time::Duration::from_micros(args[0]);
    while std::time::Instant::now() < until {}
}

fn diamond_chain<E: hostgraph::backend::Backend>(rt: &mut Runtime<E>) {
    rt.register_kernel(4, KernelFn::rust(spin));
    rt.build(|g| {
        let mut prev = g.add_task(4, CoreType::Aic, &[20])?;
        for i in 0..30 {
            let l = g.add_task(4, CoreType::Aiv, &[10])?;
            let r = g.add_task(4, CoreType::Aiv, &[10])?;
            let j = g.add_task(
                4,
                if i % 2 == 0 {
                    CoreType::Aic
                } else {
                    CoreType::Aiv
                },
                &[5],
            )?;
            for (a, b) in [(prev, l), (prev, r), (l, j), (r, j)] {
                g.add_successor(a, b)?;
            }
            prev = j;
        }
        Ok(())
    })
    .unwrap();
}

fn check_profile<E: hostgraph::backend::Backend>(mut rt: Runtime<E>, label: &str) {
    diamond_chain(&mut rt);
    assert!(rt.run().unwrap().profile.is_none(), "off by default");
    rt.set_profiling(true);
    let report = rt.run().unwrap();
    let p = report.profile.expect("profile when on");
    assert_eq!(p.tasks.len(), 91);
    for r in &p.tasks {
        assert!(
            r.dispatch_ns <= r.start_ns && r.start_ns < r.end_ns,
            "{r:?}"
        );
        assert!(
            r.end_ns - r.start_ns >= 4_000,
            "kernel spins >= 5 us: {r:?}"
        );
        assert_eq!(r.func_id, 4);
        let aic = r.physical_id < rt.backend().spec().max_block_dim;
        assert_eq!(aic, r.core_type == CoreType::Aic, "{r:?}");
    }
    // Successors start after their predecessors end: task 3k+1, 3k+2 after 3k.
    for k in 0..30 {
        let (a, l, r, j) = (
            &p.tasks[3 * k],
            &p.tasks[3 * k + 1],
            &p.tasks[3 * k + 2],
            &p.tasks[3 * k + 3],
        );
        assert!(
            l.start_ns >= a.end_ns
                && r.start_ns >= a.end_ns
                && j.start_ns >= l.end_ns.max(r.end_ns)
        );
    }
    // Times count from the first dispatch; the window ends with the last
    // completion, inside the run's execute time.
    assert_eq!(p.tasks.iter().map(|r| r.dispatch_ns).min(), Some(0));
    assert_eq!(
        p.tasks.iter().map(|r| u128::from(r.end_ns)).max(),
        Some(p.window.as_nanos())
    );
    assert!(
        p.window <= report.execute,
        "{:?} > {:?}",
        p.window,
        report.execute
    );
    let usage = p.core_usage();
    assert_eq!(usage.iter().map(|u| u.tasks).sum::<usize>(), 91);
    assert!(
        usage
            .iter()
            .all(|u| u.busy + u.idle >= p.window.min(u.busy))
    );
    let json = p.chrome_trace();
    let events = json["traceEvents"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 91);
    assert_eq!(events.iter().filter(|e| e["ph"] == "i").count(), 91);
    let path = std::env::temp_dir().join(format!(
        "hostgraph-trace-{label}-{}.json",
        std::process::id()
    ));
    p.write_chrome_trace(&path).unwrap();
    let back: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, json);
    std::fs::remove_file(&path).unwrap();
    // A trace that cannot be written names where it was going.
    let nowhere = path.join("no-such-dir").join("trace.json");
    let e = p.write_chrome_trace(&nowhere).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert!(
        e.to_string().contains(&nowhere.display().to_string()),
        "{e}"
    );
    assert!(p.summary().contains("91 tasks"));
    rt.set_profiling(false);
    assert!(rt.run().unwrap().profile.is_none());
    rt.finalize().unwrap();
}

#[test]
fn threaded_profile() {
    check_profile(Runtime::new(RuntimeConfig::default()).unwrap(), "threaded");
}

#[test]
fn inline_profile() {
    let cfg = RuntimeConfig {
        platform: Platform::A5,
        ..Default::default()
    };
    check_profile(
        Runtime::with_backend(cfg, InlineSim::new(Platform::A5)).unwrap(),
        "inline",
    );
}

/// The events of `trace` with phase `ph` and name `name`.
fn events<'a>(trace: &'a Value, ph: &str, name: &str) -> Vec<&'a Value> {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == ph && e["name"] == name)
        .collect()
}

#[test]
fn trace_names_the_process_every_core_and_thread_and_the_kernels() {
    let mut rt = Runtime::new(RuntimeConfig {
        profiling: true,
        ..Default::default()
    })
    .unwrap();
    rt.register_kernel(1, KernelFn::rust(spin).named("spin_aic"));
    rt.register_kernel(2, KernelFn::rust(spin));
    // AIC tasks only: the six AIV cores of block dim 3 run nothing.
    rt.build(|g| {
        let mut prev = g.add_task(1, CoreType::Aic, &[5])?;
        for _ in 0..3 {
            let t = g.add_task(1, CoreType::Aic, &[5])?;
            g.add_successor(prev, t)?;
            prev = t;
        }
        g.add_task(2, CoreType::Aic, &[5]).map(drop)
    })
    .unwrap();
    let p = rt.run().unwrap().profile.expect("profiled");
    assert_eq!(
        p.run,
        RunInfo {
            platform: Platform::A2A3,
            block_dim: 3,
            threads: 3
        }
    );
    assert_eq!(p.cores.len(), 9, "3 AIC + 6 AIV discovered");
    assert_eq!(p.kernel_name(1), Some("spin_aic"));
    assert_eq!(p.kernel_name(2), None);
    let usage = p.core_usage();
    assert_eq!(usage.len(), 9, "every discovered core, idle ones too");
    assert!(usage.iter().filter(|u| u.tasks == 0).count() >= 6);
    assert!(p.summary().contains("of 9 cores"), "{}", p.summary());

    let trace = p.chrome_trace();
    let process = events(&trace, "M", "process_name");
    assert_eq!(process.len(), 1);
    assert_eq!(
        process[0]["args"]["name"],
        "hostgraph a2a3, block dim 3, 3 scheduler threads"
    );
    let threads = events(&trace, "M", "thread_name");
    let named: BTreeSet<(u64, String)> = threads
        .iter()
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: BTreeSet<(u64, String)> = p
        .cores
        .iter()
        .map(|c| {
            (
                u64::from(c.physical_id),
                format!("{} core {}", c.core_type, c.physical_id),
            )
        })
        .collect();
    assert_eq!(want.iter().filter(|(_, n)| n.starts_with("AIV")).count(), 6);
    want.extend((0..3).map(|t| (10_000 + t, format!("AICPU scheduler {t}"))));
    assert_eq!(named, want, "one named track per core and per thread");
    assert_eq!(threads.len(), want.len(), "no track named twice");

    assert_eq!(events(&trace, "X", "spin_aic").len(), 4);
    assert_eq!(events(&trace, "X", "func 2").len(), 1);
    rt.finalize().unwrap();
}

#[test]
fn a_kernel_loaded_from_an_object_is_named_after_its_symbol() {
    let mut rt = Runtime::new(RuntimeConfig {
        profiling: true,
        ..Default::default()
    })
    .unwrap();
    // SAFETY: our own kernel object; `scale_by_two` has the kernel signature.
    let k = unsafe { KernelFn::load(c_plugin("kernel_scale"), "scale_by_two") }.unwrap();
    assert_eq!(k.name(), Some("scale_by_two"));
    rt.register_kernel(5, k);
    let mut data = vec![1.0f32; 64];
    rt.build(|g| {
        // SAFETY: `data` outlives finalize below.
        let dev = unsafe { g.output(&mut data)? };
        g.add_task(5, CoreType::Aiv, &[dev, 64]).map(drop)
    })
    .unwrap();
    let p = rt.run().unwrap().profile.expect("profiled");
    assert_eq!(events(&p.chrome_trace(), "X", "scale_by_two").len(), 1);
    rt.finalize().unwrap();
    assert!(data.iter().all(|&x| x == 2.0));
}

#[test]
fn trace_counts_ready_tasks_per_core_type_at_each_dispatch() {
    // 40 independent AIV tasks on one block (2 AIV cores), inline: the
    // first dispatch leaves 39 ready, the last none.
    let config = RuntimeConfig {
        block_dim: 1,
        threads: 1,
        profiling: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(0, KernelFn::rust(|_| {}));
    rt.build(|g| {
        for _ in 0..40 {
            g.add_task(0, CoreType::Aiv, &[])?;
        }
        Ok(())
    })
    .unwrap();
    let report = rt.run().unwrap();
    let trace = report.profile.as_ref().unwrap().chrome_trace();
    let counters: Vec<u64> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| {
            assert_eq!(e["name"], "ready AIV");
            e["args"]["tasks"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(counters.len(), 40, "one sample per dispatch");
    assert_eq!(counters.first(), Some(&39));
    assert_eq!(counters.last(), Some(&0));
    assert!(counters.windows(2).all(|w| w[1] <= w[0]), "{counters:?}");
    rt.finalize().unwrap();
}

/// A cost model from a profile holds each kernel's measured durations: its
/// estimate is their mean, and every draw is one of them (the spread of
/// the real kernels, not only their mean); a func_id the run did not have
/// draws from every task's.
#[test]
fn a_cost_model_from_a_profile_draws_the_measured_durations() {
    use hostgraph::cost::CostModel;
    let config = RuntimeConfig {
        block_dim: 2,
        threads: 1,
        profiling: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, InlineSim::new(Platform::A2A3)).unwrap();
    rt.register_kernel(1, KernelFn::rust(spin));
    rt.register_kernel(2, KernelFn::rust(spin));
    rt.build(|g| {
        for i in 0..12u64 {
            g.add_task(1 + (i % 2) as i32, CoreType::Aiv, &[1 + i % 4 * 10])?;
        }
        Ok(())
    })
    .unwrap();
    let profile = rt.run().unwrap().profile.expect("profiled");
    let model = CostModel::from_profile(&profile);
    let of = |f: Option<i32>| -> Vec<u64> {
        let mut d: Vec<u64> = profile
            .tasks
            .iter()
            .filter(|r| f.is_none_or(|f| r.func_id == f))
            .map(|r| r.end_ns - r.start_ns)
            .collect();
        d.sort_unstable();
        d
    };
    let mut draws = model.sampler(9);
    for (f, key) in [(1, Some(1)), (2, Some(2)), (7, None)] {
        let measured = of(key);
        assert_eq!(measured.len(), if key.is_some() { 6 } else { 12 });
        let mean = measured.iter().sum::<u64>() / measured.len() as u64;
        assert_eq!(model.estimate(f, &[]), mean, "func {f}");
        let drawn: BTreeSet<u64> = (0..400).map(|_| draws.sample(f, &[])).collect();
        assert!(
            drawn.iter().all(|d| measured.binary_search(d).is_ok()),
            "func {f}: drew {drawn:?}, measured {measured:?}"
        );
        assert!(drawn.len() > 1, "func {f}: the spread, not one value");
    }
    rt.finalize().unwrap();
}

/// On a chip with more than 10,000 cores, the scheduler threads' tracks
/// are numbered above every core's, so no track id is named twice and no
/// kernel slice lands on a scheduler's track. Before, core 10,000 + t and
/// scheduler t shared a track. Found by a hostile review.
#[test]
fn scheduler_tracks_stay_clear_of_cores_on_a_very_large_chip() {
    use hostgraph::cost::{Cost, CostModel};
    let spec = hostgraph::hostgraph_platform::PlatformSpec {
        max_block_dim: 3_400,
        ..*hostgraph::Platform::A2A3.spec()
    };
    let backend = hostgraph::VirtualTime::new(spec, CostModel::new(Cost::Constant(1_000)), 1);
    let config = RuntimeConfig {
        block_dim: 3_400,
        threads: 4,
        profiling: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, backend).unwrap();
    rt.register_kernel(0, KernelFn::rust(|_| {}));
    rt.build(|g| {
        for _ in 0..7_000 {
            g.add_task(0, CoreType::Aiv, &[])?;
        }
        Ok(())
    })
    .unwrap();
    let p = rt.run().unwrap().profile.unwrap();
    assert!(p.tasks.iter().any(|r| r.physical_id >= 10_000));
    let trace = p.chrome_trace();
    let threads = events(&trace, "M", "thread_name");
    let mut named: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in &threads {
        let name = e["args"]["name"].as_str().unwrap().to_string();
        named
            .entry(e["tid"].as_u64().unwrap())
            .or_default()
            .push(name);
    }
    let twice: Vec<_> = named.iter().filter(|(_, n)| n.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "tracks named twice: {:?}",
        &twice[..twice.len().min(3)]
    );
    for t in 0..4u64 {
        assert_eq!(named[&(100_000 + t)], [format!("AICPU scheduler {t}")]);
    }
    rt.finalize().unwrap();
}

/// A profiled virtual-time runtime of one block and one thread whose
/// kernel 0 lasts as many ns as its task's first argument word.
fn profiled_in_virtual_time() -> Runtime<hostgraph::VirtualTime> {
    use hostgraph::cost::{Cost, CostModel};
    let model = CostModel::new(Cost::per_task(|a| a[0]));
    let backend = hostgraph::VirtualTime::new(*Platform::A2A3.spec(), model, 0);
    let config = RuntimeConfig {
        block_dim: 1,
        threads: 1,
        profiling: true,
        ..Default::default()
    };
    let mut rt = Runtime::with_backend(config, backend).unwrap();
    rt.register_kernel(0, KernelFn::rust(|_| {}));
    rt
}

/// Back-to-back slices of one core never overlap in the trace, even at
/// virtual times where microseconds as f64 round (~2^53 ns): the slice
/// ends at its end's rounding. (The duration was rounded on its own and
/// could reach past the next slice's start. Found by a hostile review.)
#[test]
fn back_to_back_slices_of_long_kernels_do_not_overlap_in_the_trace() {
    const D0: u64 = 42_451_386_064_568_862;
    let mut rt = profiled_in_virtual_time();
    rt.build(|g| {
        g.add_task(0, CoreType::Aic, &[D0])?;
        g.add_task(0, CoreType::Aic, &[1_000])?;
        Ok(())
    })
    .unwrap();
    let profile = rt.run().unwrap().profile.unwrap();
    let (a, b) = (profile.tasks[0], profile.tasks[1]);
    assert_eq!(
        (a.physical_id, a.end_ns),
        (b.physical_id, b.start_ns),
        "pipelined on one core"
    );
    let v: Value =
        serde_json::from_str(&serde_json::to_string(&profile.chrome_trace()).unwrap()).unwrap();
    let slice = |task: u64| {
        let e = v["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ph"] == "X" && e["args"]["task"] == task)
            .unwrap();
        (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap())
    };
    let ((ts0, dur0), (ts1, _)) = (slice(0), slice(1));
    assert!(
        ts0 + dur0 <= ts1,
        "task 0 [{ts0} + {dur0}] overlaps task 1 [{ts1}]"
    );
}

/// Short kernels late in a long run: a slice's duration is cut to fit its
/// end's rounding in a step or two (it was lowered one ulp of the short
/// duration at a time, until it fit within one ulp of the late start:
/// some 10^12 steps here, hours). Bounded by a watchdog, not timed: the
/// trace takes microseconds.
#[test]
fn short_slices_late_in_a_long_run_are_cut_to_fit_at_once() {
    let mut rt = profiled_in_virtual_time();
    rt.build(|g| {
        let mut prev = g.add_task(0, CoreType::Aiv, &[10_000_000_000_000])?;
        for i in 0..50u64 {
            let t = g.add_task(0, CoreType::Aiv, &[1 + i % 7])?;
            g.add_successor(prev, t)?;
            prev = t;
        }
        Ok(())
    })
    .unwrap();
    let profile = rt.run().unwrap().profile.unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let records = profile.tasks.clone();
    std::thread::spawn(move || tx.send(profile.chrome_trace()));
    let trace = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the trace was not written within a minute");
    let v: Value = serde_json::from_str(&serde_json::to_string(&trace).unwrap()).unwrap();
    let slices: Vec<&Value> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(slices.len(), 51);
    for e in slices {
        let r = records[e["args"]["task"].as_u64().unwrap() as usize];
        let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
        let end = r.end_ns as f64 / 1e3;
        assert!(
            dur >= 0.0 && ts + dur <= end,
            "task {}: {ts} + {dur} past {end}",
            r.task
        );
    }
}
