//! `[policy]`: the period, the controller's sensors, and the validator's side of
//! [`PolicyContext`] (each kind's fields are turned into its config beside the kind, in
//! `schema/policy.rs`).

use super::Validator;
use crate::migration::Params;
use crate::model::meter::SensorSpecs;
use crate::policy::{Latencies, DEFAULT_PERIOD_NS};
use crate::scenario::config::PolicySetup;
use crate::scenario::error::ConfigError;
use crate::scenario::migration::preset_from_text;
use crate::scenario::schema::policy::{ns, MigrationPolicy, PolicyContext, PolicyEntry, Timing};

impl PolicyContext for Validator<'_> {
    fn err(&self, path: &str, msg: String) -> ConfigError {
        Validator::err(self, path, msg)
    }

    fn migration_preset(&self, name: &str, m: &MigrationPolicy) -> Result<Params, ConfigError> {
        let mt = self
            .lib
            .find("migration", name)?
            .ok_or_else(|| self.missing("policy.algorithm", "migration", name))?;
        let preset = preset_from_text(&mt.origin, &mt.text)?;
        self.with_overrides(
            name,
            &mt.origin,
            preset,
            m.overrides.as_ref(),
            "policy.overrides",
        )
    }
}

impl Validator<'_> {
    /// The `[policy]` section.
    pub(super) fn policy(&self, p: &PolicyEntry) -> Result<PolicySetup, ConfigError> {
        let period_ns = ns(p.common.period, DEFAULT_PERIOD_NS);
        if period_ns == 0 {
            return Err(self.err("policy.period", "must be longer than zero, e.g. \"1s\""));
        }
        let mut lat = Latencies::default();
        let config = p.kind.config(self, &mut lat)?;
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
}
