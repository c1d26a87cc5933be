//! Register access: one trait, a memory-backed implementation for the
//! simulator and a volatile one for mapped hardware registers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::regs::Reg;
use crate::spec::PlatformSpec;

/// Reads and writes core registers by physical core id.
///
/// Writes are release and reads acquire: a FIN read by the scheduler makes
/// the kernel's output visible, and a task id read by a core makes its
/// argument words visible.
pub trait RegisterAccess: Send + Sync {
    /// Reads `reg` of core `physical_id`.
    fn read(&self, physical_id: u32, reg: Reg) -> u32;
    /// Writes `value` to `reg` of core `physical_id`.
    fn write(&self, physical_id: u32, reg: Reg, value: u32);
}

#[repr(C, align(64))]
struct Line([AtomicU32; 16]);

/// Memory-backed register blocks, one per physical core, laid out at the
/// platform's real offsets (so DATA_MAIN_BASE and COND sit on different cache
/// lines, as on the chip). Cloning shares the blocks.
#[derive(Clone)]
pub struct SimRegisters {
    lines: Arc<[Line]>,
    words_per_core: usize,
    offsets: [Option<usize>; 3],
}

impl SimRegisters {
    /// Register blocks for every physical core of `spec`, all zero.
    pub fn new(spec: &PlatformSpec) -> Self {
        let words_per_core = spec.register_block_bytes() / 4;
        let n_lines = words_per_core / 16 * spec.physical_cores() as usize;
        let lines = (0..n_lines)
            .map(|_| Line(std::array::from_fn(|_| AtomicU32::new(0))))
            .collect();
        let word = |r: Reg| r.offset(spec).map(|o| o as usize / 4);
        SimRegisters {
            lines,
            words_per_core,
            offsets: [
                word(Reg::DataMainBase),
                word(Reg::Cond),
                word(Reg::FastPathEnable),
            ],
        }
    }

    #[inline]
    fn cell(&self, physical_id: u32, reg: Reg) -> &AtomicU32 {
        let Some(off) = self.offsets[reg as usize] else {
            panic!("register {reg:?} does not exist on this platform");
        };
        let w = physical_id as usize * self.words_per_core + off;
        &self.lines[w / 16].0[w % 16]
    }
}

impl RegisterAccess for SimRegisters {
    #[inline]
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.cell(physical_id, reg).load(Ordering::Acquire)
    }

    #[inline]
    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.cell(physical_id, reg).store(value, Ordering::Release);
    }
}

/// Register blocks mapped from a device: each access is an atomic 32-bit
/// load (acquire) or store (release) at `base[physical_id] + offset`, so
/// register accesses order the memory around them in Rust's model, as
/// [`RegisterAccess`] promises (fences beside volatile accesses would not:
/// a fence only orders through atomic accesses).
///
/// Launching on real hardware needs the vendor runtime (not available
/// here); this type is the access path it would use, and is exercised in
/// tests over ordinary memory.
pub struct MmioRegisters {
    bases: Vec<usize>,
    offsets: [Option<usize>; 3],
}

impl MmioRegisters {
    /// # Safety
    /// Every `bases[i]` must be the address of a mapped register block of at
    /// least `spec.register_block_bytes()` bytes, 4-byte aligned, that stays
    /// mapped for the life of the value, may be accessed from any thread,
    /// and is accessed by this process only through atomic operations
    /// (this type's, or other atomics) while the value lives.
    pub unsafe fn new(spec: &PlatformSpec, bases: Vec<usize>) -> Self {
        let byte = |r: Reg| r.offset(spec).map(|o| o as usize);
        MmioRegisters {
            bases,
            offsets: [
                byte(Reg::DataMainBase),
                byte(Reg::Cond),
                byte(Reg::FastPathEnable),
            ],
        }
    }

    fn cell(&self, physical_id: u32, reg: Reg) -> &AtomicU32 {
        let Some(off) = self.offsets[reg as usize] else {
            panic!("register {reg:?} does not exist on this platform");
        };
        let p = (self.bases[physical_id as usize] + off) as *mut u32;
        // SAFETY: `new`'s contract: the block is mapped for the life of
        // `self`, 4-byte aligned, large enough for every register offset of
        // the platform, and only accessed atomically while `self` lives.
        unsafe { AtomicU32::from_ptr(p) }
    }
}

impl RegisterAccess for MmioRegisters {
    fn read(&self, physical_id: u32, reg: Reg) -> u32 {
        self.cell(physical_id, reg).load(Ordering::Acquire)
    }

    fn write(&self, physical_id: u32, reg: Reg, value: u32) {
        self.cell(physical_id, reg).store(value, Ordering::Release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Platform;

    #[test]
    fn sim_registers_are_independent_per_core_and_register() {
        for p in Platform::ALL {
            let spec = p.spec();
            let regs = SimRegisters::new(spec);
            let n = spec.physical_cores();
            for c in 0..n {
                regs.write(c, Reg::DataMainBase, c);
                regs.write(c, Reg::Cond, 1000 + c);
            }
            for c in 0..n {
                assert_eq!(regs.read(c, Reg::DataMainBase), c);
                assert_eq!(regs.read(c, Reg::Cond), 1000 + c);
            }
        }
    }

    #[test]
    fn mmio_uses_the_platform_offsets() {
        let spec = Platform::A2A3.spec();
        let words = spec.register_block_bytes() / 4;
        let mut mem = vec![0u32; words * 2];
        let base = mem.as_mut_ptr() as usize;
        // SAFETY: `mem` holds two whole register blocks, 4-byte aligned,
        // outlives `regs`, and is only touched through `regs` (atomically)
        // until `regs` is dropped and it is read back below.
        let regs = unsafe { MmioRegisters::new(spec, vec![base, base + words * 4]) };
        regs.write(1, Reg::Cond, 0xABCD);
        regs.write(0, Reg::FastPathEnable, 0xE);
        assert_eq!(regs.read(1, Reg::Cond), 0xABCD);
        drop(regs);
        assert_eq!(mem[words + 0x4C8 / 4], 0xABCD);
        assert_eq!(mem[0x18 / 4], 0xE);
    }

    #[test]
    #[should_panic(expected = "FastPathEnable")]
    fn a5_has_no_fast_path() {
        SimRegisters::new(Platform::A5.spec()).write(0, Reg::FastPathEnable, 1);
    }
}
