//! A run in flight: started by [`Runtime::start`], finished by polling,
//! waiting, awaiting, cancelling — or by being dropped, which cancels it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::backend::{Backend, Hosting};
use crate::error::Result;
use crate::run::RunReport;
use crate::runtime::{Runtime, RuntimeWorld};

/// A started run. It borrows the runtime until it finishes.
///
/// - [`try_finish`](Self::try_finish) polls it: `None` while the
///   scheduler threads are still at work (a backend that runs on the
///   caller's thread, like [`InlineSim`](crate::InlineSim), makes a slice of
///   progress in each call), the run's result once they are done.
/// - [`wait`](Self::wait) blocks until the result.
/// - `.await` gives the result: the handle is a [`Future`], woken by the
///   backend when its threads are done (no async runtime needed).
/// - [`cancel`](Self::cancel), or dropping the handle before it finished,
///   stops the run: the scheduler threads stop at their next poll, the
///   cores finish the kernels they are in (given at most the stall bound)
///   and are shut down, and the backend lands. The graph is kept (run it
///   again, or discard it), unless a kernel did not return within that
///   bound (then the graph is released and its memory held back, as after
///   a failed run). A run that had failed before the cancel keeps its
///   error and is brought down as a failed run, at once.
/// - A handle that is forgotten (`std::mem::forget`) leaves the run going
///   until the runtime is next asked to build, run, discard, finalize,
///   release memory or wait for stuck kernels, or is dropped: each of
///   these first cancels and finishes it, as dropping the handle would
///   have, so nothing is freed under a running kernel.
///
/// ```
/// use hostgraph::{CoreType, KernelFn, Runtime, RuntimeConfig};
///
/// let mut rt = Runtime::new(RuntimeConfig::default())?;
/// rt.register_kernel(0, KernelFn::rust(|_| {}));
/// rt.build(|g| {
///     let mut prev = g.add_task(0, CoreType::Aiv, &[])?;
///     for _ in 0..1000 {
///         let next = g.add_task(0, CoreType::Aiv, &[])?;
///         g.add_successor(prev, next)?;
///         prev = next;
///     }
///     Ok(())
/// })?;
/// let mut run = rt.start()?;
/// let report = loop {
///     if let Some(result) = run.try_finish() {
///         break result?;
///     }
///     // ... the host's own work ...
/// };
/// assert_eq!(report.tasks, 1001);
/// # drop(run);
/// # rt.finalize()?;
/// # Ok::<(), hostgraph::Error>(())
/// ```
#[must_use = "dropping a run handle cancels the run"]
pub struct RunHandle<'rt, B: Backend, W: RuntimeWorld> {
    rt: &'rt mut Runtime<B, W>,
    done: bool,
}

impl<'rt, B: Backend, W: RuntimeWorld> RunHandle<'rt, B, W> {
    pub(crate) fn new(rt: &'rt mut Runtime<B, W>) -> Self {
        RunHandle { rt, done: false }
    }

    fn end(&mut self) -> Result<RunReport> {
        self.done = true;
        self.rt.finish()
    }

    /// The run's result if its scheduler threads are done, else `None`
    /// (having made some progress where the backend needs the caller's
    /// thread for it). Returns `Some` once.
    ///
    /// # Panics
    /// If called again after it returned `Some`.
    pub fn try_finish(&mut self) -> Option<Result<RunReport>> {
        assert!(!self.done, "the run has already finished");
        match self.rt.poll_hosted(None) {
            Hosting::Running => None,
            Hosting::Finished => Some(self.end()),
        }
    }

    /// Blocks until the run ends; its result.
    pub fn wait(mut self) -> Result<RunReport> {
        self.end()
    }

    /// Stops the run (see the [type docs](Self)) and returns how it ended:
    /// [`Error::Cancelled`](crate::Error::Cancelled) unless it was already
    /// done or failed.
    pub fn cancel(mut self) -> Result<RunReport> {
        self.rt.cancel_run();
        self.end()
    }
}

impl<B: Backend, W: RuntimeWorld> Future for RunHandle<'_, B, W> {
    type Output = Result<RunReport>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "a finished run polled again");
        match this.rt.poll_hosted(Some(cx.waker())) {
            Hosting::Running => Poll::Pending,
            Hosting::Finished => Poll::Ready(this.end()),
        }
    }
}

impl<B: Backend, W: RuntimeWorld> Drop for RunHandle<'_, B, W> {
    fn drop(&mut self) {
        if !self.done {
            self.rt.cancel_run();
            let _ = self.end();
        }
    }
}
