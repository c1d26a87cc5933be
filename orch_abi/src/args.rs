//! Entry-point arguments: [`OrchTensor`] helpers, the plugin-side
//! [`ArgsView`] and the host-side [`OwnedArgs`].

use crate::{DType, MAX_TENSOR_DIMS, OrchArgs, OrchError, OrchStatus, OrchTensor};

impl OrchTensor {
    /// A tensor of `dtype` elements at `ptr` with extents `dims`; `nbytes`
    /// is `product(dims) * dtype.size_bytes()` (a 0-d tensor holds one
    /// element).
    ///
    /// # Panics
    ///
    /// If `dims` has more than [`MAX_TENSOR_DIMS`] entries or the byte size
    /// overflows `u64`.
    pub fn new<T>(ptr: *const T, dims: &[u64], dtype: DType) -> OrchTensor {
        assert!(
            dims.len() <= MAX_TENSOR_DIMS,
            "OrchTensor::new: {} dims, at most {MAX_TENSOR_DIMS} allowed",
            dims.len()
        );
        let mut shape = [0; MAX_TENSOR_DIMS];
        shape[..dims.len()].copy_from_slice(dims);
        let nbytes = dims
            .iter()
            .try_fold(dtype.size_bytes() as u64, |acc, &d| acc.checked_mul(d))
            .expect("OrchTensor::new: byte size overflows u64");
        OrchTensor {
            addr: ptr as u64,
            shape,
            // At most MAX_TENSOR_DIMS (checked above), so this cannot truncate.
            ndim: dims.len() as u32,
            dtype: dtype.code(),
            nbytes,
        }
    }

    /// The element type, or `None` for a code this ABI version does not
    /// know.
    pub fn dtype(&self) -> Option<DType> {
        DType::from_code(self.dtype)
    }

    /// The meaningful extents: `shape[..ndim]`, with `ndim` clamped to
    /// [`MAX_TENSOR_DIMS`].
    pub fn dims(&self) -> &[u64] {
        let ndim = (self.ndim as usize).min(MAX_TENSOR_DIMS);
        &self.shape[..ndim]
    }

    /// The number of elements: the product of [`dims`](Self::dims) (1 for a
    /// 0-d tensor), saturating at `u64::MAX`.
    pub fn numel(&self) -> u64 {
        self.dims()
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// The host data as `nbytes / size_of::<T>()` elements of `T`.
    ///
    /// Returns an empty slice when `addr` is null, `nbytes` is 0 or `T` is
    /// zero-sized.
    ///
    /// # Safety
    ///
    /// Unless the slice is empty, `addr` must point to `nbytes` bytes that
    /// are valid for reads and writes, initialized, properly aligned for `T`
    /// and valid values of `T`, and nothing else may access that memory
    /// while the returned slice is alive (in particular, do not call this
    /// twice for the same tensor and keep both results). Tensors the runtime
    /// passes to an entry point satisfy the validity part for the duration
    /// of the entry call.
    #[allow(clippy::mut_from_ref)] // the memory is not owned by `self`; see # Safety
    pub unsafe fn host_slice<T>(&self) -> &mut [T] {
        let size = size_of::<T>();
        if self.addr == 0 || self.nbytes == 0 || size == 0 {
            return &mut [];
        }
        let len = usize::try_from(self.nbytes).unwrap_or(usize::MAX) / size;
        // SAFETY: `addr` is non-null and, per this function's contract,
        // points to `nbytes >= len * size` initialized, aligned, exclusively
        // borrowed bytes holding valid `T`s.
        unsafe { core::slice::from_raw_parts_mut(self.addr as usize as *mut T, len) }
    }
}

/// A borrowed view of the arguments of one entry call.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArgsView<'a> {
    /// The entry's tensors.
    tensors: &'a [OrchTensor],
    /// The entry's scalar words.
    scalars: &'a [u64],
}

