//! Checks the Rust mirrors against the C header as the C compiler sees it:
//! `tests/c/layout_probe.c` prints the size, alignment and offset of every
//! struct and field, the value of every enum constant and macro, and how the
//! checked wrappers treat tables they must refuse; every number must match
//! the Rust side, and every printed name must be checked.
//!
//! Also compiles the header as C++ into two translation units and links them,
//! proving the weak `hostgraph_orch_abi_version` definition links and has
//! external linkage.

#[path = "common/toolchain.rs"]
mod toolchain;

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};

use hostgraph_orch_abi::{
    ABI_VERSION, CoreType, DType, MAX_TASK_ARGS, MAX_TENSOR_DIMS, OPS_TABLE_SIZE, OrchArgs,
    OrchStatus, OrchTensor, OrchestrationEntryFn, OrchestrationRuntime, OrchestrationRuntimeOps,
    RESERVED_TASK_ID,
};
use toolchain::{Lang, compiler, run, scratch_dir, source};

/// The size of the field `field` selects (only its type matters).
fn field_size<S, F>(_field: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// `name value` lines as a map; panics on anything else.
fn parse(output: &str) -> BTreeMap<String, i128> {
    let mut values = BTreeMap::new();
    for line in output.lines() {
        let (name, value) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad probe line {line:?}"));
        let value = value
            .parse()
            .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
        assert!(
            values.insert(name.to_owned(), value).is_none(),
            "{name} printed twice"
        );
    }
    values
}

/// Asserts `actual` (from C) holds exactly the names of `expected` (from
/// Rust) with the same values, listing every difference.
fn assert_same(actual: &BTreeMap<String, i128>, expected: &BTreeMap<String, i128>) {
    let mut problems = Vec::new();
    for (name, want) in expected {
        match actual.get(name) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{name}: C says {got}, Rust says {want}")),
            None => problems.push(format!("{name}: not printed by the C side")),
        }
    }
    for name in actual.keys().filter(|name| !expected.contains_key(*name)) {
        problems.push(format!("{name}: printed by the C side but not checked"));
    }
    assert!(
        problems.is_empty(),
        "C and Rust disagree:\n{}",
        problems.join("\n")
    );
}

