//! Model-library files that are not scenarios: server models and breaker presets.

use crate::model::breaker::{Thermal, TripCurve};
use crate::model::idle::{IdleState, IdleStates};
use crate::model::power::{PState, PowerCurve, PowerModel};
use crate::model::server::HostMigrationCosts;
use crate::model::two_body::TwoBody;
use crate::scenario::config::{BreakerPreset, ServerModel};
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::parse::parse;
use crate::scenario::schema::model::{BreakerFile, PowerKind, ServerModelFile, ThermalKind};
use crate::units::Seconds;

/// A breaker file's thermal model, with the fields its kind takes and no others.
fn thermal_of(f: &BreakerFile, src: &Source) -> Result<Thermal, ConfigError> {
    let kind = match f.thermal {
        ThermalKind::Integral => "integral",
        ThermalKind::FirstOrder => "first-order",
        ThermalKind::TwoBody => "two-body",
    };
    // (field, present, the kind that takes it)
    let fields = [
        ("reset", f.reset.is_some(), "integral"),
        ("tau", f.tau.is_some(), "first-order"),
        ("fast_weight", f.fast_weight.is_some(), "two-body"),
        ("tau_fast", f.tau_fast.is_some(), "two-body"),
        ("tau_slow", f.tau_slow.is_some(), "two-body"),
    ];
    for (name, present, owner) in fields {
        if present && owner != kind {
            return Err(src.at(
                name,
                format!("`{name}` belongs to thermal = \"{owner}\", not \"{kind}\": remove it or change thermal"),
            ));
        }
        if !present && owner == kind {
            return Err(src.at(
                "",
                format!("missing field `{name}`, which thermal = \"{kind}\" needs (models/breakers/ shows each kind)"),
            ));
        }
    }
    let s = |v: Option<Seconds>| v.map_or(0.0, |v| v.0);
    Ok(match f.thermal {
        ThermalKind::Integral => Thermal::Integral,
        ThermalKind::FirstOrder => Thermal::FirstOrder { tau_s: s(f.tau) },
        ThermalKind::TwoBody => Thermal::TwoBody(TwoBody {
            fast_weight: f.fast_weight.unwrap_or(0.0),
            tau_fast_s: s(f.tau_fast),
            tau_slow_s: s(f.tau_slow),
        }),
    })
}

/// Parses and checks a server model file.
pub fn server_model_from_text(
    name: &str,
    origin: &str,
    text: &str,
) -> Result<ServerModel, ConfigError> {
    let src = Source { name: origin, text };
    let f: ServerModelFile = parse(&src)?;
    let curve = match &f.power.kind {
        PowerKind::Linear(l) => PowerCurve::Linear {
            idle_w: l.idle.0,
            max_w: l.max.0,
        },
        PowerKind::Cores(c) => PowerCurve::Cores { idle_w: c.idle.0 },
        PowerKind::Specpower(s) => {
            let v: Vec<f64> = s.table.iter().map(|p| p.0).collect();
            let table_w: [f64; 11] = v.clone().try_into().map_err(|_| {
                src.at(
                    "power.table",
                    format!(
                        "has {} values; a SPECpower table has 11 (0%, 10%, …, 100% load)",
                        v.len()
                    ),
                )
            })?;
            PowerCurve::SpecPower { table_w }
        }
    };
    if f.cores == 0 {
        return Err(src.at("cores", "must be at least 1"));
    }
    let mut pstates: Vec<PState> = f
        .pstates
        .iter()
        .map(|p| PState {
            frequency_hz: p.frequency.0,
            voltage_v: p.voltage.map(|v| v.0),
            core_w: p.core_power.map(|c| c.0),
        })
        .collect();
    if pstates.is_empty() {
        if matches!(f.power.kind, PowerKind::Cores(_)) {
            return Err(src.at(
                "pstates",
                "a `cores` model needs at least one [[pstates]] entry with `frequency` and `core_power`",
            ));
        }
        // One nominal state: frequency factors are relative, so 1 Hz stands for P0.
        pstates.push(PState {
            frequency_hz: 1.0,
            voltage_v: None,
            core_w: None,
        });
    }
    let power = PowerModel {
        cores: f.cores,
        curve,
        pstates,
        nic_w_per_gbps: f.power.common.nic_per_gbps.0,
    };
    power.check().map_err(|m| src.at("", m))?;
    let idle = f.idle.map(|i| {
        let states = |v: &[crate::scenario::schema::model::IdleStateEntry]| {
            v.iter()
                .map(|e| IdleState {
                    name: e.name.clone(),
                    exit_latency_s: e.exit_latency.0,
                    target_residency_s: e.target_residency.0,
                    power_w: e.power.0,
                })
                .collect()
        };
        IdleStates {
            core: states(&i.core),
            package: states(&i.package),
            package_active_w: i.package_active.0,
            dom0_wakeups_per_s: i.dom0_wakeups.0,
            packages: i.packages as f64,
        }
    });
    if let Some(i) = &idle {
        let k = i.packages as u32;
        if k == 0 || f.cores % k != 0 {
            return Err(src.at(
                "idle.packages",
                format!(
                    "{k} packages do not divide the model's {} cores; give the number of sockets, each with an equal share of the cores",
                    f.cores
                ),
            ));
        }
        if i.core.is_empty() {
            return Err(src.at("idle.core", "list at least one core idle state"));
        }
        i.check().map_err(|m| src.at("idle", m))?;
    }
    let d = f.dom0.unwrap_or_default();
    let dom0 = HostMigrationCosts {
        sender_cpu_per_page_s: d.sender_cpu_per_page.map(|v| v.0),
        receiver_cpu_per_page_s: d.receiver_cpu_per_page.map(|v| v.0),
        setup_cpu: d.setup_cpu.map(|v| v.0),
        cleanup_dom0_cpu: d.cleanup_dom0_cpu.map(|v| v.0),
        fault_cpu_s: d.fault_cpu.map(|v| v.0),
    };
    Ok(ServerModel {
        name: name.to_string(),
        description: f.description,
        memory_bytes: f.memory.0 as u64,
        nic_bps: f.nic.0,
        power,
        dom0,
        idle,
    })
}

