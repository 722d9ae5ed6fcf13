//! Idle injection (forced idle cycles, as in Intel's powerclamp or IdleCap): above the
//! capping threshold the highest-power servers get a larger forced-idle fraction, which
//! takes CPU capacity away from every domain on them; below the uncapping threshold the
//! fraction is stepped back down.

use super::{Bands, Command, Observe, Policy};
use crate::engine::rng::FastRng;
use crate::model::ids::ServerId;

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Thresholds as fractions of the cap.
    pub bands: Bands,
    /// Change of the idle fraction per period.
    pub step: f64,
    /// Largest idle fraction, [0, 1).
    pub max: f64,
}

/// The controller.
#[derive(Debug)]
pub struct IdleInjection {
    cfg: Config,
    order: Vec<(f64, ServerId)>,
}

impl IdleInjection {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        IdleInjection {
            cfg,
            order: Vec::new(),
        }
    }
}

impl Policy for IdleInjection {
    fn name(&self) -> &str {
        "idle"
    }

    fn control(&mut self, obs: &dyn Observe, _rng: &mut FastRng, out: &mut Vec<Command>) {
        let c = &self.cfg;
        for &d in obs.capped_devices() {
            let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
                continue;
            };
            let (over, under) = (p > c.bands.cap * cap, p < c.bands.uncap * cap);
            if !over && !under {
                // In the hold band: nothing to do, no server readings needed.
                continue;
            }
            self.order.clear();
            for &s in obs.servers_under(d) {
                if obs.server_on(s) {
                    if let Some(w) = obs.server_power_w(s) {
                        self.order.push((w, s));
                    }
                }
            }
            if over {
                self.order
                    .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut to_save = p - c.bands.target * cap;
                for &(w, s) in &self.order {
                    if to_save <= 0.0 {
                        break;
                    }
                    let now = obs.server_idle_fraction(s);
                    if now >= c.max {
                        continue;
                    }
                    let next = (now + c.step).min(c.max);
                    // Dynamic power shrinks roughly with the capacity left.
                    let dynamic = (w - obs.server_idle_w(s)).max(0.0);
                    to_save -= dynamic * (next - now) / (1.0 - now).max(1e-9);
                    out.push(Command::SetIdle {
                        server: s,
                        fraction: next,
                    });
                }
            } else {
                for &(_, s) in &self.order {
                    let now = obs.server_idle_fraction(s);
                    if now > 0.0 {
                        // Snap to zero: repeated subtraction leaves rounding residue.
                        let next = if now - c.step < 1e-9 {
                            0.0
                        } else {
                            now - c.step
                        };
                        out.push(Command::SetIdle {
                            server: s,
                            fraction: next,
                        });
                    }
                }
            }
        }
    }
}

/// Idle fraction raised by 10 % of the time per period, at most 50 %.
impl Default for Config {
    fn default() -> Self {
        Config {
            bands: Bands::default(),
            step: 0.1,
            max: 0.5,
        }
    }
}
