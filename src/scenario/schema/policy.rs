//! `[policy]`: the capping controller, one struct of fields per kind. Thresholds are
//! fractions of each capped device's cap; defaults are the validated configs'
//! (`impl Default` in `crate::policy::*`).

use crate::scenario::tagged::{part, parts, tagged, Tagged};
use crate::units::{Percent, Seconds};
use serde::Deserialize;

/// `[policy]`: [`Timing`] (every kind) and the kind's own fields.
pub type PolicyEntry = Tagged<Timing, PolicyKind>;

tagged! {
    /// A capping policy (`kind = "…"`).
    pub enum PolicyKind { tag: "kind", what: "a policy",
        /// No capping (meters still read every period).
        "none" => None(()),
        /// Per-server DVFS feedback (Lefurgy-style).
        "dvfs" => Dvfs(DvfsEntry),
        /// Rack/group DVFS, highest power first (Dynamo-style).
        "group-dvfs" => GroupDvfs(GroupDvfsEntry),
        /// CPU quotas on low-priority VMs (Thunderbolt-style).
        "thunderbolt" => Thunderbolt(ThunderboltEntry),
        /// Idle injection on the highest-power servers.
        "idle" => Idle(IdleEntry),
        /// Live migration as the last resort.
        "migration" => Migration(MigrationPolicy),
        /// Migration with the threshold lowered by the migration's predicted own power.
        "headroom" => Headroom(MigrationPolicy),
        /// Headroom migration with a power-aware preset (default "precopy-vm-cap").
        "power-aware-migration" => PowerAwareMigration(MigrationPolicy),
        /// Group DVFS first, migration last.
        "dvfs+migration" => DvfsThenMigration(DvfsThenMigrationEntry),
    }
}

/// Fields every policy takes: its period and what its sensors report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Control period (default "1s": `policy::DEFAULT_PERIOD_NS`).
    pub period: Option<Seconds>,
    /// The meter of every capped device (default `model::meter::MeterSpec::rack_pdu()`:
    /// 1 s means every 1 s, delivered 1 s later).
    pub pdu_meter: Option<MeterEntry>,
    /// Every server's BMC power reading (default `MeterSpec::bmc()`: 1 s means every
    /// 1 s, delivered 1 s later).
    pub bmc: Option<MeterEntry>,
    /// The hypervisor's per-domain CPU counters (default: differenced every control
    /// period, read at once).
    pub cpu_counters: Option<MeterEntry>,
}

/// How a sensor reports; a field left out keeps the sensor's default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterEntry {
    /// Averaging window before each sample (> 0).
    pub window: Option<Seconds>,
    /// Time between samples (> 0).
    pub period: Option<Seconds>,
    /// Time from a sample to when the controller can see it.
    pub delay: Option<Seconds>,
}

/// Dynamo's three bands (default `policy::Bands::default()`: 100 %, 95 %, 90 %).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsEntry {
    /// Act above this fraction of the cap (default "100%").
    pub cap: Option<Percent>,
    /// Bring power down to this fraction of the cap (default "95%").
    pub target: Option<Percent>,
    /// Release below this fraction of the cap (default "90%").
    pub uncap: Option<Percent>,
}

/// The DVFS actuator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DvfsLatency {
    /// DVFS transition latency (default "10ms": `policy::Latencies::default()`).
    pub dvfs_latency: Option<Seconds>,
}

/// `dvfs`'s own fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gain {
    /// Share of the estimated correction applied per period (default 1.0).
    pub gain: Option<f64>,
}

/// `thunderbolt`'s own fields (defaults: `policy::thunderbolt::Config::default()`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// VMs with priority at or below this are throttled (default 0).
    pub low_priority: Option<u32>,
    /// Multiplicative decrease per period, in (0 %, 100 %) (default "50%").
    pub decrease: Option<Percent>,
    /// Smallest quota, % of a core (default "10%").
    pub min_quota: Option<Percent>,
    /// Release probability per period below the uncap band (default "25%").
    pub recovery: Option<Percent>,
    /// CPU-quota change latency (default "1ms").
    pub cap_latency: Option<Seconds>,
}

/// `idle`'s own fields (defaults: `policy::idle_injection::Config::default()`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    /// Idle-fraction step per period (default "10%").
    pub idle_step: Option<Percent>,
    /// Largest idle fraction, below 100 % (default "50%").
    pub idle_max: Option<Percent>,
    /// Idle-injection change latency (default "10ms").
    pub idle_latency: Option<Seconds>,
}

/// Which VM leaves the hottest server.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmChoiceEntry {
    /// The one using the most CPU (the default).
    LargestCpu,
    /// The one with the least memory (the fastest migration).
    SmallestMemory,
    /// The most CPU per byte of memory.
    BestRatio,
}

/// The migration policies' fields (defaults: `policy::migration::Config::default()`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationPolicy {
    /// Migrate above this fraction of the cap (default "100%").
    pub threshold: Option<Percent>,
    /// ... held for this long (default "5s").
    pub dwell: Option<Seconds>,
    /// Which VM leaves (default `largest-cpu`).
    pub vm_choice: Option<VmChoiceEntry>,
    /// A destination's device must stay under this fraction of its cap with the VM added
    /// (default "95%").
    pub destination_limit: Option<Percent>,
    /// Migrations in flight per device at most (default 1).
    pub max_in_flight: Option<u32>,
    /// Preset from `models/migration/` (default "xen34-precopy";
    /// `power-aware-migration`: "precopy-vm-cap").
    pub algorithm: Option<String>,
    /// The preset's fields to override (those of the preset's mechanism).
    pub overrides: Option<toml::Table>,
    /// Migration command latency (default "100ms").
    pub migration_latency: Option<Seconds>,
}

part!(
    Timing,
    BandsEntry,
    DvfsLatency,
    Gain,
    Quotas,
    Injection,
    MigrationPolicy
);

parts! {
    /// `dvfs`: bands, a gain and the DVFS latency.
    pub struct DvfsEntry {
        /// Capping thresholds.
        pub bands: BandsEntry,
        /// Feedback gain.
        pub gain: Gain,
        /// Actuator latency.
        pub latency: DvfsLatency,
    }
}

parts! {
    /// `group-dvfs`: bands and the DVFS latency.
    pub struct GroupDvfsEntry {
        /// Capping thresholds.
        pub bands: BandsEntry,
        /// Actuator latency.
        pub latency: DvfsLatency,
    }
}

parts! {
    /// `thunderbolt`: bands and quotas.
    pub struct ThunderboltEntry {
        /// Capping thresholds.
        pub bands: BandsEntry,
        /// Quota throttling.
        pub quotas: Quotas,
    }
}

parts! {
    /// `idle`: bands and idle injection.
    pub struct IdleEntry {
        /// Capping thresholds.
        pub bands: BandsEntry,
        /// Idle injection.
        pub injection: Injection,
    }
}

parts! {
    /// `dvfs+migration`: group DVFS's fields and the migration policy's.
    pub struct DvfsThenMigrationEntry {
        /// The DVFS stage.
        pub dvfs: GroupDvfsEntry,
        /// The migration stage.
        pub migration: MigrationPolicy,
    }
}
