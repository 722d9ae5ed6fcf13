//! The run's event log, typed: what happened, to whom, with its figures in SI units.
//! Calibration, the study and sweeps read these values; the text form of `events.csv`
//! (`time_s,kind,entity,detail` with `key=value` details) is made only at the file edge
//! by [`LogRecord::row`].

use crate::actuation::{Actuation, Origin};
use crate::migration::RoundStat;
use crate::model::ids::{DeviceId, IdVec, MigrationId, ServerId, VmId};
use std::sync::Arc;

/// Why a VM was lost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossCause {
    /// It was due to start on a server that had no power.
    HostUnpowered,
    /// A breaker above its server opened.
    BreakerTrip {
        /// Whether it had started.
        was_running: bool,
        /// Work it had done, core-seconds at P0.
        progress_core_s: f64,
    },
}

/// Why a migration was refused at its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationRefusal {
    /// The VM is waiting, done or lost.
    VmNotRunning,
    /// It is already being migrated.
    AlreadyMigrating,
    /// The destination is its host.
    AlreadyThere,
    /// The destination has no power.
    DestinationUnpowered,
    /// The destination's memory cannot hold it.
    DestinationMemoryFull,
}

impl MigrationRefusal {
    /// The word written in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationRefusal::VmNotRunning => "vm_not_running",
            MigrationRefusal::AlreadyMigrating => "already_migrating",
            MigrationRefusal::AlreadyThere => "already_there",
            MigrationRefusal::DestinationUnpowered => "destination_unpowered",
            MigrationRefusal::DestinationMemoryFull => "destination_memory_full",
        }
    }
}

/// Why a migration stopped part-way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// Its source or destination lost power.
    HostLostPower,
    /// The VM was lost.
    VmLost,
}

impl AbortReason {
    /// The word written in `events.csv` and `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::HostLostPower => "host_lost_power",
            AbortReason::VmLost => "vm_lost",
        }
    }
}

/// Why an actuation was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server it targets has no power.
    ServerOff,
    /// The p-state does not exist on that server.
    NoSuchPstate,
    /// The VM it targets is done or lost.
    VmGone,
}

impl Refusal {
    /// The word written in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerOff => "server_off",
            Refusal::NoSuchPstate => "no_such_pstate",
            Refusal::VmGone => "vm_gone",
        }
    }
}

