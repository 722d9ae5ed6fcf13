//! `[policy]`: the capping controller, one struct of fields per kind and, beside it, how
//! that kind's fields are laid over its config's defaults (`impl Default` in
//! `crate::policy::*`). Thresholds are fractions of each capped device's cap.
//!
//! Adding a policy touches its own file in `src/policy/`, `policy/mod.rs` (its
//! `PolicyConfig` variant and `build` arm) and this file (its `PolicyKind` variant, its
//! fields and its arm of [`PolicyKind::config`]), nothing else.

use crate::engine::time::secs_to_nanos;
use crate::migration::Params;
use crate::policy::{
    dvfs_feedback, group_dvfs, idle_injection, migration, thunderbolt, Bands, Latencies,
    PolicyConfig,
};
use crate::scenario::error::ConfigError;
use crate::scenario::tagged::{part, parts, tagged, Tagged};
use crate::units::{Percent, Power, Seconds};
use serde::Deserialize;
use std::sync::Arc;

/// `[policy]`: [`Timing`] (every kind) and the kind's own fields.
pub type PolicyEntry = Tagged<Timing, PolicyKind>;

tagged! {
    /// A capping policy (`kind = "…"`).
    pub enum PolicyKind { tag: "kind", what: "a policy",
        /// No capping (meters still read every period).
        "none" => None(()),
        /// Per-server DVFS feedback (Lefurgy-style).
        "dvfs" => Dvfs(DvfsEntry),
        /// Rack/group DVFS with priority groups and high-bucket-first (Dynamo).
        "group-dvfs" => GroupDvfs(GroupDvfsEntry),
        /// Two-threshold CPU-bandwidth throttling of low-priority VMs (Thunderbolt).
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
    /// DVFS latency, command to new p-state (default "1.02ms": 1 ms command delivery, an
    /// assumption, plus 20 µs transition; `policy::PSTATE_TRANSITION_NS` gives the source).
    pub dvfs_latency: Option<Seconds>,
}

/// `group-dvfs`'s own fields (defaults: `policy::group_dvfs::Config::default()`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// Width of the power buckets high-bucket-first spreads a cut over (default "10W",
    /// an assumption with range 5–20 W).
    pub bucket: Option<Power>,
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
    /// Hard-throttle above this fraction of the cap (default "98%").
    pub high: Option<Percent>,
    /// Unthrottle at or below this fraction of the cap, below `high` (default "96%").
    pub low: Option<Percent>,
    /// VMs with priority at or below this are throttled (default 0).
    pub low_priority: Option<u32>,
    /// Bandwidth multiplier per period above `high`, in (0 %, 100 %) (default "1%").
    pub hard: Option<Percent>,
    /// Bandwidth multiplier per period between `low` and `high` once engaged, in
    /// (0 %, 100 %] (default "75%").
    pub soft: Option<Percent>,
    /// Smallest bandwidth, share of the VM's vCPUs, in (0 %, 100 %] (default "1%").
    pub floor: Option<Percent>,
    /// Bandwidth given back per unthrottle step, share of the VM's vCPUs, in (0 %, 100 %]
    /// (default "5%").
    pub release_step: Option<Percent>,
    /// Random wait before each unthrottle step, uniform between the two, s (default
    /// ["1s", "10s"]).
    pub release_wait: Option<(Seconds, Seconds)>,
    /// CPU-quota latency, command to enforced cap (default "16ms": 1 ms command delivery,
    /// an assumption, plus the mean 15 ms wait for Xen's next credit accounting;
    /// `policy::CREDIT_ACCOUNTING_WAIT_NS` gives the source).
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
    /// Idle-injection latency, command to the first forced idle, whole (default: 1 ms
    /// command delivery, an assumption, plus powerclamp's mean alignment wait, half its
    /// injection interval at the new fraction: 30 ms at 10 %; `actuation::Latencies`).
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
    /// Migration latency, command to the first page sent (default "100ms", an assumption
    /// with range 0.1–1 s: `xl migrate`'s ssh connection and the receiver's start).
    pub migration_latency: Option<Seconds>,
}

