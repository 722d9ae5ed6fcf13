//! `[policy]`: the capping controller, each kind's fields laid over its config's
//! defaults (`impl Default` in `crate::policy::*`).

use super::Validator;
use crate::engine::time::secs_to_nanos;
use crate::model::meter::SensorSpecs;
use crate::policy::{
    dvfs_feedback, group_dvfs, idle_injection, migration, thunderbolt, Bands, Latencies,
    PolicyConfig, DEFAULT_PERIOD_NS,
};
use crate::scenario::config::PolicySetup;
use crate::scenario::error::ConfigError;
use crate::scenario::migration::preset_from_text;
use crate::scenario::schema::policy::*;
use crate::units::{Percent, Seconds};
use std::sync::Arc;

/// `v` (a fraction) if set, else `d`.
fn pct(v: Option<Percent>, d: f64) -> f64 {
    v.map_or(d, |x| x.0)
}

/// `v` in ns if set, else `d`.
fn ns(v: Option<Seconds>, d: u64) -> u64 {
    v.map_or(d, |x| secs_to_nanos(x.0))
}

impl Validator<'_> {
    /// The `[policy]` section.
    pub(super) fn policy(&self, p: &PolicyEntry) -> Result<PolicySetup, ConfigError> {
        let period_ns = ns(p.common.period, DEFAULT_PERIOD_NS);
        if period_ns == 0 {
            return Err(self.err("policy.period", "must be longer than zero, e.g. \"1s\""));
        }
        let mut lat = Latencies::default();
        let config = match &p.kind {
            PolicyKind::None(()) => PolicyConfig::None,
            PolicyKind::Dvfs(d) => {
                lat.dvfs_ns = ns(d.latency.dvfs_latency, lat.dvfs_ns);
                let def = dvfs_feedback::Config::default();
                PolicyConfig::DvfsFeedback(dvfs_feedback::Config {
                    bands: self.bands(&d.bands)?,
                    gain: d.gain.gain.unwrap_or(def.gain),
                })
            }
            PolicyKind::GroupDvfs(g) => PolicyConfig::GroupDvfs(self.group_dvfs(g, &mut lat)?),
            PolicyKind::Thunderbolt(t) => {
                lat.cap_ns = ns(t.quotas.cap_latency, lat.cap_ns);
                PolicyConfig::Thunderbolt(self.thunderbolt(t)?)
            }
            PolicyKind::Idle(i) => {
                lat.idle_ns = ns(i.injection.idle_latency, lat.idle_ns);
                let def = idle_injection::Config::default();
                let max = pct(i.injection.idle_max, def.max);
                if max >= 1.0 {
                    return Err(self.err("policy.idle_max", "must be below 100%"));
                }
                PolicyConfig::IdleInjection(idle_injection::Config {
                    bands: self.bands(&i.bands)?,
                    step: pct(i.injection.idle_step, def.step),
                    max,
                })
            }
            PolicyKind::Migration(m) => PolicyConfig::Migration(self.migration(
                m,
                migration::DEFAULT_ALGORITHM,
                false,
                &mut lat,
            )?),
            PolicyKind::Headroom(m) => PolicyConfig::Migration(self.migration(
                m,
                migration::DEFAULT_ALGORITHM,
                true,
                &mut lat,
            )?),
            PolicyKind::PowerAwareMigration(m) => PolicyConfig::Migration(self.migration(
                m,
                migration::POWER_AWARE_ALGORITHM,
                true,
                &mut lat,
            )?),
            PolicyKind::DvfsThenMigration(d) => PolicyConfig::DvfsThenMigration(
                self.group_dvfs(&d.dvfs, &mut lat)?,
                self.migration(&d.migration, migration::DEFAULT_ALGORITHM, false, &mut lat)?,
            ),
        };
        Ok(PolicySetup {
            config,
            period_ns,
            sensors: self.sensors(&p.common, period_ns)?,
            latencies: lat,
        })
    }

    /// The controller's sensors: each entry laid over its default.
    fn sensors(&self, t: &Timing, period_ns: u64) -> Result<SensorSpecs, ConfigError> {
        let mut s = SensorSpecs::defaults(period_ns);
        for (name, entry, spec) in [
            ("pdu_meter", &t.pdu_meter, &mut s.pdu),
            ("bmc", &t.bmc, &mut s.bmc),
            ("cpu_counters", &t.cpu_counters, &mut s.cpu),
        ] {
            let Some(e) = entry else { continue };
            spec.window_ns = ns(e.window, spec.window_ns);
            spec.period_ns = ns(e.period, spec.period_ns);
            spec.delay_ns = ns(e.delay, spec.delay_ns);
            for (field, v) in [("window", spec.window_ns), ("period", spec.period_ns)] {
                if v == 0 {
                    return Err(self.err(
                        &format!("policy.{name}.{field}"),
                        "must be longer than zero, e.g. \"1s\"",
                    ));
                }
            }
        }
        Ok(s)
    }

    /// Capping thresholds over `Bands::default()`; they must not cross.
    fn bands(&self, b: &BandsEntry) -> Result<Bands, ConfigError> {
        let def = Bands::default();
        let bands = Bands {
            cap: pct(b.cap, def.cap),
            target: pct(b.target, def.target),
            uncap: pct(b.uncap, def.uncap),
        };
        if !(bands.uncap <= bands.target && bands.target <= bands.cap) {
            return Err(self.err(
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

    fn group_dvfs(
        &self,
        g: &GroupDvfsEntry,
        lat: &mut Latencies,
    ) -> Result<group_dvfs::Config, ConfigError> {
        lat.dvfs_ns = ns(g.latency.dvfs_latency, lat.dvfs_ns);
        Ok(group_dvfs::Config {
            bands: self.bands(&g.bands)?,
        })
    }

    fn thunderbolt(&self, t: &ThunderboltEntry) -> Result<thunderbolt::Config, ConfigError> {
        let def = thunderbolt::Config::default();
        let q = &t.quotas;
        let decrease = pct(q.decrease, def.decrease);
        if !(decrease > 0.0 && decrease < 1.0) {
            return Err(self.err("policy.decrease", "must be between 0% and 100% (exclusive)"));
        }
        Ok(thunderbolt::Config {
            bands: self.bands(&t.bands)?,
            low_priority: q.low_priority.unwrap_or(def.low_priority),
            decrease,
            min_quota: pct(q.min_quota, def.min_quota),
            recovery: pct(q.recovery, def.recovery).min(1.0),
        })
    }

    /// A migration policy with `default_alg` unless it names a preset.
    fn migration(
        &self,
        m: &MigrationPolicy,
        default_alg: &str,
        headroom: bool,
        lat: &mut Latencies,
    ) -> Result<migration::Config, ConfigError> {
        lat.migrate_ns = ns(m.migration_latency, lat.migrate_ns);
        let name = m.algorithm.as_deref().unwrap_or(default_alg);
        let mt = self
            .lib
            .find("migration", name)
            .ok_or_else(|| self.missing("policy.algorithm", "migration", name))?;
        let preset = preset_from_text(&mt.origin, &mt.text)?;
        let params = self.with_overrides(
            name,
            &mt.origin,
            preset,
            m.overrides.as_ref(),
            "policy.overrides",
        )?;
        if params.pstate.is_some() {
            return Err(self.err(
                "policy.algorithm",
                "a policy's migrations may go from any server: use a preset without a fixed `pstate`",
            ));
        }
        let def = migration::Config::default();
        Ok(migration::Config {
            threshold: pct(m.threshold, def.threshold),
            dwell_ns: ns(m.dwell, def.dwell_ns),
            headroom,
            vm_choice: match m.vm_choice {
                None => def.vm_choice,
                Some(VmChoiceEntry::LargestCpu) => migration::VmChoice::LargestCpu,
                Some(VmChoiceEntry::SmallestMemory) => migration::VmChoice::SmallestMemory,
                Some(VmChoiceEntry::BestRatio) => migration::VmChoice::BestRatio,
            },
            destination_limit: pct(m.destination_limit, def.destination_limit),
            max_in_flight: m.max_in_flight.unwrap_or(def.max_in_flight).max(1),
            algorithm: Arc::new(params),
        })
    }
}
