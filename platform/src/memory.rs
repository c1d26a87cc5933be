//! Device memory: the allocation interface the runtime and orchestration
//! plugins use, and a simulated implementation that tracks every allocation
//! so double frees, stray pointers, out-of-bounds copies and leaks are caught.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::collections::{BTreeMap, HashSet};

/// Why a device-memory call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    /// A zero-byte allocation or copy.
    #[error("zero-byte device {0} refused")]
    ZeroSize(&'static str),
    /// The allocator could not satisfy the request.
    #[error("device allocation of {bytes} bytes failed")]
    OutOfMemory {
        /// Requested size.
        bytes: u64,
    },
    /// A pointer freed before in this round (since the last
    /// [`free_all`](DeviceMemory::free_all) or
    /// [`quarantine_live`](DeviceMemory::quarantine_live), which forget
    /// what was freed: a stale pointer of an earlier round is
    /// [`UnknownPointer`](Self::UnknownPointer)).
    #[error("double free of device pointer {ptr:#x}")]
    DoubleFree {
        /// The pointer.
        ptr: u64,
    },
    /// A pointer that is not the start of a live allocation.
    #[error("device pointer {ptr:#x} is not the start of a live allocation")]
    UnknownPointer {
        /// The pointer.
        ptr: u64,
    },
    /// A copy that does not fit inside one live allocation.
    #[error("device range {ptr:#x}+{bytes} is outside every live allocation")]
    OutOfBounds {
        /// Start of the range.
        ptr: u64,
        /// Length of the range.
        bytes: u64,
    },
}

/// Device memory as the runtime sees it. Device addresses are `u64`s that
/// kernels receive as argument words.
pub trait DeviceMemory: Send {
    /// Allocates `bytes` of zeroed device memory, 64-byte aligned.
    fn malloc(&mut self, bytes: u64) -> Result<u64, MemError>;
    /// Frees an allocation made by [`malloc`](Self::malloc).
    fn free(&mut self, ptr: u64) -> Result<(), MemError>;
    /// Copies `host` to device range `dst..dst + host.len()`.
    fn copy_to_device(&mut self, dst: u64, host: &[u8]) -> Result<(), MemError>;
    /// Copies device range `src..src + host.len()` to `host`.
    fn copy_from_device(&self, host: &mut [u8], src: u64) -> Result<(), MemError>;
    /// Checks that `ptr..ptr + bytes` lies inside one live allocation.
    fn check_range(&self, ptr: u64, bytes: u64) -> Result<(), MemError>;
    /// Live allocations as `(ptr, bytes)`, lowest address first.
    fn live(&self) -> Vec<(u64, u64)>;
    /// The size of the live allocation that starts at `ptr`, if any. The
    /// default searches [`live`](Self::live); an implementation that keeps
    /// its allocations by address should look it up instead (a free asks).
    fn allocation(&self, ptr: u64) -> Option<u64> {
        self.live()
            .into_iter()
            .find_map(|(p, bytes)| (p == ptr).then_some(bytes))
    }
    /// Frees every live allocation; returns how many there were.
    fn free_all(&mut self) -> usize;
    /// Moves every live allocation into quarantine, for memory that a core
    /// may still write (a kernel that outlived its run): it stays allocated,
    /// so no later [`malloc`](Self::malloc) returns an address inside it,
    /// but it is no longer live (not listed, not freed by
    /// [`free_all`](Self::free_all), refused by copies and `free`). Returns
    /// how many allocations moved.
    fn quarantine_live(&mut self) -> usize;
    /// Frees every quarantined allocation, once nothing can touch it any
    /// more; returns how many there were.
    fn release_quarantine(&mut self) -> usize;
    /// Quarantined allocations as `(ptr, bytes)`, lowest address first.
    fn quarantined(&self) -> Vec<(u64, u64)>;
}

const ALIGN: usize = 64;

/// Simulated device memory: host allocations, tracked. Dropping it frees
/// what is live and leaks what is quarantined (a core may still write it).
#[derive(Default)]
pub struct SimDeviceMemory {
    live: BTreeMap<u64, u64>,
    freed: HashSet<u64>,
    quarantine: BTreeMap<u64, u64>,
}

impl SimDeviceMemory {
    /// An empty device.
    pub fn new() -> Self {
        Self::default()
    }

    fn layout(bytes: u64) -> Option<Layout> {
        Layout::from_size_align(usize::try_from(bytes).ok()?, ALIGN).ok()
    }

    /// Returns an allocation to the host allocator.
    fn dealloc(ptr: u64, bytes: u64) {
        let layout = Self::layout(bytes).expect("layout was valid at malloc");
        // SAFETY: every caller passes an allocation made by `malloc` with
        // this same size (so this same layout) and removed from the books
        // just before, so it is freed once.
        unsafe { dealloc(ptr as *mut u8, layout) };
    }

