//! The header's enums: [`CoreType`], [`OrchStatus`] and [`DType`].

use core::fmt;

/// `CoreType`: the kind of accelerator core a task runs on.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoreType {
    /// `CORE_TYPE_AIC`: a cube (matrix) core.
    Aic = 0,
    /// `CORE_TYPE_AIV`: a vector core.
    Aiv = 1,
}

impl CoreType {
    /// Every core type, in code order.
    pub const ALL: [CoreType; 2] = [CoreType::Aic, CoreType::Aiv];

    /// The core type with the raw ABI code `raw`, if there is one.
    pub const fn from_raw(raw: i32) -> Option<CoreType> {
        match raw {
            0 => Some(CoreType::Aic),
            1 => Some(CoreType::Aiv),
            _ => None,
        }
    }

    /// The raw ABI code passed as `core_type`.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// `"AIC"` or `"AIV"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CoreType::Aic => "AIC",
            CoreType::Aiv => "AIV",
        }
    }
}

impl fmt::Display for CoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OrchStatus`: the status codes returned by the table entries.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrchStatus {
    /// `ORCH_OK`: success.
    Ok = 0,
    /// `ORCH_ERR_NULL_ARGUMENT`: a required pointer was null.
    NullArgument = -1,
    /// `ORCH_ERR_UNKNOWN_TASK`: a task id that was never handed out.
    UnknownTask = -2,
    /// `ORCH_ERR_SELF_EDGE`: an edge from a task to itself.
    SelfEdge = -3,
    /// `ORCH_ERR_TOO_MANY_ARGS`: more than [`crate::MAX_TASK_ARGS`] argument
    /// words.
    TooManyArgs = -4,
    /// `ORCH_ERR_BAD_CORE_TYPE`: a `core_type` that is not a [`CoreType`].
    BadCoreType = -5,
    /// `ORCH_ERR_TOO_MANY_TASKS`: the graph is full.
    TooManyTasks = -6,
    /// `ORCH_ERR_OUT_OF_MEMORY`: an allocation failed.
    OutOfMemory = -7,
    /// `ORCH_ERR_UNKNOWN_POINTER`: a device pointer the runtime did not hand
    /// out (or already freed).
    UnknownPointer = -8,
    /// `ORCH_ERR_OUT_OF_BOUNDS`: an access past the end of a buffer or list.
    OutOfBounds = -9,
    /// `ORCH_ERR_ZERO_SIZE`: a zero-byte allocation or copy.
    ZeroSize = -10,
    /// `ORCH_ERR_ABI_MISMATCH`: the two sides disagree about the ABI.
    AbiMismatch = -11,
    /// `ORCH_ERR_IN_USE`: a device buffer the runtime still needs (a tensor
    /// pair was recorded in it), so it cannot be freed.
    InUse = -12,
}

impl OrchStatus {
    /// Every status, in code order (`Ok` first, then `-1`, `-2`, ...).
    pub const ALL: [OrchStatus; 13] = [
        OrchStatus::Ok,
        OrchStatus::NullArgument,
        OrchStatus::UnknownTask,
        OrchStatus::SelfEdge,
        OrchStatus::TooManyArgs,
        OrchStatus::BadCoreType,
        OrchStatus::TooManyTasks,
        OrchStatus::OutOfMemory,
        OrchStatus::UnknownPointer,
        OrchStatus::OutOfBounds,
        OrchStatus::ZeroSize,
        OrchStatus::AbiMismatch,
        OrchStatus::InUse,
    ];

    /// The status with the raw code `code`, if there is one.
    pub const fn from_code(code: i32) -> Option<OrchStatus> {
        Some(match code {
            0 => OrchStatus::Ok,
            -1 => OrchStatus::NullArgument,
            -2 => OrchStatus::UnknownTask,
            -3 => OrchStatus::SelfEdge,
            -4 => OrchStatus::TooManyArgs,
            -5 => OrchStatus::BadCoreType,
            -6 => OrchStatus::TooManyTasks,
            -7 => OrchStatus::OutOfMemory,
            -8 => OrchStatus::UnknownPointer,
            -9 => OrchStatus::OutOfBounds,
            -10 => OrchStatus::ZeroSize,
            -11 => OrchStatus::AbiMismatch,
            -12 => OrchStatus::InUse,
            _ => return None,
        })
    }

    /// The raw code (`0` for `Ok`, negative for errors).
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// A short lower-case description, e.g. `"unknown task id"`.
    pub const fn describe(self) -> &'static str {
        match self {
            OrchStatus::Ok => "success",
            OrchStatus::NullArgument => "null argument",
            OrchStatus::UnknownTask => "unknown task id",
            OrchStatus::SelfEdge => "edge from a task to itself",
            OrchStatus::TooManyArgs => "too many task arguments",
            OrchStatus::BadCoreType => "bad core type",
            OrchStatus::TooManyTasks => "too many tasks",
            OrchStatus::OutOfMemory => "out of memory",
            OrchStatus::UnknownPointer => "unknown device pointer",
            OrchStatus::OutOfBounds => "out of bounds",
            OrchStatus::ZeroSize => "zero size",
            OrchStatus::AbiMismatch => "ABI mismatch",
            OrchStatus::InUse => "buffer in use",
        }
    }
}

impl fmt::Display for OrchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// `OrchDType`: the element type of an [`crate::OrchTensor`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `ORCH_DTYPE_F32`
    F32 = 0,
    /// `ORCH_DTYPE_F16`
    F16 = 1,
    /// `ORCH_DTYPE_BF16`
    BF16 = 2,
    /// `ORCH_DTYPE_F64`
    F64 = 3,
    /// `ORCH_DTYPE_I8`
    I8 = 4,
    /// `ORCH_DTYPE_I16`
    I16 = 5,
    /// `ORCH_DTYPE_I32`
    I32 = 6,
    /// `ORCH_DTYPE_I64`
    I64 = 7,
    /// `ORCH_DTYPE_U8`
    U8 = 8,
    /// `ORCH_DTYPE_U16`
    U16 = 9,
    /// `ORCH_DTYPE_U32`
    U32 = 10,
    /// `ORCH_DTYPE_U64`
    U64 = 11,
    /// `ORCH_DTYPE_BOOL` (one byte per element).
    Bool = 12,
}

impl DType {
    /// Every dtype, in code order.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// The dtype with the raw code `code`, if there is one.
    pub const fn from_code(code: u32) -> Option<DType> {
        if code < DType::ALL.len() as u32 {
            Some(DType::ALL[code as usize])
        } else {
            None
        }
    }

    /// The raw code stored in [`crate::OrchTensor::dtype`].
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Bytes per element.
    pub const fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The lower-case name, e.g. `"bf16"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for core in CoreType::ALL {
            assert_eq!(CoreType::from_raw(core.code()), Some(core));
        }
        assert_eq!(CoreType::from_raw(2), None);
        assert_eq!(CoreType::from_raw(-1), None);
        for (i, status) in OrchStatus::ALL.into_iter().enumerate() {
            assert_eq!(status.code(), -(i as i32));
            assert_eq!(OrchStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(OrchStatus::from_code(1), None);
        assert_eq!(OrchStatus::from_code(-13), None);
        for (i, dtype) in DType::ALL.into_iter().enumerate() {
            assert_eq!(dtype.code(), i as u32);
            assert_eq!(DType::from_code(dtype.code()), Some(dtype));
        }
        assert_eq!(DType::from_code(13), None);
    }

    #[test]
    fn names_and_sizes() {
        assert_eq!(CoreType::Aic.to_string(), "AIC");
        assert_eq!(CoreType::Aiv.to_string(), "AIV");
        assert_eq!(OrchStatus::UnknownTask.to_string(), "unknown task id");
        assert_eq!(DType::BF16.to_string(), "bf16");
        assert_eq!(DType::BF16.size_bytes(), 2);
        assert_eq!(DType::F16.size_bytes(), 2);
        assert_eq!(DType::Bool.size_bytes(), 1);
        assert_eq!(DType::F64.size_bytes(), 8);
        assert_eq!(DType::I32.size_bytes(), 4);
    }
}