/// Final figures of a finished migration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MigrationTotals {
    /// Start to end, s.
    pub duration_s: f64,
    /// VM suspended, s.
    pub downtime_s: f64,
    /// Pages sent (batches and faults).
    pub pages_sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Rounds started.
    pub rounds: u32,
    /// Extra energy of both hosts due to it, J.
    pub energy_j: f64,
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEvent {
    /// A breaker opened.
    BreakerTrip {
        /// The device.
        device: DeviceId,
        /// Power through it when it opened, W.
        load_cut_w: f64,
        /// Its load then, multiple of its rating.
        load_multiple: f64,
        /// Its heat then, [0, 1].
        heat: f64,
    },
    /// A server lost power (a breaker above it opened).
    ServerOff {
        /// The server.
        server: ServerId,
    },
    /// A VM was lost.
    VmLost {
        /// The VM.
        vm: VmId,
        /// Why.
        cause: LossCause,
    },
    /// A VM finished its work.
    VmComplete {
        /// The VM.
        vm: VmId,
        /// Start to completion, s.
        completion_s: f64,
    },
    /// A change was applied.
    Actuated {
        /// Who asked.
        origin: Origin,
        /// What changed.
        actuation: Actuation,
    },
    /// A change was not applied.
    ActuationRefused {
        /// Who asked.
        origin: Origin,
        /// What was asked.
        actuation: Actuation,
        /// Why not.
        reason: Refusal,
    },
    /// A migration could not start.
    MigrationRefused {
        /// The VM.
        vm: VmId,
        /// Where to.
        to: ServerId,
        /// Why not.
        reason: MigrationRefusal,
    },
    /// A migration started (setup begins).
    MigrationStart {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Source.
        from: ServerId,
        /// Destination.
        to: ServerId,
        /// Preset name.
        algorithm: Arc<str>,
        /// Pages of its memory.
        pages: u32,
    },
    /// Setup ended; pages start moving.
    TransferStart {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
    },
    /// A pre-copy round ended.
    MigrationRound {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// The round's figures.
        stat: RoundStat,
    },
    /// The VM was suspended: before the final round (`round` = rounds so far), or for a
    /// post-copy switch (`round` = `None`).
    Suspend {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Rounds so far (pre-copy).
        round: Option<u32>,
    },
    /// Post-copy: the VM runs on the destination, pages arriving on demand.
    PostcopyResumed {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
    },
    /// The migration changed its cap on the VM (auto-converge, power-aware cap).
    VmThrottle {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Auto-converge throttle, fraction of the vCPUs taken away.
        throttle: f64,
        /// The resulting cap, cores.
        cap_cores: f64,
    },
    /// The VM starts running at the destination.
    SwitchOver {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Downtime so far, s.
        downtime_s: f64,
    },
    /// Every page that will be needed is at the destination.
    TransferEnd {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Pages sent.
        pages_sent: u64,
        /// Payload bytes sent.
        bytes_sent: u64,
        /// Pages sent more than once.
        resent: u64,
        /// Post-copy demand faults.
        faults: u64,
    },
    /// The source copy of the VM is gone.
    SourceVmGone {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
    },
    /// The migration finished (clean-up done).
    MigrationEnd {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Its figures.
        totals: MigrationTotals,
    },
    /// The migration stopped part-way.
    MigrationAborted {
        /// The migration.
        mig: MigrationId,
        /// The VM.
        vm: VmId,
        /// Why.
        reason: AbortReason,
    },
}

/// A log entry: when, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// When, ns.
    pub time_ns: u64,
    /// What.
    pub event: LogEvent,
}

/// Entity names by id, for the text form.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Device names.
    pub devices: IdVec<DeviceId, String>,
    /// Server names.
    pub servers: IdVec<ServerId, String>,
    /// VM names.
    pub vms: IdVec<VmId, String>,
}

/// One line of `events.csv`: the text form of a [`LogRecord`].
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// When, ns.
    pub time_ns: u64,
    /// What happened (`breaker_trip`, `vm_lost`, `migration_start`, …).
    pub kind: &'static str,
    /// Who it happened to.
    pub entity: String,
    /// `key=value` details separated by spaces.
    pub detail: String,
}

fn cap_text(c: Option<f64>) -> String {
    c.map_or("cap_cores=none".into(), |c| format!("cap_cores={c}"))
}

impl LogEvent {
    /// The VM it concerns, if any.
    pub fn vm(&self) -> Option<VmId> {
        use LogEvent::*;
        match self {
            VmLost { vm, .. }
            | VmComplete { vm, .. }
            | MigrationRefused { vm, .. }
            | MigrationStart { vm, .. }
            | TransferStart { vm, .. }
            | MigrationRound { vm, .. }
            | Suspend { vm, .. }
            | PostcopyResumed { vm, .. }
            | VmThrottle { vm, .. }
            | SwitchOver { vm, .. }
            | TransferEnd { vm, .. }
            | SourceVmGone { vm, .. }
            | MigrationEnd { vm, .. }
            | MigrationAborted { vm, .. } => Some(*vm),
            Actuated { actuation, .. } | ActuationRefused { actuation, .. } => match actuation {
                Actuation::SetVmCap { vm, .. }
                | Actuation::SetVmQuota { vm, .. }
                | Actuation::SetVmWeight { vm, .. }
                | Actuation::Migrate { vm, .. } => Some(*vm),
                _ => None,
            },
            BreakerTrip { .. } | ServerOff { .. } => None,
        }
    }

