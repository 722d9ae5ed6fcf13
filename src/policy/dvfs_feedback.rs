//! Per-server DVFS feedback (Lefurgy, Wang & Ware, "Power capping: a prelude to power
//! shifting", 2008): each server gets a share of its device's cap in proportion to its
//! peak power and a proportional controller moves its p-state so that its own measured
//! power tracks that budget.
//!
//! Settling: with gain 1 the controller estimates how many p-states close the error from
//! the server's measured dynamic power and the p-state table, so a step overload is
//! corrected within 2 control periods plus the DVFS latency when the lowest p-state
//! suffices ([`Config::settling_periods`]).

use super::{Bands, Command, Observe, Policy};
use crate::engine::rng::FastRng;

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Budget of each server = `bands.target` × cap × its share; raise the p-state when
    /// measured power is above the budget scaled by `bands.cap / bands.target`, lower it
    /// below `bands.uncap / bands.target`.
    pub bands: Bands,
    /// Fraction of the estimated correction applied per period (1 = full).
    pub gain: f64,
}

impl Config {
    /// Control periods within which a step overload is corrected (the stated settling
    /// time, when the slowest p-state is enough).
    pub fn settling_periods(&self) -> u32 {
        2
    }
}

/// The controller (stateless beyond the p-states it commands).
#[derive(Debug)]
pub struct DvfsFeedback {
    cfg: Config,
}

impl DvfsFeedback {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        DvfsFeedback { cfg }
    }
}

impl Policy for DvfsFeedback {
    fn name(&self) -> &str {
        "dvfs"
    }

    fn control(&mut self, obs: &dyn Observe, _rng: &mut FastRng, out: &mut Vec<Command>) {
        let b = self.cfg.bands;
        for &d in obs.capped_devices() {
            let Some(cap) = obs.device_cap_w(d) else {
                continue;
            };
            let servers = obs.servers_under(d);
            let total_peak: f64 = servers.iter().map(|&s| obs.server_peak_w(s)).sum();
            if total_peak <= 0.0 {
                continue;
            }
            for &s in servers {
                if !obs.server_on(s) {
                    continue;
                }
                let Some(p) = obs.server_power_w(s) else {
                    continue;
                };
                let budget = b.target * cap * obs.server_peak_w(s) / total_peak;
                let now = obs.server_pstate(s);
                let n = obs.server_pstates(s);
                let idle = obs.server_idle_w(s);
                let dynamic = (p - idle).max(0.0);
                let want = if p > budget * b.cap / b.target {
                    // Dynamic power needed: budget − idle; find the fastest p-state whose
                    // scaled dynamic power fits, moving `gain` of the way there.
                    let need = (budget - idle).max(0.0);
                    let mut q = now;
                    while q + 1 < n && dynamic * obs.server_dynamic_ratio(s, now, q) > need {
                        q += 1;
                    }
                    now + ((q - now) as f64 * self.cfg.gain).ceil() as usize
                } else if p < budget * b.uncap / b.target && now > 0 {
                    // Room to spare: one step faster if the estimate still fits.
                    if dynamic * obs.server_dynamic_ratio(s, now, now - 1) + idle <= budget {
                        now - 1
                    } else {
                        now
                    }
                } else {
                    now
                };
                if want != now {
                    out.push(Command::SetPstate {
                        server: s,
                        pstate: want.min(n - 1),
                    });
                }
            }
        }
    }
}

/// Default bands and the full estimated correction each period (gain 1.0).
impl Default for Config {
    fn default() -> Self {
        Config {
            bands: Bands::default(),
            gain: 1.0,
        }
    }
}
