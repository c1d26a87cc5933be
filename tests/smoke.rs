use hostgraph::*;
fn add(args: &[u64]) {
    unsafe {
        let a = std::slice::from_raw_parts(args[0] as *const f32, args[3] as usize);
        let b = std::slice::from_raw_parts(args[1] as *const f32, args[3] as usize);
        let c = std::slice::from_raw_parts_mut(args[2] as *mut f32, args[3] as usize);
        for i in 0..c.len() {
            c[i] = a[i] + b[i];
        }
    }
}
#[test]
fn smoke() {
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    rt.register_kernel(0, KernelFn::rust(add));
    let n = 1024usize;
    let a = vec![2.0f32; n];
    let b = vec![3.0f32; n];
    let mut out = vec![0.0f32; n];
    rt.build(|g| {
        let da = g.upload(&a)?;
        let db = g.upload(&b)?;
        let dc = unsafe { g.output(&mut out)? };
        let dd = g.device_malloc((n * 4) as u64)?;
        let t0 = g.add_task(0, CoreType::Aiv, &[da, db, dd, n as u64])?;
        let t1 = g.add_task(0, CoreType::Aic, &[dd, db, dc, n as u64])?;
        g.add_successor(t0, t1)
    })
    .unwrap();
    let r = rt.run().unwrap();
    eprintln!("{r:?}");
    rt.run().unwrap();
    rt.finalize().unwrap();
    assert!(out.iter().all(|&x| x == 8.0));
}
