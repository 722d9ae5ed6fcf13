//! Live migrations inside the simulation: each migration's state, the network the
//! migrations share, and the indexes (by server, by flow) the rest of the run uses to
//! find the migrations a change touches.
//!
//! The page-choice policy is the algorithm's ([`crate::migration`]); everything physical
//! happens through the same CPU scheduler, network and power models as the rest of the
//! world, so saturated and unsaturated hosts differ without special cases. Files:
//! `phases` (start, setup, switch-over, clean-up, end, abort), `transfer` (batches on the
//! wire, the algorithm's decisions, sender/receiver CPU and the achieved rate), `writes`
//! (the VM's writes and post-copy faults between batches), `energy` (the migration's own
//! power). Handlers change state and mark what is dirty; the settle step calls
//! `Migrations::set_demands` and `Migrations::refresh`.

pub(crate) mod energy;
pub(crate) mod phases;
pub(crate) mod transfer;
pub(crate) mod writes;

use super::dirty::DirtySet;
use super::event::Gen;
use crate::migration::{Algorithm, PageState, Params};
use crate::model::ids::{IdVec, MigrationId, ServerId, VmId};
use crate::model::network::{FlowId, Network};
use std::sync::Arc;

pub use super::log::AbortReason;

/// Where a migration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting, creating the target domain, enabling log-dirty.
    Setup,
    /// Sending pages while the VM runs at the source (pre-copy).
    Transfer,
    /// Suspending the VM before the final copy.
    Suspending,
    /// Final pages sent; restoring the VM on the destination.
    Resume,
    /// Post-copy: suspended, minimal state on its way.
    Switching,
    /// Post-copy: running on the destination, pages arriving on demand and by push.
    Postcopy,
    /// The source copy of the VM lingers.
    CleanupVm,
    /// dom0 on the source finishes up.
    CleanupDom0,
    /// Finished.
    Done,
    /// Stopped because a host lost power or the VM ended.
    Aborted,
}

impl Phase {
    /// True once it has finished or stopped.
    pub fn ended(self) -> bool {
        matches!(self, Phase::Done | Phase::Aborted)
    }
}

/// Host-task slots a migration holds on its hosts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tasks {
    /// dom0 setup work on the source.
    pub setup: Option<usize>,
    /// The sender on the source.
    pub sender: Option<usize>,
    /// The receiver on the destination.
    pub receiver: Option<usize>,
    /// The lingering source copy of the VM.
    pub ghost: Option<usize>,
    /// dom0 clean-up on the source.
    pub cleanup: Option<usize>,
}

/// The batch on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch {
    /// Pages in it.
    pub pages: u32,
    /// Payload bytes still to send, B.
    pub bytes_left: f64,
}

/// Post-copy fault accounting.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults {
    /// Demand faults so far.
    pub total: u64,
    /// Faults per second of wall time over the last interval, 1/s.
    pub rate: f64,
    /// Decaying (faults, full-speed exposure s) window behind the stall estimate.
    pub window: (f64, f64),
    /// End of the last fault accounting interval, ns.
    pub last_tick_ns: u64,
}

/// One live migration's state.
#[derive(Debug)]
pub struct Mig {
    /// The VM.
    pub vm: VmId,
    /// Source server.
    pub src: ServerId,
    /// Destination server.
    pub dst: ServerId,
    /// Parameters.
    pub params: Arc<Params>,
    pub(crate) algo: Box<dyn Algorithm>,
    /// Exact page state.
    pub ps: PageState,
    /// Phase.
    pub phase: Phase,
    pub(crate) gen: Gen,
    /// Start, ns.
    pub start_ns: u64,
    /// Switch-over (the VM starts running on the destination), ns.
    pub switch_ns: Option<u64>,
    /// End (clean-up finished, or aborted), ns.
    pub end_ns: Option<u64>,
    pub(crate) flow: Option<FlowId>,
    /// Payload rate the network offers, bit/s.
    pub(crate) net_bps: f64,
    /// Payload rate actually achieved (network and CPU), bit/s.
    pub rate_bps: f64,
    pub(crate) batch: Option<Batch>,
    /// A batch started or its rate must be re-timed at the next settle.
    pub(crate) reschedule: bool,
    /// When `batch.bytes_left` was last brought up to date, ns.
    pub(crate) last_rate_ns: u64,
    pub(crate) tasks: Tasks,
    /// VM progress when its writes were last applied, core-seconds.
    pub(crate) last_progress: f64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Pages sent (batches and faults).
    pub pages_sent: u64,
    pub(crate) faults: Faults,
    /// Payload bytes sent since the algorithm last observed, B.
    pub(crate) interval_bytes: u64,
    /// Extra energy of both hosts due to the migration, J.
    pub energy_j: f64,
    /// Its present extra power on (source, destination), W.
    pub(crate) power_w: (f64, f64),
    pub(crate) energy_ns: u64,
    pub(crate) saved_weight: Option<f64>,
    pub(crate) saved_pstate: Option<usize>,
    /// VM downtime caused by this migration, ns.
    pub downtime_ns: u64,
    pub(crate) downtime_from: Option<u64>,
    /// Why it was aborted.
    pub abort_reason: Option<AbortReason>,
}

