//! Platform specifications: what differs between the a2a3 and a5 chips.

use std::fmt;
use std::str::FromStr;

/// A supported chip family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Ascend a2/a3: 24 blocks, fast-path register, 50 MHz system counter.
    A2A3,
    /// Ascend a5: 36 blocks, no fast-path register, 1 GHz system counter.
    A5,
}

/// The figures the runtime needs to know about one chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformSpec {
    /// Which chip this is.
    pub platform: Platform,
    /// Most blocks one launch may use.
    pub max_block_dim: u32,
    /// Cube (AIC) cores per block.
    pub aic_per_block: u32,
    /// Vector (AIV) cores per block.
    pub aiv_per_block: u32,
    /// Most scheduler (AICPU) threads that may schedule.
    pub max_scheduler_threads: u32,
    /// AICPU threads the launch starts (some only take part in start-up).
    pub launched_aicpu_threads: u32,
    /// Byte offset of DATA_MAIN_BASE in a core's register block.
    pub data_main_base_offset: u32,
    /// Byte offset of COND in a core's register block.
    pub cond_offset: u32,
    /// Byte offset of FAST_PATH_ENABLE, where the chip has one.
    pub fast_path_offset: Option<u32>,
    /// Value written to FAST_PATH_ENABLE to open the fast path.
    pub fast_path_open: u32,
    /// Value written to FAST_PATH_ENABLE to close the fast path.
    pub fast_path_close: u32,
    /// Frequency of the system counter, in Hz.
    pub counter_hz: u64,
}

impl Platform {
    /// Every supported platform.
    pub const ALL: [Platform; 2] = [Platform::A2A3, Platform::A5];

    /// The platform's figures.
    pub const fn spec(self) -> &'static PlatformSpec {
        match self {
            Platform::A2A3 => &A2A3,
            Platform::A5 => &A5,
        }
    }

    /// The lower-case name used on command lines (`a2a3`, `a5`).
    pub const fn name(self) -> &'static str {
        match self {
            Platform::A2A3 => "a2a3",
            Platform::A5 => "a5",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a platform name that is not `a2a3` or `a5`.
#[derive(Debug, thiserror::Error)]
#[error("unknown platform {0:?} (expected a2a3 or a5)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "a2a3" => Ok(Platform::A2A3),
            "a5" => Ok(Platform::A5),
            _ => Err(UnknownPlatform(s.to_string())),
        }
    }
}

impl PlatformSpec {
    /// Cores in one block (AIC + AIV), saturating at `u32::MAX` for a
    /// spec past any chip (which backends refuse by its core count).
    pub const fn cores_per_block(&self) -> u32 {
        self.aic_per_block.saturating_add(self.aiv_per_block)
    }

    /// Physical cores on the chip: the bound a reported physical core id
    /// must stay below. Saturates at `u32::MAX`, so a spec too large to
    /// count is refused as too large rather than wrapped to a small chip.
    pub const fn physical_cores(&self) -> u32 {
        self.max_block_dim.saturating_mul(self.cores_per_block())
    }

    /// Bytes one core's register block spans (every register offset plus one word,
    /// rounded up to a cache line).
    pub const fn register_block_bytes(&self) -> usize {
        let mut end = self.data_main_base_offset;
        if self.cond_offset > end {
            end = self.cond_offset;
        }
        if let Some(fp) = self.fast_path_offset
            && fp > end
        {
            end = fp;
        }
        ((end as usize + 4) + 63) & !63
    }
}

static A2A3: PlatformSpec = PlatformSpec {
    platform: Platform::A2A3,
    max_block_dim: 24,
    aic_per_block: 1,
    aiv_per_block: 2,
    max_scheduler_threads: 4,
    launched_aicpu_threads: 6,
    data_main_base_offset: 0xA0,
    cond_offset: 0x4C8,
    fast_path_offset: Some(0x18),
    fast_path_open: 0xE,
    fast_path_close: 0xF,
    counter_hz: 50_000_000,
};

static A5: PlatformSpec = PlatformSpec {
    platform: Platform::A5,
    max_block_dim: 36,
    aic_per_block: 1,
    aiv_per_block: 2,
    max_scheduler_threads: 7,
    launched_aicpu_threads: 7,
    data_main_base_offset: 0xD0,
    cond_offset: 0x5108,
    fast_path_offset: None,
    fast_path_open: 0,
    fast_path_close: 0,
    counter_hz: 1_000_000_000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_match_the_reference_runtime() {
        let a = Platform::A2A3.spec();
        assert_eq!(
            (
                a.max_block_dim,
                a.max_scheduler_threads,
                a.launched_aicpu_threads
            ),
            (24, 4, 6)
        );
        assert_eq!((a.data_main_base_offset, a.cond_offset), (0xA0, 0x4C8));
        assert_eq!(
            (a.fast_path_offset, a.fast_path_open, a.fast_path_close),
            (Some(0x18), 0xE, 0xF)
        );
        assert_eq!(a.physical_cores(), 72);
        let b = Platform::A5.spec();
        assert_eq!(
            (
                b.max_block_dim,
                b.max_scheduler_threads,
                b.launched_aicpu_threads
            ),
            (36, 7, 7)
        );
        assert_eq!(
            (b.data_main_base_offset, b.cond_offset, b.fast_path_offset),
            (0xD0, 0x5108, None)
        );
        assert_eq!(b.physical_cores(), 108);
        assert_eq!((a.counter_hz, b.counter_hz), (50_000_000, 1_000_000_000));
    }

    /// A spec too large to count (a custom one: the fields are public)
    /// counts as `u32::MAX` cores, which backends refuse as too many,
    /// rather than wrapping to a small chip (2^31 blocks of 2 cores wrapped
    /// to 0) or overflowing in a debug build.
    #[test]
    fn a_spec_too_large_to_count_saturates() {
        let huge = PlatformSpec {
            max_block_dim: 1 << 31,
            aic_per_block: 1,
            aiv_per_block: 1,
            ..*Platform::A2A3.spec()
        };
        assert_eq!(huge.physical_cores(), u32::MAX);
        let wide = PlatformSpec {
            aic_per_block: u32::MAX,
            ..*Platform::A2A3.spec()
        };
        assert_eq!(wide.cores_per_block(), u32::MAX);
        assert_eq!(wide.physical_cores(), u32::MAX);
    }

    #[test]
    fn register_block_covers_every_register() {
        for p in Platform::ALL {
            let s = p.spec();
            let bytes = s.register_block_bytes();
            assert_eq!(bytes % 64, 0);
            assert!(bytes >= s.cond_offset as usize + 4);
            assert!(bytes >= s.data_main_base_offset as usize + 4);
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.name().parse::<Platform>().unwrap(), p);
        }
        assert!(
            "a9".parse::<Platform>()
                .unwrap_err()
                .to_string()
                .contains("a9")
        );
    }
}
