//! The one closed event enum. Events carry indices into the world's vectors and, where
//! an event can be superseded, a generation number: a stale event is simply ignored,
//! which keeps the queue a plain heap.

/// Everything that can happen in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A VM starts running (index into the VM list).
    VmStart(u32),
    /// A VM's demand schedule moves to its next value.
    DemandChange(u32),
    /// A VM finishes its work, if its generation still matches.
    VmComplete {
        /// VM index.
        vm: u32,
        /// Generation when scheduled.
        gen: u32,
    },
    /// A breaker reaches its trip point, if its generation still matches.
    Trip {
        /// Device index.
        device: u32,
        /// Generation when scheduled.
        gen: u32,
    },
    /// A meter closes an averaging window.
    MeterSample(u32),
    /// A `timeseries.csv` row is due.
    Record,
    /// A scheduled scenario action (index into the action list).
    Action(u32),
    /// A migration's pending step (batch sent, phase timer), if its generation matches.
    Migration {
        /// Migration index.
        mig: u32,
        /// Generation when scheduled.
        gen: u32,
    },
    /// The capping controller's period has come.
    Control,
    /// A policy command's actuator latency has passed (slot in the command list).
    Command(u32),
    /// The end of the run.
    End,
}
