//! The simulation's state, and what each event does to it: the rules of
//! the [module docs](super#the-model), by number.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use hostgraph_orch_abi::CoreType;
use hostgraph_platform::regs::Reg;
use hostgraph_platform::{CoreSide, CoreStep, HandshakeBlock, PlatformSpec};

use super::Latencies;
use super::events::{Events, What};
use super::regs::{CoreSideRegs, Logged, VirtualRegisters};
use super::report::{CoreTime, ThreadTime, VirtualReport};
use crate::backend::{Poll, SchedulerJob};
use crate::cost::CostModel;
use crate::panics::panic_message;
use crate::sched::bottom_levels;
use crate::seal::Sealed;
use crate::sim::sim_core;

/// No time: a FIN or write that is not pending.
const NEVER: u64 = u64::MAX;

/// The most a graph's drawn durations may add up to, in ns (~146 years):
/// every virtual time stays below it plus the protocol's costs, far from
/// `u64::MAX` ([`NEVER`]), so no clock or sum wraps.
pub(super) const MAX_TOTAL_WORK_NS: u64 = u64::MAX / 2;
/// A core no hosted thread owns.
const NO_OWNER: u32 = u32::MAX;

/// What the durations drawn for a graph add up to: drawn once per sealed
/// graph (the same seed gives the same draws, so a re-run reuses them).
struct Draws {
    /// The graph they were drawn for (held weakly: the allocation stays,
    /// so no other graph can take its address while this is kept).
    graph: Weak<Sealed>,
    /// Per task, in task-id order ([`CostModel::durations`]).
    durations: Vec<u64>,
    critical_path: u64,
    /// Per core type.
    work: [u64; 2],
}

/// One simulated core (rule 1: free, or busy until its FIN is visible).
struct SimCore {
    side: Option<CoreSide>,
    /// The hosted thread that owns it.
    owner: u32,
    /// The task it runs or ran last, when that was dispatched and started.
    task: u32,
    dispatched: u64,
    started: u64,
    /// When the FIN of `task` becomes visible ([`NEVER`]: the core is
    /// free), and the FIN word held back until then.
    fin_at: u64,
    fin_word: u32,
    /// A task written and not yet taken (the core was busy, or is waking):
    /// when the core may take it ([`NEVER`]: none), and when the write was
    /// made.
    next_at: u64,
    next_dispatched: u64,
    tasks: u64,
    busy_ns: u64,
}

impl SimCore {
    /// Its core type, as an index.
    fn ty(&self) -> usize {
        self.side.as_ref().map_or(0, |s| s.core_type() as usize)
    }

    fn new(side: Option<CoreSide>) -> Self {
        SimCore {
            side,
            owner: NO_OWNER,
            task: 0,
            dispatched: 0,
            started: 0,
            fin_at: NEVER,
            fin_word: 0,
            next_at: NEVER,
            next_dispatched: 0,
            tasks: 0,
            busy_ns: 0,
        }
    }
}

/// One hosted scheduler thread (rule 1: its own clock).
struct SimThread {
    index: usize,
    live: bool,
    /// Its last poll found nothing to do: it sleeps until woken (rule 4).
    asleep: bool,
    clock: u64,
    /// Its next poll: when, and the event's sequence number (a poll event
    /// that is not this one is stale).
    queued: Option<(u64, u64)>,
    /// Cores it owns, and how many of them hold a task written and not yet
    /// taken (such a core can take no other task), by core type.
    cores: [u32; 2],
    waiting: [u32; 2],
    polls: u64,
    reads: u64,
    writes: u64,
    sched_ns: u64,
}

/// The simulated chip and the run on it.
pub(super) struct Sim {
    pub(super) spec: PlatformSpec,
    pub(super) model: CostModel,
    pub(super) seed: u64,
    pub(super) lat: Latencies,
    pub(super) execute_kernels: bool,
    pub(super) regs: VirtualRegisters,
    pub(super) handshakes: Box<[HandshakeBlock]>,
    graph: Option<Arc<Sealed>>,
    draws: Option<Draws>,
    /// By physical id.
    cores: Vec<SimCore>,
    /// Physical ids of the launched cores, in launch order.
    launched: Vec<u32>,
    /// By hosted job, in the order hosted.
    threads: Vec<SimThread>,
    live: usize,
    /// The thread being polled, if any.
    polling: Option<usize>,
    events: Events,
    now: u64,
    first_dispatch: u64,
    last_fin: u64,
    pub(super) report: Option<VirtualReport>,
}

