//! Weighted max-min fair CPU allocation with per-domain caps (Xen credit-scheduler
//! semantics: a domain never gets more than its cap or its vCPU count, and spare CPU is
//! shared in proportion to weight among the domains that still want more).

/// Xen's default credit-scheduler weight of a domain, dom0 included
/// (`CSCHED_DEFAULT_WEIGHT`, 256, in `xen/common/sched_credit.c`); weights are relative,
/// so only ratios matter.
pub const XEN_DEFAULT_WEIGHT: f64 = 256.0;

/// One domain's request on a server: a guest VM or dom0 / host work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// CPU the domain would use if unconstrained, in cores (already ≤ its vCPUs).
    pub demand: f64,
    /// Relative share when CPU is contended (Xen default 256); must be > 0.
    pub weight: f64,
    /// Upper limit in cores (Xen cap / 100), `None` for uncapped.
    pub cap: Option<f64>,
}

impl Request {
    /// The most this domain can receive, in cores.
    pub fn limit(&self) -> f64 {
        let d = if self.demand.is_finite() {
            self.demand.max(0.0)
        } else {
            0.0
        };
        match self.cap {
            Some(c) if c.is_finite() => d.min(c.max(0.0)),
            _ => d,
        }
    }
}

/// Allocates `capacity` cores among `reqs`, writing each domain's share (cores) to `out`.
///
/// Water-filling in order of limit/weight: each domain whose limit is below its fair
/// share of what remains gets its limit; the rest split the remainder by weight.
/// O(n log n) for n domains; `scratch` is reused to avoid allocation on the hot path.
pub fn allocate(capacity: f64, reqs: &[Request], out: &mut Vec<f64>, scratch: &mut Vec<usize>) {
    out.clear();
    out.resize(reqs.len(), 0.0);
    scratch.clear();
    scratch.extend((0..reqs.len()).filter(|&i| reqs[i].limit() > 0.0 && reqs[i].weight > 0.0));
    let key = |i: usize| reqs[i].limit() / reqs[i].weight;
    // Stable order by key then index, so equal keys are deterministic.
    scratch.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    let mut left = capacity.max(0.0);
    let mut weight_left: f64 = scratch.iter().map(|&i| reqs[i].weight).sum();
    for (pos, &i) in scratch.iter().enumerate() {
        let r = &reqs[i];
        let fair = left * r.weight / weight_left;
        if r.limit() <= fair {
            out[i] = r.limit();
            left -= r.limit();
            weight_left -= r.weight;
        } else {
            // Everyone from here on is limited by the fair share, not by demand.
            for &j in &scratch[pos..] {
                out[j] = left * reqs[j].weight / weight_left;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(demand: f64, weight: f64, cap: Option<f64>) -> Request {
        Request {
            demand,
            weight,
            cap,
        }
    }

    fn alloc(capacity: f64, reqs: &[Request]) -> Vec<f64> {
        let (mut out, mut s) = (Vec::new(), Vec::new());
        allocate(capacity, reqs, &mut out, &mut s);
        out
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn unsaturated_host_gives_everyone_their_demand() {
        // 4 cores; three CPU-bound 1-vCPU guests + dom0 at half a core: 3.5 ≤ 4, all served.
        let r = [
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
            req(0.5, 256.0, None),
        ];
        close(&alloc(4.0, &r), &[1.0, 1.0, 1.0, 0.5]);
    }

    #[test]
    fn saturated_host_shares_equally_by_weight() {
        // 4 cores; four CPU-bound guests + dom0 wanting 0.5: fair share 4/5 = 0.8;
        // dom0's 0.5 < 0.8 so it is served, leaving 3.5 for four guests: 0.875 each.
        let r = [
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
            req(0.5, 256.0, None),
        ];
        close(&alloc(4.0, &r), &[0.875, 0.875, 0.875, 0.875, 0.5]);
    }

    #[test]
    fn weights_split_contended_cpu_proportionally() {
        // 1 core, two CPU-bound guests with weights 512:256 -> 2/3 and 1/3.
        let r = [req(1.0, 512.0, None), req(1.0, 256.0, None)];
        close(&alloc(1.0, &r), &[2.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn caps_bound_a_domain_and_free_cpu_for_others() {
        // 2 cores, three guests wanting 1 core each; the first capped at 0.25 cores.
        // It gets 0.25; the other two share 1.75 -> 0.875 each.
        let r = [
            req(1.0, 256.0, Some(0.25)),
            req(1.0, 256.0, None),
            req(1.0, 256.0, None),
        ];
        close(&alloc(2.0, &r), &[0.25, 0.875, 0.875]);
        // A cap above demand changes nothing: 0.3 demand, cap 0.5 -> 0.3.
        close(&alloc(2.0, &[req(0.3, 256.0, Some(0.5))]), &[0.3]);
    }

    #[test]
    fn zero_demand_weight_or_capacity_gets_nothing() {
        let r = [
            req(0.0, 256.0, None),
            req(1.0, 0.0, None),
            req(1.0, 256.0, Some(0.0)),
            req(f64::NAN, 256.0, None),
        ];
        close(&alloc(4.0, &r), &[0.0, 0.0, 0.0, 0.0]);
        close(&alloc(0.0, &[req(1.0, 256.0, None)]), &[0.0]);
    }

    #[test]
    fn never_exceeds_capacity_and_is_work_conserving() {
        // 3 cores, demands 2, 2, 0.5 (weights 1, 3, 1): fair share of 3 by weight 5 is
        // 0.6/1.8/0.6; the 0.5 is served; 2.5 left for weights 1 and 3: 0.625 and 1.875.
        let r = [
            req(2.0, 1.0, None),
            req(2.0, 3.0, None),
            req(0.5, 1.0, None),
        ];
        let a = alloc(3.0, &r);
        close(&a, &[0.625, 1.875, 0.5]);
        assert!((a.iter().sum::<f64>() - 3.0).abs() < 1e-12);
    }
}
