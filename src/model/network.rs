//! Max-min fair sharing of network capacity among concurrent flows (live migrations).
//!
//! Each flow crosses a set of resources — its sender's NIC transmit side, its receiver's
//! NIC receive side, and optionally links in between — and may carry its own rate cap (a
//! bandwidth limit, or what its sender's CPU can sustain: CPU share ÷ CPU cost per page).
//! Rates are the max-min fair allocation found by progressive filling. Rates are constant
//! between recomputations, so the caller turns them into completion times and reschedules
//! only the flows whose rate changed.

use std::collections::BTreeSet;

/// A resource with a capacity: a NIC direction or a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resource {
    /// Capacity in bit/s. NaN or negative counts as 0; `f64::INFINITY` is unlimited.
    pub capacity_bps: f64,
}

/// One flow: the resources it crosses and its own rate cap.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Flow {
    /// Indices into the resource list. An index listed twice is crossed (and charged)
    /// twice; an out-of-range index is ignored rather than panicking.
    pub resources: Vec<usize>,
    /// The flow's own cap in bit/s; `None` (or NaN) is unlimited, negative counts as 0.
    pub cap_bps: Option<f64>,
}

/// Reusable working memory for [`max_min_fair`], so repeated calls do not allocate.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// Per resource: capacity not yet taken by frozen flows, bit/s.
    remaining: Vec<f64>,
    /// Per resource: how many unfrozen flow crossings it still carries.
    users: Vec<u32>,
    /// Per resource: remaining ÷ users at the start of the current round, bit/s.
    share: Vec<f64>,
    /// Indices of flows not yet frozen, ascending.
    active_flows: Vec<usize>,
    /// Indices of resources that still carry an unfrozen flow, ascending.
    active_res: Vec<usize>,
}

/// A capacity as the algorithm uses it (bit/s): never NaN, never negative.
fn clean_capacity(c: f64) -> f64 {
    if c.is_nan() {
        0.0
    } else {
        c.max(0.0)
    }
}

/// A flow cap as the algorithm uses it (bit/s): unlimited is `f64::INFINITY`, never NaN.
/// NaN means "unlimited", as in `cpu::Request`, because a missing cap should not stall
/// a migration.
fn clean_cap(cap: Option<f64>) -> f64 {
    match cap {
        Some(c) if !c.is_nan() => c.max(0.0),
        _ => f64::INFINITY,
    }
}

/// Max-min fair rates by progressive filling: raise every unfrozen flow's rate equally
/// until a resource saturates or a flow hits its cap; freeze those flows; repeat.
///
/// Writes each flow's rate in bit/s to `out` (resized to `flows.len()`). A flow crossing
/// no resource and without a cap is unbounded and gets `f64::INFINITY`.
///
/// Deterministic: flows freeze in index order within a round, so the floating-point sums
/// and hence the rates depend only on the inputs. All comparisons are exact (each round's
/// level is the minimum of the very values it is compared against), so every round
/// freezes at least one flow: at most F rounds, each O(F·k + R) for k resources per flow.
/// No allocation once `scratch` has grown to the problem size.
pub fn max_min_fair(
    resources: &[Resource],
    flows: &[Flow],
    out: &mut Vec<f64>,
    scratch: &mut Scratch,
) {
    out.clear();
    out.resize(flows.len(), 0.0);
    let Scratch {
        remaining,
        users,
        share,
        active_flows,
        active_res,
    } = scratch;
    let nr = resources.len();
    remaining.clear();
    remaining.extend(resources.iter().map(|r| clean_capacity(r.capacity_bps)));
    users.clear();
    users.resize(nr, 0);
    share.clear();
    share.resize(nr, f64::INFINITY);
    active_flows.clear();
    for (i, f) in flows.iter().enumerate() {
        for &r in f.resources.iter().filter(|&&r| r < nr) {
            users[r] += 1;
        }
        active_flows.push(i);
    }
    active_res.clear();
    active_res.extend((0..nr).filter(|&r| users[r] > 0));

    while !active_flows.is_empty() {
        // The common rate of all unfrozen flows can rise to the smallest fair share left on
        // any resource they use, or to the smallest cap among them.
        active_res.retain(|&r| users[r] > 0);
        let mut level = f64::INFINITY;
        for &r in active_res.iter() {
            // Rounding can leave `remaining` a hair below zero; a share is never negative.
            let s = remaining[r].max(0.0) / f64::from(users[r]);
            share[r] = s;
            level = level.min(s);
        }
        for &f in active_flows.iter() {
            level = level.min(clean_cap(flows[f].cap_bps));
        }
        // Freeze every flow that is at its cap or crosses a resource saturated at this
        // level. Shares are from the start of the round, so the order of freezing within a
        // round does not change who freezes.
        active_flows.retain(|&f| {
            let flow = &flows[f];
            let bottlenecked = clean_cap(flow.cap_bps) <= level
                || flow.resources.iter().any(|&r| r < nr && share[r] <= level);
            if !bottlenecked {
                return true;
            }
            out[f] = level;
            for &r in flow.resources.iter().filter(|&&r| r < nr) {
                remaining[r] -= level;
                users[r] -= 1;
            }
            false
        });
    }
}

