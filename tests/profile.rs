//! Profiling: every task gets a record with consistent times on the core
//! that ran it; the trace is valid Chrome trace JSON; off means no records.

use hostgraph::{CoreType, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig};

fn spin(args: &[u64]) {
    let until = std::time::Instant::now() + std::time::Duration::from_micros(args[0]);
    while std::time::Instant::now() < until {}
}

fn diamond_chain<E: hostgraph::Executor>(rt: &mut Runtime<E>) {
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

fn check_profile<E: hostgraph::Executor>(mut rt: Runtime<E>, label: &str) {
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
        let aic = r.physical_id < rt.executor().spec().max_block_dim;
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
    let back: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, json);
    std::fs::remove_file(path).unwrap();
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
        Runtime::with_executor(cfg, InlineSim::new(Platform::A5)).unwrap(),
        "inline",
    );
}
