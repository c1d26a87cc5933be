//! Short time slices: how the threaded simulator's threads keep their
//! hand-offs quick on a machine whose CPUs other processes keep busy.
//!
//! Every task crosses threads twice (a scheduler thread writes it to a
//! core, the core's runner writes its FIN back), and an idle thread
//! sleeps until a doorbell wakes it ([`bell`](super::bell)). Linux's
//! scheduler (EEVDF, 6.6 and later) lets a running thread finish its time
//! slice (by default 0.7 ms scaled up with the CPU count: 1.4 ms on 2
//! CPUs) before a woken thread may take its CPU; a thread that yields
//! hands its CPU over for such a slice too. Against busy processes on
//! every CPU, each hand-off could wait that long, and the threaded rows
//! of the bench slowed by up to 60 times.
//! Since Linux 6.12 a thread may ask for a shorter slice (`sched_runtime`
//! of `sched_setattr`, from 0.1 to 100 ms, no privilege needed), which
//! lets it take a CPU from a longer-sliced thread sooner; it gets no more
//! CPU time than before, only sooner.
//!
//! # The protocol
//!
//! For the duration of a [`Short`] guard, on the thread that made it:
//! 1. read the thread's scheduling attributes; a thread not under the
//!    normal policy (real-time, batch, idle), or one already on the short
//!    slice, is left as it is;
//! 2. ask for [`SLICE_NS`], keeping the policy, nice value and flags;
//! 3. when the guard drops, put back the default slice and read the slice
//!    that gives; if the thread had another (one of its own), put that
//!    back.
//!
//! Runner threads and the pool's scheduler workers (the simulator's own
//! threads) make one guard for their life; a caller's thread makes one
//! for the scheduler job it runs itself in a blocking run
//! ([`Wait::Block`]), so it gets its own slice back after the run.
//!
//! A kernel before 6.12 ignores the field for the normal policy, and a
//! refused call (a sandbox's filter) leaves the thread as it was: both
//! only lose the gain. A refusal is logged once per process, at debug
//! level. Elsewhere than Linux with glibc a guard does nothing.
//!
//! [`Wait::Block`]: crate::backend::Wait::Block

use std::marker::PhantomData;

/// The slice asked for, in ns: the shortest Linux allows.
pub(crate) const SLICE_NS: u64 = 100_000;

/// The calling thread on a short slice until dropped (the protocol's
/// steps 1-2 when made, step 3 when dropped). Not `Send`: it must drop on
/// the thread it changed.
pub(crate) struct Short {
    /// The attributes to put back, if step 2 changed them.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    saved: Option<libc::sched_attr>,
    _thread_bound: PhantomData<*const ()>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Short {
    /// Steps 1 and 2 for the calling thread.
    pub fn new() -> Self {
        let saved = get()
            .filter(|a| a.sched_policy == libc::SCHED_OTHER as u32 && a.sched_runtime != SLICE_NS);
        let saved = saved.filter(|&a| {
            set(libc::sched_attr {
                sched_runtime: SLICE_NS,
                ..a
            })
        });
        Short {
            saved,
            _thread_bound: PhantomData,
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
impl Short {
    /// Does nothing here.
    pub fn new() -> Self {
        Short {
            _thread_bound: PhantomData,
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Drop for Short {
    /// Step 3.
    fn drop(&mut self) {
        let Some(saved) = self.saved else {
            return;
        };
        // A runtime of 0 is the default slice.
        let default = libc::sched_attr {
            sched_runtime: 0,
            ..saved
        };
        if set(default) && get().is_some_and(|a| a.sched_runtime == saved.sched_runtime) {
            return;
        }
        set(saved);
    }
}

/// The calling thread's scheduling attributes, if the kernel says.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn get() -> Option<libc::sched_attr> {
    let mut a = libc::sched_attr {
        size: 0,
        sched_policy: 0,
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: 0,
        sched_deadline: 0,
        sched_period: 0,
    };
    let size = std::mem::size_of::<libc::sched_attr>() as libc::c_uint;
    // SAFETY: sched_getattr(pid 0 = the calling thread, attr, size, flags
    // 0) writes at most `size` bytes to `a`, a live sched_attr of that
    // size, and keeps no pointer to it.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &raw mut a, size, 0) };
    (r == 0).then_some(a)
}

/// Sets the calling thread's scheduling attributes; false if refused.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(mut a: libc::sched_attr) -> bool {
    a.size = std::mem::size_of::<libc::sched_attr>() as u32;
    // SAFETY: sched_setattr(pid 0 = the calling thread, attr, flags 0)
    // reads `a.size` bytes of `a`, a live sched_attr of that size, and
    // keeps no pointer to it.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const a, 0) };
    if r != 0 {
        static LOGGED: std::sync::Once = std::sync::Once::new();
        LOGGED.call_once(|| {
            log::debug!(
                "hostgraph: sched_setattr refused ({}); simulator threads keep the default time slice",
                std::io::Error::last_os_error()
            );
        });
    }
    r == 0
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// On a kernel that reports slices (6.12 and later), a guard puts the
    /// thread on the short slice and its drop gives the old one back, a
    /// thread's own slice included; elsewhere nothing changes.
    #[test]
    fn a_guard_sets_the_short_slice_and_puts_the_old_one_back() {
        std::thread::spawn(|| {
            let before = get().expect("sched_getattr");
            {
                let _short = Short::new();
                let during = get().unwrap();
                if before.sched_runtime == 0 {
                    // This kernel does not report slices (before 6.12).
                    assert_eq!(during.sched_runtime, 0);
                    return;
                }
                assert_eq!(during.sched_runtime, SLICE_NS);
                assert_eq!(during.sched_nice, before.sched_nice);
                assert_eq!(during.sched_policy, before.sched_policy);
            }
            assert_eq!(get().unwrap().sched_runtime, before.sched_runtime);
            // A slice of the thread's own (1.5 ms) comes back too.
            let own = 1_500_000;
            assert!(set(libc::sched_attr {
                sched_runtime: own,
                ..before
            }));
            {
                let _short = Short::new();
                assert_eq!(get().unwrap().sched_runtime, SLICE_NS);
                // A nested guard finds the short slice and leaves it.
                drop(Short::new());
                assert_eq!(get().unwrap().sched_runtime, SLICE_NS);
            }
            assert_eq!(get().unwrap().sched_runtime, own);
        })
        .join()
        .unwrap();
    }
}
