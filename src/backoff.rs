//! Waiting without a lock: spin briefly, then yield, then sleep in short
//! slices, so many waiting threads on few CPUs do not starve the busy ones.

use std::time::{Duration, Instant};

/// Waits 1, 2, 4 ... 64 spin hints: a cross-core round trip or two.
const SPIN_LIMIT: u32 = 6;
/// Then yields the CPU (cheap when nothing else wants it, and lets another
/// thread run when the machine is oversubscribed) ...
const YIELD_LIMIT: u32 = 2_000;
/// ... and only after that long an idle stretch sleeps in short slices.
const SLEEP: Duration = Duration::from_micros(20);

/// Escalating wait for lock-free polling loops.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
    idle: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Back to spinning after progress.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
        self.idle = 0;
    }

    /// Waits a little; returns true every 64 waits, when the caller should
    /// look at the clock (so time is not read on every idle poll).
    #[inline]
    pub fn snooze(&mut self) -> bool {
        if self.step <= SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
            self.step += 1;
        } else if self.step <= YIELD_LIMIT {
            std::thread::yield_now();
            self.step += 1;
        } else {
            std::thread::sleep(SLEEP);
        }
        self.idle = self.idle.wrapping_add(1);
        self.idle.is_multiple_of(64)
    }
}

/// Tracks how long the count of remaining tasks has not moved.
pub(crate) struct StallWatch {
    timeout: Duration,
    last: usize,
    since: Instant,
}

impl StallWatch {
    pub fn new(timeout: Duration) -> Self {
        StallWatch {
            timeout,
            last: usize::MAX,
            since: Instant::now(),
        }
    }

    pub fn stalled(&mut self, remaining: usize) -> bool {
        if remaining != self.last {
            self.last = remaining;
            self.since = Instant::now();
            return false;
        }
        self.since.elapsed() >= self.timeout
    }

    pub fn elapsed(&self) -> Duration {
        self.since.elapsed()
    }
}
