//! Live migration as the last resort: when a device's reading has stayed above its
//! migration threshold for a dwell time, move a VM from its highest-power server to a
//! server elsewhere that has the memory, the CPU and the power headroom (its own device
//! stays under its cap with the VM added).
//!
//! The headroom variant lowers the threshold by the migration's predicted own power
//! (dom0 sending at line rate plus the NIC), because a pre-copy raises power before it
//! lowers it (the study's central finding). The power-aware variant is the same policy
//! with a power-aware algorithm (e.g. the migrating VM capped while it is copied).

use super::{Command, Observe, Policy};
use crate::engine::rng::FastRng;
use crate::migration::Params;
use crate::model::ids::{DeviceId, ServerId, VmId};
use crate::model::memory::PAGE_SIZE;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a commanded migration may take to show up as running before the policy
/// forgets it (far above any actuator latency), ns.
const PENDING_GRACE_NS: u64 = 10_000_000_000;

/// Which VM leaves the hottest server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmChoice {
    /// The one using the most CPU (the most relief once it is gone).
    LargestCpu,
    /// The one with the least memory (the fastest migration).
    SmallestMemory,
    /// The most CPU per byte of memory (relief per second of migration).
    BestRatio,
}

/// Parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Migrate when the reading exceeds this × cap ...
    pub threshold: f64,
    /// ... continuously for this long, ns.
    pub dwell_ns: u64,
    /// Lower the threshold by the predicted power of the migration itself.
    pub headroom: bool,
    /// VM choice.
    pub vm_choice: VmChoice,
    /// A destination's device must stay under this × its cap with the VM added.
    pub destination_limit: f64,
    /// Migrations in flight per device at most.
    pub max_in_flight: u32,
    /// The algorithm.
    pub algorithm: Arc<Params>,
}

/// The controller.
#[derive(Debug)]
pub struct LastResort {
    cfg: Config,
    /// Since when each device has been over its threshold, ns.
    over_since: BTreeMap<DeviceId, u64>,
    /// Migrations commanded per device: (VM, device, commanded at ns, seen running).
    /// A command takes effect only after its latency, so an entry stays until the VM has
    /// been seen migrating and has stopped, or for a grace period if it never starts
    /// (e.g. refused for lack of memory at the destination).
    in_flight: Vec<(VmId, DeviceId, u64, bool)>,
    /// Scratch: candidate destination devices and their room, W.
    rooms: Vec<(f64, DeviceId)>,
    /// The largest predicted overhead of any server under each device, W (static: it
    /// depends only on the server models).
    max_overhead: BTreeMap<DeviceId, f64>,
}

impl LastResort {
    /// A controller.
    pub fn new(cfg: Config) -> Self {
        LastResort {
            cfg,
            over_since: BTreeMap::new(),
            in_flight: Vec::new(),
            rooms: Vec::new(),
            max_overhead: BTreeMap::new(),
        }
    }

    /// The migration's own predicted power on the source, W: the sender's CPU at the
    /// source NIC's line rate (at most one core) times the power of a busy core, plus
    /// the NIC.
    pub fn predicted_overhead_w(&self, obs: &dyn Observe, s: ServerId) -> f64 {
        let p = &self.cfg.algorithm;
        let line_bps = obs.server_nic_bps(s) * p.efficiency;
        let pages_per_s = line_bps / 8.0 / PAGE_SIZE as f64;
        let cores = (pages_per_s * p.sender_cpu_per_page_s).min(p.threads);
        let per_core =
            (obs.server_peak_w(s) - obs.server_idle_w(s)) / obs.server_cores(s).max(1) as f64;
        cores * per_core + obs.server_nic_w_per_gbps(s) * line_bps / 1e9
    }

    /// The largest [`LastResort::predicted_overhead_w`] of the servers under `d`, W.
    fn max_overhead_w(&mut self, obs: &dyn Observe, d: DeviceId) -> f64 {
        if let Some(&w) = self.max_overhead.get(&d) {
            return w;
        }
        let w = obs
            .servers_under(d)
            .iter()
            .map(|&s| self.predicted_overhead_w(obs, s))
            .fold(0.0, f64::max);
        self.max_overhead.insert(d, w);
        w
    }

