//! Persistent worker threads for the scheduler jobs of the threaded
//! simulator: a run submits its jobs, workers (and, in a blocking run, the
//! caller) take one each, and the pool reports when the last has returned.
//! Workers sleep on a condition variable between runs, so a run starts its
//! scheduler threads without spawning any. Workers run on short time
//! slices if the pool was made so ([`super::slice`]); a caller's thread
//! only while it runs a job ([`WorkerPool::help`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::slice::{self, Short};

/// A job: runs to the end of the run on whichever thread takes it.
pub(crate) type Task = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    /// Submitted, not yet taken.
    queued: VecDeque<Task>,
    /// Queued jobs that workers were told about.
    released: usize,
    /// Jobs taken and not yet returned.
    running: usize,
    waker: Option<Waker>,
    quit: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Workers wait here for released jobs (or quit).
    start: Condvar,
    /// Waiters for the last job to return wait here.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `task`, then counts it returned; the last one wakes the waiters.
    fn run(&self, task: Task) {
        // A job catches its own panics (the backend wraps it); one that
        // escapes anyway must not leave `running` counted.
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)) {
            crate::panics::drop_payload(p);
        }
        let waker = {
            let mut st = self.lock();
            st.running -= 1;
            self.wake_if_done(&mut st)
        };
        wake(waker);
    }

    /// Wakes the blocked waiters once no job is queued or running, and
    /// hands back the async waiter's waker, for the caller to [`wake`]
    /// once it has let go of the lock.
    fn wake_if_done(&self, st: &mut State) -> Option<Waker> {
        if st.running == 0 && st.queued.is_empty() {
            self.done.notify_all();
            return st.waker.take();
        }
        None
    }
}

/// Wakes an async waiter, with no lock of the pool held: waking runs the
/// host's code, which may take the host's own lock — one an executor may
/// hold while it polls the run (and so takes the pool's lock): a deadlock
/// under the pool's lock. A panic in it is the host's, caught here: a
/// worker must not die of it (the pool would count it, and a later run
/// wait for a job no worker takes).
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker
        && let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()))
    {
        crate::panics::drop_payload(p);
    }
}

/// Worker threads that sleep until jobs are released to them.
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    /// Workers, and callers while they run a job, on short time slices.
    short_slices: bool,
}

impl WorkerPool {
    /// A pool with no workers yet; `short_slices` as [`SimOptions::short_slices`].
    ///
    /// [`SimOptions::short_slices`]: super::SimOptions::short_slices
    pub fn new(short_slices: bool) -> Self {
        WorkerPool {
            shared: Arc::default(),
            handles: Vec::new(),
            short_slices,
        }
    }

    /// Queues a run's jobs; nothing runs until [`release`](Self::release)
    /// or [`help`](Self::help).
    pub fn submit(&mut self, tasks: Vec<Task>) {
        self.shared.lock().queued.extend(tasks);
    }

    /// Lets workers take every queued job but `keep` (which the caller
    /// will take with [`help`](Self::help)), starting workers as needed.
    pub fn release(&mut self, keep: usize) {
        let mut st = self.shared.lock();
        let release = st.queued.len().saturating_sub(keep);
        if release <= st.released {
            return;
        }
        st.released = release;
        let busy = st.running;
        drop(st);
        // Every released job needs a thread of its own: jobs run until the
        // whole run is done, so one waiting in the queue would stall it.
        while self.handles.len() < busy + release {
            let (shared, index) = (self.shared.clone(), self.handles.len());
            let short_slices = self.short_slices;
            let handle = std::thread::Builder::new()
                .name(format!("hostgraph-aicpu-{index}"))
                .spawn(move || worker(&shared, short_slices))
                .expect("spawn scheduler worker thread");
            self.handles.push(handle);
        }
        self.shared.start.notify_all();
    }

    /// Runs one queued job on the calling thread, if one is left (on a
    /// short time slice if the pool's are, the thread's own back after).
    pub fn help(&self) {
        let task = {
            let mut st = self.shared.lock();
            let Some(task) = st.queued.pop_front() else {
                return;
            };
            st.released = st.released.min(st.queued.len());
            st.running += 1;
            task
        };
        let _short = self.short_slices.then(Short::new);
        self.shared.run(task);
    }