    /// Checks `ptr..ptr + bytes` lies inside one live allocation.
    fn check_range_for(&self, ptr: u64, bytes: u64, what: &'static str) -> Result<(), MemError> {
        if bytes == 0 {
            return Err(MemError::ZeroSize(what));
        }
        let inside = self
            .live
            .range(..=ptr)
            .next_back()
            .is_some_and(|(&start, &len)| {
                ptr.checked_add(bytes).is_some_and(|end| end <= start + len)
            });
        if inside {
            Ok(())
        } else {
            Err(MemError::OutOfBounds { ptr, bytes })
        }
    }
}

impl DeviceMemory for SimDeviceMemory {
    fn malloc(&mut self, bytes: u64) -> Result<u64, MemError> {
        if bytes == 0 {
            return Err(MemError::ZeroSize("allocation"));
        }
        let layout = Self::layout(bytes).ok_or(MemError::OutOfMemory { bytes })?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let p = unsafe { alloc_zeroed(layout) };
        if p.is_null() {
            return Err(MemError::OutOfMemory { bytes });
        }
        let ptr = p as u64;
        self.freed.remove(&ptr);
        self.live.insert(ptr, bytes);
        Ok(ptr)
    }

    fn free(&mut self, ptr: u64) -> Result<(), MemError> {
        let Some(bytes) = self.live.remove(&ptr) else {
            return Err(if self.freed.contains(&ptr) {
                MemError::DoubleFree { ptr }
            } else {
                MemError::UnknownPointer { ptr }
            });
        };
        Self::dealloc(ptr, bytes);
        self.freed.insert(ptr);
        Ok(())
    }

    fn copy_to_device(&mut self, dst: u64, host: &[u8]) -> Result<(), MemError> {
        self.check_range_for(dst, host.len() as u64, "copy to device")?;
        // SAFETY: the destination range lies inside one live allocation
        // (checked above), writable for `host.len()` bytes. The simulated
        // device's addresses are host addresses, so a plugin may pass a
        // host range inside the same allocation: `copy` allows the overlap.
        unsafe { std::ptr::copy(host.as_ptr(), dst as *mut u8, host.len()) };
        Ok(())
    }

    fn copy_from_device(&self, host: &mut [u8], src: u64) -> Result<(), MemError> {
        self.check_range_for(src, host.len() as u64, "copy from device")?;
        // SAFETY: the source range lies inside one live allocation (checked
        // above), readable for `host.len()` bytes; `host` may be a range of
        // the same allocation (device addresses are host addresses here),
        // so `copy` allows the overlap.
        unsafe { std::ptr::copy(src as *const u8, host.as_mut_ptr(), host.len()) };
        Ok(())
    }

    fn check_range(&self, ptr: u64, bytes: u64) -> Result<(), MemError> {
        self.check_range_for(ptr, bytes, "range")
    }

    fn live(&self) -> Vec<(u64, u64)> {
        self.live.iter().map(|(&p, &b)| (p, b)).collect()
    }

    fn allocation(&self, ptr: u64) -> Option<u64> {
        self.live.get(&ptr).copied()
    }

    fn free_all(&mut self) -> usize {
        let live = std::mem::take(&mut self.live);
        for (&ptr, &bytes) in &live {
            Self::dealloc(ptr, bytes);
        }
        self.freed.clear();
        live.len()
    }

    fn quarantine_live(&mut self) -> usize {
        let live = std::mem::take(&mut self.live);
        let n = live.len();
        self.quarantine.extend(live);
        self.freed.clear();
        n
    }

    fn release_quarantine(&mut self) -> usize {
        let quarantine = std::mem::take(&mut self.quarantine);
        for (&ptr, &bytes) in &quarantine {
            Self::dealloc(ptr, bytes);
        }
        quarantine.len()
    }

    fn quarantined(&self) -> Vec<(u64, u64)> {
        self.quarantine.iter().map(|(&p, &b)| (p, b)).collect()
    }
}

