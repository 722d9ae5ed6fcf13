//! CPU-quota throttling of low-priority VMs (Thunderbolt, Li et al., OSDI 2020): above
//! the capping threshold every low-priority VM under the device gets its CPU quota cut
//! multiplicatively; below the uncapping threshold each throttled VM is released with a
//! probability per period (randomised recovery, so the load does not come back all at
//! once and oscillate).

use super::{Bands, Command, Observe, Policy};
use crate::engine::rng::FastRng;
use rand::Rng;

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Capping, target (unused: the decrease is fixed) and uncapping thresholds.
    pub bands: Bands,
    /// VMs with priority at or below this are throttled.
    pub low_priority: u32,
    /// Multiplicative decrease of the quota per period over the threshold, (0, 1).
    pub decrease: f64,
    /// Smallest quota, cores.
    pub min_quota: f64,
    /// Probability per period that a throttled VM is released below the uncap threshold.
    pub recovery: f64,
}

/// The controller.
#[derive(Debug)]
pub struct Thunderbolt {
    cfg: Config,
}

impl Thunderbolt {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        Thunderbolt { cfg }
    }
}

impl Policy for Thunderbolt {
    fn name(&self) -> &str {
        "thunderbolt"
    }

    fn control(&mut self, obs: &dyn Observe, rng: &mut FastRng, out: &mut Vec<Command>) {
        let c = &self.cfg;
        for &d in obs.capped_devices() {
            let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
                continue;
            };
            let over = p > c.bands.cap * cap;
            let under = p < c.bands.uncap * cap;
            if !over && !under {
                continue;
            }
            for &s in obs.servers_under(d) {
                if !obs.server_on(s) {
                    continue;
                }
                for &v in obs.server_vms(s) {
                    if !obs.vm_running(v) || obs.vm_priority(v) > c.low_priority {
                        continue;
                    }
                    let current = obs.vm_policy_cap(v);
                    if over {
                        // Start from what it uses now, so the first cut bites.
                        let base = current.unwrap_or_else(|| obs.vm_cpu(v).max(c.min_quota));
                        let q = (base * c.decrease).max(c.min_quota);
                        if current != Some(q) {
                            out.push(Command::SetVmQuota {
                                vm: v,
                                cap_cores: Some(q),
                            });
                        }
                    } else if current.is_some() && rng.random::<f64>() < c.recovery {
                        out.push(Command::SetVmQuota {
                            vm: v,
                            cap_cores: None,
                        });
                    }
                }
            }
        }
    }
}

/// Priority 0 and below throttled, quota halved per period over the cap, never below
/// 10 % of a core (0.1 cores), released with probability 25 % per period below the
/// uncap band.
impl Default for Config {
    fn default() -> Self {
        Config {
            bands: Bands::default(),
            low_priority: 0,
            decrease: 0.5,
            min_quota: 0.1,
            recovery: 0.25,
        }
    }
}
