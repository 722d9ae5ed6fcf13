//! Event handlers for VMs and breakers. Each changes state and marks what is dirty; the
//! settle step after the event does the rest. None calls another handler.

use super::event::Gen;
use super::log::{AbortReason, LogEvent, LossCause};
use super::migration::Migrations;
use super::record::{MeterRow, Recorder};
use super::state::Core;
use super::world::Metered;
use crate::model::ids::{DeviceId, MeterId, MigrationId, ServerId, VmId};
use crate::model::vm::VmPhase;
use crate::sim::event::Event;

/// Schedules a VM's next demand change, if its schedule has one.
fn next_demand(core: &mut Core, v: VmId, next_offset_ns: Option<u64>) {
    if let Some(n) = next_offset_ns {
        let t = core.w.vms[v].start_ns.saturating_add(n);
        core.at(t, Event::DemandChange(v));
    }
}

/// A VM starts (or is lost at once if its host has no power).
pub(crate) fn vm_start(core: &mut Core, v: VmId) {
    if core.w.vms[v].phase != VmPhase::Waiting {
        // Already lost: its host was cut before it started.
        return;
    }
    let now = core.now();
    let host = core.w.vms[v].host;
    core.touch_server(host);
    let on = core.w.servers[host].on;
    let vm = &mut core.w.vms[v];
    vm.last_ns = now;
    if !on {
        vm.phase = VmPhase::Lost;
        vm.end_ns = Some(now);
        core.log(LogEvent::VmLost {
            vm: v,
            cause: LossCause::HostUnpowered,
        });
        return;
    }
    vm.phase = VmPhase::Running;
    let (frac, next) = vm.demand.at(0);
    vm.demand_cores = frac * vm.vcpus as f64;
    next_demand(core, v, next);
}

/// A VM's demand moves to its next value.
pub(crate) fn demand_change(core: &mut Core, v: VmId) {
    if core.w.vms[v].phase != VmPhase::Running {
        return;
    }
    let now = core.now();
    core.touch_server(core.w.vms[v].host);
    let vm = &mut core.w.vms[v];
    let (frac, next) = vm.demand.at(now - vm.start_ns);
    vm.demand_cores = frac * vm.vcpus as f64;
    next_demand(core, v, next);
}

/// A VM finishes its work.
pub(crate) fn vm_complete(core: &mut Core, v: VmId, gen: Gen) {
    let vm = &core.w.vms[v];
    if vm.complete_gen != gen || vm.phase != VmPhase::Running {
        return;
    }
    let now = core.now();
    core.touch_server(vm.host);
    let vm = &mut core.w.vms[v];
    if let Some(w) = vm.work_core_s {
        vm.progress = w;
    }
    vm.phase = VmPhase::Done;
    vm.end_ns = Some(now);
    vm.demand_cores = 0.0;
    vm.alloc_cores = 0.0;
    vm.rate = 0.0;
    let completion_s = (now - vm.start_ns) as f64 / 1e9;
    core.sensors.vm_set(v, now, 0.0);
    core.log(LogEvent::VmComplete {
        vm: v,
        completion_s,
    });
}

/// A VM has run all the work it owed: it now asks only for what keeps up.
pub(crate) fn backlog_drained(core: &mut Core, v: VmId, gen: Gen) {
    let vm = &mut core.w.vms[v];
    if vm.drain_gen != gen || vm.phase != VmPhase::Running {
        return;
    }
    vm.drain_for = None;
    core.touch_server(core.w.vms[v].host);
}

/// A `meters.csv` meter takes its sample and schedules the next.
pub(crate) fn meter_sample(core: &mut Core, rec: &mut Recorder<'_>, m: MeterId) {
    let now = core.now();
    let meter = &core.w.meters[m];
    let h = match meter.target {
        Metered::Device(d) => core.sensors.device_w[d].as_ref(),
        Metered::Server(s) => core.sensors.server_w[s].as_ref(),
    };
    if let Some(r) = h.and_then(|h| meter.spec.reading_at(h, now)) {
        rec.meter(MeterRow {
            meter: m,
            measured_ns: r.measured_ns,
            available_ns: r.available_ns,
            power_w: r.value,
        });
    }
    let next = now.saturating_add(meter.spec.period_ns);
    if next <= core.sc.duration_ns {
        core.at(next, Event::MeterSample(m));
    }
}

/// A breaker's scheduled trip (or one found due while its load changed).
pub(crate) fn trip(core: &mut Core, migs: &mut Migrations, d: DeviceId, gen: Gen) {
    let dev = &core.w.devices[d];
    if dev.trip_gen != gen || dev.has_tripped() {
        return;
    }
    let now = core.now();
    let dev = &mut core.w.devices[d];
    dev.advance(now);
    let cut = dev.load_w;
    dev.open(now);
    let event = LogEvent::BreakerTrip {
        device: d,
        load_cut_w: cut,
        load_multiple: dev.load_multiple(),
        heat: dev.breaker.as_ref().map_or(0.0, |b| b.heat()),
    };
    let parent = dev.parent;
    core.log(event);
    // Everything below goes dark.
    let mut dark: Vec<ServerId> = Vec::new();
    let mut stack = vec![d];
    while let Some(x) = stack.pop() {
        let dev = &mut core.w.devices[x];
        dev.advance(now);
        dev.set_load(0.0);
        dev.trip_gen = dev.trip_gen.wrapping_add(1);
        core.sensors.device_set(x, now, 0.0);
        let children = &core.w.children[x];
        stack.extend(children.devices.iter().copied());
        dark.extend(children.servers.iter().copied());
    }
    for &s in &dark {
        power_off(core, s);
    }
    // Migrations touching a dark server stop; their other end carries on alone.
    let mut hit: Vec<MigrationId> = dark.iter().flat_map(|&s| migs.at(s).to_vec()).collect();
    hit.sort_unstable();
    hit.dedup();
    for m in hit {
        migs.abort(core, m, AbortReason::HostLostPower);
    }
    if let Some(p) = parent {
        core.tree_deltas.push((p, -cut));
    }
}

/// Cuts a server's power: its running and waiting VMs are lost.
fn power_off(core: &mut Core, s: ServerId) {
    let now = core.now();
    core.touch_server(s);
    let server = &mut core.w.servers[s];
    if !server.on {
        return;
    }
    server.on = false;
    server.power_w = 0.0;
    server.busy_cores = 0.0;
    for t in &mut server.tasks {
        t.alloc = 0.0;
    }
    core.sensors.server_set(s, now, 0.0);
    core.log(LogEvent::ServerOff { server: s });
    for k in 0..core.w.servers[s].vms.len() {
        let v = core.w.servers[s].vms[k];
        let vm = &mut core.w.vms[v];
        if matches!(vm.phase, VmPhase::Running | VmPhase::Waiting) {
            let was_running = vm.phase == VmPhase::Running;
            vm.phase = VmPhase::Lost;
            vm.end_ns = Some(now);
            vm.alloc_cores = 0.0;
            vm.rate = 0.0;
            vm.demand_cores = 0.0;
            vm.complete_gen = vm.complete_gen.wrapping_add(1);
            let progress_core_s = vm.progress;
            core.sensors.vm_set(v, now, 0.0);
            core.log(LogEvent::VmLost {
                vm: v,
                cause: LossCause::BreakerTrip {
                    was_running,
                    progress_core_s,
                },
            });
        }
    }
}
