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
//! every CPU, each hand-off could wait that long, and threaded rows of
//! the bench slowed by up to 87 times (README, "On a busy machine").
//! Since Linux 6.12 a thread may ask for a shorter slice (`sched_runtime`
//! of `sched_setattr`, from 0.1 to 100 ms, no privilege needed), which
//! lets it take a CPU from a longer-sliced thread sooner; it gets no more
//! CPU time than before, only sooner.
//!
//! # The protocol
//!
//! 1. Read the thread's scheduling attributes; a thread not under the
//!    normal policy (real-time, batch, idle), or one already on the short
//!    slice, is left as it is.
//! 2. Ask for [`SLICE_NS`], all else as it is. The simulator's own threads
//!    (runners and the pool's scheduler workers, for their life:
//!    [`for_life`]) set reset-on-fork too, so a thread or process a
//!    kernel starts gets the default slice. A caller's thread that runs a
//!    scheduler job itself in a blocking run ([`Wait::Block`]) does this
//!    for the job only ([`Short`]), without that flag, which an
//!    unprivileged thread could not clear again (a thread a policy hook
//!    starts during that job keeps the short slice).
//! 3. When a caller's guard drops, read the attributes again; unless
//!    someone changed the slice meanwhile, or put the thread under a
//!    real-time or deadline policy (theirs stands), set the default slice,
//!    and if the thread had another (one of its own, read in step 1),
//!    that; all else as it is now (a nice value, or a batch or idle
//!    policy, set meanwhile stays). A slice of its own equal to the default comes back
//!    as the default, which differs only if the system's default changes.
//!
//! A kernel before 6.12 ignores the field for the normal policy, and a
//! refused call (a sandbox's filter) leaves the thread as it was: both
//! only lose the gain. A refusal is logged once per process, at debug
//! level; a caller's slice that cannot be put back, as a warning.
//! Elsewhere than Linux with glibc none of this does anything.
//!
//! [`Wait::Block`]: crate::backend::Wait::Block

use std::marker::PhantomData;

/// The slice asked for, in ns: the shortest Linux allows.
pub(crate) const SLICE_NS: u64 = 100_000;

/// Steps 1 and 2 for one of the simulator's own threads, for its life.
pub(crate) fn for_life() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Some(a) = get().filter(normal_and_not_short) {
        set(libc::sched_attr {
            sched_flags: a.sched_flags | RESET_ON_FORK,
            ..with_slice(a, SLICE_NS)
        });
    }
}

