//! The run's core state and the accounting every handler shares: the clock and queue,
//! the world, the sensors' histories, what changed since the last settle, and the log.
//!
//! The one rule that keeps accounting exact: before a handler changes anything that
//! affects how a server or its VMs accumulate (demand, caps, weights, p-state, tasks,
//! suspension), it calls [`Core::touch_server`], which brings that server and its VMs
//! up to now and marks the server for reallocation at the next settle.

use super::dirty::DirtySet;
use super::event::Event;
use super::log::{LogEvent, LogRecord};
use super::sensors::Sensors;
use super::world::World;
use crate::engine::{EventQueue, SimTime};
use crate::model::ids::{DeviceId, ServerId};
use crate::scenario::config::Scenario;

/// Core state of one run.
pub(crate) struct Core<'a> {
    /// The validated scenario.
    pub sc: &'a Scenario,
    /// Pending events.
    pub q: EventQueue<Event>,
    /// Every model's state.
    pub w: World,
    /// Histories of the metered quantities.
    pub sensors: Sensors,
    /// The event log, in time order.
    pub log: Vec<LogRecord>,
    /// Servers whose CPU allocation must be recomputed.
    pub dirty_cpu: DirtySet,
    /// Servers whose power must be recomputed.
    pub dirty_power: DirtySet,
    /// Load changes waiting to be carried up the power tree: (device, ΔW), from trips.
    pub tree_deltas: Vec<(DeviceId, f64)>,
}

impl<'a> Core<'a> {
    /// The state at time 0 of a run of `sc`.
    pub(crate) fn new(sc: &'a Scenario) -> Self {
        let w = World::new(sc);
        let (d, s, v) = (w.devices.len(), w.servers.len(), w.vms.len());
        Core {
            sc,
            q: EventQueue::with_capacity(v * 2 + d + 16),
            sensors: Sensors::new(d, s, v),
            log: Vec::new(),
            dirty_cpu: DirtySet::new(s),
            dirty_power: DirtySet::new(s),
            tree_deltas: Vec::new(),
            w,
        }
    }

    /// Now, ns.
    pub(crate) fn now(&self) -> u64 {
        self.q.now().0
    }

    /// Schedules `ev` `delay_ns` from now.
    pub(crate) fn after(&mut self, delay_ns: u64, ev: Event) {
        self.q.schedule_in(delay_ns, ev);
    }

    /// Schedules `ev` at `t_ns`, which is now or later by construction (a time in the
    /// past would be a bug; it is then run now).
    pub(crate) fn at(&mut self, t_ns: u64, ev: Event) {
        let now = self.now();
        debug_assert!(t_ns >= now, "event {ev:?} at {t_ns} ns before now {now} ns");
        let _ = self.q.schedule(SimTime(t_ns.max(now)), ev);
    }

    /// Appends to the event log at the current time.
    pub(crate) fn log(&mut self, event: LogEvent) {
        self.log.push(LogRecord {
            time_ns: self.now(),
            event,
        });
    }

    /// Brings a server's and its VMs' accounting up to now (idempotent within an instant).
    pub(crate) fn sync_server(&mut self, s: ServerId) {
        let now = self.now();
        let server = &mut self.w.servers[s];
        server.advance(now);
        for &v in &server.vms {
            self.w.vms[v].advance(now, &mut self.w.delays);
        }
    }

    /// Brings a server up to now before a change to it or its VMs, and marks it for
    /// reallocation (and so for a new power figure) at the next settle.
    pub(crate) fn touch_server(&mut self, s: ServerId) {
        self.sync_server(s);
        self.dirty_cpu.mark(s);
    }

    /// Marks a server's power for recomputation (its NIC traffic may have changed).
    pub(crate) fn mark_power(&mut self, s: ServerId) {
        self.dirty_power.mark(s);
    }
}
