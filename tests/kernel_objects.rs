//! Kernels resolved from a kernel shared object (by path and from bytes),
//! registered, replaced and removed.

use hostgraph::{CoreType, Error, KernelFn, Runtime, RuntimeConfig};
use hostgraph_examples::plugins::c_plugin;

fn run_scale(rt: &mut Runtime, data: &mut [f32]) {
    let n = data.len() as u64;
    rt.build(|g| {
        // SAFETY: `data` outlives finalize below.
        let dev = unsafe { g.output(data)? };
        let a = g.add_task(5, CoreType::Aiv, &[dev, n])?;
        let b = g.add_task(5, CoreType::Aic, &[dev, n])?;
        g.add_successor(a, b)
    })
    .unwrap();
    rt.run().unwrap();
    let report = rt.finalize().unwrap();
    assert_eq!(report.kernels_removed, 1);
}

#[test]
fn kernel_from_an_object_by_path_and_from_bytes() {
    let path = c_plugin("kernel_scale");
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    // SAFETY: our own kernel object; `scale_by_two` has the kernel signature.
    let by_path = unsafe { KernelFn::load(&path, "scale_by_two") }.unwrap();
    assert!(!rt.register_kernel(5, by_path.clone()));
    // Registered again: replaced, not added twice (the object stays loaded
    // while a copy of the entry exists, and is unloaded once).
    assert!(rt.register_kernel(5, by_path));
    let mut data = vec![1.5f32; 1000];
    run_scale(&mut rt, &mut data);
    assert!(data.iter().all(|&x| x == 6.0));

    let bytes = std::fs::read(&path).unwrap();
    // SAFETY: as above.
    rt.register_kernel(
        5,
        unsafe { KernelFn::load_bytes(&bytes, "scale_by_two") }.unwrap(),
    );
    run_scale(&mut rt, &mut data);
    assert!(data.iter().all(|&x| x == 24.0));
}

#[test]
fn missing_kernel_symbol_names_symbol_and_path() {
    let path = c_plugin("kernel_scale");
    // SAFETY: loading our own object; the symbol lookup fails.
    let e = unsafe { KernelFn::load(&path, "no_such_kernel") }.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Load {
                what: "kernel object",
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("no_such_kernel") && msg.contains("libkernel_scale.so"),
        "{msg}"
    );
}