    /// Migrates if device `d` has been over its threshold long enough. Returns true if
    /// a migration was commanded.
    pub fn act_on(&mut self, obs: &dyn Observe, d: DeviceId, out: &mut Vec<Command>) -> bool {
        let now = obs.now_ns();
        for e in &mut self.in_flight {
            e.3 |= obs.vm_migrating(e.0);
        }
        self.in_flight.retain(|&(v, _, at, seen)| {
            if seen {
                obs.vm_migrating(v)
            } else {
                now.saturating_sub(at) < PENDING_GRACE_NS
            }
        });
        let (Some(cap), Some(p)) = (obs.device_cap_w(d), obs.device_power_w(d)) else {
            return false;
        };
        let base = self.cfg.threshold * cap;
        // Under even the lowest threshold any server here could give: nothing to do, and
        // no need to look at every server's reading.
        let floor = if self.cfg.headroom {
            base - self.max_overhead_w(obs, d)
        } else {
            base
        };
        if p <= floor {
            self.over_since.remove(&d);
            return false;
        }
        let servers = obs.servers_under(d);
        let hottest = servers
            .iter()
            .copied()
            .filter(|&s| obs.server_on(s))
            .filter_map(|s| obs.server_power_w(s).map(|w| (w, s)))
            .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        let Some((_, src)) = hottest else {
            return false;
        };
        let threshold = if self.cfg.headroom {
            base - self.predicted_overhead_w(obs, src)
        } else {
            base
        };
        if p <= threshold {
            self.over_since.remove(&d);
            return false;
        }
        let since = *self.over_since.entry(d).or_insert(now);
        if now - since < self.cfg.dwell_ns {
            return false;
        }
        let busy = self.in_flight.iter().filter(|e| e.1 == d).count() as u32;
        if busy >= self.cfg.max_in_flight {
            return false;
        }
        // The VM to move.
        let candidates = obs
            .server_vms(src)
            .iter()
            .copied()
            .filter(|&v| obs.vm_running(v) && !obs.vm_migrating(v) && obs.vm_memory(v) > 0);
        let key = |v: VmId| -> f64 {
            match self.cfg.vm_choice {
                VmChoice::LargestCpu => obs.vm_cpu(v),
                VmChoice::SmallestMemory => -(obs.vm_memory(v) as f64),
                VmChoice::BestRatio => obs.vm_cpu(v) / obs.vm_memory(v) as f64,
            }
        };
        let Some(vm) = candidates.max_by(|&a, &b| key(a).total_cmp(&key(b)).then(b.cmp(&a))) else {
            return false;
        };
        // Where to: the server outside this device with the most power headroom on its
        // own device that also has the memory and the spare CPU.
        let vm_cpu = obs.vm_cpu(vm);
        let per_core_src =
            (obs.server_peak_w(src) - obs.server_idle_w(src)) / obs.server_cores(src).max(1) as f64;
        let vm_power = vm_cpu * per_core_src;
        // Devices by room, most first; in the first that has a fitting server, the one
        // with the most spare CPU (so concurrent migrations spread over servers and NICs).
        self.rooms.clear();
        for &dd in obs.capped_devices() {
            if dd == d {
                continue;
            }
            if let (Some(dcap), Some(dp)) = (obs.device_cap_w(dd), obs.device_power_w(dd)) {
                let room = self.cfg.destination_limit * dcap - dp - vm_power;
                if room > 0.0 {
                    self.rooms.push((room, dd));
                }
            }
        }
        self.rooms
            .sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut best: Option<(f64, ServerId)> = None;
        for &(room, dd) in &self.rooms {
            let pick = obs
                .servers_under(dd)
                .iter()
                .copied()
                .filter(|&s| obs.server_on(s) && !servers.contains(&s))
                .filter(|&s| obs.server_free_memory(s) >= obs.vm_memory(vm))
                .map(|s| (obs.server_cores(s) as f64 - obs.server_vm_cpu(s), s))
                .filter(|&(spare, _)| spare >= vm_cpu)
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
            if let Some((_, s)) = pick {
                best = Some((room, s));
                break;
            }
        }
        let Some((_, to)) = best else { return false };
        out.push(Command::Migrate {
            vm,
            to,
            params: self.cfg.algorithm.clone(),
        });
        self.in_flight.push((vm, d, now, false));
        self.over_since.insert(d, now);
        true
    }
}

impl Policy for LastResort {
    fn name(&self) -> &str {
        "migration"
    }

    fn control(&mut self, obs: &dyn Observe, _rng: &mut FastRng, out: &mut Vec<Command>) {
        for i in 0..obs.capped_devices().len() {
            let d = obs.capped_devices()[i];
            self.act_on(obs, d, out);
        }
    }
}

/// The migration preset a migration policy uses unless told otherwise
/// (`models/migration/xen34-precopy.toml`: the study's Xen 3.4 pre-copy).
pub const DEFAULT_ALGORITHM: &str = "xen34-precopy";

/// The preset of `power-aware-migration` unless told otherwise
/// (`models/migration/precopy-vm-cap.toml`: the migrating VM capped while copied).
pub const POWER_AWARE_ALGORITHM: &str = "precopy-vm-cap";

/// The VM using the most CPU leaves (the most relief once it is gone).
impl Default for VmChoice {
    fn default() -> Self {
        VmChoice::LargestCpu
    }
}

/// Migrate above 100 % of the cap held for 5 s, the largest-CPU VM, to a destination
/// whose device stays under 95 % of its cap, one migration in flight per device, with the
/// built-in pre-copy parameters (`Params::default()`; a scenario names a preset instead).
impl Default for Config {
    fn default() -> Self {
        Config {
            threshold: 1.0,
            dwell_ns: 5_000_000_000,
            headroom: false,
            vm_choice: VmChoice::default(),
            destination_limit: 0.95,
            max_in_flight: 1,
            algorithm: Arc::new(Params::default()),
        }
    }
}