    /// Drops the jobs no thread has taken (a run whose jobs were never
    /// driven): they never run.
    pub fn drop_queued(&self) {
        let queued = {
            let mut st = self.shared.lock();
            st.released = 0;
            std::mem::take(&mut st.queued)
        };
        // Dropped unlocked: a job's drop hands its state to its run.
        drop(queued);
        let waker = self.shared.wake_if_done(&mut self.shared.lock());
        wake(waker);
    }

    /// Whether every submitted job has returned; if not, `waker` (when
    /// given) is woken when the last one does.
    pub fn finished(&self, waker: Option<&Waker>) -> bool {
        // Cloned, and the one it replaces dropped, outside the lock: both
        // run the host's code (see [`wake`]).
        let mut waker = waker.cloned();
        let finished = {
            let mut st = self.shared.lock();
            let finished = st.queued.is_empty() && st.running == 0;
            if !finished && waker.is_some() {
                std::mem::swap(&mut st.waker, &mut waker);
            }
            finished
        };
        drop(waker);
        finished
    }

    /// Blocks until every submitted job has returned.
    pub fn wait(&self) {
        let mut st = self.shared.lock();
        while !(st.queued.is_empty() && st.running == 0) {
            st = self.shared.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn worker(shared: &Shared, short_slices: bool) {
    if short_slices {
        slice::for_life();
    }
    loop {
        let task = {
            let mut st = shared.lock();
            loop {
                if st.quit {
                    return;
                }
                if st.released > 0
                    && let Some(task) = st.queued.pop_front()
                {
                    st.released -= 1;
                    st.running += 1;
                    break task;
                }
                st = shared.start.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        shared.run(task);
    }
}

impl Drop for WorkerPool {
    /// Tells the workers to leave and joins those that do within a second;
    /// a worker still inside a job (which cannot happen once every run has
    /// been awaited) is left detached rather than waited for forever.
    fn drop(&mut self) {
        self.shared.lock().quit = true;
        self.shared.start.notify_all();
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        for h in self.handles.drain(..) {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(hits: &Arc<Vec<AtomicUsize>>, n: usize) -> Vec<Task> {
        (0..n)
            .map(|i| {
                let hits = hits.clone();
                Box::new(move || {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }) as Task
            })
            .collect()
    }

    #[test]
    fn runs_every_job_once_per_run_on_persistent_workers() {
        let mut pool = WorkerPool::new(false);
        let hits = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        for n in [4, 2, 3, 1, 4] {
            pool.submit(counting(&hits, n));
            pool.release(1);
            pool.help();
            pool.wait();
            assert!(pool.finished(None));
        }
        let got: Vec<usize> = hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
        assert_eq!(got, vec![5, 4, 3, 2]);
        assert!(pool.handles.len() <= 3, "workers persist and are reused");
    }

    #[test]
    fn released_jobs_run_concurrently_without_the_caller() {
        // Two jobs that each wait for the other: they only finish if both
        // run at once, on workers.
        let mut pool = WorkerPool::new(false);
        let met = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<Task> = (0..2)
            .map(|_| {
                let met = met.clone();
                Box::new(move || {
                    met.fetch_add(1, Ordering::AcqRel);
                    while met.load(Ordering::Acquire) < 2 {
                        std::thread::yield_now();
                    }
                }) as Task
            })
            .collect();
        pool.submit(jobs);
        pool.release(0);
        pool.wait();
        assert_eq!(met.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn queued_jobs_dropped_never_run_and_the_pool_goes_on() {
        let mut pool = WorkerPool::new(false);
        let hits = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        pool.submit(counting(&hits, 3));
        pool.drop_queued();
        assert!(pool.finished(None));
        pool.wait();
        pool.submit(counting(&hits, 2));
        pool.release(0);
        pool.wait();
        let got: Vec<usize> = hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
        assert_eq!(got, vec![1, 1, 0]);
    }

    #[test]
    fn a_panicking_job_is_counted_returned() {
        let mut pool = WorkerPool::new(false);
        pool.submit(vec![Box::new(|| -> () { panic!("job failed") }) as Task]);
        pool.release(0);
        pool.wait();
        let hits = Arc::new(vec![AtomicUsize::new(0)]);
        pool.submit(counting(&hits, 1));
        pool.release(0);
        pool.wait();
        assert_eq!(hits[0].load(Ordering::Relaxed), 1, "the pool still works");
    }
}