impl<'a> ArgsView<'a> {
    /// A view over the given tensors and scalars (e.g. to unit-test a build
    /// function without a runtime).
    pub const fn new(tensors: &'a [OrchTensor], scalars: &'a [u64]) -> ArgsView<'a> {
        ArgsView { tensors, scalars }
    }

    /// A view of the raw arguments `args`. A null `args` is an empty view,
    /// and so is a null array (whatever its count).
    ///
    /// # Safety
    ///
    /// If non-null, `args` must point to a valid [`OrchArgs`] whose non-null
    /// `tensors` / `scalars` point to `num_tensors` / `num_scalars`
    /// initialized elements, and all of it must stay valid and unmodified
    /// for `'a`.
    pub unsafe fn from_raw(args: *const OrchArgs) -> ArgsView<'a> {
        // SAFETY: the caller guarantees a non-null `args` points to a valid
        // `OrchArgs` that lives for `'a`.
        let Some(raw) = (unsafe { args.as_ref() }) else {
            return ArgsView::default();
        };
        // SAFETY: per the contract, each non-null array holds its count of
        // initialized elements for `'a`.
        unsafe {
            ArgsView {
                tensors: raw_slice(raw.tensors, raw.num_tensors),
                scalars: raw_slice(raw.scalars, raw.num_scalars),
            }
        }
    }

    /// All tensors.
    pub const fn tensors(&self) -> &'a [OrchTensor] {
        self.tensors
    }

    /// All scalar words.
    pub const fn scalars(&self) -> &'a [u64] {
        self.scalars
    }

    /// Tensor `index`, or an [`OrchStatus::OutOfBounds`] error from call
    /// `"tensor"`.
    pub fn tensor(&self, index: usize) -> Result<&'a OrchTensor, OrchError> {
        self.tensors
            .get(index)
            .ok_or(OrchError::new("tensor", OrchStatus::OutOfBounds))
    }

    /// Scalar word `index`, or an [`OrchStatus::OutOfBounds`] error from
    /// call `"scalar"`.
    pub fn scalar(&self, index: usize) -> Result<u64, OrchError> {
        self.scalars
            .get(index)
            .copied()
            .ok_or(OrchError::new("scalar", OrchStatus::OutOfBounds))
    }
}

/// `len` elements at `ptr` as a slice; empty when `ptr` is null.
///
/// # Safety
///
/// A non-null `ptr` must point to `len` initialized `T`s valid for `'a`.
unsafe fn raw_slice<'a, T>(ptr: *const T, len: u32) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: non-null and, per the contract, `len` initialized `T`s
        // valid for `'a`.
        unsafe { core::slice::from_raw_parts(ptr, len as usize) }
    }
}

/// Host-side owned arguments for an entry call; [`as_raw`](Self::as_raw)
/// yields the [`OrchArgs`] to pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedArgs {
    /// The tensors to pass.
    tensors: Vec<OrchTensor>,
    /// The scalar words to pass.
    scalars: Vec<u64>,
}

impl OwnedArgs {
    /// No tensors, no scalars.
    pub const fn new() -> OwnedArgs {
        OwnedArgs {
            tensors: Vec::new(),
            scalars: Vec::new(),
        }
    }

    /// Arguments made of `tensors` and `scalars`.
    pub const fn from_parts(tensors: Vec<OrchTensor>, scalars: Vec<u64>) -> OwnedArgs {
        OwnedArgs { tensors, scalars }
    }

    /// Appends a tensor.
    pub fn push_tensor(&mut self, tensor: OrchTensor) -> &mut OwnedArgs {
        self.tensors.push(tensor);
        self
    }

    /// Appends a scalar word.
    pub fn push_scalar(&mut self, scalar: u64) -> &mut OwnedArgs {
        self.scalars.push(scalar);
        self
    }

    /// The tensors pushed so far.
    pub fn tensors(&self) -> &[OrchTensor] {
        &self.tensors
    }

    /// The scalar words pushed so far.
    pub fn scalars(&self) -> &[u64] {
        &self.scalars
    }