/// Identifies a flow in a [`Network`]; stable until the flow is removed, after which the
/// lowest freed id is reused first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u32);

/// One live flow in a [`Network`].
#[derive(Clone, Debug)]
struct Slot {
    /// Sending server.
    src: usize,
    /// Receiving server.
    dst: usize,
    /// Resources crossed: tx(src), rx(dst), then the extra links.
    resources: Vec<usize>,
    /// Own cap in bit/s, `None` = unlimited.
    cap_bps: Option<f64>,
    /// Rate from the last recomputation, bit/s (0 until the first one).
    rate_bps: f64,
    /// Added since the last recomputation: reported as changed even if its rate is 0.
    fresh: bool,
}

/// The network of a run: one transmit and one receive resource per server NIC, plus
/// links; flows come and go.
///
/// Resource layout: server i's tx is index 2i, its rx 2i+1; links follow in the order
/// added. Changes only mark resources dirty; [`Network::recompute`] then re-solves just the
/// connected components (flows linked by shared resources) touching them, each on its own,
/// so a component's rates depend only on that component and not on the history of edits.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Number of servers (NICs).
    n_servers: usize,
    /// All resources: NIC directions first, then links. Capacities in bit/s.
    resources: Vec<Resource>,
    /// Per resource: ids of the flows crossing it, each once, ascending.
    users: Vec<Vec<FlowId>>,
    /// Per server: ids of flows with src or dst there, each once, ascending.
    at_server: Vec<Vec<FlowId>>,
    /// Flow slots indexed by `FlowId.0`; `None` when free.
    slots: Vec<Option<Slot>>,
    /// Free slot indices; the lowest is reused first, for determinism.
    free: BTreeSet<u32>,
    /// Resources whose flows changed since the last recomputation (may repeat).
    dirty: Vec<usize>,
    /// Working memory for recomputation, kept to avoid allocating per call.
    work: Work,
}

/// Working memory for [`Network::recompute_into`].
#[derive(Clone, Debug, Default)]
struct Work {
    /// Bumped per recomputation so marks need no clearing.
    epoch: u32,
    /// Per resource: epoch at which the component search reached it.
    res_seen: Vec<u32>,
    /// Per flow slot: epoch at which the component search reached it.
    flow_seen: Vec<u32>,
    /// Per resource: epoch at which it got a local index in the current component.
    res_local_epoch: Vec<u32>,
    /// Per resource: its index in the current component's resource list.
    res_local: Vec<usize>,
    /// Search stack of resource indices.
    stack: Vec<usize>,
    /// Flow slots of the current component, sorted.
    comp: Vec<u32>,
    /// The current component's resources.
    local_res: Vec<Resource>,
    /// The current component's flows (inner vectors reused; only the first
    /// `comp.len()` are meaningful).
    local_flows: Vec<Flow>,
    /// Rates of the current component, bit/s.
    rates: Vec<f64>,
    /// Scratch for [`max_min_fair`].
    scratch: Scratch,
}

