//! The one settle step at the end of every event. Handlers only change state and mark
//! what is dirty; this recomputes, in order and once each: the network's shares → the
//! migrations' sender and receiver CPU demands → each marked server's CPU allocation
//! (its VMs' progress rates and completion times) → the migrations' achieved rates →
//! server power → the power tree. A breaker found past its trip point while its load is
//! updated is queued as a trip event at the current time, never executed here.

use super::event::Event;
use super::migration::Migrations;
use super::state::Core;
use crate::engine::time::secs_to_nanos_ceil;
use crate::model::cpu::{allocate, Request};
use crate::model::ids::{DeviceId, IdLike, MigrationId, ServerId, VmId};
use crate::model::vm::VmPhase;

/// Reused storage, so a settle allocates nothing in the usual case.
#[derive(Default)]
pub(crate) struct Scratch {
    reqs: Vec<Request>,
    alloc: Vec<f64>,
    order: Vec<usize>,
    servers: Vec<ServerId>,
    migs: Vec<MigrationId>,
    deltas: Vec<(DeviceId, f64)>,
}

/// Brings everything that depends on the marked changes up to date.
pub(crate) fn settle(core: &mut Core, migs: &mut Migrations, x: &mut Scratch) {
    migs.network_changed();
    // A marked server may have a new p-state, which stretches its migrations' per-page
    // CPU: their demands follow.
    for s in core.dirty_cpu.marked() {
        for &m in &migs.at_server[ServerId::from_idx(s)] {
            migs.dirty_demand.mark(m);
        }
    }
    migs.dirty_demand.drain_into(&mut x.migs);
    for &m in &x.migs {
        migs.set_demands(core, m);
    }
    let mut servers = std::mem::take(&mut x.servers);
    core.dirty_cpu.drain_into(&mut servers);
    for &s in &servers {
        reallocate(core, migs, x, s);
    }
    x.servers = servers;
    migs.dirty_rate.drain_into(&mut x.migs);
    for &m in &x.migs {
        migs.refresh(core, m);
    }
    update_power(core, migs, x);
    carry_up_the_tree(core, x);
}

/// Recomputes a server's CPU shares (weighted max-min, Xen credit semantics), its VMs'
/// progress rates and completion events; marks its power and its migrations' rates.
fn reallocate(core: &mut Core, migs: &mut Migrations, x: &mut Scratch, s: ServerId) {
    let now = core.now();
    core.sync_server(s);
    let server = &core.w.servers[s];
    let ff = server.frequency_factor();
    x.reqs.clear();
    for &v in &server.vms {
        let vm = &core.w.vms[v];
        x.reqs.push(Request {
            demand: if server.on { vm.cpu_request(ff) } else { 0.0 },
            weight: vm.weight,
            cap: vm.effective_cap(),
        });
    }
    for t in &server.tasks {
        x.reqs.push(Request {
            demand: if server.on && t.active { t.demand } else { 0.0 },
            weight: t.weight,
            cap: t.cap,
        });
    }
    // Forced idle takes capacity from every domain alike.
    let cores = server.model.power.cores as f64 * (1.0 - server.idle_fraction);
    allocate(cores, &x.reqs, &mut x.alloc, &mut x.order);
    let n = server.vms.len();
    let mut busy: f64 = x.alloc[n..].iter().sum();
    let mut wakeups = 0.0;
    for k in 0..n {
        let v = core.w.servers[s].vms[k];
        let a = x.alloc[k];
        busy += a;
        let vm = &mut core.w.vms[v];
        // A VM wakes its cores only while it runs and some vCPU of it sleeps.
        if a > 0.0 && a < vm.vcpus as f64 - 1e-9 {
            wakeups += vm.wakeups_per_s;
        }
        let rate = a * ff;
        if vm.alloc_cores != a {
            vm.alloc_cores = a;
            core.sensors.vm_set(v, now, a);
        }
        if rate != vm.rate || vm.phase != VmPhase::Running {
            vm.rate = rate;
            vm.complete_gen = vm.complete_gen.wrapping_add(1);
            if let (VmPhase::Running, Some(work)) = (vm.phase, vm.work_core_s) {
                if rate > 0.0 {
                    let left = (work - vm.progress).max(0.0);
                    let gen = vm.complete_gen;
                    core.after(
                        secs_to_nanos_ceil(left / rate),
                        Event::VmComplete { vm: v, gen },
                    );
                }
            }
        }
        schedule_drain(core, v);
    }
    let server = &mut core.w.servers[s];
    for (t, &a) in server.tasks.iter_mut().zip(&x.alloc[n..]) {
        t.alloc = a;
    }
    server.busy_cores = busy;
    server.vm_wakeups_per_s = wakeups;
    core.mark_power(s);
    // Migrations here may now run faster or slower (their CPU share changed).
    for &m in &migs.at_server[s] {
        migs.dirty_rate.mark(m);
    }
}