impl Sim {
    pub(super) fn new(spec: PlatformSpec, model: CostModel, seed: u64) -> Self {
        Sim {
            regs: VirtualRegisters::new(&spec),
            handshakes: (0..spec.physical_cores())
                .map(|_| HandshakeBlock::default())
                .collect(),
            lat: Latencies::of(spec.platform),
            execute_kernels: false,
            spec,
            model,
            seed,
            graph: None,
            draws: None,
            cores: Vec::new(),
            launched: Vec::new(),
            threads: Vec::new(),
            live: 0,
            polling: None,
            events: Events::default(),
            now: 0,
            first_dispatch: NEVER,
            last_fin: 0,
            report: None,
        }
    }

    /// Cores for `block_dim` blocks, numbered as [`sim_core`] says, running
    /// `graph` with the durations drawn for it.
    ///
    /// Fails, launching nothing, if the drawn durations plus what the
    /// protocol's latencies could add to them ([`Sim::protocol_bound`])
    /// come to more than [`MAX_TOTAL_WORK_NS`] (the error says how much).
    pub(super) fn launch(&mut self, block_dim: u32, graph: Arc<Sealed>) -> Result<(), u128> {
        self.draw(&graph)?;
        let n = block_dim * self.spec.cores_per_block();
        let work = self
            .draws
            .as_ref()
            .map_or(0, |d| u128::from(d.work[0]) + u128::from(d.work[1]));
        let bound = work.saturating_add(self.protocol_bound(graph.len() as u64, u64::from(n)));
        if bound > u128::from(MAX_TOTAL_WORK_NS) {
            return Err(bound);
        }
        self.cores.clear();
        self.cores
            .resize_with(self.spec.physical_cores() as usize, || SimCore::new(None));
        self.launched.clear();
        for i in 0..n {
            let side = sim_core(&self.spec, block_dim, i);
            let p = side.physical_id();
            self.handshakes[i as usize].reset();
            self.launched.push(p);
            self.cores[p as usize] = SimCore::new(Some(side));
        }
        self.graph = Some(graph);
        Ok(())
    }

    /// The most the protocol's latencies can add to any clock in a run of
    /// `tasks` tasks on `cores` cores. Rule 4 bounds the polls: a poll that
    /// returns `Progress` dispatched or completed a task (at most two per
    /// task); any other follows a wake, which a COND change makes (an ACK
    /// or a FIN: at most two per task) or another thread's progress (at
    /// most one per thread per such poll); and each thread polls once
    /// first. A poll reads and writes each of its cores at most once.
    /// Threads: the spec's limit, or the cores if fewer (only a thread
    /// that owns a core is hosted).
    fn protocol_bound(&self, tasks: u64, cores: u64) -> u128 {
        let Latencies {
            read_ns,
            write_ns,
            poll_ns,
            core_wake_ns,
            thread_wake_ns,
        } = self.lat;
        let (tasks, cores) = (u128::from(tasks), u128::from(cores));
        // A hosted thread owns a core of the launch.
        let threads = u128::from(self.spec.max_scheduler_threads).min(cores);
        let polls = threads
            .saturating_add(tasks.saturating_mul(4))
            .saturating_add(threads.saturating_mul(tasks).saturating_mul(2));
        let per_poll = u128::from(poll_ns)
            .saturating_add(cores.saturating_mul(u128::from(read_ns) + u128::from(write_ns)))
            .saturating_add(u128::from(thread_wake_ns));
        polls
            .saturating_mul(per_poll)
            .saturating_add(tasks.saturating_mul(u128::from(core_wake_ns)))
    }

