//! A server's dynamic state: its domains' CPU shares, p-state, power and energy.

use super::power::PowerModel;
use std::sync::Arc;

/// A server model from the library.
#[derive(Clone, Debug)]
pub struct ServerModel {
    /// Library name (file stem).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Installed memory, bytes.
    pub memory_bytes: u64,
    /// NIC line rate, bit/s.
    pub nic_bps: f64,
    /// Cores, p-states and power.
    pub power: PowerModel,
}

/// One server during a run.
#[derive(Clone, Debug)]
pub struct Server {
    /// Unique name.
    pub name: String,
    /// Shared model (cores, p-states, power curve).
    pub model: Arc<ServerModel>,
    /// Index of the feeding device.
    pub device: usize,
    /// Current p-state (0 = fastest).
    pub pstate: usize,
    /// False once a breaker above it has opened.
    pub on: bool,
    /// VMs placed here (indices), in placement order.
    pub vms: Vec<usize>,
    /// dom0 / host CPU demand, cores.
    pub dom0_demand: f64,
    /// dom0 / host CPU allocated, cores.
    pub dom0_alloc: f64,
    /// dom0 CPU used so far, core-seconds.
    pub dom0_cpu_s: f64,
    /// Data moved by the NIC, Gbit/s.
    pub nic_gbps: f64,
    /// CPU in use, cores.
    pub busy_cores: f64,
    /// Present power, W.
    pub power_w: f64,
    /// Energy so far, J (up to `last_ns`).
    pub energy_j: f64,
    /// Time the accounting was last brought up to date, ns.
    pub last_ns: u64,
}

impl Server {
    /// Brings energy and dom0 CPU up to `now_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 * 1e-9;
        self.energy_j += self.power_w * dt;
        self.dom0_cpu_s += self.dom0_alloc * dt;
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// Energy up to `now_ns` without changing state, J.
    pub fn energy_at(&self, now_ns: u64) -> f64 {
        self.energy_j + self.power_w * now_ns.saturating_sub(self.last_ns) as f64 * 1e-9
    }

    /// dom0 CPU up to `now_ns` without changing state, core-seconds.
    pub fn dom0_cpu_at(&self, now_ns: u64) -> f64 {
        self.dom0_cpu_s + self.dom0_alloc * now_ns.saturating_sub(self.last_ns) as f64 * 1e-9
    }

    /// Power at the present CPU use, p-state and NIC traffic, W (0 when off).
    pub fn compute_power(&self) -> f64 {
        if self.on {
            self.model
                .power
                .power_w(self.busy_cores, self.pstate, self.nic_gbps)
        } else {
            0.0
        }
    }

    /// How fast work progresses at the current p-state, relative to P0.
    pub fn frequency_factor(&self) -> f64 {
        self.model.power.frequency_factor(self.pstate)
    }
}