impl Network {
    /// A network of servers whose NIC `i` carries `nic_bps[i]` bit/s in each direction
    /// (full duplex: tx and rx are separate resources).
    pub fn new(nic_bps: &[f64]) -> Self {
        let n = nic_bps.len();
        let mut resources = Vec::with_capacity(2 * n);
        for &c in nic_bps {
            resources.push(Resource { capacity_bps: c });
            resources.push(Resource { capacity_bps: c });
        }
        Network {
            n_servers: n,
            users: vec![Vec::new(); 2 * n],
            resources,
            at_server: vec![Vec::new(); n],
            ..Network::default()
        }
    }

    /// Adds a link of `capacity_bps` bit/s and returns its id (its resource index), for
    /// use in [`Network::add_flow`].
    pub fn add_link(&mut self, capacity_bps: f64) -> usize {
        self.resources.push(Resource { capacity_bps });
        self.users.push(Vec::new());
        self.resources.len() - 1
    }

    /// Number of servers (NICs).
    pub fn n_servers(&self) -> usize {
        self.n_servers
    }

    /// Adds a flow from server `src` to server `dst` crossing the given extra `links`
    /// (ids from [`Network::add_link`]) with its own cap in bit/s (`None` = unlimited).
    /// Its rate is 0 until the next [`Network::recompute`], which reports it.
    ///
    /// Returns `None`, changing nothing, if `src`, `dst` or a link is out of range —
    /// a flow silently missing a bottleneck would be a wrong answer, not a crash.
    pub fn add_flow(
        &mut self,
        src: usize,
        dst: usize,
        links: &[usize],
        cap_bps: Option<f64>,
    ) -> Option<FlowId> {
        let nr = self.resources.len();
        if src >= self.n_servers || dst >= self.n_servers || links.iter().any(|&l| l >= nr) {
            return None;
        }
        let id = match self.free.pop_first() {
            Some(i) => FlowId(i),
            None => {
                // More than u32::MAX concurrent flows cannot be named; refuse rather than wrap.
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                FlowId(i)
            }
        };
        let mut resources = Vec::with_capacity(2 + links.len());
        resources.push(tx(src));
        resources.push(rx(dst));
        resources.extend_from_slice(links);
        for &r in &resources {
            insert_sorted(&mut self.users[r], id);
        }
        insert_sorted(&mut self.at_server[src], id);
        insert_sorted(&mut self.at_server[dst], id);
        self.dirty.extend_from_slice(&resources);
        self.slots[id.0 as usize] = Some(Slot {
            src,
            dst,
            resources,
            cap_bps,
            rate_bps: 0.0,
            fresh: true,
        });
        Some(id)
    }

    /// Removes a flow, freeing its capacity at the next recomputation. Unknown ids are
    /// ignored.
    pub fn remove_flow(&mut self, id: FlowId) {
        let Some(slot) = self.slots.get_mut(id.0 as usize).and_then(Option::take) else {
            return;
        };
        for &r in &slot.resources {
            remove_sorted(&mut self.users[r], id);
        }
        remove_sorted(&mut self.at_server[slot.src], id);
        remove_sorted(&mut self.at_server[slot.dst], id);
        self.dirty.extend_from_slice(&slot.resources);
        self.free.insert(id.0);
    }

