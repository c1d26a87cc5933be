//! vector_example end to end: f = (a + b + 1) * (a + b + 2) with a = 2,
//! b = 3, checked element by element against the independent reference and
//! against 42, on both platforms over thread counts and block dims, with
//! the C plugin, the Rust plugin, a plugin loaded from its bytes, and the
//! orchestration written for the reference runtime (by path and from bytes).

use std::path::Path;

use hostgraph::{Platform, Plugin, ReferencePlugin, Runtime, RuntimeConfig};
use hostgraph_examples::plugins::{self, Orchestration};
use hostgraph_examples::vector;

/// Thread counts tried on `platform`: 1 to 4, and its maximum.
fn thread_counts(platform: Platform) -> Vec<u32> {
    let max = platform.spec().max_scheduler_threads;
    let mut t: Vec<u32> = (1..=4.min(max)).collect();
    if max > 4 {
        t.push(max);
    }
    t
}

/// Block dims tried on `platform`: 1, 3 and its maximum.
fn block_dims(platform: Platform) -> [u32; 3] {
    [1, 3, platform.spec().max_block_dim]
}

fn runtime(platform: Platform) -> Runtime {
    Runtime::new(RuntimeConfig {
        platform,
        block_dim: 1,
        threads: 1,
        ..Default::default()
    })
    .expect("runtime")
}

/// Loads the plugin at `path`.
fn load(path: &Path) -> Plugin {
    // SAFETY: the plugins are this project's own, built against orchestration_api.h.
    unsafe { Plugin::load(path) }.unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// One round of vector_example with the runtime's configuration; checks
/// every element and the report.
fn check_round(rt: &mut Runtime, plugin: &impl Orchestration, what: &str) {
    let cfg = rt.config();
    let what = format!(
        "{what} on {} block dim {} threads {}",
        cfg.platform, cfg.block_dim, cfg.threads
    );
    let a = vec![2.0f32; vector::ELEMENTS];
    let b = vec![3.0f32; vector::ELEMENTS];
    let (f, report) =
        vector::run_round(rt, plugin, &a, &b).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = vector::reference(&a, &b);
    assert_eq!(f.len(), vector::ELEMENTS, "{what}");
    let bad: Vec<usize> = (0..f.len())
        .filter(|&i| f[i] != want[i] || f[i] != 42.0)
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} elements wrong; f[{i}] = {} (reference {}, want 42)",
            bad.len(),
            f.len(),
            f[i],
            want[i]
        );
    }
    assert_eq!(report.tasks, 4, "{what}: tasks");
    assert_eq!(
        (report.aic_tasks, report.aiv_tasks),
        (0, 4),
        "{what}: AIV only"
    );
    assert_eq!(report.threads, cfg.threads as usize, "{what}: threads");
}

#[test]
fn c_plugin_on_every_configuration() {
    let plugin = load(&plugins::c_plugin("vector_example"));
    for platform in Platform::ALL {
        let mut rt = runtime(platform);
        for block_dim in block_dims(platform) {
            for threads in thread_counts(platform) {
                rt.reconfigure(block_dim, threads).unwrap();
                check_round(&mut rt, &plugin, "C plugin");
            }
        }
    }
}

#[test]
fn rust_plugin() {
    let plugin = load(&plugins::rust_plugin("vector"));
    for (platform, block_dim, threads) in [
        (Platform::A2A3, 1, 1),
        (Platform::A2A3, 24, 4),
        (Platform::A5, 3, 7),
    ] {
        let mut rt = runtime(platform);
        rt.reconfigure(block_dim, threads).unwrap();
        check_round(&mut rt, &plugin, "Rust plugin");
    }
}

#[test]
fn c_plugin_loaded_from_bytes() {
    let path = plugins::c_plugin("vector_example");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    // SAFETY: the bytes are this project's own plugin, built against orchestration_api.h.
    let plugin = unsafe { Plugin::from_bytes(&bytes, "entry") }.expect("plugin from bytes");
    assert_eq!(plugin.entry_name(), "entry");
    for platform in Platform::ALL {
        let mut rt = runtime(platform);
        for (block_dim, threads) in [(1, 2), (3, 3)] {
            rt.reconfigure(block_dim, threads).unwrap();
            check_round(&mut rt, &plugin, "C plugin from bytes");
        }
    }
}

/// The reference-runtime orchestration `examples/orch_ref/vector_example.cpp`
/// on both platforms at two configurations each.
#[test]
fn reference_runtime_plugin() {
    let plugin = plugins::load_ref("vector_example", "build_example_graph")
        .expect("load the reference-runtime plugin");
    for (platform, configs) in [
        (Platform::A2A3, [(1, 1), (24, 4)]),
        (Platform::A5, [(3, 2), (36, 7)]),
    ] {
        let mut rt = runtime(platform);
        for (block_dim, threads) in configs {
            rt.reconfigure(block_dim, threads).unwrap();
            check_round(&mut rt, &plugin, "reference-runtime plugin");
        }
    }
}

#[test]
fn reference_runtime_plugin_loaded_from_bytes() {
    let path = plugins::ref_plugin("vector_example");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    // SAFETY: the bytes are this project's own reference-runtime plugin.
    let plugin = unsafe { ReferencePlugin::from_bytes(&bytes, "build_example_graph") }
        .expect("reference plugin from bytes");
    assert_eq!(plugin.entry_name(), "build_example_graph");
    let mut rt = runtime(Platform::A5);
    rt.reconfigure(2, 3).unwrap();
    check_round(&mut rt, &plugin, "reference-runtime plugin from bytes");
}