part!(
    Timing,
    BandsEntry,
    Buckets,
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
    /// `group-dvfs`: bands, buckets and the DVFS latency.
    pub struct GroupDvfsEntry {
        /// Capping thresholds.
        pub bands: BandsEntry,
        /// High-bucket-first's bucket width.
        pub buckets: Buckets,
        /// Actuator latency.
        pub latency: DvfsLatency,
    }
}

parts! {
    /// `thunderbolt`: its two thresholds and quota throttling (no three bands).
    pub struct ThunderboltEntry {
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

/// What turning a policy's fields into its config needs from the validator (implemented
/// by it, so this file does not depend on it).
pub trait PolicyContext {
    /// An error located at the field `path` (e.g. `policy.decrease`).
    fn err(&self, path: &str, msg: String) -> ConfigError;
    /// The migration preset `name` from the model library with the entry's `overrides`
    /// laid over it.
    fn migration_preset(&self, name: &str, m: &MigrationPolicy) -> Result<Params, ConfigError>;
}

/// `v` (a fraction) if set, else `d`.
fn pct(v: Option<Percent>, d: f64) -> f64 {
    v.map_or(d, |x| x.0)
}

/// `v` in ns if set, else `d`.
pub(crate) fn ns(v: Option<Seconds>, d: u64) -> u64 {
    v.map_or(d, |x| secs_to_nanos(x.0))
}

impl PolicyKind {
    /// The validated config of this kind; each kind's actuator latency is laid over `lat`.
    pub fn config(
        &self,
        cx: &dyn PolicyContext,
        lat: &mut Latencies,
    ) -> Result<PolicyConfig, ConfigError> {
        Ok(match self {
            PolicyKind::None(()) => PolicyConfig::None,
            PolicyKind::Dvfs(d) => {
                lat.dvfs_ns = ns(d.latency.dvfs_latency, lat.dvfs_ns);
                let def = dvfs_feedback::Config::default();
                PolicyConfig::DvfsFeedback(dvfs_feedback::Config {
                    bands: d.bands.config(cx)?,
                    gain: d.gain.gain.unwrap_or(def.gain),
                })
            }
            PolicyKind::GroupDvfs(g) => PolicyConfig::GroupDvfs(g.config(cx, lat)?),
            PolicyKind::Thunderbolt(t) => {
                lat.cap_ns = ns(t.quotas.cap_latency, lat.cap_ns);
                PolicyConfig::Thunderbolt(t.config(cx)?)
            }
            PolicyKind::Idle(i) => {
                if let Some(l) = i.injection.idle_latency {
                    lat.idle_ns = ns(Some(l), lat.idle_ns);
                    lat.idle_aligns = false;
                }
                let def = idle_injection::Config::default();
                let max = pct(i.injection.idle_max, def.max);
                if max >= 1.0 {
                    return Err(cx.err("policy.idle_max", "must be below 100%".into()));
                }
                PolicyConfig::IdleInjection(idle_injection::Config {
                    bands: i.bands.config(cx)?,
                    step: pct(i.injection.idle_step, def.step),
                    max,
                })
            }
            PolicyKind::Migration(m) => {
                PolicyConfig::Migration(m.config(cx, migration::DEFAULT_ALGORITHM, false, lat)?)
            }
            PolicyKind::Headroom(m) => {
                PolicyConfig::Migration(m.config(cx, migration::DEFAULT_ALGORITHM, true, lat)?)
            }
            PolicyKind::PowerAwareMigration(m) => PolicyConfig::Migration(m.config(
                cx,
                migration::POWER_AWARE_ALGORITHM,
                true,
                lat,
            )?),
            PolicyKind::DvfsThenMigration(d) => PolicyConfig::DvfsThenMigration(
                d.dvfs.config(cx, lat)?,
                d.migration
                    .config(cx, migration::DEFAULT_ALGORITHM, false, lat)?,
            ),
        })
    }
}

impl BandsEntry {
    /// Capping thresholds over `Bands::default()`; they must not cross.
    fn config(&self, cx: &dyn PolicyContext) -> Result<Bands, ConfigError> {
        let def = Bands::default();
        let bands = Bands {
            cap: pct(self.cap, def.cap),
            target: pct(self.target, def.target),
            uncap: pct(self.uncap, def.uncap),
        };
        if !(bands.uncap <= bands.target && bands.target <= bands.cap) {
            return Err(cx.err(
                "policy.target",
                format!(
                    "thresholds must satisfy uncap <= target <= cap; got {}% <= {}% <= {}%",
                    bands.uncap * 100.0,
                    bands.target * 100.0,
                    bands.cap * 100.0
                ),
            ));
        }
        Ok(bands)
    }
}

impl GroupDvfsEntry {
    fn config(
        &self,
        cx: &dyn PolicyContext,
        lat: &mut Latencies,
    ) -> Result<group_dvfs::Config, ConfigError> {
        lat.dvfs_ns = ns(self.latency.dvfs_latency, lat.dvfs_ns);
        let def = group_dvfs::Config::default();
        let bucket_w = self.buckets.bucket.map_or(def.bucket_w, |w| w.0);
        if !(bucket_w > 0.0 && bucket_w.is_finite()) {
            return Err(cx.err("policy.bucket", "must be above 0 W".into()));
        }
        Ok(group_dvfs::Config {
            bands: self.bands.config(cx)?,
            bucket_w,
        })
    }
}

impl ThunderboltEntry {
    fn config(&self, cx: &dyn PolicyContext) -> Result<thunderbolt::Config, ConfigError> {
        let def = thunderbolt::Config::default();
        let q = &self.quotas;
        let frac = |v: Option<Percent>, d: f64, field: &str, open_top: bool| {
            let x = pct(v, d);
            let ok = x > 0.0 && if open_top { x < 1.0 } else { x <= 1.0 };
            if ok {
                Ok(x)
            } else {
                let top = if open_top {
                    "below 100%"
                } else {
                    "at most 100%"
                };
                Err(cx.err(
                    &format!("policy.{field}"),
                    format!("must be above 0% and {top}"),
                ))
            }
        };
        let (high, low) = (pct(q.high, def.high), pct(q.low, def.low));
        if !(low > 0.0 && low < high) {
            return Err(cx.err(
                "policy.low",
                format!("must be above 0% and below high ({}%)", high * 100.0),
            ));
        }
        let wait = q.release_wait.map_or(def.release_wait_ns, |(a, b)| {
            (secs_to_nanos(a.0), secs_to_nanos(b.0))
        });
        if wait.0 > wait.1 {
            return Err(cx.err(
                "policy.release_wait",
                "is [shortest, longest]: the first must not exceed the second".into(),
            ));
        }
        Ok(thunderbolt::Config {
            high,
            low,
            low_priority: q.low_priority.unwrap_or(def.low_priority),
            hard: frac(q.hard, def.hard, "hard", true)?,
            soft: frac(q.soft, def.soft, "soft", false)?,
            floor: frac(q.floor, def.floor, "floor", false)?,
            release_step: frac(q.release_step, def.release_step, "release_step", false)?,
            release_wait_ns: wait,
        })
    }
}

impl MigrationPolicy {
    /// A migration policy with `default_alg` unless it names a preset.
    fn config(
        &self,
        cx: &dyn PolicyContext,
        default_alg: &str,
        headroom: bool,
        lat: &mut Latencies,
    ) -> Result<migration::Config, ConfigError> {
        lat.migrate_ns = ns(self.migration_latency, lat.migrate_ns);
        let name = self.algorithm.as_deref().unwrap_or(default_alg);
        let params = cx.migration_preset(name, self)?;
        if params.pstate.is_some() {
            return Err(cx.err(
                "policy.algorithm",
                "a policy's migrations may go from any server: use a preset without a fixed `pstate`"
                    .into(),
            ));
        }
        let def = migration::Config::default();
        Ok(migration::Config {
            threshold: pct(self.threshold, def.threshold),
            dwell_ns: ns(self.dwell, def.dwell_ns),
            headroom,
            vm_choice: match self.vm_choice {
                None => def.vm_choice,
                Some(VmChoiceEntry::LargestCpu) => migration::VmChoice::LargestCpu,
                Some(VmChoiceEntry::SmallestMemory) => migration::VmChoice::SmallestMemory,
                Some(VmChoiceEntry::BestRatio) => migration::VmChoice::BestRatio,
            },
            destination_limit: pct(self.destination_limit, def.destination_limit),
            max_in_flight: self.max_in_flight.unwrap_or(def.max_in_flight).max(1),
            algorithm: Arc::new(params),
        })
    }
}
