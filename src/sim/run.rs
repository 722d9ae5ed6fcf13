//! The event loop and the handlers that keep servers, VMs and the power tree consistent.

use super::event::Event;
use super::migrate::{Mig, Phase};
use super::record::{EventRow, MeterRow, Timeseries};
use super::world::World;
use crate::engine::time::secs_to_nanos_ceil;
use crate::engine::{EventQueue, ScheduleError, SimTime};
use crate::migration::PageState;
use crate::model::cpu::{allocate, Request};
use crate::model::network::Network;
use crate::model::vm::VmPhase;
use crate::output::summary::Summary;
use crate::scenario::config::{ActionKind, Scenario};

/// Everything a run produced.
pub struct RunResult {
    /// `summary.json` content.
    pub summary: Summary,
    /// `timeseries.csv` content.
    pub timeseries: Timeseries,
    /// `events.csv` content.
    pub events: Vec<EventRow>,
    /// Meter names, by index.
    pub meter_names: Vec<String>,
    /// `meters.csv` content.
    pub meter_readings: Vec<MeterRow>,
    /// Events popped from the queue.
    pub events_processed: u64,
    /// Every migration's final state, for checks beyond the summary.
    pub migrations: Vec<MigrationOutcome>,
}

/// A migration's final state.
#[derive(Clone, Debug)]
pub struct MigrationOutcome {
    /// VM index.
    pub vm: usize,
    /// Phase at the end of the run.
    pub phase: Phase,
    /// Exact page state at the end (stale pages: not current at the destination).
    pub pages: PageState,
    /// Pages the VM ever touches (its footprint).
    pub footprint_pages: u32,
    /// Rounds started.
    pub rounds: u32,
}

/// Runs a validated scenario to its end.
pub fn run(sc: &Scenario) -> Result<RunResult, ScheduleError> {
    let mut sim = Sim::new(sc);
    sim.start()?;
    while let Some((t, ev)) = sim.q.pop() {
        if ev == Event::End {
            debug_assert_eq!(t.0, sc.duration_ns);
            break;
        }
        sim.handle(ev)?;
    }
    Ok(sim.finish())
}