/// Schedules when a VM that owes work will have run it all (it then asks for less CPU),
/// unless the event already pending is for the same rates.
fn schedule_drain(core: &mut Core, v: VmId) {
    let vm = &mut core.w.vms[v];
    let (rate, arrive) = (vm.rate, vm.arrival_rate());
    let due = vm.phase == VmPhase::Running && vm.owes_work() && rate > arrive;
    if !due {
        if vm.drain_for.take().is_some() {
            vm.drain_gen = vm.drain_gen.wrapping_add(1);
        }
        return;
    }
    if vm.drain_for == Some((rate, arrive)) {
        return;
    }
    vm.drain_for = Some((rate, arrive));
    vm.drain_gen = vm.drain_gen.wrapping_add(1);
    let gen = vm.drain_gen;
    // At least 1 ns on, so rounding can never make the engine stand still.
    let t = secs_to_nanos_ceil(vm.backlog_core_s() / (rate - arrive)).max(1);
    core.after(t, Event::BacklogDrained { vm: v, gen });
}

/// Recomputes the power of every marked server from its CPU use, p-state and NIC
/// traffic, collects the changes for the power tree, and updates the power (and
/// energy) of the migrations on those servers.
fn update_power(core: &mut Core, migs: &mut Migrations, x: &mut Scratch) {
    let now = core.now();
    core.dirty_power.drain_into(&mut x.servers);
    x.migs.clear();
    x.deltas.clear();
    for &s in &x.servers {
        core.sync_server(s);
        let nic = migs.nic_gbps(s);
        let server = &mut core.w.servers[s];
        server.nic_gbps = nic;
        let new = server.compute_power();
        let delta = new - server.power_w;
        if delta != 0.0 {
            server.power_w = new;
            let dev = server.device;
            core.sensors.server_set(s, now, new);
            x.deltas.push((dev, delta));
        }
        x.migs.extend_from_slice(migs.at(s));
    }
    x.migs.sort_unstable();
    x.migs.dedup();
    for &m in &x.migs {
        migs.update_power(core, m);
    }
}

/// Carries the load changes (from trips, then from servers in id order) up the tree.
fn carry_up_the_tree(core: &mut Core, x: &mut Scratch) {
    let mut from_trips = std::mem::take(&mut core.tree_deltas);
    for &(d, delta) in from_trips.iter().chain(&x.deltas) {
        propagate(core, d, delta);
    }
    from_trips.clear();
    core.tree_deltas = from_trips;
}

/// Adds `delta` W to device `d` and its ancestors, rescheduling their breakers' trips.
/// A device whose breaker is open carries nothing further; one that reached its trip
/// point before this change trips now (queued), cutting its pre-change load.
fn propagate(core: &mut Core, d: DeviceId, delta: f64) {
    let now = core.now();
    let mut at = Some(d);
    while let Some(i) = at {
        let dev = &mut core.w.devices[i];
        if dev.is_open() {
            return;
        }
        if dev.advance(now) {
            dev.trip_gen = dev.trip_gen.wrapping_add(1);
            let gen = dev.trip_gen;
            core.after(0, Event::Trip { device: i, gen });
            return;
        }
        let ttt = dev.set_load(dev.load_w + delta);
        dev.trip_gen = dev.trip_gen.wrapping_add(1);
        let (gen, load, parent) = (dev.trip_gen, dev.load_w, dev.parent);
        core.sensors.device_set(i, now, load);
        if let Some(t) = ttt {
            core.after(secs_to_nanos_ceil(t), Event::Trip { device: i, gen });
        }
        at = parent;
    }
}