/// A caller's thread on a short slice until dropped (the protocol's steps
/// 1-2 when made, step 3 when dropped). Not `Send`: it must drop on the
/// thread it changed.
pub(crate) struct Short {
    /// The attributes read in step 1, if step 2 changed them.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    saved: Option<libc::sched_attr>,
    _thread_bound: PhantomData<*const ()>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Short {
    /// Steps 1 and 2 for the calling thread.
    pub fn new() -> Self {
        let saved = get()
            .filter(normal_and_not_short)
            .filter(|&a| set(with_slice(a, SLICE_NS)));
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
        let fair = [libc::SCHED_OTHER, libc::SCHED_BATCH, libc::SCHED_IDLE];
        let Some(now) = get().filter(|a| {
            fair.contains(&(a.sched_policy as libc::c_int)) && a.sched_runtime == SLICE_NS
        }) else {
            return;
        };
        // A runtime of 0 is the default slice.
        if set(with_slice(now, 0)) && get().is_some_and(|a| a.sched_runtime == saved.sched_runtime)
        {
            return;
        }
        if !set(with_slice(now, saved.sched_runtime)) {
            log::warn!(
                "hostgraph: could not give this thread its time slice back ({} ns): {}",
                saved.sched_runtime,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Under the normal policy, and not on the short slice (step 1).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn normal_and_not_short(a: &libc::sched_attr) -> bool {
    a.sched_policy == libc::SCHED_OTHER as u32 && a.sched_runtime != SLICE_NS
}

/// The reset-on-fork flag of `sched_attr`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESET_ON_FORK: u64 = libc::SCHED_FLAG_RESET_ON_FORK as u64;

/// `a` with the slice `runtime` (0: the default), all else as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_slice(a: libc::sched_attr, runtime: u64) -> libc::sched_attr {
    libc::sched_attr {
        sched_runtime: runtime,
        ..a
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

    /// What a thread's attributes say: policy, flags, nice, slice.
    fn key(a: libc::sched_attr) -> (u32, u64, i32, u64) {
        (a.sched_policy, a.sched_flags, a.sched_nice, a.sched_runtime)
    }

    fn on_a_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    /// Steps 1-3 on the calling thread: the short slice during a guard,
    /// the old attributes after, a slice of the thread's own included; a
    /// slice someone else set meanwhile stays, and so does a nice value.
    /// False if this kernel does not report slices (before 6.12).
    fn check_guard() -> bool {
        let before = get().expect("sched_getattr");
        let default = before.sched_runtime;
        if default == 0 {
            drop(Short::new());
            return false;
        }
        {
            let _short = Short::new();
            assert_eq!(key(get().unwrap()), key(with_slice(before, SLICE_NS)));
        }
        assert_eq!(key(get().unwrap()), key(before));

        // Someone else's slice, set during the guard, stands.
        {
            let _short = Short::new();
            assert!(set(with_slice(get().unwrap(), 2_000_000)));
        }
        assert_eq!(get().unwrap().sched_runtime, 2_000_000);

        // A slice of the thread's own comes back; a nice value set
        // meanwhile (raised: allowed unprivileged) stays.
        let own = with_slice(before, 1_500_000);
        assert!(set(own));
        {
            let _short = Short::new();
            assert_eq!(get().unwrap().sched_runtime, SLICE_NS);
            // A nested guard finds the short slice and leaves it.
            drop(Short::new());
            assert_eq!(get().unwrap().sched_runtime, SLICE_NS);
            assert!(set(libc::sched_attr {
                sched_nice: 3,
                ..get().unwrap()
            }));
        }
        let own = libc::sched_attr {
            sched_nice: 3,
            ..own
        };
        assert_eq!(key(get().unwrap()), key(own));

        // A batch policy set meanwhile stays, even set by writing back the
        // attributes read (our slice with them); the slice comes back.
        {
            let _short = Short::new();
            assert!(set(libc::sched_attr {
                sched_policy: libc::SCHED_BATCH as u32,
                ..get().unwrap()
            }));
        }
        let batch = libc::sched_attr {
            sched_policy: libc::SCHED_BATCH as u32,
            ..own
        };
        assert_eq!(key(get().unwrap()), key(batch));
        true
    }

    #[test]
    fn a_guard_sets_the_short_slice_and_puts_the_old_one_back() {
        if !on_a_thread(check_guard) {
            return;
        }
        // Unprivileged too (a thread of root drops to nobody: credentials
        // are per thread at the system call).
        on_a_thread(|| {
            // SAFETY: geteuid reads the thread's id; setresuid with three
            // ids changes this thread's credentials only.
            unsafe {
                if libc::geteuid() == 0 {
                    let r = libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534);
                    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
                }
            }
            assert!(check_guard());
        });
    }

    /// A simulator thread keeps the short slice with reset-on-fork, so a
    /// thread it starts gets the default.
    #[test]
    fn a_thread_of_the_simulators_own_starts_its_children_on_the_default_slice() {
        on_a_thread(|| {
            let default = get().unwrap().sched_runtime;
            for_life();
            let now = get().unwrap();
            if default == 0 {
                assert_eq!(now.sched_runtime, 0);
                return;
            }
            assert_eq!(now.sched_runtime, SLICE_NS);
            assert_eq!(now.sched_flags & RESET_ON_FORK, RESET_ON_FORK);
            assert_eq!(on_a_thread(|| get().unwrap().sched_runtime), default);
        });
    }
}