/// What the probe must print, computed on the Rust side.
fn expected_probe_output() -> BTreeMap<String, i128> {
    let mut expected = BTreeMap::new();
    let mut put = |name: String, value: i128| {
        assert!(
            expected.insert(name.clone(), value).is_none(),
            "{name} expected twice"
        );
    };

    macro_rules! size {
        ($c:literal, $t:ty) => {
            put(format!("sizeof.{}", $c), size_of::<$t>() as i128);
            put(format!("alignof.{}", $c), align_of::<$t>() as i128);
        };
    }
    macro_rules! fields {
        ($c:literal, $t:ty, [$($f:ident),+]) => {$(
            put(format!("offsetof.{}.{}", $c, stringify!($f)), offset_of!($t, $f) as i128);
            put(format!("sizeof.{}.{}", $c, stringify!($f)), field_size(|s: &$t| &s.$f) as i128);
        )+};
    }

    size!("OrchTensor", OrchTensor);
    fields!("OrchTensor", OrchTensor, [addr, shape, ndim, dtype, nbytes]);
    size!("OrchArgs", OrchArgs);
    fields!(
        "OrchArgs",
        OrchArgs,
        [tensors, scalars, num_tensors, num_scalars]
    );
    size!("OrchestrationRuntime", OrchestrationRuntime);
    fields!("OrchestrationRuntime", OrchestrationRuntime, [ops]);
    size!("OrchestrationRuntimeOps", OrchestrationRuntimeOps);
    fields!(
        "OrchestrationRuntimeOps",
        OrchestrationRuntimeOps,
        [
            abi_version,
            table_size,
            add_task,
            add_successor,
            record_tensor_pair,
            get_task_count,
            print_runtime,
            device_malloc,
            device_free,
            copy_to_device
        ]
    );
    size!("OrchestrationEntryFn", OrchestrationEntryFn);
    size!("CoreType", CoreType);
    size!("OrchStatus", OrchStatus);
    size!("OrchDType", DType);

    put(
        "macro.HOSTGRAPH_ORCH_ABI_VERSION".into(),
        ABI_VERSION.into(),
    );
    put("macro.ORCH_MAX_TENSOR_DIMS".into(), MAX_TENSOR_DIMS as i128);
    put("macro.ORCH_MAX_TASK_ARGS".into(), MAX_TASK_ARGS as i128);
    put(
        "macro.ORCH_RESERVED_TASK_ID".into(),
        RESERVED_TASK_ID.into(),
    );

    for (name, core) in ["CORE_TYPE_AIC", "CORE_TYPE_AIV"]
        .into_iter()
        .zip(CoreType::ALL)
    {
        put(format!("enum.{name}"), core.code().into());
    }
    let statuses = [
        "ORCH_OK",
        "ORCH_ERR_NULL_ARGUMENT",
        "ORCH_ERR_UNKNOWN_TASK",
        "ORCH_ERR_SELF_EDGE",
        "ORCH_ERR_TOO_MANY_ARGS",
        "ORCH_ERR_BAD_CORE_TYPE",
        "ORCH_ERR_TOO_MANY_TASKS",
        "ORCH_ERR_OUT_OF_MEMORY",
        "ORCH_ERR_UNKNOWN_POINTER",
        "ORCH_ERR_OUT_OF_BOUNDS",
        "ORCH_ERR_ZERO_SIZE",
        "ORCH_ERR_ABI_MISMATCH",
        "ORCH_ERR_IN_USE",
    ];
    assert_eq!(statuses.len(), OrchStatus::ALL.len());
    for (name, status) in statuses.into_iter().zip(OrchStatus::ALL) {
        put(format!("enum.{name}"), status.code().into());
    }
    let dtypes = [
        "F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL",
    ];
    assert_eq!(dtypes.len(), DType::ALL.len());
    for (name, dtype) in dtypes.into_iter().zip(DType::ALL) {
        put(format!("enum.ORCH_DTYPE_{name}"), dtype.code().into());
    }

    put(
        "symbol.hostgraph_orch_abi_version".into(),
        ABI_VERSION.into(),
    );
    put("link.same_symbol".into(), 1);

    let mismatch = OrchStatus::AbiMismatch.code().into();
    for table in ["bad_version", "small_table", "null_ops", "null_rt"] {
        for call in [
            "add_task",
            "add_successor",
            "record_tensor_pair",
            "get_task_count",
            "device_free",
            "copy_to_device",
        ] {
            put(format!("wrapper.{table}.{call}"), mismatch);
        }
        put(format!("wrapper.{table}.device_malloc_is_null"), 1);
    }
    put("wrapper.good_table.orch_abi_ok".into(), 1);
    expected
}

#[test]
fn c_layout_matches_rust() {
    assert_eq!(size_of::<OrchTensor>(), 64);
    assert_eq!(
        OPS_TABLE_SIZE as usize,
        size_of::<OrchestrationRuntimeOps>()
    );
    if size_of::<usize>() == 8 {
        assert_eq!(size_of::<OrchArgs>(), 24);
    }

    let dir = scratch_dir("layout_c");
    let exe = dir.join("layout_probe");
    run(
        compiler(Lang::C, &dir, &hostgraph_orch_abi::include_dir())
            .arg("-o")
            .arg(&exe)
            .arg(source("layout_probe.c"))
            .arg(source("second_tu.c")),
        "compile tests/c/layout_probe.c",
    );
    let output = run(
        &mut std::process::Command::new(&exe),
        "run the layout probe",
    );
    assert_same(&parse(&output), &expected_probe_output());
}

#[test]
fn header_compiles_and_links_as_cxx() {
    let dir = scratch_dir("link_cxx");
    let exe = dir.join("link_main");
    run(
        compiler(Lang::Cxx, &dir, &hostgraph_orch_abi::include_dir())
            .arg("-o")
            .arg(&exe)
            .arg(source("link_main.cpp"))
            .arg(source("second_tu.c")),
        "compile the header as C++ in two translation units and link them",
    );
    let output = run(
        &mut std::process::Command::new(&exe),
        "run the C++ link check",
    );
    let expected = BTreeMap::from([
        ("link.same_symbol".to_owned(), 1),
        (
            "symbol.hostgraph_orch_abi_version".to_owned(),
            ABI_VERSION.into(),
        ),
        (
            "wrapper.null_rt.add_task".to_owned(),
            OrchStatus::AbiMismatch.code().into(),
        ),
        ("wrapper.null_rt.device_malloc_is_null".to_owned(), 1),
    ]);
    assert_same(&parse(&output), &expected);
}
