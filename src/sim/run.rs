//! The run loop: pop an event, let its handler change state, settle, repeat; then the
//! results.

use super::actuate::actuate;
use super::control::Control;
use super::event::Event;
use super::handlers;
use super::log::{EventRow, LogRecord, Names};
use super::migration::{Migrations, Phase};
use super::record::{MeterRow, Recorder, Sink, Timeseries};
use super::settle::{settle, Scratch};
use super::state::Core;
use super::summary::Summary;
use super::world::Metered;
use crate::actuation::Origin;
use crate::migration::PageState;
use crate::model::ids::{MigrationId, VmId};
use crate::scenario::config::Scenario;

/// Everything a run produced.
pub struct RunResult {
    /// `summary.json` content.
    pub summary: Summary,
    /// `timeseries.csv` content.
    pub timeseries: Timeseries,
    /// The event log (`events.csv` is its text form, [`RunResult::event_rows`]); when
    /// streamed, only its breaker trips (the whole log went to the sink).
    pub log: Vec<LogRecord>,
    /// Entity names by id.
    pub names: Names,
    /// Meter names, by id.
    pub meter_names: Vec<String>,
    /// `meters.csv` content.
    pub meter_readings: Vec<MeterRow>,
    /// Events popped from the queue.
    pub events_processed: u64,
    /// Every migration's final state, for checks beyond the summary.
    pub migrations: Vec<MigrationOutcome>,
}

impl RunResult {
    /// The log as `events.csv` rows.
    pub fn event_rows(&self) -> Vec<EventRow> {
        self.log.iter().map(|r| r.row(&self.names)).collect()
    }
}

/// A migration's final state.
#[derive(Clone, Debug)]
pub struct MigrationOutcome {
    /// The VM.
    pub vm: VmId,
    /// Phase at the end of the run.
    pub phase: Phase,
    /// Exact page state at the end (stale pages: not current at the destination).
    pub pages: PageState,
    /// Pages the VM ever touches (its footprint).
    pub footprint_pages: u32,
    /// Rounds started.
    pub rounds: u32,
}

/// Runs a validated scenario to its end, keeping every row in memory.
pub fn run(sc: &Scenario) -> RunResult {
    run_with(sc, None)
}

/// Runs a validated scenario to its end, handing every time-series row, meter reading and
/// event to `sink` as it is made: memory stays flat in the simulated duration. The
/// result's `timeseries` is then a bounded plotting copy (see
/// [`crate::sim::record::PLOT_ROWS`]), its `meter_readings` is empty and its `log` holds
/// only the breaker trips.
pub fn run_streaming(sc: &Scenario, sink: &mut dyn Sink) -> RunResult {
    run_with(sc, Some(sink))
}

fn run_with(sc: &Scenario, sink: Option<&mut dyn Sink>) -> RunResult {
    let mut sim = Sim::new(sc, sink);
    sim.start();
    sim.rec.events(&mut sim.core.log);
    while let Some((t, ev)) = sim.core.q.pop() {
        if ev == Event::End {
            debug_assert_eq!(t.0, sc.duration_ns);
            break;
        }
        sim.handle(ev);
        settle(&mut sim.core, &mut sim.migs, &mut sim.scratch);
        if !sim.core.log.is_empty() {
            sim.rec.events(&mut sim.core.log);
        }
    }
    sim.finish()
}

/// The whole run: core state, migrations, the controller, the recorder.
struct Sim<'a, 's> {
    core: Core<'a>,
    migs: Migrations,
    control: Option<Control>,
    rec: Recorder<'s>,
    scratch: Scratch,
}

impl<'a, 's> Sim<'a, 's> {
    fn new(sc: &'a Scenario, sink: Option<&'s mut dyn Sink>) -> Self {
        let mut core = Core::new(sc);
        let nics: Vec<f64> = core.w.servers.iter().map(|s| s.model.nic_bps).collect();
        // `none` needs no controller at all.
        let control = sc
            .policy
            .as_ref()
            .filter(|p| p.config != crate::policy::PolicyConfig::None)
            .map(|p| Control::new(p, &mut core));
        for m in core.w.meters.ids() {
            let (target, spec) = (core.w.meters[m].target, core.w.meters[m].spec);
            match target {
                Metered::Device(d) => core.sensors.watch_device(d, &spec),
                Metered::Server(s) => core.sensors.watch_server(s, &spec),
            }
        }
        Sim {
            rec: Recorder::new(&core.w, &sc.output, sink),
            migs: Migrations::new(&nics),
            control,
            scratch: Scratch::default(),
            core,
        }
    }

