//! `[[pdus]]`: the power tree, parents first.

use super::{list, Validator, World};
use crate::model::ids::DeviceId;
use crate::model::pdu::Electrical;
use crate::scenario::config::DeviceConfig;
use crate::scenario::error::ConfigError;
use crate::scenario::schema::PduEntry;
use crate::units::{Percent, Power};

/// Phases of a device that gives none: single-phase.
const DEFAULT_PHASES: u8 = 1;
/// Power factor of a device that gives none: 1 (watts = volt-amperes).
const DEFAULT_POWER_FACTOR: f64 = 1.0;

impl Validator<'_> {
    /// Every `[[pdus]]` entry, in order (a parent must come before its children).
    pub(super) fn pdus(&mut self, pdus: &[PduEntry], w: &mut World) -> Result<(), ConfigError> {
        for (i, p) in pdus.iter().enumerate() {
            let field = |k: &str| format!("pdus[{i}].{k}");
            w.claim(&p.name, "pdu")
                .map_err(|m| self.err(&field("name"), m))?;
            let parent = match &p.parent {
                None => None,
                Some(par) => Some(*w.device_ix.get(par).ok_or_else(|| {
                    self.err(
                        &field("parent"),
                        format!(
                            "no pdu named `{par}` is listed before this one; parents must come first (known: {})",
                            list(w.device_ix.keys())
                        ),
                    )
                })?),
            };
            let electrical = self.electrical(p, &field)?;
            let rating_a = match p.rating {
                Some(r) if r.0 <= 0.0 => {
                    return Err(self.err(
                        &field("rating"),
                        "a breaker rating must be positive, e.g. \"30A\"",
                    ));
                }
                r => r.map(|r| r.0),
            };
            let cap_w = match &p.cap {
                None => None,
                Some(c) => Some(self.cap(c, rating_a, &electrical, &field("cap"))?),
            };
            let breaker = match &p.breaker {
                None => None,
                Some(_) if rating_a.is_none() => {
                    return Err(self.err(
                        &field("breaker"),
                        "a breaker needs a `rating` (e.g. rating = \"30A\")",
                    ));
                }
                Some(b) => Some(self.breaker(b, &field("breaker"))?),
            };
            w.device_ix.insert(p.name.clone(), w.devices.len());
            w.devices.push(DeviceConfig {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                parent: parent.map(DeviceId::new),
                electrical,
                rating_a,
                cap_w,
                breaker,
                draw_k: p.draw_k,
            });
        }
        Ok(())
    }

    /// Voltage, phases and power factor of a device.
    fn electrical(
        &self,
        p: &PduEntry,
        field: &dyn Fn(&str) -> String,
    ) -> Result<Electrical, ConfigError> {
        let phases = p.phases.unwrap_or(DEFAULT_PHASES);
        if phases != 1 && phases != 3 {
            return Err(self.err(
                &field("phases"),
                format!("{phases} phases: valid values are 1 and 3"),
            ));
        }
        let pf = p.power_factor.unwrap_or(DEFAULT_POWER_FACTOR);
        if !(pf > 0.0 && pf <= 1.0) {
            return Err(self.err(&field("power_factor"), format!("{pf} is outside (0, 1]")));
        }
        if p.voltage.0 <= 0.0 {
            return Err(self.err(&field("voltage"), "must be positive, e.g. \"208V\""));
        }
        Ok(Electrical {
            voltage_v: p.voltage.0,
            phases,
            power_factor: pf,
        })
    }

    /// A cap: "80%" of the rating's power, or a power.
    fn cap(
        &self,
        c: &str,
        rating_a: Option<f64>,
        e: &Electrical,
        field: &str,
    ) -> Result<f64, ConfigError> {
        let s = c.trim();
        if s.ends_with('%') {
            let frac = s.parse::<Percent>().map_err(|m| self.err(field, m))?.0;
            let r = rating_a.ok_or_else(|| {
                self.err(
                    field,
                    "a cap in % needs a `rating`; or give the cap as a power, e.g. \"4.99kW\"",
                )
            })?;
            Ok(frac * e.watts(r))
        } else {
            let w = s
                .parse::<Power>()
                .map_err(|m| {
                    self.err(
                        field,
                        format!("{m}; or a percentage of the rating, e.g. \"80%\""),
                    )
                })?
                .0;
            if w <= 0.0 {
                return Err(self.err(field, "a cap must be positive"));
            }
            Ok(w)
        }
    }
}
