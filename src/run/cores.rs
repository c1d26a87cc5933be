//! Cores and scheduler threads as data, and the two handshakes a run makes
//! with every core: start-up (steps 1-5 of
//! [`hostgraph_platform::handshake`]) and exit (step 11).
//!
//! Each discovered core is a [`Core`] entity and each scheduler thread an
//! [`AicpuThread`] entity; the assignment phase relates every core to the
//! thread that owns it ([`OwnedBy`], mirrored as [`OwnedCores`] on the
//! thread), and the seed phase builds each thread's core list from those
//! relations. The entities persist across runs of the same configuration.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use hostgraph_orch_abi::CoreType;
use hostgraph_platform::handshake::{exit_acknowledged, send_exit};
use hostgraph_platform::{AicpuStartup, DiscoveredCore, ProtocolError};

use crate::backend::Backend;
use crate::backoff::Backoff;
use crate::error::{Error, Result};

/// A discovered core.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Core {
    /// Handshake index (launch order).
    pub index: u32,
    /// Physical id (selects the register block).
    pub physical_id: u32,
    /// AIC or AIV.
    pub core_type: CoreType,
}

impl From<DiscoveredCore> for Core {
    fn from(c: DiscoveredCore) -> Self {
        Core {
            index: c.index,
            physical_id: c.physical_id,
            core_type: c.core_type,
        }
    }
}

/// A scheduler (AICPU) thread of the runs.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AicpuThread {
    /// Its index, `0..threads`.
    pub index: usize,
}

/// The scheduler thread (an [`AicpuThread`] entity) that owns this core:
/// written by the assignment phase, read by the seed phase. A core without
/// it is not used by the run.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
#[relationship(relationship_target = OwnedCores)]
pub struct OwnedBy(pub Entity);

/// The cores a scheduler thread owns (kept by bevy from [`OwnedBy`]).
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = OwnedBy)]
pub struct OwnedCores(Vec<Entity>);

impl OwnedCores {
    /// The owned core entities.
    pub fn cores(&self) -> &[Entity] {
        &self.0
    }
}

/// Start-up steps 1-5 for the first `n` handshake blocks, all at once,
/// bounded by `timeout`; every core must report a physical id of its own.
pub(crate) fn discover<B: Backend>(
    exec: &mut B,
    n: usize,
    timeout: Duration,
) -> Result<Vec<DiscoveredCore>> {
    let (spec, blocks) = (exec.spec(), exec.handshakes().len());
    if blocks < n {
        return Err(Error::ConfigMismatch {
            config: spec.platform,
            backend: spec.platform,
            why: format!(
                "the launch starts {n} cores but the backend has {blocks} handshake blocks"
            ),
        });
    }
    let mut states: Vec<AicpuStartup> = exec.handshakes()[..n]
        .iter()
        .map(AicpuStartup::begin)
        .collect();
    let mut bound = Bound::new(timeout);
    loop {
        let moved = exec.pump();
        let mut pending = 0;
        let (spec, regs, blocks) = (exec.spec(), exec.registers(), exec.handshakes());
        for (i, (st, block)) in states.iter_mut().zip(blocks).enumerate() {
            if st.poll(i as u32, block, regs, spec)?.is_none() {
                pending += 1;
            }
        }
        if pending == 0 {
            let filed = |s: &AicpuStartup| match *s {
                AicpuStartup::Filed(core) => Some(core),
                _ => None,
            };
            let cores: Vec<DiscoveredCore> = states.iter().filter_map(filed).collect();
            return refuse_shared_ids(&cores).map(|()| cores);
        }
        if bound.passed(moved) {
            let first = states
                .iter()
                .position(|s| !matches!(s, AicpuStartup::Filed(_)))
                .unwrap_or(0);
            return Err(Error::StartupTimeout {
                pending,
                cores: n,
                timeout,
                first: first as u32,
            });
        }
    }
}

/// Refuses two cores that reported one physical id: both would be dealt
/// to scheduler threads, two slots writing one core's registers.
fn refuse_shared_ids(cores: &[DiscoveredCore]) -> Result<()> {
    let mut by_id: Vec<(u32, u32)> = cores.iter().map(|c| (c.physical_id, c.index)).collect();
    by_id.sort_unstable();
    match by_id.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(&[(physical_id, first), (_, index)]) => Err(ProtocolError::DuplicatePhysicalId {
            first,
            index,
            physical_id,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Step 11 for every core in `cores`: sends the exit signal and waits (up
/// to `timeout`) for the acknowledgements of those not in `skip`. Returns
/// the cores that did not acknowledge.
pub(crate) fn exit<B: Backend>(
    exec: &mut B,
    cores: &[DiscoveredCore],
    skip: &[u32],
    timeout: Duration,
) -> Vec<u32> {
    for c in cores {
        send_exit(exec.registers(), c.physical_id);
    }
    let mut waiting: Vec<u32> = cores
        .iter()
        .map(|c| c.physical_id)
        .filter(|p| !skip.contains(p))
        .collect();
    let mut bound = Bound::new(timeout);
    while !waiting.is_empty() {
        let moved = exec.pump();
        waiting.retain(|&id| !exit_acknowledged(exec.registers(), id, exec.spec()));
        if !waiting.is_empty() && bound.passed(moved) {
            break;
        }
    }
    waiting
}

/// The time bound of a handshake wait. The clock is read every 64 passes,
/// whether the backend's pump moved cores in them or not: a pump that
/// keeps reporting movement (a core that flaps, or a backend that says so
/// whatever happened) does not lift the bound. Passes in which nothing
/// moved back off first.
struct Bound {
    start: Instant,
    timeout: Duration,
    backoff: Backoff,
    moving: u32,
}

impl Bound {
    fn new(timeout: Duration) -> Self {
        Bound {
            start: Instant::now(),
            timeout,
            backoff: Backoff::new(),
            moving: 0,
        }
    }

    /// After a pass (`moved`: the pump moved a core in it): backs off if
    /// nothing moved; true once the bound is past.
    fn passed(&mut self, moved: bool) -> bool {
        let look = if moved {
            self.moving = self.moving.wrapping_add(1);
            self.moving.is_multiple_of(64)
        } else {
            self.backoff.snooze()
        };
        look && self.start.elapsed() >= self.timeout
    }
}

/// Makes the [`Core`] entities match `cores` (kept when they already do,
/// so a re-run of the same configuration spawns nothing), and the
/// [`AicpuThread`] entities number `threads`.
pub(crate) fn sync_entities(world: &mut World, cores: &[DiscoveredCore], threads: usize) {
    let mut have: Vec<(Entity, Core)> = world
        .query::<(Entity, &Core)>()
        .iter(world)
        .map(|(e, c)| (e, *c))
        .collect();
    have.sort_by_key(|(_, c)| c.index);
    let same = have.len() == cores.len()
        && have
            .iter()
            .zip(cores)
            .all(|((_, c), d)| *c == Core::from(*d));
    if !same {
        for (e, _) in have {
            world.despawn(e);
        }
        world.spawn_batch(cores.iter().map(|&c| Core::from(c)));
    }
    let have: Vec<(Entity, usize)> = world
        .query::<(Entity, &AicpuThread)>()
        .iter(world)
        .map(|(e, t)| (e, t.index))
        .collect();
    for &(e, index) in &have {
        if index >= threads {
            world.despawn(e);
        }
    }
    for index in 0..threads {
        if !have.iter().any(|&(_, i)| i == index) {
            world.spawn(AicpuThread { index });
        }
    }
}
