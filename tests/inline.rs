//! The inline executor runs the same graphs, through the same protocol and
//! scheduler, on one thread: examples stay correct, faults are contained.

use hostgraph::{CoreType, Error, InlineSim, KernelFn, Platform, Runtime, RuntimeConfig, TaskId};
use hostgraph_examples::{plugins, vector};

fn inline(platform: Platform, block_dim: u32, threads: u32) -> Runtime<InlineSim> {
    let cfg = RuntimeConfig {
        platform,
        block_dim,
        threads,
        ..Default::default()
    };
    Runtime::with_backend(cfg, InlineSim::new(platform)).unwrap()
}

#[test]
fn vector_example_inline_on_both_platforms() {
    let plugin = plugins::load_c("vector_example").unwrap();
    let a = vec![2.0f32; vector::ELEMENTS];
    let b = vec![3.0f32; vector::ELEMENTS];
    for platform in Platform::ALL {
        let spec = platform.spec();
        let mut rt = inline(platform, 1, 1);
        for (dim, threads) in [
            (1, 1),
            (3, 2),
            (spec.max_block_dim, spec.max_scheduler_threads),
        ] {
            rt.reconfigure(dim, threads).unwrap();
            let (f, report) = vector::run_round(&mut rt, &plugin, &a, &b).unwrap();
            assert_eq!(report.tasks, 4);
            assert_eq!(report.aic_cores + report.aiv_cores, 3 * dim as usize);
            assert!(
                f.iter().all(|&x| x == 42.0),
                "{platform} dim {dim} threads {threads}"
            );
        }
    }
}

#[test]
fn chain_runs_in_order_inline() {
    fn step(args: &[u64]) {
        // SAFETY: the graph passes a pointer to a u64 and the task's index.
        unsafe {
            let v = args[0] as *mut u64;
            assert_eq!(*v, args[1], "chain order");
            *v += 1;
        }
    }
    let mut rt = inline(Platform::A5, 2, 3);
    rt.register_kernel(0, KernelFn::rust(step));
    let mut counter = [0u64];
    rt.build(|g| {
        // SAFETY: `counter` outlives finalize.
        let dev = unsafe { g.output(&mut counter)? };
        let mut prev: Option<TaskId> = None;
        for i in 0..500u64 {
            let t = g.add_task(
                0,
                if i % 3 == 0 {
                    CoreType::Aic
                } else {
                    CoreType::Aiv
                },
                &[dev, i],
            )?;
            if let Some(p) = prev {
                g.add_successor(p, t)?;
            }
            prev = Some(t);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(rt.run().unwrap().tasks, 500);
    rt.finalize().unwrap();
    assert_eq!(counter, [500]);
}

#[test]
fn kernel_fault_inline_is_contained() {
    fn boom(_: &[u64]) {
        panic!("inline kernel failure");
    }
    fn noop(_: &[u64]) {}
    let mut rt = inline(Platform::A2A3, 1, 2);
    rt.register_kernel(0, KernelFn::rust(boom));
    rt.build(|g| g.add_task(0, CoreType::Aiv, &[]).map(drop))
        .unwrap();
    assert!(matches!(
        rt.run(),
        Err(Error::KernelFault {
            task: TaskId(0),
            func_id: 0,
            ..
        })
    ));
    rt.register_kernel(0, KernelFn::rust(noop));
    rt.build(|g| g.add_task(0, CoreType::Aic, &[]).map(drop))
        .unwrap();
    assert_eq!(rt.run().unwrap().tasks, 1);
    rt.finalize().unwrap();
}
