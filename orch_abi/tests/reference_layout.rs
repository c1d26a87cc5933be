//! Checks the Rust mirrors in `hostgraph_orch_abi::reference` against the
//! reference-compatible header as the C++ compiler sees it:
//! `tests/c/reference_probe.cpp` (C++17, `-Wall -Wextra -Werror -pedantic`,
//! so the header's own `static_assert`s hold too) prints the size, alignment
//! and offset of every type and field, the enum and constant values, what
//! `get_element_size`, `nbytes`, `data_as` and the argument accessors
//! compute, and which table entry each wrapper calls; every number must
//! match the Rust side, and every printed name must be checked.

#[path = "common/toolchain.rs"]
mod toolchain;

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};

use hostgraph_orch_abi::CoreType;
use hostgraph_orch_abi::reference::{
    self, ChipStorageTaskArgs, ContinuousTensor, DataType, MAX_SCALARS, MAX_TENSORS,
    ReferenceEntryFn, ReferenceRuntime, ReferenceRuntimeOps,
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

/// What the probe must print, computed on the Rust side.
fn expected() -> BTreeMap<String, i128> {
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
        ($c:literal, $t:ty, [$($f:ident => $cf:literal),+]) => {$(
            put(format!("offsetof.{}.{}", $c, $cf), offset_of!($t, $f) as i128);
            put(format!("sizeof.{}.{}", $c, $cf), field_size(|s: &$t| &s.$f) as i128);
        )+};
    }

    size!("CoreType", CoreType);
    size!("DataType", DataType);
    size!("ContinuousTensor", ContinuousTensor);
    fields!(
        "ContinuousTensor",
        ContinuousTensor,
        [data => "data", shapes => "shapes", ndims => "ndims", dtype => "dtype"]
    );
    size!("ChipStorageTaskArgs", ChipStorageTaskArgs);
    fields!(
        "ChipStorageTaskArgs",
        ChipStorageTaskArgs,
        [
            tensors => "tensors_",
            scalars => "scalars_",
            tensor_count => "tensor_count_",
            scalar_count => "scalar_count_"
        ]
    );
    size!("OrchestrationRuntime", ReferenceRuntime);
    fields!("OrchestrationRuntime", ReferenceRuntime, [ops => "ops"]);
    size!("OrchestrationRuntimeOps", ReferenceRuntimeOps);
    fields!(
        "OrchestrationRuntimeOps",
        ReferenceRuntimeOps,
        [
            add_task => "add_task",
            add_successor => "add_successor",
            record_tensor_pair => "record_tensor_pair",
            get_task_count => "get_task_count",
            print_runtime => "print_runtime",
            device_malloc => "device_malloc",
            device_free => "device_free",
            copy_to_device => "copy_to_device"
        ]
    );
    size!("OrchestrationFunc", ReferenceEntryFn);

    put("const.CHIP_MAX_TENSOR_ARGS".into(), MAX_TENSORS as i128);
    put("enum.CoreType.AIC".into(), CoreType::Aic.code().into());
    put("enum.CoreType.AIV".into(), CoreType::Aiv.code().into());
    let names = [
        "FLOAT32", "FLOAT16", "INT32", "INT16", "INT8", "UINT8", "BFLOAT16", "INT64", "UINT64",
    ];
    for (name, d) in names.into_iter().zip(DataType::ALL) {
        put(format!("enum.DataType.{name}"), d.code().into());
        put(format!("element_size.{name}"), d.element_size().into());
    }

    let tensor = ContinuousTensor {
        data: 0,
        shapes: [2, 3, 1000, 0, 0],
        ndims: 2,
        dtype: DataType::Float32.code(),
    };
    put("tensor.nbytes".into(), tensor.nbytes().into());
    put("tensor.data_as_is_data".into(), 1);

    put("args.tensor3_ndims".into(), 4);
    put("args.scalar127".into(), 0xABCD);
    put("args.scalars_is_storage".into(), 1);
    put("args.tensor_data_is_storage".into(), 1);
    put("args.tensor_count".into(), 4);
    put("args.scalar_count".into(), MAX_SCALARS as i128);

    let order = [
        "add_task",
        "add_successor",
        "record_tensor_pair",
        "get_task_count",
        "print_runtime",
        "device_malloc",
        "device_free",
        "copy_to_device",
    ];
    for (slot, call) in order.into_iter().enumerate() {
        put(format!("wrapper.{call}"), slot as i128);
    }
    put("symbol.hostgraph_orch_reference_api".into(), 1);
    expected
}

#[test]
fn cxx_layout_matches_rust() {
    assert_eq!(size_of::<ContinuousTensor>(), 40);
    assert_eq!(size_of::<ChipStorageTaskArgs>(), 1672);
    // Eight function pointers, no version or size field.
    assert_eq!(size_of::<ReferenceRuntimeOps>(), size_of::<[usize; 8]>());

    let dir = scratch_dir("reference_layout");
    let exe = dir.join("reference_probe");
    run(
        compiler(Lang::Cxx, &dir, &reference::include_dir())
            .arg("-o")
            .arg(&exe)
            .arg(source("reference_probe.cpp")),
        "compile tests/c/reference_probe.cpp against include/reference",
    );
    let output = run(
        &mut std::process::Command::new(&exe),
        "run the reference layout probe",
    );
    let actual = parse(&output);
    let expected = expected();
    let mut problems = Vec::new();
    for (name, want) in &expected {
        match actual.get(name) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{name}: C++ says {got}, Rust says {want}")),
            None => problems.push(format!("{name}: not printed by the C++ side")),
        }
    }
    for name in actual.keys().filter(|name| !expected.contains_key(*name)) {
        problems.push(format!("{name}: printed by the C++ side but not checked"));
    }
    assert!(
        problems.is_empty(),
        "C++ and Rust disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn header_is_cxx_only() {
    let dir = scratch_dir("reference_as_c");
    let probe = dir.join("as_c.c");
    std::fs::write(
        &probe,
        "#include \"orchestration_api.h\"\nint main(void) { return 0; }\n",
    )
    .expect("write the C probe");
    let out = compiler(Lang::C, &dir, &reference::include_dir())
        .arg("-fsyntax-only")
        .arg(&probe)
        .output()
        .expect("run the C compiler");
    assert!(!out.status.success(), "the C++ header compiled as C");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("compile the orchestration as C++17"),
        "{stderr}"
    );
}
