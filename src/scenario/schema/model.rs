//! Server models (`models/servers/<name>.toml`) and breaker presets
//! (`models/breakers/<name>.toml`).

use crate::scenario::tagged::{part, tagged, Tagged};
use crate::units::*;
use serde::Deserialize;

/// `models/servers/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerModelFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Physical cores.
    pub cores: u32,
    /// Installed memory.
    pub memory: Bytes,
    /// NIC line rate.
    pub nic: Bitrate,
    /// Power model.
    pub power: PowerSection,
    /// DVFS states, fastest first (default: one state).
    #[serde(default)]
    pub pstates: Vec<PStateEntry>,
    /// This host's dom0 costs of live migration (optional).
    pub dom0: Option<Dom0Section>,
    /// Idle states of the cores and the package (optional; see `model::idle`).
    pub idle: Option<IdleSection>,
}

/// `[idle]` of a server model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleSection {
    /// Core states, shallowest first (the deepest at 0 W).
    pub core: Vec<IdleStateEntry>,
    /// Package states, shallowest first (the deepest at 0 W; may be empty).
    #[serde(default)]
    pub package: Vec<IdleStateEntry>,
    /// Package power above its deepest state while any core is awake.
    pub package_active: Power,
    /// Wake-ups per second each running dom0 task (a migration's sender or receiver) adds.
    pub dom0_wakeups: crate::units::Rate,
    /// Packages (sockets) the cores divide into, each with the package states above
    /// (default 1; must divide `cores`).
    #[serde(default = "one_package")]
    pub packages: u32,
}

fn one_package() -> u32 {
    1
}

/// One idle state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleStateEntry {
    /// Name ("C6").
    pub name: String,
    /// Exit latency.
    pub exit_latency: Seconds,
    /// Target residency.
    pub target_residency: Seconds,
    /// Power above the deepest state (per core for core states).
    pub power: Power,
}

/// `[dom0]` of a server model: measured or assumed migration CPU costs on this host.
/// Each wins over the algorithm preset's prior; a scenario's `overrides` win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dom0Section {
    /// Sender CPU per 4 KiB page.
    pub sender_cpu_per_page: Option<Seconds>,
    /// Receiver CPU per 4 KiB page.
    pub receiver_cpu_per_page: Option<Seconds>,
    /// dom0 CPU during setup, % of a core.
    pub setup_cpu: Option<Percent>,
    /// dom0 CPU during the clean-up after switch-over, % of a core.
    pub cleanup_dom0_cpu: Option<Percent>,
    /// Post-copy: dom0 CPU per fault served.
    pub fault_cpu: Option<Seconds>,
}

/// `[power]` of a server model: [`NicPower`] and the kind's own fields.
pub type PowerSection = Tagged<NicPower, PowerKind>;

tagged! {
    /// A server power model (`kind = "…"`).
    pub enum PowerKind { tag: "kind", what: "a power kind",
        /// Idle to max, linear in utilisation.
        "linear" => Linear(LinearPower),
        /// A SPECpower 11-point table, piecewise linear in utilisation.
        "specpower" => Specpower(SpecpowerTable),
        /// Idle plus per-core dynamic power per p-state (`[[pstates]] core_power`).
        "cores" => Cores(CoresPower),
    }
}

/// Every power kind's NIC term.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicPower {
    /// W per Gbps moved by the NIC, written as a power ("4W" = 4 W per Gbps; default 0).
    #[serde(default)]
    pub nic_per_gbps: Power,
}

/// `linear`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearPower {
    /// Idle power.
    pub idle: Power,
    /// Power at 100 % utilisation.
    pub max: Power,
}

/// `specpower`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecpowerTable {
    /// 11 powers at 0 %, 10 %, …, 100 % load.
    pub table: Vec<Power>,
}

/// `cores`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoresPower {
    /// Idle power (all cores idle).
    pub idle: Power,
}

part!(NicPower, LinearPower, SpecpowerTable, CoresPower);

/// `[[pstates]]` of a server model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PStateEntry {
    /// Core clock.
    pub frequency: Frequency,
    /// Core voltage (optional; scales dynamic power with f·V²).
    pub voltage: Option<Voltage>,
    /// Dynamic power of one fully busy core at this state (`cores` kind).
    pub core_power: Option<Power>,
}

/// A breaker preset's thermal model.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ThermalKind {
    /// Model A: integral heat above pickup, reset below (no preload memory).
    #[default]
    Integral,
    /// Model B: first-order thermal state with time constant `tau`.
    FirstOrder,
    /// Two bodies: `fast_weight`, `tau_fast`, `tau_slow`.
    TwoBody,
}

/// `models/breakers/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// M_p: multiple of rating below which it never trips thermally.
    pub pickup: f64,
    /// Heating exponent (2 = I²t).
    pub alpha: f64,
    /// Nominal time scale k of t_trip = k / ((M/M_p)^α − 1).
    pub k: Seconds,
    /// Per-device tolerance band for k.
    pub k_band: Option<(Seconds, Seconds)>,
    /// `"integral"` (Model A, when the field is absent), `"first-order"` (Model B, which
    /// remembers preload: notes/capping-and-breakers.md §4.3) or `"two-body"`
    /// (src/model/two_body.rs; the shipped thermal-magnetic presets use it).
    #[serde(default)]
    pub thermal: ThermalKind,
    /// Model B's nominal time constant τ (first-order only).
    pub tau: Option<Seconds>,
    /// Two-body only: the fast body's share of the heating, in (0, 1).
    pub fast_weight: Option<f64>,
    /// Two-body only: the fast body's nominal time constant.
    pub tau_fast: Option<Seconds>,
    /// Two-body only: the slow body's nominal time constant.
    pub tau_slow: Option<Seconds>,
    /// Model A's full reset time t_r from H = 1 at zero load, or "none" (fuse); integral
    /// only (first-order cools with `tau`).
    pub reset: Option<SecondsOrNone>,
    /// M_inst: magnetic (instantaneous) pickup, multiple of rating.
    pub magnetic_pickup: f64,
    /// t_inst: magnetic clearing time.
    pub magnetic_time: Seconds,
}