    /// Draws the durations of `graph`'s tasks, unless they were drawn for
    /// it already; their total if it is more than [`MAX_TOTAL_WORK_NS`].
    fn draw(&mut self, graph: &Arc<Sealed>) -> Result<(), u128> {
        if self
            .draws
            .as_ref()
            .is_some_and(|d| d.graph.as_ptr() == Arc::as_ptr(graph))
        {
            return Ok(());
        }
        let durations = self.model.durations(graph, self.seed);
        let total: u128 = durations.iter().map(|&d| u128::from(d)).sum();
        if total > u128::from(MAX_TOTAL_WORK_NS) {
            return Err(total);
        }
        let bottom = bottom_levels(graph, |t| durations[t as usize]);
        let mut work = [0u64; 2];
        for (t, &d) in durations.iter().enumerate() {
            work[graph.core_type(t as u32) as usize] += d;
        }
        self.draws = Some(Draws {
            graph: Arc::downgrade(graph),
            critical_path: bottom.into_iter().max().unwrap_or(0),
            durations,
            work,
        });
        Ok(())
    }

    /// Lets every launched core take its start-up or exit step at once
    /// (rule 7: not modelled); true if any moved.
    pub(super) fn pump(&mut self) -> bool {
        let mut moved = false;
        for &p in &self.launched {
            let core = &mut self.cores[p as usize];
            let Some(side) = core.side.as_mut() else {
                continue;
            };
            let regs = CoreSideRegs::new(self.regs.cells());
            let graph = self.graph.as_deref();
            let execute = self.execute_kernels;
            let step = side.step(&self.handshakes[side.index() as usize], &regs, |t| {
                !execute || graph.is_none_or(|g| g.call_kernel(t, p))
            });
            // Outside a run nothing is timed: a task seen here finishes at once.
            if let Some(fin) = regs.held_fin() {
                self.regs.cells().set(p, Reg::Cond, fin);
            }
            moved |= !matches!(step, CoreStep::Wait | CoreStep::Exited);
        }
        moved
    }

    /// Stops stepping cores and forgets the graph.
    pub(super) fn land(&mut self) {
        self.cores.clear();
        self.launched.clear();
        self.graph = None;
    }

