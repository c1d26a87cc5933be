//! Persistent worker threads that run borrowed closures and are waited for
//! (a scoped pool), so a run starts its scheduler threads without spawning.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A closure borrowed from [`WorkerPool::run`]'s caller, lifetime erased.
struct Job(*mut (dyn FnMut() + Send + 'static));

// SAFETY: the closure behind the pointer is `Send`, and `run` keeps it alive
// and unaliased until the worker reports it finished.
unsafe impl Send for Job {}

#[derive(Default)]
struct State {
    generation: u64,
    jobs: Vec<Option<Job>>,
    pending: usize,
    panicked: bool,
    quit: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    start: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Worker threads that sleep until [`run`](Self::run) hands them closures.
#[derive(Default)]
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Runs `jobs[0]` on the calling thread and each other job on a worker,
    /// and returns once every job has finished. A panic in any job is
    /// re-raised here after all of them have finished.
    pub fn run(&mut self, jobs: &mut [&mut (dyn FnMut() + Send)]) {
        let Some((first, rest)) = jobs.split_first_mut() else {
            return;
        };
        while self.handles.len() < rest.len() {
            let (shared, index) = (self.shared.clone(), self.handles.len());
            let handle = std::thread::Builder::new()
                .name(format!("hostgraph-aicpu-{}", index + 1))
                .spawn(move || worker(&shared, index))
                .expect("spawn scheduler worker thread");
            self.handles.push(handle);
        }
        {
            let mut st = self.shared.lock();
            st.jobs.clear();
            for job in rest.iter_mut() {
                let ptr: *mut (dyn FnMut() + Send + '_) = &mut **job;
                // SAFETY: only the lifetime is erased; this function does not
                // return before every worker has reported the job finished
                // (below), so the borrow outlives every use.
                let ptr: *mut (dyn FnMut() + Send + 'static) = unsafe { std::mem::transmute(ptr) };
                st.jobs.push(Some(Job(ptr)));
            }
            st.pending = rest.len();
            st.panicked = false;
            st.generation += 1;
        }
        self.shared.start.notify_all();
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut **first));
        let mut st = self.shared.lock();
        while st.pending > 0 {
            st = self.shared.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let theirs = std::mem::take(&mut st.panicked);
        drop(st);
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        assert!(!theirs, "a scheduler thread panicked");
    }
}

fn worker(shared: &Shared, index: usize) {
    let mut seen = 0u64;
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.quit {
                    return;
                }
                if st.generation != seen {
                    seen = st.generation;
                    if let Some(job) = st.jobs.get_mut(index).and_then(Option::take) {
                        break job;
                    }
                }
                st = shared.start.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        // SAFETY: `run` keeps the closure alive and touches it no more until
        // `pending` drops to zero below.
        let f = unsafe { &mut *job.0 };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
        let mut st = shared.lock();
        st.panicked |= !ok;
        st.pending -= 1;
        if st.pending == 0 {
            shared.done.notify_all();
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shared.lock().quit = true;
        self.shared.start.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_job_once_per_call_with_borrowed_state() {
        let mut pool = WorkerPool::default();
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        for n in [4, 2, 3, 1, 4] {
            let mut fs: Vec<Box<dyn FnMut() + Send + '_>> = (0..n)
                .map(|i| {
                    let h = &hits[i];
                    Box::new(move || {
                        h.fetch_add(1, Ordering::Relaxed);
                    }) as Box<dyn FnMut() + Send>
                })
                .collect();
            let mut refs: Vec<&mut (dyn FnMut() + Send)> = fs
                .iter_mut()
                .map(|f| f as &mut (dyn FnMut() + Send))
                .collect();
            pool.run(&mut refs);
        }
        let got: Vec<usize> = hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
        assert_eq!(got, vec![5, 4, 3, 2]);
        assert_eq!(pool.handles.len(), 3, "workers persist and are reused");
    }

    #[test]
    fn a_worker_panic_is_raised_after_all_jobs_finish() {
        let mut pool = WorkerPool::default();
        let done = AtomicUsize::new(0);
        let mut ok = || {
            done.fetch_add(1, Ordering::Relaxed);
        };
        let mut bad = || panic!("job failed");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&mut [&mut ok, &mut bad]);
        }));
        assert!(r.is_err());
        assert_eq!(done.load(Ordering::Relaxed), 1);
        let mut again = || {
            done.fetch_add(1, Ordering::Relaxed);
        };
        pool.run(&mut [&mut again]);
        assert_eq!(done.load(Ordering::Relaxed), 2, "the pool still works");
    }
}