impl Drop for SimDeviceMemory {
    fn drop(&mut self) {
        let freed = self.free_all();
        if freed > 0 {
            log::warn!("sim device memory dropped with {freed} live allocation(s); freed them");
        }
        if !self.quarantine.is_empty() {
            let bytes: u64 = self.quarantine.values().sum();
            log::warn!(
                "sim device memory dropped with {} quarantined allocation(s) ({bytes} bytes) that a core may still write; leaked, not freed",
                self.quarantine.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malloc_copy_round_trip_and_alignment() {
        let mut m = SimDeviceMemory::new();
        let p = m.malloc(100).unwrap();
        assert_eq!(p % 64, 0);
        m.copy_to_device(p + 10, &[1, 2, 3]).unwrap();
        let mut out = [9u8; 5];
        m.copy_from_device(&mut out, p + 9).unwrap();
        assert_eq!(out, [0, 1, 2, 3, 0]);
        assert_eq!(m.live(), vec![(p, 100)]);
        m.free(p).unwrap();
        assert!(m.live().is_empty());
    }

    #[test]
    fn bad_pointers_are_named() {
        let mut m = SimDeviceMemory::new();
        let p = m.malloc(64).unwrap();
        assert_eq!(
            m.copy_to_device(p + 60, &[0; 8]),
            Err(MemError::OutOfBounds {
                ptr: p + 60,
                bytes: 8
            })
        );
        assert_eq!(
            m.copy_to_device(p, &[]),
            Err(MemError::ZeroSize("copy to device"))
        );
        assert_eq!(m.free(p + 8), Err(MemError::UnknownPointer { ptr: p + 8 }));
        m.free(p).unwrap();
        assert_eq!(m.free(p), Err(MemError::DoubleFree { ptr: p }));
        // A round's end forgets what it freed: a stale pointer of an
        // earlier round is unknown, not a double free.
        assert_eq!(m.free_all(), 0);
        assert_eq!(m.free(p), Err(MemError::UnknownPointer { ptr: p }));
        assert_eq!(m.malloc(0), Err(MemError::ZeroSize("allocation")));
        let mut out = [0u8; 1];
        assert_eq!(
            m.copy_from_device(&mut out, p),
            Err(MemError::OutOfBounds { ptr: p, bytes: 1 })
        );
    }

    #[test]
    fn quarantined_memory_stays_allocated_until_released() {
        let mut m = SimDeviceMemory::new();
        let p = m.malloc(256).unwrap();
        assert_eq!(m.quarantine_live(), 1);
        assert!(m.live().is_empty());
        assert_eq!(m.quarantined(), vec![(p, 256)]);
        // No longer live: refused, not freed, not reachable by copies.
        assert_eq!(m.free(p), Err(MemError::UnknownPointer { ptr: p }));
        assert_eq!(m.free_all(), 0);
        assert!(m.copy_to_device(p, &[1]).is_err());
        // Still allocated: later allocations never overlap it.
        let later: Vec<u64> = (0..64).map(|_| m.malloc(256).unwrap()).collect();
        assert!(later.iter().all(|&q| q + 256 <= p || q >= p + 256));
        assert_eq!(m.release_quarantine(), 1);
        assert!(m.quarantined().is_empty());
        assert_eq!(m.free_all(), 64);
    }

    #[test]
    fn overlapping_copies_within_one_allocation_move_the_bytes() {
        let mut m = SimDeviceMemory::new();
        let p = m.malloc(4096).unwrap();
        let bytes: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        m.copy_to_device(p, &bytes).unwrap();
        // A host range inside the same allocation (device addresses are
        // host addresses here), shifted by one byte either way.
        // SAFETY: `p..p + 4096` is a live allocation of this memory.
        let src = unsafe { std::slice::from_raw_parts(p as *const u8, 4095) };
        m.copy_to_device(p + 1, src).unwrap();
        let mut out = vec![0u8; 4096];
        m.copy_from_device(&mut out, p).unwrap();
        assert_eq!(out[0], 0);
        assert_eq!(&out[1..], &bytes[..4095]);
        // SAFETY: as above.
        let dst = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, 4095) };
        m.copy_from_device(dst, p + 1).unwrap();
        m.copy_from_device(&mut out, p).unwrap();
        assert_eq!(&out[..4095], &bytes[..4095]);
        m.free(p).unwrap();
    }

    /// `allocation` finds an allocation by its start only, while it lives.
    #[test]
    fn allocation_is_looked_up_by_its_start() {
        let mut mem = SimDeviceMemory::new();
        let a = mem.malloc(100).unwrap();
        let b = mem.malloc(7).unwrap();
        assert_eq!((mem.allocation(a), mem.allocation(b)), (Some(100), Some(7)));
        assert_eq!(mem.allocation(a + 8), None, "not a start");
        mem.free(a).unwrap();
        assert_eq!((mem.allocation(a), mem.allocation(b)), (None, Some(7)));
        mem.free_all();
    }

    #[test]
    fn free_all_reports_leaks() {
        let mut m = SimDeviceMemory::new();
        m.malloc(8).unwrap();
        m.malloc(16).unwrap();
        assert_eq!(m.free_all(), 2);
        assert_eq!(m.free_all(), 0);
    }
}
