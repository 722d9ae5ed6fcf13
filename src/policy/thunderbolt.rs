//! CPU-bandwidth throttling of low-priority VMs with two thresholds (Thunderbolt, Li et
//! al., OSDI 2020: "two-threshold, randomized unthrottling / multiplicative decrease").
//!
//! Each low-priority VM under a device has a bandwidth b, the share of its vCPUs it may
//! use (1 = unthrottled; the quota sent is b × vCPUs cores). Per device and period, on
//! its meter reading P against its cap C:
//! - P > `high`·C (hard throttling): b ← max(`floor`, b × `hard`) for every victim, and
//!   the device is *engaged*;
//! - engaged and `low`·C < P ≤ `high`·C (soft throttling): b ← max(`floor`, b × `soft`);
//! - engaged and P ≤ `low`·C (unthrottling): each throttled VM waits its own random time,
//!   uniform in `release_wait`, then b ← b + `release_step`; at b ≥ 1 its quota is
//!   removed; the device disengages when none is left throttled. Without the engagement
//!   the band between `low` and `high` does nothing (the low threshold is active only
//!   after the high one was reached).
//!
//! Sources of the defaults (`Config::default()`): the constants are those a
//! reimplementation used as its Thunderbolt baseline, labelled there "from paper
//! (Table 2)" (the PIP artifact, EuroSys'26, <https://zenodo.org/records/18804291>; notes
//! `capping-and-breakers.md` §2.2): high 98 % and low 96 % of the limit, hard ×0.01, soft
//! ×0.75, a random 1–10 s wait before each +5 % step, bandwidth 1 %–100 %. Not checked
//! against the paper itself (the notes' open item 2); *The Datacenter as a Computer*
//! §7.5.1's summary agrees on the two thresholds, near-zero hard throttling and a timer
//! that ends throttling after a while below the low threshold.

use super::{Command, Observe, Policy};
use crate::engine::rng::FastRng;
use crate::model::ids::{DeviceId, VmId};
use rand::Rng;

/// Parameters; thresholds are fractions of each capped device's cap.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Hard-throttle above this fraction of the cap.
    pub high: f64,
    /// Unthrottle at or below this fraction of the cap (< `high`).
    pub low: f64,
    /// VMs with priority at or below this are throttled.
    pub low_priority: u32,
    /// Bandwidth multiplier per period above `high`, (0, 1).
    pub hard: f64,
    /// Bandwidth multiplier per period between `low` and `high` while engaged, (0, 1].
    pub soft: f64,
    /// Smallest bandwidth, share of the VM's vCPUs, (0, 1].
    pub floor: f64,
    /// Bandwidth added per unthrottle step, share of the VM's vCPUs, (0, 1].
    pub release_step: f64,
    /// Random wait before each unthrottle step, uniform in [min, max], ns.
    pub release_wait_ns: (u64, u64),
}

/// High 98 %, low 96 %, priority 0 and below, hard ×0.01, soft ×0.75, floor 1 %,
/// +5 % steps after 1–10 s each (module doc: sources).
impl Default for Config {
    fn default() -> Self {
        Config {
            high: 0.98,
            low: 0.96,
            low_priority: 0,
            hard: 0.01,
            soft: 0.75,
            floor: 0.01,
            release_step: 0.05,
            release_wait_ns: (1_000_000_000, 10_000_000_000),
        }
    }
}

/// A throttled VM.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Throttled {
    /// Bandwidth, share of its vCPUs.
    bandwidth: f64,
    /// When its next unthrottle step is due, ns (drawn when unthrottling starts).
    next_step_ns: Option<u64>,
}

/// The controller.
#[derive(Debug)]
pub struct Thunderbolt {
    cfg: Config,
    /// Per VM (by index): its throttling state, if throttled.
    vms: Vec<Option<Throttled>>,
    /// Per device (by index): engaged since its reading passed `high`.
    engaged: Vec<bool>,
}

impl Thunderbolt {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        Thunderbolt {
            cfg,
            vms: Vec::new(),
            engaged: Vec::new(),
        }
    }

    fn slot(&mut self, v: VmId) -> &mut Option<Throttled> {
        grown(&mut self.vms, v.idx(), None)
    }

    fn engaged(&mut self, d: DeviceId) -> &mut bool {
        grown(&mut self.engaged, d.idx(), false)
    }

    /// A random unthrottle wait, ns.
    fn wait(&self, rng: &mut FastRng) -> u64 {
        let (lo, hi) = self.cfg.release_wait_ns;
        if hi <= lo {
            return lo;
        }
        rng.random_range(lo..=hi)
    }
}

/// Entry `i` of `v`, which grows with `fill` to hold it (ids appear as the world has them).
fn grown<T: Clone>(v: &mut Vec<T>, i: usize, fill: T) -> &mut T {
    if v.len() <= i {
        v.resize(i + 1, fill);
    }
    &mut v[i]
}

/// What a device's reading asks of its victims this period.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    Multiply(f64),
    Unthrottle,
}

impl Policy for Thunderbolt {
    fn name(&self) -> &str {
        "thunderbolt"
    }

    fn control(&mut self, obs: &dyn Observe, rng: &mut FastRng, out: &mut Vec<Command>) {
        let now = obs.now_ns();
        for &d in obs.capped_devices() {
            let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
                continue;
            };
            let (high, low) = (self.cfg.high * cap, self.cfg.low * cap);
            let step = if p > high {
                *self.engaged(d) = true;
                Step::Multiply(self.cfg.hard)
            } else if !*self.engaged(d) {
                continue;
            } else if p > low {
                Step::Multiply(self.cfg.soft)
            } else {
                Step::Unthrottle
            };
            let mut still_throttled = false;
            for &s in obs.servers_under(d) {
                if !obs.server_on(s) {
                    continue;
                }
                for &v in obs.server_vms(s) {
                    if !obs.vm_running(v) || obs.vm_priority(v) > self.cfg.low_priority {
                        continue;
                    }
                    let vcpus = f64::from(obs.vm_vcpus(v));
                    let (floor, release_step) = (self.cfg.floor, self.cfg.release_step);
                    let cur = *self.slot(v);
                    let next = match (step, cur) {
                        (Step::Multiply(m), _) => {
                            let b = cur.map_or(1.0, |t| t.bandwidth);
                            Some(Throttled {
                                bandwidth: (b * m).max(floor),
                                next_step_ns: None,
                            })
                        }
                        (Step::Unthrottle, None) => None,
                        (Step::Unthrottle, Some(t)) => match t.next_step_ns {
                            None => Some(Throttled {
                                next_step_ns: Some(now + self.wait(rng)),
                                ..t
                            }),
                            Some(due) if now < due => Some(t),
                            Some(_) => {
                                let b = t.bandwidth + release_step;
                                // 1e-9: 0.01 + 20 × 0.05 lands a hair under 1.
                                (b < 1.0 - 1e-9).then(|| Throttled {
                                    bandwidth: b,
                                    next_step_ns: Some(now + self.wait(rng)),
                                })
                            }
                        },
                    };
                    let changed = next.map(|t| t.bandwidth) != cur.map(|t| t.bandwidth);
                    if changed {
                        out.push(Command::SetVmQuota {
                            vm: v,
                            cap_cores: next.map(|t| t.bandwidth * vcpus),
                        });
                    }
                    still_throttled |= next.is_some();
                    *self.slot(v) = next;
                }
            }
            if step == Step::Unthrottle && !still_throttled {
                *self.engaged(d) = false;
            }
        }
    }
}
