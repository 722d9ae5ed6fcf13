//! Rack/group DVFS capping (Dynamo, Wu et al., ISCA 2016): when a device's reading
//! exceeds its capping threshold, slow down the highest-power servers below it first
//! until the estimated saving brings it to the target; when the reading falls below the
//! uncapping threshold, speed the throttled servers back up, lowest power first, one
//! p-state per period.

use super::{Bands, Command, Observe, Policy};
use crate::engine::rng::FastRng;
use crate::model::ids::{DeviceId, ServerId};

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Capping, target and uncapping thresholds as fractions of the cap.
    pub bands: Bands,
}

/// The controller.
#[derive(Debug)]
pub struct GroupDvfs {
    cfg: Config,
    /// Devices whose servers are all at their slowest p-state and still over the
    /// capping threshold after the last period (for compositions).
    exhausted: Vec<DeviceId>,
    order: Vec<(f64, ServerId)>,
}

impl GroupDvfs {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        GroupDvfs {
            cfg,
            exhausted: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Devices where DVFS has nothing left to give (for DVFS-then-migration).
    pub fn exhausted(&self) -> &[DeviceId] {
        &self.exhausted
    }
}

impl Policy for GroupDvfs {
    fn name(&self) -> &str {
        "group-dvfs"
    }

    fn control(&mut self, obs: &dyn Observe, _rng: &mut FastRng, out: &mut Vec<Command>) {
        let b = self.cfg.bands;
        self.exhausted.clear();
        for &d in obs.capped_devices() {
            let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
                continue;
            };
            let (over, under) = (p > b.cap * cap, p < b.uncap * cap);
            if !over && !under {
                // In the hold band: nothing to do, no server readings needed.
                continue;
            }
            let servers = obs.servers_under(d);
            self.order.clear();
            for &s in servers {
                if obs.server_on(s) {
                    if let Some(w) = obs.server_power_w(s) {
                        self.order.push((w, s));
                    }
                }
            }
            if over {
                // Highest power first (ties by index, for determinism).
                self.order
                    .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut to_save = p - b.target * cap;
                let mut any = false;
                for &(w, s) in &self.order {
                    if to_save <= 0.0 {
                        break;
                    }
                    let now = obs.server_pstate(s);
                    let n = obs.server_pstates(s);
                    if now + 1 >= n {
                        continue;
                    }
                    let dynamic = (w - obs.server_idle_w(s)).max(0.0);
                    // Step down until this server's estimated saving covers what is left.
                    let mut q = now;
                    let mut saving = 0.0;
                    while q + 1 < n && saving < to_save {
                        q += 1;
                        saving = dynamic * (1.0 - obs.server_dynamic_ratio(s, now, q));
                    }
                    to_save -= saving;
                    any = true;
                    out.push(Command::SetPstate {
                        server: s,
                        pstate: q,
                    });
                }
                if !any {
                    self.exhausted.push(d);
                }
            } else {
                // Lowest power first, one step faster each, while the estimate stays
                // under the target.
                self.order
                    .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut room = b.target * cap - p;
                for &(w, s) in &self.order {
                    let now = obs.server_pstate(s);
                    if now == 0 {
                        continue;
                    }
                    let dynamic = (w - obs.server_idle_w(s)).max(0.0);
                    let extra = dynamic * (obs.server_dynamic_ratio(s, now, now - 1) - 1.0);
                    if extra > room {
                        break;
                    }
                    room -= extra;
                    out.push(Command::SetPstate {
                        server: s,
                        pstate: now - 1,
                    });
                }
            }
        }
    }
}

/// Default bands.
impl Default for Config {
    fn default() -> Self {
        Config {
            bands: Bands::default(),
        }
    }
}