    /// The migration it concerns, if any.
    pub fn migration(&self) -> Option<MigrationId> {
        use LogEvent::*;
        match self {
            MigrationStart { mig, .. }
            | TransferStart { mig, .. }
            | MigrationRound { mig, .. }
            | Suspend { mig, .. }
            | PostcopyResumed { mig, .. }
            | VmThrottle { mig, .. }
            | SwitchOver { mig, .. }
            | TransferEnd { mig, .. }
            | SourceVmGone { mig, .. }
            | MigrationEnd { mig, .. }
            | MigrationAborted { mig, .. } => Some(*mig),
            _ => None,
        }
    }

    /// The `kind` column of `events.csv`.
    pub fn kind(&self) -> &'static str {
        use LogEvent::*;
        match self {
            BreakerTrip { .. } => "breaker_trip",
            ServerOff { .. } => "server_off",
            VmLost { .. } => "vm_lost",
            VmComplete { .. } => "vm_complete",
            Actuated { origin, actuation } => actuation_kind(*origin, actuation),
            ActuationRefused { .. } => "actuation_refused",
            MigrationRefused { .. } => "migration_refused",
            MigrationStart { .. } => "migration_start",
            TransferStart { .. } => "transfer_start",
            MigrationRound { .. } => "migration_round",
            Suspend { .. } => "suspend",
            PostcopyResumed { .. } => "postcopy_resumed",
            VmThrottle { .. } => "vm_throttle",
            SwitchOver { .. } => "switch_over",
            TransferEnd { .. } => "transfer_end",
            SourceVmGone { .. } => "source_vm_gone",
            MigrationEnd { .. } => "migration_end",
            MigrationAborted { .. } => "migration_aborted",
        }
    }
}

/// `events.csv` kinds of applied changes (the names users' scripts know).
fn actuation_kind(origin: Origin, a: &Actuation) -> &'static str {
    match (origin, a) {
        (Origin::Scenario, Actuation::SetPstate { .. }) => "set_pstate",
        (Origin::Policy, Actuation::SetPstate { .. }) => "policy_pstate",
        (Origin::Scenario, Actuation::SetVmCap { .. }) => "set_vm_cap",
        (Origin::Policy, Actuation::SetVmCap { .. }) => "policy_set_vm_cap",
        (Origin::Scenario, Actuation::SetVmQuota { .. }) => "set_vm_quota",
        (Origin::Policy, Actuation::SetVmQuota { .. }) => "policy_vm_cap",
        (Origin::Scenario, Actuation::SetVmWeight { .. }) => "set_vm_weight",
        (Origin::Policy, Actuation::SetVmWeight { .. }) => "policy_vm_weight",
        (Origin::Scenario, Actuation::SetIdle { .. }) => "set_idle",
        (Origin::Policy, Actuation::SetIdle { .. }) => "policy_idle",
        (Origin::Scenario, Actuation::Migrate { .. }) => "migrate",
        (Origin::Policy, Actuation::Migrate { .. }) => "policy_migrate",
    }
}

/// (entity, detail) of a change, as `events.csv` writes them.
fn actuation_text(a: &Actuation, n: &Names) -> (String, String) {
    match a {
        Actuation::SetPstate { server, pstate } => {
            (n.servers[*server].clone(), format!("pstate={pstate}"))
        }
        Actuation::SetVmCap { vm, cap_cores } | Actuation::SetVmQuota { vm, cap_cores } => {
            (n.vms[*vm].clone(), cap_text(*cap_cores))
        }
        Actuation::SetVmWeight { vm, weight } => (n.vms[*vm].clone(), format!("weight={weight}")),
        Actuation::SetIdle { server, fraction } => (
            n.servers[*server].clone(),
            format!("idle_fraction={fraction}"),
        ),
        Actuation::Migrate { vm, to, params } => (
            n.vms[*vm].clone(),
            format!("to={} algorithm={}", n.servers[*to], params.preset),
        ),
    }
}