    /// The raw arguments, pointing into `self` (valid while `self` is alive
    /// and unmodified). Empty lists are passed as null pointers.
    ///
    /// # Panics
    ///
    /// If either list has more than `u32::MAX` entries.
    pub fn as_raw(&self) -> OrchArgs {
        OrchArgs {
            tensors: non_empty_ptr(&self.tensors),
            scalars: non_empty_ptr(&self.scalars),
            num_tensors: u32::try_from(self.tensors.len()).expect("more than u32::MAX tensors"),
            num_scalars: u32::try_from(self.scalars.len()).expect("more than u32::MAX scalars"),
        }
    }

    /// A view of these arguments, as a build function would see them.
    pub fn view(&self) -> ArgsView<'_> {
        ArgsView::new(&self.tensors, &self.scalars)
    }
}

/// The slice's data pointer, or null when it is empty.
fn non_empty_ptr<T>(items: &[T]) -> *const T {
    if items.is_empty() {
        core::ptr::null()
    } else {
        items.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_new_and_helpers() {
        let data = [1.0f32; 12];
        let t = OrchTensor::new(data.as_ptr(), &[3, 4], DType::F32);
        assert_eq!(t.addr, data.as_ptr() as u64);
        assert_eq!(t.dims(), &[3, 4]);
        assert_eq!(t.numel(), 12);
        assert_eq!(t.nbytes, 48);
        assert_eq!(t.dtype(), Some(DType::F32));
        let scalar = OrchTensor::new(data.as_ptr(), &[], DType::BF16);
        assert_eq!((scalar.numel(), scalar.nbytes), (1, 2));
        let odd = OrchTensor {
            ndim: 99,
            dtype: 77,
            ..t
        };
        assert_eq!(odd.dims().len(), MAX_TENSOR_DIMS);
        assert_eq!(odd.dtype(), None);
    }

    #[test]
    #[should_panic(expected = "at most 5 allowed")]
    fn tensor_new_refuses_six_dims() {
        OrchTensor::new(core::ptr::null::<u8>(), &[1; 6], DType::U8);
    }

    #[test]
    fn host_slice_views_the_data() {
        let mut data = [1u32, 2, 3, 4];
        let t = OrchTensor::new(data.as_mut_ptr(), &[4], DType::U32);
        // SAFETY: `data` is live, aligned and not otherwise accessed while
        // `slice` is alive.
        let slice = unsafe { t.host_slice::<u32>() };
        slice[3] = 40;
        assert_eq!(data, [1, 2, 3, 40]);
        let empty = OrchTensor::default();
        // SAFETY: a null tensor yields an empty slice without dereferencing.
        assert!(unsafe { empty.host_slice::<u64>() }.is_empty());
    }

    #[test]
    fn owned_args_round_trip_through_raw() {
        let data = [0u8; 8];
        let mut owned = OwnedArgs::new();
        owned
            .push_tensor(OrchTensor::new(data.as_ptr(), &[8], DType::U8))
            .push_scalar(7)
            .push_scalar(9);
        let raw = owned.as_raw();
        assert_eq!((raw.num_tensors, raw.num_scalars), (1, 2));
        // SAFETY: `raw` points into `owned`, which outlives the view.
        let view = unsafe { ArgsView::from_raw(&raw) };
        assert_eq!(view.tensors(), owned.tensors());
        assert_eq!(view.scalars(), &[7, 9]);
        assert_eq!(view.scalar(1), Ok(9));
        assert_eq!(
            view.tensor(1),
            Err(OrchError::new("tensor", OrchStatus::OutOfBounds))
        );
        assert_eq!(
            view.scalar(2),
            Err(OrchError::new("scalar", OrchStatus::OutOfBounds))
        );

        let empty = OwnedArgs::new().as_raw();
        assert!(empty.tensors.is_null() && empty.scalars.is_null());
        // SAFETY: null pointers read as an empty view.
        let null_view = unsafe { ArgsView::from_raw(core::ptr::null()) };
        assert!(null_view.tensors().is_empty() && null_view.scalars().is_empty());
    }
}
