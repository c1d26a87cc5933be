//! `#[repr(C)]` mirrors of the reference runtime's orchestration interface
//! (simpler's `host_build_graph`), as `include/reference/orchestration_api.h`
//! renders it for C++ orchestration sources written for that runtime.
//!
//! An orchestration built against that header exports a C-linkage entry
//! `int build_xxx_graph(OrchestrationRuntime *, const ChipStorageTaskArgs &)`
//! ([`ReferenceEntryFn`]; the reference parameter travels as a pointer) and
//! calls through an eight-entry table with no version field
//! ([`ReferenceRuntimeOps`]). It exports no ABI version; the header defines
//! the marker [`MARKER_SYMBOL`] instead, so a host can tell the two kinds of
//! plugin apart.
//!
//! Every layout here is checked against the C++ compiler in
//! `tests/reference_layout.rs`.

use core::ffi::{c_int, c_void};
use std::path::PathBuf;

use crate::DType;

/// `CHIP_MAX_TENSOR_ARGS`: the most tensors an entry receives.
pub const MAX_TENSORS: usize = 16;

/// The most scalar words an entry receives.
pub const MAX_SCALARS: usize = 128;

/// Entries of [`ContinuousTensor::shapes`].
pub const MAX_DIMS: usize = 5;

/// The NUL-terminated name of the weak `const uint32_t` the reference
/// header defines in every plugin built against it.
pub const MARKER_SYMBOL: &[u8] = b"hostgraph_orch_reference_api\0";

/// The file name of the header (`#include "orchestration_api.h"`, with
/// [`include_dir`] on the include path).
pub const HEADER_NAME: &str = "orchestration_api.h";

/// The full text of `include/reference/orchestration_api.h` (the directory
/// also holds headers of the reference's other include names --
/// `data_type.h`, `tensor_arg.h`, `task_args.h`, `common/core_type.h` --
/// which include it: compile against [`include_dir`] to have them).
pub const HEADER: &str = include_str!("../include/reference/orchestration_api.h");

/// The directory holding the reference-compatible [`HEADER_NAME`], to put on
/// a C++ compiler's include path (`-I`) in place of the reference runtime's
/// own orchestration include directory.
///
/// Like [`crate::include_dir`], the crate's source directory as it was when
/// the crate was compiled.
pub fn include_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/reference")
}

/// `DataType`: the element type of a [`ContinuousTensor`] (`uint8_t`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `FLOAT32`
    Float32 = 0,
    /// `FLOAT16`
    Float16 = 1,
    /// `INT32`
    Int32 = 2,
    /// `INT16`
    Int16 = 3,
    /// `INT8`
    Int8 = 4,
    /// `UINT8`
    Uint8 = 5,
    /// `BFLOAT16`
    Bfloat16 = 6,
    /// `INT64`
    Int64 = 7,
    /// `UINT64`
    Uint64 = 8,
}

impl DataType {
    /// Every data type, in code order.
    pub const ALL: [DataType; 9] = [
        DataType::Float32,
        DataType::Float16,
        DataType::Int32,
        DataType::Int16,
        DataType::Int8,
        DataType::Uint8,
        DataType::Bfloat16,
        DataType::Int64,
        DataType::Uint64,
    ];

    /// The raw code stored in [`ContinuousTensor::dtype`].
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// `get_element_size`: bytes per element.
    pub const fn element_size(self) -> u64 {
        match self {
            DataType::Int8 | DataType::Uint8 => 1,
            DataType::Float16 | DataType::Int16 | DataType::Bfloat16 => 2,
            DataType::Float32 | DataType::Int32 => 4,
            DataType::Int64 | DataType::Uint64 => 8,
        }
    }

    /// The data type of a hostgraph [`DType`], if the reference has one
    /// (it has no f64, u16, u32 or bool).
    ///
    /// ```
    /// use hostgraph_orch_abi::{DType, reference::DataType};
    /// assert_eq!(DataType::from_dtype(DType::BF16), Some(DataType::Bfloat16));
    /// assert_eq!(DataType::from_dtype(DType::F64), None);
    /// ```
    pub const fn from_dtype(dtype: DType) -> Option<DataType> {
        Some(match dtype {
            DType::F32 => DataType::Float32,
            DType::F16 => DataType::Float16,
            DType::I32 => DataType::Int32,
            DType::I16 => DataType::Int16,
            DType::I8 => DataType::Int8,
            DType::U8 => DataType::Uint8,
            DType::BF16 => DataType::Bfloat16,
            DType::I64 => DataType::Int64,
            DType::U64 => DataType::Uint64,
            DType::F64 | DType::U16 | DType::U32 | DType::Bool => return None,
        })
    }
}

/// `ContinuousTensor`: a host tensor handed to the entry (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContinuousTensor {
    /// Host address of the first element.
    pub data: u64,
    /// Extents; only the first `ndims` are meaningful.
    pub shapes: [u32; MAX_DIMS],
    /// Number of meaningful extents.
    pub ndims: u32,
    /// A [`DataType`] code (kept raw, as the C++ side may hold any byte).
    pub dtype: u8,
}

impl ContinuousTensor {
    /// `nbytes()`: the product of the first `ndims` extents times the
    /// element size, as the header computes it (0 for an unknown dtype).
    pub fn nbytes(&self) -> u64 {
        let size = DataType::ALL
            .get(usize::from(self.dtype))
            .map_or(0, |d| d.element_size());
        let ndims = (self.ndims as usize).min(MAX_DIMS);
        self.shapes[..ndims]
            .iter()
            .fold(size, |n, &d| n.wrapping_mul(u64::from(d)))
    }
}

