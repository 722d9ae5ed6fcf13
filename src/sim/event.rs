//! The one closed event enum. Events carry typed ids into the world's vectors and, where
//! an event can be superseded, a generation number: a stale event is simply ignored,
//! which keeps the queue a plain heap.

pub use crate::model::ids::Gen;
use crate::model::ids::{DeviceId, MeterId, MigrationId, VmId};

/// Everything that can happen in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A VM starts running.
    VmStart(VmId),
    /// A VM's demand schedule moves to its next value.
    DemandChange(VmId),
    /// A VM finishes its work, if its generation still matches.
    VmComplete {
        /// The VM.
        vm: VmId,
        /// Generation when scheduled.
        gen: Gen,
    },
    /// A VM has run all the work it owed, if its drain generation still matches.
    BacklogDrained {
        /// The VM.
        vm: VmId,
        /// Drain generation when scheduled.
        gen: Gen,
    },
    /// A breaker reaches its trip point, if its generation still matches.
    Trip {
        /// The device.
        device: DeviceId,
        /// Generation when scheduled.
        gen: Gen,
    },
    /// A `meters.csv` meter takes a sample.
    MeterSample(MeterId),
    /// A `timeseries.csv` row is due.
    Record,
    /// A scheduled scenario action (index into the scenario's action list).
    Action(u32),
    /// A migration's pending step (batch sent, phase timer), if its generation matches.
    Migration {
        /// The migration.
        mig: MigrationId,
        /// Generation when scheduled.
        gen: Gen,
    },
    /// The capping controller's period has come.
    Control,
    /// A policy command's actuator latency has passed (slot in the command list).
    Command(u32),
    /// The end of the run.
    End,
}