impl LogRecord {
    /// The `events.csv` line.
    pub fn row(&self, n: &Names) -> EventRow {
        use LogEvent::*;
        let vm = |v: &VmId| n.vms[*v].clone();
        let (entity, detail) = match &self.event {
            BreakerTrip {
                device,
                load_cut_w,
                load_multiple,
                heat,
            } => (
                n.devices[*device].clone(),
                format!("load_cut_w={load_cut_w:.3} load_multiple={load_multiple:.4} heat={heat:.6}"),
            ),
            ServerOff { server } => (n.servers[*server].clone(), "reason=breaker_trip".into()),
            VmLost { vm: v, cause } => (
                vm(v),
                match cause {
                    LossCause::HostUnpowered => "reason=host_unpowered".into(),
                    LossCause::BreakerTrip {
                        was_running,
                        progress_core_s,
                    } => format!(
                        "reason=breaker_trip was_running={was_running} progress_core_s={progress_core_s:.6}"
                    ),
                },
            ),
            VmComplete {
                vm: v,
                completion_s,
            } => (vm(v), format!("completion_s={completion_s}")),
            Actuated { actuation, .. } => actuation_text(actuation, n),
            ActuationRefused {
                actuation,
                reason,
                ..
            } => {
                let (entity, what) = actuation_text(actuation, n);
                let kind = actuation_kind(Origin::Scenario, actuation);
                (entity, format!("action={kind} {what} reason={}", reason.as_str()))
            }
            MigrationRefused { vm: v, to, reason } => (
                vm(v),
                format!("to={} reason={}", n.servers[*to], reason.as_str()),
            ),
            MigrationStart {
                vm: v,
                from,
                to,
                algorithm,
                pages,
                ..
            } => (
                vm(v),
                format!(
                    "from={} to={} algorithm={algorithm} pages={pages}",
                    n.servers[*from], n.servers[*to]
                ),
            ),
            TransferStart { vm: v, .. }
            | PostcopyResumed { vm: v, .. }
            | SourceVmGone { vm: v, .. } => (vm(v), String::new()),
            MigrationRound { vm: v, stat, .. } => (
                vm(v),
                format!(
                    "round={} sent={} skipped={} dirtied={} last={}",
                    stat.round, stat.sent, stat.skipped, stat.dirtied, stat.last
                ),
            ),
            Suspend { vm: v, round, .. } => (
                vm(v),
                match round {
                    Some(r) => format!("round={r}"),
                    None => "postcopy_switch".into(),
                },
            ),
            VmThrottle {
                vm: v,
                throttle,
                cap_cores,
                ..
            } => (vm(v), format!("throttle={throttle} cap_cores={cap_cores}")),
            SwitchOver {
                vm: v, downtime_s, ..
            } => (vm(v), format!("downtime_s={downtime_s}")),
            TransferEnd {
                vm: v,
                pages_sent,
                bytes_sent,
                resent,
                faults,
                ..
            } => (
                vm(v),
                format!(
                    "pages_sent={pages_sent} bytes_sent={bytes_sent} resent={resent} faults={faults}"
                ),
            ),
            MigrationEnd { vm: v, totals, .. } => (
                vm(v),
                format!(
                    "duration_s={} downtime_s={} pages_sent={} bytes_sent={} rounds={} energy_j={}",
                    totals.duration_s,
                    totals.downtime_s,
                    totals.pages_sent,
                    totals.bytes_sent,
                    totals.rounds,
                    totals.energy_j
                ),
            ),
            MigrationAborted { vm: v, reason, .. } => {
                (vm(v), format!("reason={}", reason.as_str()))
            }
        };
        EventRow {
            time_ns: self.time_ns,
            kind: self.event.kind(),
            entity,
            detail,
        }
    }
}