    /// Sets a flow's own cap in bit/s (`None` = unlimited), effective at the next
    /// recomputation. Unknown ids are ignored; an unchanged cap marks nothing dirty.
    pub fn set_cap(&mut self, id: FlowId, cap_bps: Option<f64>) {
        let Some(slot) = self.slots.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let same = match (slot.cap_bps, cap_bps) {
            (None, None) => true,
            (Some(a), Some(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        };
        if !same {
            slot.cap_bps = cap_bps;
            self.dirty.extend_from_slice(&slot.resources);
        }
    }

    /// Recomputes the rates of every flow sharing a component with a change since the last
    /// call; returns the ids (ascending) whose rate changed or that are new.
    pub fn recompute(&mut self) -> Vec<FlowId> {
        let mut changed = Vec::new();
        self.recompute_into(&mut changed);
        changed
    }

    /// As [`Network::recompute`], but writes the ids into `changed` (cleared first) so a
    /// caller can reuse the vector.
    pub fn recompute_into(&mut self, changed: &mut Vec<FlowId>) {
        changed.clear();
        if self.dirty.is_empty() {
            return;
        }
        let w = &mut self.work;
        let nr = self.resources.len();
        if w.epoch == u32::MAX {
            // Marks from 4 billion calls ago could collide with the wrapped epoch.
            w.res_seen.iter_mut().for_each(|e| *e = 0);
            w.flow_seen.iter_mut().for_each(|e| *e = 0);
            w.res_local_epoch.iter_mut().for_each(|e| *e = 0);
            w.epoch = 0;
        }
        w.epoch += 1;
        let epoch = w.epoch;
        w.res_seen.resize(nr, 0);
        w.res_local_epoch.resize(nr, 0);
        w.res_local.resize(nr, 0);
        w.flow_seen.resize(self.slots.len(), 0);

        for d in 0..self.dirty.len() {
            let start = self.dirty[d];
            if start >= nr || w.res_seen[start] == epoch {
                continue;
            }
            // Collect the component reachable from this dirty resource.
            w.res_seen[start] = epoch;
            w.stack.clear();
            w.stack.push(start);
            w.comp.clear();
            while let Some(r) = w.stack.pop() {
                for &f in &self.users[r] {
                    let fi = f.0 as usize;
                    if w.flow_seen[fi] == epoch {
                        continue;
                    }
                    w.flow_seen[fi] = epoch;
                    w.comp.push(f.0);
                    if let Some(slot) = &self.slots[fi] {
                        for &r2 in &slot.resources {
                            if w.res_seen[r2] != epoch {
                                w.res_seen[r2] = epoch;
                                w.stack.push(r2);
                            }
                        }
                    }
                }
            }
            if w.comp.is_empty() {
                continue;
            }
            // Sorting makes the solve depend only on the component, not the search order.
            w.comp.sort_unstable();
            w.local_res.clear();
            for (k, &fi) in w.comp.iter().enumerate() {
                if w.local_flows.len() <= k {
                    w.local_flows.push(Flow::default());
                }
                let lf = &mut w.local_flows[k];
                lf.resources.clear();
                lf.cap_bps = None;
                if let Some(slot) = &self.slots[fi as usize] {
                    lf.cap_bps = slot.cap_bps;
                    for &r in &slot.resources {
                        if w.res_local_epoch[r] != epoch {
                            w.res_local_epoch[r] = epoch;
                            w.res_local[r] = w.local_res.len();
                            w.local_res.push(self.resources[r]);
                        }
                        lf.resources.push(w.res_local[r]);
                    }
                }
            }
            let nf = w.comp.len();
            max_min_fair(
                &w.local_res,
                &w.local_flows[..nf],
                &mut w.rates,
                &mut w.scratch,
            );
            for (k, &fi) in w.comp.iter().enumerate() {
                if let Some(slot) = &mut self.slots[fi as usize] {
                    let new = w.rates[k];
                    if slot.fresh || new.to_bits() != slot.rate_bps.to_bits() {
                        changed.push(FlowId(fi));
                    }
                    slot.rate_bps = new;
                    slot.fresh = false;
                }
            }
        }
        self.dirty.clear();
        changed.sort_unstable();
    }

    /// A flow's rate from the last recomputation in bit/s; 0 for unknown ids.
    pub fn rate(&self, id: FlowId) -> f64 {
        self.slot(id).map_or(0.0, |s| s.rate_bps)
    }

    /// A flow's sending and receiving servers, or `None` for unknown ids.
    pub fn endpoints(&self, id: FlowId) -> Option<(usize, usize)> {
        self.slot(id).map(|s| (s.src, s.dst))
    }

    /// Bits per second currently moving through server `server`'s NIC, transmit plus
    /// receive, for NIC power; 0 for an unknown server.
    pub fn nic_load_bps(&self, server: usize) -> f64 {
        let Some(ids) = self.at_server.get(server) else {
            return 0.0;
        };
        let mut load = 0.0;
        for &id in ids {
            if let Some(s) = self.slot(id) {
                // A flow from a server to itself would cross both its directions.
                if s.src == server {
                    load += s.rate_bps;
                }
                if s.dst == server {
                    load += s.rate_bps;
                }
            }
        }
        load
    }

    /// Flows with `src` or `dst` at `server`, ascending by id; empty for an unknown server.
    pub fn flows_at(&self, server: usize) -> impl Iterator<Item = FlowId> + '_ {
        self.at_server.get(server).into_iter().flatten().copied()
    }

    fn slot(&self, id: FlowId) -> Option<&Slot> {
        self.slots.get(id.0 as usize).and_then(Option::as_ref)
    }
}

/// Resource index of server `i`'s NIC transmit side.
fn tx(i: usize) -> usize {
    2 * i
}

/// Resource index of server `i`'s NIC receive side.
fn rx(i: usize) -> usize {
    2 * i + 1
}

/// Inserts `id` into an ascending list unless present (a loopback flow would otherwise
/// appear twice at its server).
fn insert_sorted(v: &mut Vec<FlowId>, id: FlowId) {
    if let Err(pos) = v.binary_search(&id) {
        v.insert(pos, id);
    }
}

/// Removes `id` from an ascending list if present.
fn remove_sorted(v: &mut Vec<FlowId>, id: FlowId) {
    if let Ok(pos) = v.binary_search(&id) {
        v.remove(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::StableRng;
    use rand::{Rng, SeedableRng};

    const G: f64 = 1e9;

    fn res(caps: &[f64]) -> Vec<Resource> {
        caps.iter().map(|&c| Resource { capacity_bps: c }).collect()
    }

    fn flow(resources: &[usize], cap_bps: Option<f64>) -> Flow {
        Flow {
            resources: resources.to_vec(),
            cap_bps,
        }
    }

    fn solve(r: &[Resource], f: &[Flow]) -> Vec<f64> {
        let mut out = Vec::new();
        max_min_fair(r, f, &mut out, &mut Scratch::default());
        out
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{a:?} != {b:?}");
        }
    }

    /// Capacity never exceeded, and every flow is bottlenecked: at its cap, or crossing a
    /// saturated resource on which no flow gets more than it does (max-min condition).
    fn check_max_min(r: &[Resource], f: &[Flow], rates: &[f64]) {
        let tol = 1e-9;
        let mut load = vec![0.0; r.len()];
        for (fl, &x) in f.iter().zip(rates) {
            assert!(x >= 0.0 && x.is_finite(), "rate {x}");
            for &k in &fl.resources {
                load[k] += x;
            }
        }
        for (k, res) in r.iter().enumerate() {
            assert!(
                load[k] <= res.capacity_bps * (1.0 + tol),
                "resource {k} over: {} > {}",
                load[k],
                res.capacity_bps
            );
        }
        for (i, (fl, &x)) in f.iter().zip(rates).enumerate() {
            let at_cap = fl.cap_bps.is_some_and(|c| x >= c * (1.0 - tol));
            let bottleneck = fl.resources.iter().any(|&k| {
                let saturated = load[k] >= r[k].capacity_bps * (1.0 - tol);
                let largest = f
                    .iter()
                    .zip(rates)
                    .filter(|(g, _)| g.resources.contains(&k))
                    .all(|(_, &y)| y <= x * (1.0 + tol));
                saturated && largest
            });
            assert!(at_cap || bottleneck, "flow {i} at {x} has no bottleneck");
        }
    }

    #[test]
    fn one_flow_gets_the_whole_nic() {
        // tx(0) and rx(1) at 1 Gbps each: one flow fills both -> 1 Gbps.
        let mut n = Network::new(&[G, G]);
        let a = n.add_flow(0, 1, &[], None).unwrap();
        assert_eq!(n.recompute(), vec![a]);
        close(&[n.rate(a)], &[G]);
    }

    #[test]
    fn two_flows_from_one_sender_share_equally() {
        // Server 0 sends to 1 and to 2; tx(0) at 1 Gbps is the only shared resource:
        // 1/2 = 0.5 Gbps each (the receivers' 1 Gbps rx sides are half used).
        let mut n = Network::new(&[G, G, G]);
        let a = n.add_flow(0, 1, &[], None).unwrap();
        let b = n.add_flow(0, 2, &[], None).unwrap();
        n.recompute();
        close(&[n.rate(a), n.rate(b)], &[0.5 * G, 0.5 * G]);
    }

    #[test]
    fn capped_flow_leaves_the_rest_to_its_sibling() {
        // Same as above, one flow capped at 0.2 Gbps (e.g. its sender's CPU): round 1 level
        // = min(tx share 0.5, cap 0.2) = 0.2, freezing it; tx(0) has 0.8 left for the
        // other, which gets 0.8 Gbps.
        let mut n = Network::new(&[G, G, G]);
        let a = n.add_flow(0, 1, &[], Some(0.2 * G)).unwrap();
        let b = n.add_flow(0, 2, &[], None).unwrap();
        n.recompute();
        close(&[n.rate(a), n.rate(b)], &[0.2 * G, 0.8 * G]);
    }

    #[test]
    fn classic_three_flows_two_links() {
        // A = 1 Gbps carries f1, f2; B = 2 Gbps carries f2, f3.
        // Round 1: shares A 1/2 = 0.5, B 2/2 = 1 -> level 0.5; A saturates: f1 = f2 = 0.5.
        // Round 2: B has 2 - 0.5 = 1.5 left for f3 alone -> f3 = 1.5.
        let r = res(&[G, 2.0 * G]);
        let f = [flow(&[0], None), flow(&[0, 1], None), flow(&[1], None)];
        let out = solve(&r, &f);
        close(&out, &[0.5 * G, 0.5 * G, 1.5 * G]);
        check_max_min(&r, &f, &out);
    }

    #[test]
    fn classic_example_through_network_links() {
        // Same topology as a Network: four servers with 10 Gbps NICs (never the bottleneck),
        // link A 1 Gbps, link B 2 Gbps -> 0.5, 0.5, 1.5 Gbps as above.
        let mut n = Network::new(&[10.0 * G; 6]);
        let la = n.add_link(G);
        let lb = n.add_link(2.0 * G);
        let f1 = n.add_flow(0, 1, &[la], None).unwrap();
        let f2 = n.add_flow(2, 3, &[la, lb], None).unwrap();
        let f3 = n.add_flow(4, 5, &[lb], None).unwrap();
        n.recompute();
        close(
            &[n.rate(f1), n.rate(f2), n.rate(f3)],
            &[0.5 * G, 0.5 * G, 1.5 * G],
        );
    }

    #[test]
    fn receiver_side_bottleneck() {
        // Servers 0 and 1 (10 Gbps) both send to server 2 (1 Gbps): rx(2) shares 1/2 ->
        // 0.5 Gbps each, although each sender could do 10.
        let mut n = Network::new(&[10.0 * G, 10.0 * G, G]);
        let a = n.add_flow(0, 2, &[], None).unwrap();
        let b = n.add_flow(1, 2, &[], None).unwrap();
        n.recompute();
        close(&[n.rate(a), n.rate(b)], &[0.5 * G, 0.5 * G]);
        // Receiver load = rx only = 1 Gbps; each sender's = its tx only = 0.5 Gbps.
        close(&[n.nic_load_bps(2), n.nic_load_bps(0)], &[G, 0.5 * G]);
    }

    #[test]
    fn remove_flow_frees_capacity() {
        // Two flows out of server 0 share 0.5/0.5; removing one gives the other 1 Gbps, and
        // only the survivor is reported as changed.
        let mut n = Network::new(&[G, G, G]);
        let a = n.add_flow(0, 1, &[], None).unwrap();
        let b = n.add_flow(0, 2, &[], None).unwrap();
        assert_eq!(n.recompute(), vec![a, b]);
        n.remove_flow(a);
        assert_eq!(n.recompute(), vec![b]);
        close(&[n.rate(b), n.rate(a)], &[G, 0.0]);
        // The freed id is reused first.
        assert_eq!(n.add_flow(1, 2, &[], None), Some(a));
    }

    #[test]
    fn nic_load_sums_tx_and_rx() {
        // Server 1 (1 Gbps) receives from 0 and sends to 2. Flows 0->1 and 1->2 share no
        // resource (tx(0), rx(1) vs tx(1), rx(2)): 1 Gbps each. Server 1 load = rx 1 + tx 1
        // = 2 Gbps; servers 0 and 2 = 1 Gbps; server 3 idle = 0.
        let mut n = Network::new(&[G, G, G, G]);
        let a = n.add_flow(0, 1, &[], None).unwrap();
        let b = n.add_flow(1, 2, &[], None).unwrap();
        n.recompute();
        close(
            &[
                n.nic_load_bps(0),
                n.nic_load_bps(1),
                n.nic_load_bps(2),
                n.nic_load_bps(3),
            ],
            &[G, 2.0 * G, G, 0.0],
        );
        assert_eq!(n.flows_at(1).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(n.flows_at(3).count(), 0);
        assert_eq!(n.flows_at(99).count(), 0);
        assert_eq!(n.nic_load_bps(99), 0.0);
    }

    #[test]
    fn only_the_touched_component_is_reported() {
        // Flows 0->1 and 2->3 are independent (1 Gbps each). Capping the first at 0.3 Gbps
        // changes only it; re-setting the same cap marks nothing; lifting it restores 1.
        let mut n = Network::new(&[G; 4]);
        let a = n.add_flow(0, 1, &[], None).unwrap();
        let b = n.add_flow(2, 3, &[], None).unwrap();
        n.recompute();
        n.set_cap(a, Some(0.3 * G));
        assert_eq!(n.recompute(), vec![a]);
        close(&[n.rate(a), n.rate(b)], &[0.3 * G, G]);
        n.set_cap(a, Some(0.3 * G));
        assert!(n.recompute().is_empty());
        n.set_cap(a, None);
        assert_eq!(n.recompute(), vec![a]);
        close(&[n.rate(a)], &[G]);
    }

    #[test]
    fn bad_input_is_refused_or_ignored_without_panicking() {
        let mut n = Network::new(&[G, G]);
        assert_eq!(n.add_flow(0, 5, &[], None), None);
        assert_eq!(n.add_flow(0, 1, &[42], None), None);
        n.remove_flow(FlowId(7));
        n.set_cap(FlowId(7), Some(1.0));
        assert_eq!(n.rate(FlowId(7)), 0.0);
        assert!(n.recompute().is_empty());
        // NaN capacity counts as 0, NaN cap as unlimited, out-of-range index ignored,
        // a flow crossing nothing uncapped is unbounded.
        let r = res(&[f64::NAN, G]);
        let f = [
            flow(&[0], None),
            flow(&[1, 9], Some(f64::NAN)),
            flow(&[], None),
        ];
        let out = solve(&r, &f);
        assert_eq!(out[0], 0.0);
        close(&out[1..2], &[G]);
        assert_eq!(out[2], f64::INFINITY);
    }

    #[test]
    fn random_instance_is_feasible_and_max_min() {
        // 12 resources of 0.1-10 Gbps, 40 flows each crossing 1-4 distinct resources, a
        // third of them capped at 0.01-2 Gbps. No closed form; check the defining property.
        let mut rng = StableRng::seed_from_u64(20240607);
        for _ in 0..20 {
            let r: Vec<Resource> = (0..12)
                .map(|_| Resource {
                    capacity_bps: rng.random_range(0.1..10.0) * G,
                })
                .collect();
            let f: Vec<Flow> = (0..40)
                .map(|_| {
                    let mut rs: Vec<usize> = Vec::new();
                    for _ in 0..rng.random_range(1..=4) {
                        let k = rng.random_range(0..12);
                        if !rs.contains(&k) {
                            rs.push(k);
                        }
                    }
                    let cap = rng
                        .random_bool(1.0 / 3.0)
                        .then(|| rng.random_range(0.01..2.0) * G);
                    flow(&rs, cap)
                })
                .collect();
            let out = solve(&r, &f);
            check_max_min(&r, &f, &out);
        }
    }

    #[test]
    fn incremental_equals_from_scratch() {
        // Rates after a series of edits are bit-identical to a fresh network built with the
        // surviving flows in the same slots, because each component is solved on its own.
        let mut rng = StableRng::seed_from_u64(7);
        let nic: Vec<f64> = (0..10).map(|_| rng.random_range(0.5..10.0) * G).collect();
        let mut n = Network::new(&nic);
        let link = n.add_link(3.0 * G);
        let mut ids = Vec::new();
        for _ in 0..30 {
            let (s, d) = (rng.random_range(0..10), rng.random_range(0..10));
            let links: &[usize] = if rng.random_bool(0.3) { &[link] } else { &[] };
            ids.push(n.add_flow(s, d, links, None).unwrap());
            if rng.random_bool(0.3) {
                let victim = ids.swap_remove(rng.random_range(0..ids.len()));
                n.remove_flow(victim);
            }
            n.recompute();
        }
        // Rebuild by solving every live flow at once through max_min_fair directly.
        let live: Vec<FlowId> = (0..n.slots.len() as u32)
            .map(FlowId)
            .filter(|&i| n.slot(i).is_some())
            .collect();
        let f: Vec<Flow> = live
            .iter()
            .map(|&i| {
                let s = n.slot(i).unwrap();
                flow(&s.resources, s.cap_bps)
            })
            .collect();
        let out = solve(&n.resources, &f);
        for (k, &i) in live.iter().enumerate() {
            assert_eq!(n.rate(i).to_bits(), out[k].to_bits(), "flow {i:?}");
        }
        check_max_min(&n.resources, &f, &out);
    }

    #[test]
    #[ignore = "timing; run by hand: cargo test --release --lib model::network -- --include-ignored --nocapture"]
    fn timing_thousand_flows() {
        // 1,000 flows on 1,000 distinct pairs (2,000 servers), NICs 1 or 10 Gbps, half the
        // flows capped: time the full solve and a single-flow change.
        let mut rng = StableRng::seed_from_u64(1);
        let nic: Vec<f64> = (0..2000)
            .map(|_| if rng.random_bool(0.5) { G } else { 10.0 * G })
            .collect();
        let mut n = Network::new(&nic);
        let mut ids = Vec::new();
        for i in 0..1000 {
            let cap = rng.random_bool(0.5).then(|| rng.random_range(0.1..5.0) * G);
            ids.push(n.add_flow(2 * i, 2 * i + 1, &[], cap).unwrap());
        }
        let t = std::time::Instant::now();
        let changed = n.recompute();
        let full = t.elapsed();
        let mut one = std::time::Duration::ZERO;
        for k in 0..100 {
            n.set_cap(ids[k * 7], Some((k + 1) as f64 * 1e7));
            let t = std::time::Instant::now();
            n.recompute();
            one += t.elapsed();
        }
        // All flows tied through one 100 Gbps link: one component of 1,000 flows.
        let mut m = Network::new(&nic);
        let l = m.add_link(100.0 * G);
        for i in 0..1000 {
            let cap = rng
                .random_bool(0.5)
                .then(|| rng.random_range(0.01..0.5) * G);
            m.add_flow(2 * i, 2 * i + 1, &[l], cap);
        }
        let t = std::time::Instant::now();
        m.recompute();
        let shared = t.elapsed();
        println!(
            "full recompute of {} flows: {full:?}; single change: {:?} avg; one shared component: {shared:?}",
            changed.len(),
            one / 100
        );
    }
}
