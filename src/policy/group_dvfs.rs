//! Rack/group DVFS capping after Dynamo (Wu et al., ISCA 2016): three bands, priority
//! groups and high-bucket-first.
//!
//! When a device's reading exceeds its capping threshold, the power to save is the
//! reading minus the target. Servers under it form priority groups (a server's priority
//! is the highest of its running VMs', the service it must protect); the lowest group is
//! cut first and the next only if it cannot give enough. Within a group the servers are
//! bucketed by their power reading (buckets `bucket_w` wide, from the top) and the cut is
//! spread evenly over the highest bucket, each server taking the fastest p-state whose
//! estimated saving covers its share (or its slowest); what the bucket cannot give
//! extends to the next bucket. When the reading falls below the uncapping threshold the
//! throttled servers get one p-state back per period, highest priority first and, within
//! a priority, lowest power first, while the estimate stays under the target.
//!
//! Sources: the three bands, priority groups and high-bucket-first with an even spread
//! over the highest bucket are Dynamo's (notes `capping-and-breakers.md` §2.2, from
//! secondary notes of the paper). Dynamo caps with RAPL; capsim's actuator here is DVFS.
//! ASSUMPTIONS: the band values (`Bands::default()`: 100 / 95 / 90 % of the cap; the
//! paper's §IV values are unchecked, the notes' open item 1), the bucket width 10 W
//! (range 5–20 W; the notes give none), a server's priority as its highest VM's, and no
//! per-service SLA floor beyond the slowest p-state.

use super::{Bands, Command, Observe, Policy};
use crate::engine::rng::FastRng;
use crate::model::ids::{DeviceId, ServerId};

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Capping, target and uncapping thresholds as fractions of the cap.
    pub bands: Bands,
    /// Width of a power bucket, W (> 0).
    pub bucket_w: f64,
}

/// Default bands, 10 W buckets (module doc: assumptions).
impl Default for Config {
    fn default() -> Self {
        Config {
            bands: Bands::default(),
            bucket_w: 10.0,
        }
    }
}

/// A server as the controller sees it this period.
#[derive(Clone, Copy, Debug)]
struct Seen {
    priority: u32,
    power_w: f64,
    server: ServerId,
}

/// The controller.
#[derive(Debug)]
pub struct GroupDvfs {
    cfg: Config,
    /// Devices whose servers are all at their slowest p-state and still over the
    /// capping threshold after the last period (for compositions).
    exhausted: Vec<DeviceId>,
    seen: Vec<Seen>,
}

impl GroupDvfs {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        GroupDvfs {
            cfg,
            exhausted: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Devices where DVFS has nothing left to give (for DVFS-then-migration).
    pub fn exhausted(&self) -> &[DeviceId] {
        &self.exhausted
    }

    /// Cuts `to_save` W from the servers in `self.seen`, sorted lowest priority first
    /// and, within a priority, highest power first; returns whether any server could
    /// slow down.
    fn cut(&self, obs: &dyn Observe, mut to_save: f64, out: &mut Vec<Command>) -> bool {
        let mut any = false;
        let mut i = 0;
        while i < self.seen.len() && to_save > 0.0 {
            // The bucket: same priority, within bucket_w of its highest power.
            let top = self.seen[i];
            let end = self.seen[i..]
                .iter()
                .position(|s| {
                    s.priority != top.priority || s.power_w <= top.power_w - self.cfg.bucket_w
                })
                .map_or(self.seen.len(), |k| i + k);
            let bucket = &self.seen[i..end];
            let mut left = bucket.len();
            for s in bucket {
                if to_save <= 0.0 {
                    break;
                }
                // An even share of what is left over the servers left in the bucket.
                let share = to_save / left as f64;
                left -= 1;
                let now = obs.server_pstate(s.server);
                let n = obs.server_pstates(s.server);
                if now + 1 >= n {
                    continue;
                }
                let dynamic = (s.power_w - obs.server_idle_w(s.server)).max(0.0);
                let mut q = now;
                let mut saving = 0.0;
                while q + 1 < n && saving < share {
                    q += 1;
                    saving = dynamic * (1.0 - obs.server_dynamic_ratio(s.server, now, q));
                }
                to_save -= saving;
                any = true;
                out.push(Command::SetPstate {
                    server: s.server,
                    pstate: q,
                });
            }
            i = end;
        }
        any
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
            self.seen.clear();
            for &s in obs.servers_under(d) {
                if !obs.server_on(s) {
                    continue;
                }
                if let Some(w) = obs.server_power_w(s) {
                    let priority = obs
                        .server_vms(s)
                        .iter()
                        .filter(|&&v| obs.vm_running(v))
                        .map(|&v| obs.vm_priority(v))
                        .max()
                        .unwrap_or(0);
                    self.seen.push(Seen {
                        priority,
                        power_w: w,
                        server: s,
                    });
                }
            }
            if over {
                // Lowest priority first, then highest power (ties by index).
                self.seen.sort_by(|a, b| {
                    a.priority
                        .cmp(&b.priority)
                        .then(b.power_w.total_cmp(&a.power_w))
                        .then(a.server.cmp(&b.server))
                });
                if !self.cut(obs, p - b.target * cap, out) {
                    self.exhausted.push(d);
                }
            } else {
                // Highest priority first, then lowest power, one step faster each, while
                // the estimate stays under the target.
                self.seen.sort_by(|a, b| {
                    b.priority
                        .cmp(&a.priority)
                        .then(a.power_w.total_cmp(&b.power_w))
                        .then(a.server.cmp(&b.server))
                });
                let mut room = b.target * cap - p;
                for s in &self.seen {
                    let now = obs.server_pstate(s.server);
                    if now == 0 {
                        continue;
                    }
                    let dynamic = (s.power_w - obs.server_idle_w(s.server)).max(0.0);
                    let extra = dynamic * (obs.server_dynamic_ratio(s.server, now, now - 1) - 1.0);
                    if extra > room {
                        break;
                    }
                    room -= extra;
                    out.push(Command::SetPstate {
                        server: s.server,
                        pstate: now - 1,
                    });
                }
            }
        }
    }
}