/// `ChipStorageTaskArgs` (`TaskArgs<ContinuousTensor, uint64_t, 16, 128>`):
/// the entry's argument, 1,672 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipStorageTaskArgs {
    /// `tensors_`: the first `tensor_count` are meaningful.
    pub tensors: [ContinuousTensor; MAX_TENSORS],
    /// `scalars_`: the first `scalar_count` are meaningful.
    pub scalars: [u64; MAX_SCALARS],
    /// `tensor_count_`.
    pub tensor_count: i32,
    /// `scalar_count_`.
    pub scalar_count: i32,
}

impl Default for ChipStorageTaskArgs {
    /// No tensors, no scalars (every slot zeroed).
    fn default() -> Self {
        ChipStorageTaskArgs {
            tensors: [ContinuousTensor::default(); MAX_TENSORS],
            scalars: [0; MAX_SCALARS],
            tensor_count: 0,
            scalar_count: 0,
        }
    }
}

/// `OrchestrationRuntime` of the reference interface: the handle passed to
/// the entry. Only the leading `ops` pointer is part of the interface; a
/// host embeds it first in a `#[repr(C)]` struct of its own.
#[repr(C)]
#[derive(Debug)]
pub struct ReferenceRuntime {
    /// The host's function table.
    pub ops: *const ReferenceRuntimeOps,
}

/// `OrchestrationRuntimeOps` of the reference interface, in its order, with
/// no version or size field. `size_t` is `usize` on every target hostgraph
/// supports.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReferenceRuntimeOps {
    /// `add_task(runtime, args, num_args, func_id, core_type)`: the new task
    /// id, or a negative value on failure. `core_type` is a `CoreType`
    /// (`int32_t`).
    pub add_task: unsafe extern "C" fn(
        runtime: *mut ReferenceRuntime,
        args: *mut u64,
        num_args: c_int,
        func_id: c_int,
        core_type: i32,
    ) -> c_int,
    /// `add_successor(runtime, from_task, to_task)`: `to_task` waits for
    /// `from_task`.
    pub add_successor:
        unsafe extern "C" fn(runtime: *mut ReferenceRuntime, from_task: c_int, to_task: c_int),
    /// `record_tensor_pair(runtime, host_ptr, dev_ptr, size)`.
    pub record_tensor_pair: unsafe extern "C" fn(
        runtime: *mut ReferenceRuntime,
        host_ptr: *mut c_void,
        dev_ptr: *mut c_void,
        size: usize,
    ),
    /// `get_task_count(runtime)`.
    pub get_task_count: unsafe extern "C" fn(runtime: *mut ReferenceRuntime) -> c_int,
    /// `print_runtime(runtime)` (hostgraph: logs a one-line summary,
    /// `log::info!` with target `hostgraph::print_runtime`).
    pub print_runtime: unsafe extern "C" fn(runtime: *mut ReferenceRuntime),
    /// `device_malloc(runtime, size)`: null on failure.
    pub device_malloc:
        unsafe extern "C" fn(runtime: *mut ReferenceRuntime, size: usize) -> *mut c_void,
    /// `device_free(runtime, ptr)` (null: nothing to do).
    pub device_free: unsafe extern "C" fn(runtime: *mut ReferenceRuntime, ptr: *mut c_void),
    /// `copy_to_device(runtime, dev_ptr, host_ptr, size)`: 0 on success.
    pub copy_to_device: unsafe extern "C" fn(
        runtime: *mut ReferenceRuntime,
        dev_ptr: *mut c_void,
        host_ptr: *const c_void,
        size: usize,
    ) -> c_int,
}

/// `OrchestrationFunc`: the entry, `0` meaning success. The C++ reference
/// parameter `const ChipStorageTaskArgs &` is passed as a pointer.
pub type ReferenceEntryFn =
    unsafe extern "C" fn(runtime: *mut ReferenceRuntime, args: *const ChipStorageTaskArgs) -> c_int;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_types_map_and_size() {
        for (i, d) in DataType::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(d.code()), i);
        }
        // Every reference type has exactly one hostgraph dtype, of equal size.
        for d in DataType::ALL {
            let sources: Vec<DType> = DType::ALL
                .into_iter()
                .filter(|&t| DataType::from_dtype(t) == Some(d))
                .collect();
            assert_eq!(sources.len(), 1, "{d:?}");
            assert_eq!(sources[0].size_bytes() as u64, d.element_size(), "{d:?}");
        }
    }

    #[test]
    fn nbytes_multiplies_the_meaningful_extents() {
        let t = ContinuousTensor {
            data: 0,
            shapes: [3, 4, 99, 99, 99],
            ndims: 2,
            dtype: DataType::Float16.code(),
        };
        assert_eq!(t.nbytes(), 24);
        let scalar = ContinuousTensor {
            ndims: 0,
            dtype: DataType::Int64.code(),
            ..t
        };
        assert_eq!(scalar.nbytes(), 8);
        let unknown = ContinuousTensor { dtype: 200, ..t };
        assert_eq!(unknown.nbytes(), 0);
    }

    #[test]
    fn header_text_is_the_file() {
        let on_disk = std::fs::read_to_string(include_dir().join(HEADER_NAME)).unwrap();
        assert_eq!(on_disk, HEADER);
        assert!(HEADER.contains("hostgraph_orch_reference_api"));
    }
}
