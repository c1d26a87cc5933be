//! The matmul example end to end: the diamond (2 AIC + 2 AIV tasks) that
//! the C plugin and the reference-runtime orchestration build matches the
//! independent reference and e² on a2a3 and a5, at 1 and 3 scheduler
//! threads and at block dim 1 and the platform's maximum.

use hostgraph::{Error, OwnedArgs, Platform, Plugin, Runtime, RuntimeConfig};
use hostgraph_examples::matmul;
use hostgraph_examples::plugins::{self, AnyPlugin, Orchestration};
use hostgraph_orch_abi::{DType, OrchTensor};

fn plugin() -> Plugin {
    plugins::load_c("matmul").expect("load the matmul plugin")
}

fn reference_plugin() -> AnyPlugin {
    plugins::load_ref("matmul", "build_matmul_graph")
        .expect("load the reference-runtime matmul plugin")
        .into()
}

fn runtime(platform: Platform) -> Runtime {
    Runtime::new(RuntimeConfig {
        platform,
        ..Default::default()
    })
    .expect("runtime")
}

/// Runs a round per (threads, block dim) on one runtime of `platform` and
/// checks the graph shape and every element of each result.
fn matches_reference(platform: Platform, plugin: &impl Orchestration) {
    let inputs = matmul::Inputs::new();
    let want = matmul::reference(&inputs);
    let e2 = vec![matmul::EXPECTED; want.len()];
    let mut rt = runtime(platform);
    for threads in [1, 3] {
        for block_dim in [1, platform.spec().max_block_dim] {
            let case = format!(
                "{:?} plugin on {platform} threads {threads} block dim {block_dim}",
                plugin.abi()
            );
            rt.reconfigure(block_dim, threads).expect("reconfigure");
            let (f, report) = matmul::run_round(&mut rt, plugin, &inputs)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                (report.tasks, report.aic_tasks, report.aiv_tasks),
                (4, 2, 2),
                "{case}: tasks (all, AIC, AIV)"
            );
            for (what, err) in [
                ("reference", matmul::max_error(&f, &want)),
                ("e²", matmul::max_error(&f, &e2)),
            ] {
                assert!(
                    err <= matmul::TOLERANCE,
                    "{case}: max error {err} vs {what}"
                );
            }
        }
    }
}

#[test]
fn a2a3_matches_reference() {
    matches_reference(Platform::A2A3, &plugin());
}

#[test]
fn a5_matches_reference() {
    matches_reference(Platform::A5, &plugin());
}

#[test]
fn reference_runtime_plugin_on_a2a3() {
    matches_reference(Platform::A2A3, &reference_plugin());
}

#[test]
fn reference_runtime_plugin_on_a5() {
    matches_reference(Platform::A5, &reference_plugin());
}

#[test]
fn reference_is_e_squared() {
    let want = matmul::reference(&matmul::Inputs::new());
    let err = want
        .iter()
        .map(|w| (w - matmul::EXPECTED).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-3, "reference off e² by {err}");
}

#[test]
fn plugin_refuses_mismatched_shapes() {
    let inputs = matmul::Inputs::new();
    let n = (matmul::SIZE * matmul::SIZE) as u64;
    let mut f = vec![0.0f32; matmul::SIZE * matmul::SIZE];
    let flat = |len: u64| [len];
    let cases = [
        // W2 half as long.
        [n, n, n / 2, n],
        // Not a square matrix.
        [n - 1, n - 1, n - 1, n - 1],
    ];
    let mut rt = runtime(Platform::A2A3);
    for lens in cases {
        let mut args = OwnedArgs::new();
        args.push_tensor(OrchTensor::new(
            inputs.a.as_ptr(),
            &flat(lens[0]),
            DType::F16,
        ))
        .push_tensor(OrchTensor::new(
            inputs.w1.as_ptr(),
            &flat(lens[1]),
            DType::F16,
        ))
        .push_tensor(OrchTensor::new(
            inputs.w2.as_ptr(),
            &flat(lens[2]),
            DType::F16,
        ))
        .push_tensor(OrchTensor::new(f.as_mut_ptr(), &flat(lens[3]), DType::F32));
        // SAFETY: the build is refused before anything is recorded; `f` outlives it anyway.
        let r = unsafe { rt.build_with_plugin(&plugin(), &args) };
        assert!(
            matches!(r, Err(Error::PluginFailed { code: -9, .. })),
            "{lens:?}: {r:?}"
        );
        assert_eq!(rt.task_count(), 0);
        assert!(rt.device_memory().live().is_empty());
    }
}