/// Parses and checks a breaker preset file.
pub fn breaker_from_text(
    name: &str,
    origin: &str,
    text: &str,
) -> Result<BreakerPreset, ConfigError> {
    let src = Source { name: origin, text };
    let f: BreakerFile = parse(&src)?;
    let thermal = thermal_of(&f, &src)?;
    let curve = TripCurve {
        pickup: f.pickup,
        alpha: f.alpha,
        k_s: f.k.0,
        k_band_s: f.k_band.map(|(a, b)| (a.0, b.0)),
        reset_s: f.reset.and_then(|r| r.0),
        thermal,
        magnetic_pickup: f.magnetic_pickup,
        magnetic_time_s: f.magnetic_time.0,
    };
    curve.check().map_err(|m| src.at("", m))?;
    Ok(BreakerPreset {
        name: name.to_string(),
        curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A breaker file from its shared lines and `thermal` lines (lines 1-5 shared).
    fn breaker(thermal_lines: &str) -> Result<BreakerPreset, ConfigError> {
        let text = format!(
            "pickup = 1.0\nalpha = 2.0\nk = \"200s\"\nmagnetic_pickup = 10.0\n\
             magnetic_time = \"20ms\"\n{thermal_lines}"
        );
        breaker_from_text("b", "b.toml", &text)
    }

    #[test]
    fn each_thermal_model_takes_its_own_time_constant() {
        let a = breaker("reset = \"600s\"\n").unwrap();
        assert_eq!(a.curve.thermal, Thermal::Integral);
        let b = breaker("thermal = \"first-order\"\ntau = \"232s\"\n").unwrap();
        assert_eq!(b.curve.thermal, Thermal::FirstOrder { tau_s: 232.0 });
        assert_eq!(b.curve.reset_s, None);
        assert!(!b.curve.is_fuse(), "a first-order breaker resets");
        // Each wrong combination names what to change, at the field's line.
        let e =
            breaker("thermal = \"first-order\"\ntau = \"232s\"\nreset = \"600s\"\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (8, "reset"), "{e}");
        assert!(
            e.message.contains("belongs to thermal = \"integral\""),
            "{e}"
        );
        let e = breaker("reset = \"600s\"\ntau = \"232s\"\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (7, "tau"), "{e}");
        let e = breaker("thermal = \"first-order\"\n").unwrap_err();
        assert!(e.message.contains("missing field `tau`"), "{e}");
        let e = breaker("").unwrap_err();
        assert!(e.message.contains("missing field `reset`"), "{e}");
        let t = "thermal = \"two-body\"\nfast_weight = 0.62\ntau_fast = \"145s\"\ntau_slow = \"1300s\"\n";
        let c = breaker(t).unwrap();
        assert!(matches!(c.curve.thermal, Thermal::TwoBody(b) if b.tau_slow_s == 1300.0));
        let e = breaker(&t.replace("tau_slow = \"1300s\"\n", "")).unwrap_err();
        assert!(e.message.contains("missing field `tau_slow`"), "{e}");
        let e = breaker(&format!("{t}tau = \"200s\"\n")).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (10, "tau"), "{e}");
        let e = breaker("thermal = \"second-order\"\nreset = \"600s\"\n").unwrap_err();
        assert_eq!(e.line, 6, "{e}");
    }
}
