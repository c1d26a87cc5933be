//! Doorbells: how a thread of the threaded simulator (a runner stepping
//! cores, or a scheduler thread) sleeps when it has nothing to do, and how
//! the register write that gives it work wakes it — instead of spinning and
//! yielding, which fights other processes for the CPUs.
//!
//! # The protocol
//!
//! Sleeper (nothing to do after its spin phase):
//! 1. announce, unless already announced: `sleepy = true`, then a heavy
//!    fence;
//! 2. look once more for work (step its cores, or poll);
//! 3. if there is none, park (with a timeout, so stall detection runs)
//!    and stay announced: parking again after the timeout needs no new
//!    fence, since `sleepy` has stayed true since the one fence;
//! 4. once it finds work (in step 2, or by itself after a timeout):
//!    `sleepy = false` ([`Bell::awake`]).
//!
//! Waker (after the register write that makes work for the sleeper):
//! 5. a light fence, then if `sleepy`, unpark the sleeper.
//!
//! The fences make it impossible for the sleeper to miss the write in
//! step 2 while the waker misses `sleepy` in step 5: together, a heavy and
//! a light fence order each thread's store before its load as two SeqCst
//! fences would, so at least one sees the other's store. They are
//! asymmetric because the waker rings on every register write and the
//! sleeper only when an idle spell begins: where Linux (with glibc, kernel
//! 4.14 or later) offers the `membarrier` system call's private expedited
//! command, the heavy fence is that call, which makes every running thread
//! of the process pass a full barrier (a thread not running passed one
//! when it was switched out), and the light fence only keeps the compiler
//! from moving the load before the store. (That pairing rests on the
//! kernel's documented behaviour, not on Rust's memory model, which gives
//! a compiler fence no ordering between threads; it is what folly and
//! liburcu rely on too.) Elsewhere, or if the call ever fails (from then
//! on), both are SeqCst fences. `unpark` before
//! `park` leaves a token, so the wake cannot be lost between steps 2 and
//! 3 either. The unpark (a futex wake) is paid only when the sleeper
//! really announced sleep.

use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Duration;

/// Set if the `membarrier` system call failed after registering: both
/// fences are SeqCst fences from then on.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
static MEMBARRIER_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether the heavy fence is the `membarrier` system call, registered for
/// this process, so that the light fence need not be a CPU fence: the
/// registration is tried once (the simulator does when it starts, off the
/// hot path).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn expedited() -> bool {
    use std::sync::OnceLock;
    static EXPEDITED: OnceLock<bool> = OnceLock::new();
    let registered = *EXPEDITED.get_or_init(|| {
        const QUERY: libc::c_long = 0;
        const REGISTER: libc::c_long = 1 << 4;
        let commands = membarrier(QUERY);
        commands >= 0
            && commands & (PRIVATE_EXPEDITED | REGISTER) == PRIVATE_EXPEDITED | REGISTER
            && membarrier(REGISTER) == 0
    });
    registered && !MEMBARRIER_FAILED.load(Ordering::Relaxed)
}

/// The private expedited `membarrier` command.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;

/// `membarrier(command, 0, 0)`: what it returns (negative on failure).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn membarrier(command: libc::c_long) -> libc::c_long {
    // SAFETY: membarrier takes a command, flags and a CPU id by value and
    // touches no memory of the caller's.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            command,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

/// The waker's side of the fence pair (step 5).
#[inline]
fn light_fence() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if expedited() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        return;
    }
    fence(Ordering::SeqCst);
}

/// The sleeper's side of the fence pair (step 1). Should the system call
/// fail, both sides use SeqCst fences from then on; a waker that rang
/// meanwhile with the light fence may be missed, once: the sleeper's park
/// times out after [`NAP`] and it looks again.
fn heavy_fence() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if expedited() {
        if membarrier(PRIVATE_EXPEDITED) >= 0 {
            return;
        }
        MEMBARRIER_FAILED.store(true, Ordering::Relaxed);
        log::warn!(
            "hostgraph: the membarrier system call failed ({}); doorbells use full fences from now on",
            std::io::Error::last_os_error()
        );
    }
    fence(Ordering::SeqCst);
}

/// How long a sleeper parks at most before looking again (stall clocks,
/// and any wake a timeout must stand in for, run at least this often).
pub(crate) const NAP: Duration = Duration::from_millis(1);

/// Spin hints, then yields, before a waiter announces sleep: enough to
/// catch a reply from another core on a quiet machine (a round trip is
/// ~100 ns), short enough not to keep a CPU from other work.
pub(crate) const SPINS: u32 = 256;
/// Yields after the spins.
pub(crate) const YIELDS: u32 = 16;

/// One sleeping place: a flag the waker reads, and the thread to unpark.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Bell {
    sleepy: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Bell {
    fn thread(&self) -> MutexGuard<'_, Option<Thread>> {
        self.thread.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the calling thread the one this bell wakes, awake (it
    /// announces its own sleep, with its own fence).
    pub fn claim(&self) {
        *self.thread() = Some(std::thread::current());
        self.sleepy.store(false, Ordering::Relaxed);
    }

    /// Steps 1-4: sleeps unless `work` (step 2) finds something; returns
    /// what `work` returned. Returning `None` (the park timed out, or a
    /// ring woke it), the caller is still announced: it calls
    /// [`awake`](Self::awake) once it finds work by itself.
    pub fn sleep<T>(&self, work: impl FnOnce() -> Option<T>) -> Option<T> {
        // Only the sleeper writes `sleepy`.
        if !self.sleepy.load(Ordering::Relaxed) {
            self.sleepy.store(true, Ordering::Relaxed);
            heavy_fence();
        }
        let found = work();
        if found.is_none() {
            std::thread::park_timeout(NAP);
        } else {
            self.awake();
        }
        found
    }

    /// Step 4: the owner found work; wakers stop unparking it.
    #[inline]
    pub fn awake(&self) {
        if self.sleepy.load(Ordering::Relaxed) {
            self.sleepy.store(false, Ordering::Relaxed);
        }
    }

    /// Step 5, after the caller's fence ([`ring`]).
    #[inline]
    fn ring_fenced(&self) {
        if self.sleepy.load(Ordering::Relaxed)
            && let Some(t) = self.thread().as_ref()
        {
            t.unpark();
        }
    }
}

/// Step 5 for one bell.
#[inline]
pub(crate) fn ring(bell: &Bell) {
    light_fence();
    bell.ring_fenced();
}

/// Step 5 for every bell of `bells` (one fence for all).
pub(crate) fn ring_all(bells: &[Bell]) {
    light_fence();
    for b in bells {
        b.ring_fenced();
    }
}

/// A waiter's escalation: spin, then yield, then (the caller) sleep.
#[derive(Default)]
pub(crate) struct Patience(u32);

impl Patience {
    /// Nothing to do once more: spins or yields, or returns true when it is
    /// time to sleep.
    #[inline]
    pub fn wait(&mut self) -> bool {
        self.0 += 1;
        if self.0 <= SPINS {
            std::hint::spin_loop();
            false
        } else if self.0 <= SPINS + YIELDS {
            std::thread::yield_now();
            false
        } else {
            true
        }
    }

    /// Work came: back to spinning.
    #[inline]
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}
