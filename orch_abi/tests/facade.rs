//! Drives the safe facade ([`Orchestrator`]) and the export macros through a
//! recording runtime written in Rust.

#[path = "common/fake.rs"]
mod fake;

use fake::{FakeRuntime, Task};
use hostgraph_orch_abi::{
    ABI_VERSION, ArgsView, CoreType, DType, DevicePtr, MAX_TASK_ARGS, OK_STATUS_ERROR_EXIT_CODE,
    OPS_TABLE_SIZE, OrchError, OrchStatus, OrchTensor, OrchestrationEntryFn, OrchestrationRuntime,
    Orchestrator, OwnedArgs, PANIC_EXIT_CODE, TaskId,
};

/// Runs `f` on an [`Orchestrator`] over `fake`'s correct table.
fn orchestrate<R>(fake: &mut FakeRuntime, f: impl FnOnce(&mut Orchestrator<'_>) -> R) -> R {
    // SAFETY: the handle is a live FakeRuntime with a valid table, used only
    // through `orch` until `f` returns.
    let mut orch =
        unsafe { Orchestrator::from_raw(fake.handle()) }.expect("fake table passes the ABI check");
    f(&mut orch)
}

/// Shorthand for `OrchError::new`.
fn err(call: &'static str, status: OrchStatus) -> OrchError {
    OrchError::new(call, status)
}

#[test]
fn tasks_and_edges_go_through_the_table() {
    let mut fake = FakeRuntime::new();
    let ids = orchestrate(&mut fake, |orch| {
        let a = orch.add_task(&[1, 2, 3], 10, CoreType::Aic).unwrap();
        let b = orch.add_task(&[], 11, CoreType::Aiv).unwrap();
        let c = orch.add_task(&[u64::MAX], 12, CoreType::Aiv).unwrap();
        orch.add_successor(a, b).unwrap();
        orch.add_successor(a, c).unwrap();
        orch.add_successor(b, c).unwrap();
        assert_eq!(orch.task_count(), 3);
        orch.print_runtime();
        [a, b, c]
    });
    assert_eq!(ids, [TaskId(0), TaskId(1), TaskId(2)]);
    assert_eq!(ids[2].to_string(), "2");
    assert_eq!(ids[2].index(), 2);
    assert_eq!(
        fake.tasks,
        [
            Task {
                func_id: 10,
                core_type: 0,
                args: vec![1, 2, 3]
            },
            Task {
                func_id: 11,
                core_type: 1,
                args: vec![]
            },
            Task {
                func_id: 12,
                core_type: 1,
                args: vec![u64::MAX]
            },
        ]
    );
    assert_eq!(fake.edges, [(0, 1), (0, 2), (1, 2)]);
    assert_eq!(fake.prints, 1);
    assert_eq!(fake.latched, None);
}

#[test]
fn device_memory_helpers() {
    let mut fake = FakeRuntime::new();
    let input = [1u32, 2, 3, 4];
    let mut output = [0.5f32; 3];
    let output_addr = output.as_mut_ptr() as u64;
    let (dev_in, dev_out, dev_raw) = orchestrate(&mut fake, |orch| {
        let dev_in = orch.upload(&input).unwrap();
        // SAFETY: `output` outlives the fake runtime's use of it (the fake
        // never writes it back) and is not touched meanwhile.
        let dev_out = unsafe { orch.output(&mut output) }.unwrap();
        let dev_raw = orch.device_malloc(8).unwrap();
        orch.copy_to_device(dev_raw.offset(4), &[9, 8, 7, 6])
            .unwrap();
        (dev_in, dev_out, dev_raw)
    });
    assert!(!dev_in.is_null());
    assert_eq!(dev_in.as_arg(), dev_in.0);
    assert_eq!(dev_in.offset(4), DevicePtr(dev_in.0 + 4));
    assert_eq!(DevicePtr(255).to_string(), "0xff");
    assert_eq!(
        fake.device_bytes(dev_in.0),
        input.map(u32::to_ne_bytes).concat()
    );
    assert_eq!(
        fake.device_bytes(dev_out.0),
        [0.5f32; 3].map(f32::to_ne_bytes).concat()
    );
    assert_eq!(fake.device_bytes(dev_raw.0), [0, 0, 0, 0, 9, 8, 7, 6]);
    assert_eq!(fake.pairs, [(output_addr, dev_out.0, 12)]);
    assert_eq!(
        fake.calls,
        [
            "device_malloc",
            "copy_to_device",
            "device_malloc",
            "copy_to_device",
            "record_tensor_pair",
            "device_malloc",
            "copy_to_device",
        ]
    );
    assert_eq!(fake.live_buffers(), 3);

    orchestrate(&mut fake, |orch| {
        orch.device_free(dev_raw).unwrap();
        assert_eq!(
            orch.device_free(dev_raw),
            Err(err("device_free", OrchStatus::UnknownPointer))
        );
    });
    assert_eq!(fake.live_buffers(), 2);
    assert_eq!(
        fake.latched,
        Some(("device_free", OrchStatus::UnknownPointer))
    );
}

#[test]
fn device_memory_failures() {
    let mut fake = FakeRuntime::new();
    orchestrate(&mut fake, |orch| {
        assert_eq!(
            orch.device_malloc(0),
            Err(err("device_malloc", OrchStatus::ZeroSize))
        );
        assert_eq!(
            orch.device_malloc(1 << 40),
            Err(err("device_malloc", OrchStatus::OutOfMemory))
        );
        assert_eq!(
            orch.upload::<u64>(&[]),
            Err(err("device_malloc", OrchStatus::ZeroSize))
        );
        let dev = orch.device_malloc(4).unwrap();
        assert_eq!(
            orch.copy_to_device(dev.offset(2), &[1, 2, 3]),
            Err(err("copy_to_device", OrchStatus::OutOfBounds))
        );
        assert_eq!(
            orch.copy_to_device(DevicePtr(8), &[1]),
            Err(err("copy_to_device", OrchStatus::UnknownPointer))
        );
    });
    // The runtime latched the first failure, whatever the plugin did next.
    assert_eq!(fake.latched, Some(("device_malloc", OrchStatus::ZeroSize)));

    // A failed copy releases the allocation `upload` made.
    let mut fake = FakeRuntime::new();
    fake.fail = Some(("copy_to_device", OrchStatus::OutOfBounds));
    orchestrate(&mut fake, |orch| {
        assert_eq!(
            orch.upload(&[1u8, 2]),
            Err(err("copy_to_device", OrchStatus::OutOfBounds))
        );
    });
    assert_eq!(
        fake.calls,
        ["device_malloc", "copy_to_device", "device_free"]
    );
    assert_eq!(fake.live_buffers(), 0);
}

#[test]
fn table_errors_surface_with_status_and_call_name() {
    let mut fake = FakeRuntime::new();
    orchestrate(&mut fake, |orch| {
        let a = orch.add_task(&[], 0, CoreType::Aic).unwrap();
        let error = orch.add_successor(a, TaskId(5)).unwrap_err();
        assert_eq!(error, err("add_successor", OrchStatus::UnknownTask));
        assert_eq!(error.to_string(), "add_successor failed: unknown task id");
        let boxed: Box<dyn std::error::Error> = Box::new(error);
        assert_eq!(boxed.to_string(), "add_successor failed: unknown task id");
        assert_eq!(
            orch.add_successor(a, a),
            Err(err("add_successor", OrchStatus::SelfEdge))
        );
    });
    assert_eq!(
        fake.latched,
        Some(("add_successor", OrchStatus::UnknownTask))
    );

    let mut fake = FakeRuntime::new();
    fake.fail = Some(("add_task", OrchStatus::UnknownTask));
    orchestrate(&mut fake, |orch| {
        assert_eq!(
            orch.add_task(&[1], 0, CoreType::Aiv),
            Err(err("add_task", OrchStatus::UnknownTask))
        );
    });
    assert!(fake.tasks.is_empty());

    let mut fake = FakeRuntime::new();
    fake.fail = Some(("get_task_count", OrchStatus::AbiMismatch));
    assert_eq!(orchestrate(&mut fake, |orch| orch.task_count()), 0);
}

#[test]
fn refusals_made_before_calling_the_table() {
    let mut fake = FakeRuntime::new();
    orchestrate(&mut fake, |orch| {
        let too_many = vec![0; MAX_TASK_ARGS + 1];
        assert_eq!(
            orch.add_task(&too_many, 0, CoreType::Aic),
            Err(err("add_task", OrchStatus::TooManyArgs))
        );
        assert_eq!(
            orch.add_successor(TaskId(u32::MAX), TaskId(0)),
            Err(err("add_successor", OrchStatus::UnknownTask))
        );
    });
    assert!(fake.calls.is_empty());
    assert_eq!(fake.latched, None);

    // Exactly the limit is fine.
    let max = vec![7; MAX_TASK_ARGS];
    assert_eq!(
        orchestrate(&mut fake, |orch| orch.add_task(&max, 0, CoreType::Aic)),
        Ok(TaskId(0))
    );
    assert_eq!(fake.tasks[0].args.len(), MAX_TASK_ARGS);
}

#[test]
fn abi_mismatch_is_refused() {
    let mismatch = err("Orchestrator::from_raw", OrchStatus::AbiMismatch);
    for (version, size) in [
        (ABI_VERSION + 1, OPS_TABLE_SIZE),
        (0, OPS_TABLE_SIZE),
        (ABI_VERSION, OPS_TABLE_SIZE - 1),
        (ABI_VERSION, 0),
    ] {
        let mut fake = FakeRuntime::with_table(version, size);
        // SAFETY: the handle is a live FakeRuntime; its table is only read.
        let result = unsafe { Orchestrator::from_raw(fake.handle()) };
        assert_eq!(
            result.map(|_| ()),
            Err(mismatch),
            "version {version}, size {size}"
        );
        assert!(fake.calls.is_empty());
    }

    // A larger table (a newer runtime that appended entries) is accepted.
    let mut fake = FakeRuntime::with_table(ABI_VERSION, OPS_TABLE_SIZE + 8);
    // SAFETY: the handle is a live FakeRuntime with a valid table.
    assert!(unsafe { Orchestrator::from_raw(fake.handle()) }.is_ok());

    let null = err("Orchestrator::from_raw", OrchStatus::NullArgument);
    // SAFETY: null handles are refused before anything is read.
    let result = unsafe { Orchestrator::from_raw(std::ptr::null_mut()) };
    assert_eq!(result.map(|_| ()), Err(null));
    let mut no_ops = OrchestrationRuntime {
        ops: std::ptr::null(),
    };
    // SAFETY: a valid handle whose null table is refused before use.
    let result = unsafe { Orchestrator::from_raw(&mut no_ops) };
    assert_eq!(result.map(|_| ()), Err(null));
}

#[test]
fn args_view_accessors() {
    let data = [1u16, 2, 3, 4, 5, 6];
    let tensor = OrchTensor::new(data.as_ptr(), &[2, 3], DType::U16);
    let tensors = [tensor];
    let view = ArgsView::new(&tensors, &[42]);
    assert_eq!(view.tensor(0).unwrap().dims(), &[2, 3]);
    assert_eq!(view.tensor(0).unwrap().nbytes, 12);
    assert_eq!(view.tensor(1), Err(err("tensor", OrchStatus::OutOfBounds)));
    assert_eq!(view.scalar(0), Ok(42));
    assert_eq!(view.scalar(1), Err(err("scalar", OrchStatus::OutOfBounds)));
}

// ---- the export macros -----------------------------------------------------

/// tensor 0: `u32` input, tensor 1: `u32` output, scalar 0: function id.
fn build_ok(orch: &mut Orchestrator<'_>, args: &ArgsView<'_>) -> Result<(), OrchError> {
    let func = args.scalar(0)? as i32;
    // SAFETY: the host passes live, aligned, distinct u32 tensors that
    // nothing else touches during the entry call and until finalize.
    let (input, output) = unsafe {
        (
            args.tensor(0)?.host_slice::<u32>(),
            args.tensor(1)?.host_slice::<u32>(),
        )
    };
    let dev_in = orch.upload(input)?;
    // SAFETY: as above; the output tensor stays valid until finalize.
    let dev_out = unsafe { orch.output(output)? };
    let n = input.len() as u64;
    let first = orch.add_task(&[dev_in.as_arg(), dev_out.as_arg(), n], func, CoreType::Aiv)?;
    let second = orch.add_task(&[dev_out.as_arg(), n], func + 1, CoreType::Aic)?;
    orch.add_successor(first, second)
}

fn build_unknown_edge(orch: &mut Orchestrator<'_>, _: &ArgsView<'_>) -> Result<(), OrchError> {
    orch.add_successor(TaskId(0), TaskId(1))
}

fn build_panics(_: &mut Orchestrator<'_>, _: &ArgsView<'_>) -> Result<(), OrchError> {
    panic!("build_panics panics on purpose")
}

fn build_ok_status_error(_: &mut Orchestrator<'_>, _: &ArgsView<'_>) -> Result<(), OrchError> {
    Err(err("custom", OrchStatus::Ok))
}

hostgraph_orch_abi::export_orchestration!(build_ok);
hostgraph_orch_abi::export_orchestration_entry!(build_unknown_edge as entry_unknown_edge);
hostgraph_orch_abi::export_orchestration_entry!(build_panics as entry_panics);
hostgraph_orch_abi::export_orchestration_entry!(build_ok_status_error as entry_ok_status_error);

#[test]
fn exported_entry_builds_the_graph() {
    assert_eq!(hostgraph_orch_abi_version, ABI_VERSION);
    let _: OrchestrationEntryFn = entry;

    let mut input = [1u32, 2, 3];
    let mut output = [0u32; 3];
    let output_addr = output.as_mut_ptr() as u64;
    let mut args = OwnedArgs::new();
    args.push_tensor(OrchTensor::new(input.as_mut_ptr(), &[3], DType::U32))
        .push_tensor(OrchTensor::new(output.as_mut_ptr(), &[3], DType::U32))
        .push_scalar(40);

    let mut fake = FakeRuntime::new();
    // SAFETY: a live FakeRuntime and arguments pointing into `args`, whose
    // tensors point to `input` and `output`, all alive for the call.
    assert_eq!(unsafe { entry(fake.handle(), &args.as_raw()) }, 0);
    let (dev_in, dev_out) = (fake.tasks[0].args[0], fake.tasks[0].args[1]);
    assert_eq!(
        fake.tasks,
        [
            Task {
                func_id: 40,
                core_type: CoreType::Aiv as i32,
                args: vec![dev_in, dev_out, 3]
            },
            Task {
                func_id: 41,
                core_type: CoreType::Aic as i32,
                args: vec![dev_out, 3]
            },
        ]
    );
    assert_eq!(fake.edges, [(0, 1)]);
    assert_eq!(
        fake.device_bytes(dev_in),
        input.map(u32::to_ne_bytes).concat()
    );
    assert_eq!(fake.pairs, [(output_addr, dev_out, 12)]);
    assert_eq!(fake.latched, None);

    // Missing arguments surface as the build function's error status.
    let mut fake = FakeRuntime::new();
    // SAFETY: a live FakeRuntime; null arguments read as empty.
    let code = unsafe { entry(fake.handle(), std::ptr::null()) };
    assert_eq!(code, OrchStatus::OutOfBounds.code());
}

#[test]
fn exported_entry_reports_errors_panics_and_mismatches() {
    let mut fake = FakeRuntime::new();
    // SAFETY: a live FakeRuntime; null arguments read as empty.
    let code = unsafe { entry_unknown_edge(fake.handle(), std::ptr::null()) };
    assert_eq!(code, OrchStatus::UnknownTask.code());
    assert_eq!(
        fake.latched,
        Some(("add_successor", OrchStatus::UnknownTask))
    );

    // SAFETY: as above.
    let code = unsafe { entry_panics(fake.handle(), std::ptr::null()) };
    assert_eq!(code, PANIC_EXIT_CODE);
    // SAFETY: as above.
    let code = unsafe { entry_ok_status_error(fake.handle(), std::ptr::null()) };
    assert_eq!(code, OK_STATUS_ERROR_EXIT_CODE);

    let mut old = FakeRuntime::with_table(ABI_VERSION + 1, OPS_TABLE_SIZE);
    // SAFETY: a live FakeRuntime whose table is only read, then refused.
    let code = unsafe { entry_unknown_edge(old.handle(), std::ptr::null()) };
    assert_eq!(code, OrchStatus::AbiMismatch.code());
    assert!(old.calls.is_empty());

    // SAFETY: a null handle is refused before anything is read.
    let code = unsafe { entry(std::ptr::null_mut(), std::ptr::null()) };
    assert_eq!(code, OrchStatus::NullArgument.code());
}