impl Mig {
    /// Payload moving now, bit/s: the achieved rate while a batch is on the wire.
    pub fn wire_bps(&self) -> f64 {
        if self.batch.is_some() {
            self.rate_bps
        } else {
            0.0
        }
    }

    /// Rounds (pre-copy passes) started.
    pub fn rounds(&self) -> u32 {
        self.algo.rounds()
    }

    /// Post-copy demand faults so far.
    pub fn faults(&self) -> u64 {
        self.faults.total
    }
}

/// Every migration of a run, the network they share and what changed since the last
/// settle.
pub(crate) struct Migrations {
    /// Migrations in start order.
    pub migs: IdVec<MigrationId, Mig>,
    /// Active migrations touching each server (source or destination).
    pub at_server: IdVec<ServerId, Vec<MigrationId>>,
    /// The migration of each live flow, by flow id.
    by_flow: Vec<Option<MigrationId>>,
    /// The network the migrations share.
    pub net: Network,
    /// Migrations whose sender/receiver CPU demand must be recomputed.
    pub dirty_demand: DirtySet,
    /// Migrations whose achieved rate must be recomputed.
    pub dirty_rate: DirtySet,
    changed_flows: Vec<FlowId>,
}

impl Migrations {
    /// No migrations yet, on servers whose NICs carry `nic_bps[i]` bit/s each way.
    pub(crate) fn new(nic_bps: &[f64]) -> Self {
        Migrations {
            migs: IdVec::new(),
            at_server: (0..nic_bps.len()).map(|_| Vec::new()).collect(),
            by_flow: Vec::new(),
            net: Network::new(nic_bps),
            dirty_demand: DirtySet::new(0),
            dirty_rate: DirtySet::new(0),
            changed_flows: Vec::new(),
        }
    }

    /// Active migrations at server `s`.
    pub(crate) fn at(&self, s: ServerId) -> &[MigrationId] {
        &self.at_server[s]
    }

    /// Re-solves the network's shares; every migration whose offered rate moved gets its
    /// demands recomputed.
    pub(crate) fn network_changed(&mut self) {
        self.net.recompute_into(&mut self.changed_flows);
        for f in &self.changed_flows {
            if let Some(Some(m)) = self.by_flow.get(f.0 as usize) {
                self.dirty_demand.mark(*m);
            }
        }
    }

    fn index_flow(&mut self, f: FlowId, m: Option<MigrationId>) {
        let i = f.0 as usize;
        if i >= self.by_flow.len() {
            self.by_flow.resize(i + 1, None);
        }
        self.by_flow[i] = m;
    }

    fn attach(&mut self, m: MigrationId) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.at_server[src].push(m);
        self.at_server[dst].push(m);
    }

    fn detach(&mut self, m: MigrationId) {
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        self.at_server[src].retain(|&x| x != m);
        self.at_server[dst].retain(|&x| x != m);
    }

    /// NIC traffic of a server: the achieved rates of its migrations' batches on the
    /// wire, sent and received, Gbit/s.
    pub(crate) fn nic_gbps(&self, s: ServerId) -> f64 {
        self.at_server[s]
            .iter()
            .map(|&m| self.migs[m].wire_bps())
            .sum::<f64>()
            / 1e9
    }
}