    fn start(&mut self) {
        let core = &mut self.core;
        let sc = core.sc;
        let end = sc.duration_ns;
        core.at(end, Event::End);
        for (i, a) in sc.actions.iter().enumerate() {
            if a.at_ns < end {
                core.at(a.at_ns, Event::Action(i as u32));
            }
        }
        for (i, v) in sc.vms.iter().enumerate() {
            if v.start_ns < end {
                core.at(v.start_ns, Event::VmStart(VmId::new(i)));
            }
        }
        for m in core.w.meters.ids() {
            let first = core.w.meters[m].spec.period_ns;
            if first <= end {
                core.at(first, Event::MeterSample(m));
            }
        }
        if sc.output.interval_ns < end {
            core.at(sc.output.interval_ns, Event::Record);
        }
        if let Some(p) = self.control.as_ref().map(Control::period_ns) {
            if p < end {
                core.at(p, Event::Control);
            }
        }
        // Idle power from time zero, and dom0 load, on every server.
        for s in core.w.servers.ids() {
            core.touch_server(s);
        }
        settle(core, &mut self.migs, &mut self.scratch);
    }

    fn handle(&mut self, ev: Event) {
        let core = &mut self.core;
        match ev {
            Event::VmStart(v) => handlers::vm_start(core, v),
            Event::DemandChange(v) => handlers::demand_change(core, v),
            Event::VmComplete { vm, gen } => handlers::vm_complete(core, vm, gen),
            Event::BacklogDrained { vm, gen } => handlers::backlog_drained(core, vm, gen),
            Event::Trip { device, gen } => handlers::trip(core, &mut self.migs, device, gen),
            Event::MeterSample(m) => handlers::meter_sample(core, &mut self.rec, m),
            Event::Record => {
                let now = core.now();
                self.rec.record(&core.w, now);
                let next = now + core.sc.output.interval_ns;
                if next < core.sc.duration_ns {
                    core.at(next, Event::Record);
                }
            }
            Event::Action(i) => {
                let a = core.sc.actions[i as usize].kind.clone();
                actuate(core, &mut self.migs, a, Origin::Scenario);
            }
            Event::Migration { mig, gen } => self.migs.on_event(core, mig, gen),
            Event::Control => {
                if let Some(c) = self.control.as_mut() {
                    c.tick(core, &self.migs);
                }
            }
            Event::Command(slot) => {
                if let Some(a) = self.control.as_mut().and_then(|c| c.take(slot as usize)) {
                    actuate(core, &mut self.migs, a, Origin::Policy);
                }
            }
            Event::End => {}
        }
    }

    fn finish(mut self) -> RunResult {
        let core = &mut self.core;
        let end = core.sc.duration_ns;
        for s in core.w.servers.ids() {
            core.sync_server(s);
        }
        let w = &mut core.w;
        for v in w
            .vms
            .iter()
            .filter(|v| v.work_core_s.is_none() && v.phase == crate::model::vm::VmPhase::Running)
        {
            v.backlog.censor(v.progress, v.demanded, end, &mut w.delays);
        }
        for d in core.w.devices.iter_mut() {
            d.advance(end);
        }
        if self.rec.last_ns() < end {
            self.rec.record(&core.w, end);
        }
        let ids: Vec<MigrationId> = self.migs.migs.ids().collect();
        for &m in &ids {
            self.migs.update_power(core, m);
        }
        let summary = Summary::from_world(core.sc, &core.w, &self.migs.migs);
        let sc = core.sc;
        let migrations = self
            .migs
            .migs
            .iter_mut()
            .map(|m| MigrationOutcome {
                vm: m.vm,
                phase: m.phase,
                // Moved out, not cloned: three bitmaps per migration (1.5 MB at 16 GiB).
                pages: std::mem::replace(&mut m.ps, PageState::new(0)),
                footprint_pages: sc.vms[m.vm.idx()]
                    .memory
                    .as_ref()
                    .map_or(0, |p| p.footprint_pages),
                rounds: m.rounds(),
            })
            .collect();
        RunResult {
            summary,
            log: self.rec.take_log(&mut core.log),
            names: std::mem::take(&mut self.rec.names),
            timeseries: self.rec.take_series(),
            meter_names: std::mem::take(&mut self.rec.meter_names),
            meter_readings: std::mem::take(&mut self.rec.meter_rows),
            events_processed: core.q.popped(),
            migrations,
        }
    }
}