    /// Starts a run of the hosted threads `jobs` (index and owned cores,
    /// in the order hosted): every thread polls first at time 0.
    pub(super) fn begin<'a>(&mut self, jobs: impl Iterator<Item = (usize, &'a [u32])>) {
        self.events.clear();
        self.threads.clear();
        self.report = None;
        (self.now, self.first_dispatch, self.last_fin) = (0, NEVER, 0);
        self.polling = None;
        for &p in &self.launched {
            let core = &mut self.cores[p as usize];
            *core = SimCore::new(core.side.take());
        }
        for (slot, (index, owned)) in jobs.enumerate() {
            let mut cores = [0; 2];
            for &p in owned {
                if let Some(core) = self.cores.get_mut(p as usize) {
                    core.owner = slot as u32;
                    cores[core.ty()] += 1;
                }
            }
            self.threads.push(SimThread {
                index,
                live: true,
                asleep: false,
                clock: 0,
                queued: None,
                cores,
                waiting: [0; 2],
                polls: 0,
                reads: 0,
                writes: 0,
                sched_ns: 0,
            });
            self.wake(slot as u32, 0);
        }
        self.live = self.threads.len();
        if self.live == 0 {
            self.finish();
        }
    }

    /// Hosted threads that have not returned.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Rule 5: the next event, its time now the simulation's; stale polls
    /// (superseded by an earlier one) are skipped. `None` when no event is
    /// pending.
    #[inline]
    pub(super) fn next_event(&mut self) -> Option<What> {
        loop {
            let (at, seq, what) = self.events.pop()?;
            self.now = at;
            if let What::Poll(s) = what {
                let th = &mut self.threads[s as usize];
                if th.queued != Some((at, seq)) {
                    continue;
                }
                th.queued = None;
            }
            return Some(what);
        }
    }

    /// Rule 4: thread `slot` polls at `at` or its clock, whichever is
    /// later (`thread_wake_ns` after `at` if it fell asleep before `at`) —
    /// unless it is being polled, has returned, or already polls no later.
    #[inline]
    fn wake(&mut self, slot: u32, at: u64) {
        let Some(th) = self.threads.get_mut(slot as usize) else {
            return;
        };
        if !th.live || self.polling == Some(slot as usize) {
            return;
        }
        let at = if th.asleep && at >= th.clock {
            at + self.lat.thread_wake_ns
        } else {
            th.clock.max(at)
        };
        if th.queued.is_some_and(|(q, _)| q <= at) {
            return;
        }
        th.queued = Some((at, self.events.push(at, What::Poll(slot))));
    }

    /// Rule 4: a poll of thread `by` made progress: it may have made work
    /// other threads could take. Every sleeping thread with a core free to
    /// take a task of a type that `may_find_work(thread, type)` says it
    /// could find polls (at the end of that poll, or at its own clock).
    pub(super) fn wake_sleepers(
        &mut self,
        by: usize,
        may_find_work: impl Fn(usize, CoreType) -> bool,
    ) {
        let at = self.threads[by].clock;
        for slot in 0..self.threads.len() {
            let th = &self.threads[slot];
            if !th.live || th.queued.is_some() {
                continue;
            }
            let free = |ty: CoreType| th.waiting[ty as usize] < th.cores[ty as usize];
            if CoreType::ALL
                .into_iter()
                .any(|ty| free(ty) && may_find_work(slot, ty))
            {
                self.wake(slot as u32, at);
            }
        }
    }

    /// Rules 2-4: thread `slot` polls now. A panic in the poll is the
    /// job's abort, and stops the run.
    pub(super) fn poll<J: SchedulerJob>(&mut self, slot: usize, job: &mut J) -> Poll {
        let start = self.now;
        self.polling = Some(slot);
        self.regs.begin_poll();
        let result = catch_unwind(AssertUnwindSafe(|| job.poll()));
        let (reads, writes) = self.regs.end_poll();
        let result = result.unwrap_or_else(|p| {
            job.abort(panic_message(p));
            Poll::Stopped
        });
        // Rule 2: the poll's cost, in the order of its accesses.
        let Latencies {
            read_ns,
            write_ns,
            poll_ns,
            ..
        } = self.lat;
        let base = start + poll_ns;
        let end = base + reads * read_ns + writes * write_ns;
        let th = &mut self.threads[slot];
        th.asleep = matches!(result, Poll::Idle);
        th.clock = end;
        th.polls += 1;
        th.reads += reads;
        th.writes += writes;
        th.sched_ns += end - start;
        // Rule 3: each task written becomes visible once its write is paid.
        for i in 0..self.regs.log_len() {
            let Logged {
                physical_id,
                reads,
                writes,
            } = self.regs.logged(i);
            self.written(physical_id, base + reads * read_ns + writes * write_ns);
        }
        self.polling = None;
        match result {
            Poll::Progress => self.wake(slot as u32, end),
            Poll::Done => {
                self.threads[slot].live = false;
                self.live -= 1;
                if self.live == 0 {
                    self.finish();
                }
            }
            Poll::Idle | Poll::Stopped => {}
        }
        result
    }

    /// Rules 3 and 4: a task was written to core `p`, visible from `at`.
    ///
    /// The core takes it `core_wake_ns` after `at` if free (at a start
    /// event, or stepped at once when that latency is 0), else when its
    /// FIN becomes visible if that is later. A core stepped before the
    /// time it takes the task comes to the same as stepping it at that
    /// time, since nothing else writes to the core before then (its
    /// pending slot is taken), and only its owner reads its COND — never
    /// before the end of the poll that wrote the task, which is no earlier
    /// than `at`.
    fn written(&mut self, p: u32, at: u64) {
        let made = at - self.lat.write_ns;
        self.first_dispatch = self.first_dispatch.min(made);
        let wake = self.lat.core_wake_ns;
        let core = &mut self.cores[p as usize];
        core.next_dispatched = made;
        if core.fin_at == NEVER && wake == 0 {
            self.step(p, at);
            return;
        }
        let (owner, ty) = (core.owner as usize, core.ty());
        self.threads[owner].waiting[ty] += 1;
        if core.fin_at == NEVER {
            core.next_at = at + wake;
            self.events.push(at + wake, What::Start(p));
        } else {
            core.next_at = at;
        }
    }

    /// Rule 4: core `p`, woken by the task written while it was free,
    /// takes it now; its ACK wakes its owner.
    pub(super) fn start(&mut self, p: u32) {
        let now = self.now;
        self.step(p, now);
        let owner = self.cores[p as usize].owner;
        self.wake(owner, now);
    }

    /// Rule 3: core `p`'s FIN becomes visible now; a task written to it
    /// meanwhile starts now if its write is visible, else when it becomes
    /// visible plus `core_wake_ns` (the core is free, and asleep, by then).
    pub(super) fn fin(&mut self, p: u32) {
        let now = self.now;
        let core = &mut self.cores[p as usize];
        self.regs.cells().set(p, Reg::Cond, core.fin_word);
        core.fin_at = NEVER;
        core.tasks += 1;
        core.busy_ns += now - core.started;
        self.last_fin = now;
        if let Some(rec) = self.graph.as_ref().and_then(|g| g.recorder()) {
            rec.simulated(core.task, p, core.dispatched, core.started, now);
        }
        let (owner, next_at) = (core.owner, core.next_at);
        self.wake(owner, now);
        let wake = self.lat.core_wake_ns;
        if next_at != NEVER {
            if next_at <= now || wake == 0 {
                self.step(p, next_at.max(now));
            } else {
                let at = next_at + wake;
                self.cores[p as usize].next_at = at;
                self.events.push(at, What::Start(p));
            }
        }
    }

    /// Rule 3: core `p` steps at `at` with the real core code: it reads
    /// DATA_MAIN_BASE, acknowledges, runs the task (its kernel too, with
    /// `execute_kernels`), and its FIN is held back until the task's
    /// duration has passed. Stepped when the task was written or at the
    /// FIN before, the ACK is a COND change its owner polls for already
    /// (rule 4): it is being polled (the write was made in its poll), or
    /// was just woken by the FIN; at a start event, it wakes the owner.
    fn step(&mut self, p: u32, at: u64) {
        let (Some(graph), Some(draws)) = (self.graph.as_deref(), self.draws.as_ref()) else {
            return;
        };
        let core = &mut self.cores[p as usize];
        let Some(side) = core.side.as_mut() else {
            return;
        };
        let owner = core.owner;
        if core.next_at != NEVER {
            core.next_at = NEVER;
            self.threads[owner as usize].waiting[side.core_type() as usize] -= 1;
        }
        let regs = CoreSideRegs::new(self.regs.cells());
        let execute = self.execute_kernels;
        let step = side.step(&self.handshakes[side.index() as usize], &regs, |t| {
            !execute || graph.call_kernel(t, p)
        });
        match step {
            CoreStep::Ran(task) => {
                let fin_at = at + draws.durations[task as usize];
                core.task = task;
                core.dispatched = core.next_dispatched;
                core.started = at;
                core.fin_at = fin_at;
                core.fin_word = regs.held_fin().expect("a core that ran a task wrote FIN");
                self.events.push(fin_at, What::Fin(p));
            }
            CoreStep::Faulted(_) | CoreStep::Wait | CoreStep::Started | CoreStep::Exited => {}
        }
    }

    /// The run ended without completing (stopped, or rule 6): nothing more
    /// happens in it, and it has no report.
    pub(super) fn abandon(&mut self) {
        self.events.clear();
        for th in &mut self.threads {
            th.live = false;
        }
        self.live = 0;
        self.report = None;
    }

    /// Every thread returned Done: the run's report.
    fn finish(&mut self) {
        let makespan = match self.first_dispatch {
            NEVER => 0,
            first => self.last_fin - first,
        };
        let cores: Vec<CoreTime> = self
            .launched
            .iter()
            .filter_map(|&p| {
                let c = &self.cores[p as usize];
                Some(CoreTime {
                    physical_id: p,
                    core_type: c.side.as_ref()?.core_type(),
                    tasks: c.tasks,
                    busy_ns: c.busy_ns,
                    idle_ns: makespan.saturating_sub(c.busy_ns),
                })
            })
            .collect();
        let (critical_path, work) = self
            .draws
            .as_ref()
            .map_or((0, [0; 2]), |d| (d.critical_path, d.work));
        let spread = CoreType::ALL.map(|ty| {
            let n = cores.iter().filter(|c| c.core_type == ty).count() as u64;
            work[ty as usize].div_ceil(n.max(1))
        });
        self.report = Some(VirtualReport {
            tasks: self.graph.as_ref().map_or(0, |g| g.len()),
            makespan_ns: makespan,
            critical_path_ns: critical_path,
            work_ns: work,
            lower_bound_ns: critical_path.max(spread[0]).max(spread[1]),
            cores,
            threads: self
                .threads
                .iter()
                .map(|t| ThreadTime {
                    index: t.index,
                    polls: t.polls,
                    reads: t.reads,
                    writes: t.writes,
                    sched_ns: t.sched_ns,
                    end_ns: t.clock,
                })
                .collect(),
        });
    }
}