pub(super) struct Sim<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) w: World,
    pub(super) q: EventQueue<Event>,
    pub(super) log: Vec<EventRow>,
    ts: Timeseries,
    meter_rows: Vec<MeterRow>,
    // Previous cumulative values for the time series (energy J, CPU core-s), by column.
    prev: Vec<f64>,
    last_record_ns: u64,
    reqs: Vec<Request>,
    alloc: Vec<f64>,
    order: Vec<usize>,
    /// Live migrations, in start order.
    pub(super) migs: Vec<Mig>,
    /// Active migrations touching each server (source or destination).
    pub(super) mig_at: Vec<Vec<u32>>,
    /// The network the migrations share.
    pub(super) net: Network,
    /// The capping controller, if any.
    pub(super) control: Option<super::control::Control>,
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario) -> Self {
        let w = World::new(sc);
        let mut columns = vec!["time_s".to_string()];
        columns.extend(w.devices.iter().map(|d| format!("{}.power_w", d.name)));
        if sc.output.servers {
            columns.extend(w.servers.iter().map(|s| format!("{}.power_w", s.name)));
        }
        if sc.output.vms {
            columns.extend(
                w.servers
                    .iter()
                    .map(|s| format!("{}.dom0.cpu_cores", s.name)),
            );
            columns.extend(
                w.servers
                    .iter()
                    .map(|s| format!("{}.vm_copies.cpu_cores", s.name)),
            );
            columns.extend(w.vms.iter().map(|v| format!("{}.cpu_cores", v.name)));
        }
        let prev = vec![0.0; columns.len()];
        let nics: Vec<f64> = w.servers.iter().map(|s| s.model.nic_bps).collect();
        let n_servers = w.servers.len();
        Sim {
            migs: Vec::new(),
            mig_at: vec![Vec::new(); n_servers],
            net: Network::new(&nics),
            // `none` needs no control ticks at all.
            control: sc
                .policy
                .as_ref()
                .filter(|p| p.config != crate::policy::PolicyConfig::None)
                .map(|p| {
                    let caps: Vec<Option<f64>> = sc.devices.iter().map(|d| d.cap_w).collect();
                    super::control::Control::new(
                        p,
                        sc.seed,
                        sc.replicate,
                        &caps,
                        subtree_servers(sc),
                    )
                }),
            sc,
            q: EventQueue::with_capacity(w.vms.len() * 2 + w.devices.len() + 16),
            w,
            log: Vec::new(),
            ts: Timeseries {
                columns,
                values: Vec::new(),
            },
            meter_rows: Vec::new(),
            prev,
            last_record_ns: 0,
            reqs: Vec::new(),
            alloc: Vec::new(),
            order: Vec::new(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.q.now().0
    }

    fn at(&mut self, t: u64, ev: Event) -> Result<(), ScheduleError> {
        self.q.schedule(SimTime(t), ev)
    }

    fn start(&mut self) -> Result<(), ScheduleError> {
        let end = self.sc.duration_ns;
        self.at(end, Event::End)?;
        for (i, a) in self.sc.actions.iter().enumerate() {
            if a.at_ns < end {
                self.at(a.at_ns, Event::Action(i as u32))?;
            }
        }
        for (i, v) in self.sc.vms.iter().enumerate() {
            if v.start_ns < end {
                self.at(v.start_ns, Event::VmStart(i as u32))?;
            }
        }
        for (i, m) in self.sc.meters.iter().enumerate() {
            if m.window_ns <= end {
                self.at(m.window_ns, Event::MeterSample(i as u32))?;
            }
        }
        if self.sc.output.interval_ns < end {
            self.at(self.sc.output.interval_ns, Event::Record)?;
        }
        if let Some(p) = self.control.as_ref().map(|c| c.period_ns()) {
            if p < end {
                self.at(p, Event::Control)?;
            }
        }
        // Idle power from time zero, and dom0 load, on every server.
        for s in 0..self.w.servers.len() {
            self.reallocate(s)?;
        }
        Ok(())
    }

    fn handle(&mut self, ev: Event) -> Result<(), ScheduleError> {
        let now = self.now();
        match ev {
            Event::VmStart(v) => {
                let v = v as usize;
                if self.w.vms[v].phase != VmPhase::Waiting {
                    // Already lost: its host was cut before it started.
                    return Ok(());
                }
                let host = self.w.vms[v].host;
                self.sync_server(host);
                let vm = &mut self.w.vms[v];
                vm.last_ns = now;
                if !self.w.servers[host].on {
                    vm.phase = VmPhase::Lost;
                    vm.end_ns = Some(now);
                    let row = self.row("vm_lost", v, "reason=host_unpowered".into());
                    self.log.push(row);
                    return Ok(());
                }
                vm.phase = VmPhase::Running;
                let (frac, next) = vm.demand.at(0);
                vm.demand_cores = frac * vm.vcpus as f64;
                if let Some(n) = next {
                    let t = vm.start_ns.saturating_add(n);
                    self.at(t, Event::DemandChange(v as u32))?;
                }
                self.reallocate(host)?;
            }
            Event::DemandChange(v) => {
                let v = v as usize;
                if self.w.vms[v].phase != VmPhase::Running {
                    return Ok(());
                }
                let host = self.w.vms[v].host;
                self.sync_server(host);
                let vm = &mut self.w.vms[v];
                let (frac, next) = vm.demand.at(now - vm.start_ns);
                vm.demand_cores = frac * vm.vcpus as f64;
                if let Some(n) = next {
                    let t = vm.start_ns.saturating_add(n);
                    self.at(t, Event::DemandChange(v as u32))?;
                }
                self.reallocate(host)?;
            }
            Event::VmComplete { vm: v, gen } => {
                let v = v as usize;
                let vm = &self.w.vms[v];
                if vm.complete_gen != gen || vm.phase != VmPhase::Running {
                    return Ok(());
                }
                let host = vm.host;
                self.sync_server(host);
                let vm = &mut self.w.vms[v];
                if let Some(w) = vm.work_core_s {
                    vm.progress = w;
                }
                vm.phase = VmPhase::Done;
                vm.end_ns = Some(now);
                vm.demand_cores = 0.0;
                vm.alloc_cores = 0.0;
                vm.rate = 0.0;
                let detail = format!("completion_s={}", (now - vm.start_ns) as f64 / 1e9);
                let row = self.row("vm_complete", v, detail);
                self.log.push(row);
                self.reallocate(host)?;
            }
            Event::Trip { device, gen } => {
                let d = device as usize;
                let dev = &self.w.devices[d];
                if dev.trip_gen == gen as u64 && !dev.is_open() {
                    self.trip(d)?;
                }
            }
            Event::MeterSample(m) => {
                let m = m as usize;
                let target = self.w.meters[m].1;
                let e = self.w.target_energy(target, now);
                let meter = &mut self.w.meters[m].0;
                let r = meter.sample(now, e);
                let next = now + meter.window_ns;
                self.meter_rows.push(MeterRow {
                    meter: m as u32,
                    measured_ns: r.measured_ns,
                    available_ns: r.available_ns,
                    power_w: r.power_w,
                });
                if next <= self.sc.duration_ns {
                    self.at(next, Event::MeterSample(m as u32))?;
                }
            }
            Event::Record => {
                self.record(now);
                let next = now + self.sc.output.interval_ns;
                if next < self.sc.duration_ns {
                    self.at(next, Event::Record)?;
                }
            }
            Event::Action(i) => self.action(i as usize)?,
            Event::Migration { mig, gen } => self.mig_event(mig as usize, gen)?,
            Event::Control => self.control_tick()?,
            Event::Command(slot) => self.apply_command(slot as usize)?,
            Event::End => {}
        }
        Ok(())
    }

    fn action(&mut self, i: usize) -> Result<(), ScheduleError> {
        match self.sc.actions[i].kind.clone() {
            ActionKind::SetPstate { server, pstate } => {
                self.sync_server(server);
                self.w.servers[server].pstate = pstate;
                self.log.push(EventRow {
                    time_ns: self.now(),
                    kind: "set_pstate",
                    entity: self.w.servers[server].name.clone(),
                    detail: format!("pstate={pstate}"),
                });
                self.reallocate(server)
            }
            ActionKind::SetVmCap { vm, cap_cores } => {
                let host = self.w.vms[vm].host;
                self.sync_server(host);
                self.w.vms[vm].cap_cores = cap_cores;
                let detail = match cap_cores {
                    Some(c) => format!("cap_cores={c}"),
                    None => "cap_cores=none".into(),
                };
                let row = self.row("set_vm_cap", vm, detail);
                self.log.push(row);
                self.reallocate(host)
            }
            ActionKind::Migrate { vm, to, params } => self.mig_start(vm, to, params),
            ActionKind::SetVmWeight { vm, weight } => {
                let host = self.w.vms[vm].host;
                self.sync_server(host);
                self.w.vms[vm].weight = weight;
                let row = self.row("set_vm_weight", vm, format!("weight={weight}"));
                self.log.push(row);
                self.reallocate(host)
            }
        }
    }

    pub(super) fn row(&self, kind: &'static str, vm: usize, detail: String) -> EventRow {
        EventRow {
            time_ns: self.now(),
            kind,
            entity: self.w.vms[vm].name.clone(),
            detail,
        }
    }

    /// Brings a server's and its VMs' accounting up to now (before any change).
    pub(super) fn sync_server(&mut self, s: usize) {
        let now = self.now();
        let server = &mut self.w.servers[s];
        server.advance(now);
        for &v in &server.vms {
            self.w.vms[v].advance(now);
        }
    }

    /// Recomputes a server's CPU shares, its VMs' progress rates and completion events,
    /// and its power, propagating any power change up the tree. Call after
    /// [`Sim::sync_server`] and the change itself.
    pub(super) fn reallocate(&mut self, s: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        self.sync_server(s);
        let server = &self.w.servers[s];
        self.reqs.clear();
        for &v in &server.vms {
            let vm = &self.w.vms[v];
            self.reqs.push(Request {
                demand: if server.on { vm.cpu_request() } else { 0.0 },
                weight: vm.weight,
                cap: vm.effective_cap(),
            });
        }
        for t in &server.tasks {
            self.reqs.push(Request {
                demand: if server.on && t.active { t.demand } else { 0.0 },
                weight: t.weight,
                cap: t.cap,
            });
        }
        // Forced idle takes capacity from every domain alike.
        let cores = server.model.power.cores as f64 * (1.0 - server.idle_fraction);
        allocate(cores, &self.reqs, &mut self.alloc, &mut self.order);
        let ff = server.frequency_factor();
        let n = server.vms.len();
        let mut busy: f64 = self.alloc[n..].iter().sum();
        for k in 0..n {
            let v = self.w.servers[s].vms[k];
            let a = self.alloc[k];
            busy += a;
            let vm = &mut self.w.vms[v];
            let rate = a * ff;
            vm.alloc_cores = a;
            if rate != vm.rate || vm.phase != VmPhase::Running {
                vm.rate = rate;
                vm.complete_gen = vm.complete_gen.wrapping_add(1);
                if let (VmPhase::Running, Some(work)) = (vm.phase, vm.work_core_s) {
                    if rate > 0.0 {
                        let left = (work - vm.progress).max(0.0);
                        let t = now.saturating_add(secs_to_nanos_ceil(left / rate));
                        let gen = vm.complete_gen;
                        self.q
                            .schedule(SimTime(t), Event::VmComplete { vm: v as u32, gen })?;
                    }
                }
            }
        }
        let server = &mut self.w.servers[s];
        for (t, &a) in server.tasks.iter_mut().zip(&self.alloc[n..]) {
            t.alloc = a;
        }
        server.busy_cores = busy;
        // Migrations here may now run faster or slower (their CPU share changed).
        for k in 0..self.mig_at[s].len() {
            let m = self.mig_at[s][k] as usize;
            self.mig_refresh(m)?;
        }
        self.update_power(s)
    }

    /// Recomputes a server's power from its CPU use, p-state and NIC traffic and
    /// propagates any change up the power tree.
    pub(super) fn update_power(&mut self, s: usize) -> Result<(), ScheduleError> {
        self.sync_server(s);
        for k in 0..self.mig_at[s].len() {
            let m = self.mig_at[s][k] as usize;
            self.mig_power(m);
        }
        let server = &mut self.w.servers[s];
        let new = server.compute_power();
        let delta = new - server.power_w;
        if delta != 0.0 {
            server.power_w = new;
            let dev = server.device;
            self.propagate(Some(dev), delta)?;
        }
        Ok(())
    }

    /// Adds `delta` W to a device and its ancestors, rescheduling breaker trips.
    pub(super) fn propagate(
        &mut self,
        mut d: Option<usize>,
        delta: f64,
    ) -> Result<(), ScheduleError> {
        let now = self.now();
        while let Some(i) = d {
            let dev = &mut self.w.devices[i];
            if dev.is_open() {
                return Ok(());
            }
            if dev.advance(now) {
                // Reached its trip point before this change: it opens now, cutting its
                // present (pre-change) load from its ancestors.
                return self.trip(i);
            }
            let ttt = dev.set_load(dev.load_w + delta);
            dev.trip_gen += 1;
            let gen = dev.trip_gen as u32;
            let parent = dev.parent.map(|p| p.0 as usize);
            if let Some(t) = ttt {
                let at = now.saturating_add(secs_to_nanos_ceil(t));
                self.q.schedule(
                    SimTime(at),
                    Event::Trip {
                        device: i as u32,
                        gen,
                    },
                )?;
            }
            d = parent;
        }
        Ok(())
    }

    /// Opens device `d`'s breaker: every server below loses power and its VMs are lost.
    fn trip(&mut self, d: usize) -> Result<(), ScheduleError> {
        let now = self.now();
        let dev = &mut self.w.devices[d];
        dev.advance(now);
        let cut = dev.load_w;
        dev.open(now);
        let detail = format!(
            "load_cut_w={cut:.3} load_multiple={:.4} heat={:.6}",
            dev.load_multiple(),
            dev.breaker.as_ref().map_or(0.0, |b| b.heat())
        );
        self.log.push(EventRow {
            time_ns: now,
            kind: "breaker_trip",
            entity: dev.name.clone(),
            detail,
        });
        // Everything below goes dark.
        let mut stack = vec![d];
        while let Some(x) = stack.pop() {
            let dev = &mut self.w.devices[x];
            dev.advance(now);
            dev.set_load(0.0);
            dev.trip_gen += 1;
            stack.extend(self.w.children[x].devices.iter().copied());
            for k in 0..self.w.children[x].servers.len() {
                let s = self.w.children[x].servers[k];
                self.power_off(s);
            }
        }
        // Migrations touching a dark server stop; their other end carries on alone.
        let mut hit: Vec<usize> = Vec::new();
        for (m, mg) in self.migs.iter().enumerate() {
            let dark = !self.w.servers[mg.src].on || !self.w.servers[mg.dst].on;
            if dark && !matches!(mg.phase, Phase::Done | Phase::Aborted) {
                hit.push(m);
            }
        }
        for m in hit {
            self.mig_abort(m, "host_lost_power")?;
        }
        let parent = self.w.devices[d].parent.map(|p| p.0 as usize);
        self.propagate(parent, -cut)
    }

    /// Cuts a server's power: its running VMs are lost.
    fn power_off(&mut self, s: usize) {
        let now = self.now();
        self.sync_server(s);
        let server = &mut self.w.servers[s];
        if !server.on {
            return;
        }
        server.on = false;
        server.power_w = 0.0;
        server.busy_cores = 0.0;
        for t in &mut server.tasks {
            t.alloc = 0.0;
        }
        self.log.push(EventRow {
            time_ns: now,
            kind: "server_off",
            entity: server.name.clone(),
            detail: "reason=breaker_trip".into(),
        });
        for k in 0..self.w.servers[s].vms.len() {
            let v = self.w.servers[s].vms[k];
            let vm = &mut self.w.vms[v];
            if matches!(vm.phase, VmPhase::Running | VmPhase::Waiting) {
                let was_running = vm.phase == VmPhase::Running;
                vm.phase = VmPhase::Lost;
                vm.end_ns = Some(now);
                vm.alloc_cores = 0.0;
                vm.rate = 0.0;
                vm.demand_cores = 0.0;
                vm.complete_gen = vm.complete_gen.wrapping_add(1);
                let detail = format!(
                    "reason=breaker_trip was_running={was_running} progress_core_s={:.6}",
                    vm.progress
                );
                let row = self.row("vm_lost", v, detail);
                self.log.push(row);
            }
        }
    }

    /// Appends a time-series row: exact averages over the interval ending now.
    fn record(&mut self, now: u64) {
        let dt = (now - self.last_record_ns) as f64 / 1e9;
        if dt <= 0.0 {
            return;
        }
        let mut cum: Vec<f64> = Vec::with_capacity(self.ts.columns.len());
        cum.push(0.0);
        cum.extend(self.w.devices.iter().map(|d| d.energy_at(now)));
        if self.sc.output.servers {
            cum.extend(self.w.servers.iter().map(|s| s.energy_at(now)));
        }
        if self.sc.output.vms {
            cum.extend(self.w.servers.iter().map(|s| s.dom0_cpu_at(now)));
            // Source copies of migrated VMs lingering after switch-over, per server.
            cum.extend(self.w.servers.iter().map(|s| s.ghost_cpu_at(now)));
            cum.extend(self.w.vms.iter().map(|v| v.cpu_at(now)));
        }
        self.ts.values.push(now as f64 / 1e9);
        for (c, &v) in cum.iter().enumerate().skip(1) {
            self.ts.values.push((v - self.prev[c]) / dt);
        }
        self.prev = cum;
        self.last_record_ns = now;
    }

    fn finish(mut self) -> RunResult {
        let end = self.sc.duration_ns;
        for s in 0..self.w.servers.len() {
            self.sync_server(s);
        }
        for d in &mut self.w.devices {
            d.advance(end);
        }
        if self.last_record_ns < end {
            self.record(end);
        }
        for m in 0..self.migs.len() {
            self.mig_power(m);
        }
        let summary = Summary::from_world(self.sc, &self.w, &self.migs);
        let migrations = self
            .migs
            .iter_mut()
            .map(|m| MigrationOutcome {
                vm: m.vm,
                phase: m.phase,
                // Moved out, not cloned: three bitmaps per migration (1.5 MB at 16 GiB).
                pages: std::mem::replace(&mut m.ps, PageState::new(0)),
                footprint_pages: self.sc.vms[m.vm]
                    .memory
                    .as_ref()
                    .map_or(0, |p| p.footprint_pages),
                rounds: m.rounds(),
            })
            .collect();
        RunResult {
            summary,
            timeseries: self.ts,
            events: self.log,
            meter_names: self.w.meters.iter().map(|(m, _)| m.name.clone()).collect(),
            meter_readings: self.meter_rows,
            events_processed: self.q.popped(),
            migrations,
        }
    }
}

/// All servers below each device (every level), in world order.
fn subtree_servers(sc: &Scenario) -> Vec<Vec<usize>> {
    let mut under = vec![Vec::new(); sc.devices.len()];
    for (i, s) in sc.servers.iter().enumerate() {
        let mut d = Some(s.device);
        while let Some(x) = d {
            under[x].push(i);
            d = sc.devices[x].parent;
        }
    }
    under
}
