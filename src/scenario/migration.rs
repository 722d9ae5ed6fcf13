//! Migration parameters from a preset (`models/migration/<name>.toml`), the source host's
//! dom0 costs and a scenario's `overrides`, laid in that order over
//! `migration::Params::default()`; the last layer that sets a field wins.

use super::error::{ConfigError, FieldError, Source};
use super::parse::parse;
use super::schema::migration::*;
use super::tagged::{Kinds, Tagged};
use crate::engine::time::secs_to_nanos;
use crate::migration::params::{Mechanism, Params, Push, XenStop};
use crate::units::{Bitrate, Percent, Seconds};

/// What one layer (a preset, a host, overrides) sets; `None` leaves the layer below.
/// Each field is the file field of the same name, in the file's units: [`CommonFields`],
/// [`PrecopyFields`], [`XenRounds`], [`QemuPasses`] and [`PostcopyFields`] document them
/// with their defaults. Flat, because layers of different origins are merged field by
/// field; which fields a mechanism takes is checked when a file is read.
// Each field is documented (with its unit and default) on the schema struct that reads it.
#[allow(missing_docs)]
#[derive(Clone, Debug, Default)]
pub struct MigrationFields {
    pub description: Option<String>,
    /// A [`MechanismFields`] kind name.
    pub mechanism: Option<String>,
    pub batch_pages: Option<u32>,
    pub setup: Option<Seconds>,
    pub setup_cpu: Option<Percent>,
    pub sender_cpu_per_page: Option<Seconds>,
    pub receiver_cpu_per_page: Option<Seconds>,
    pub threads: Option<f64>,
    pub efficiency: Option<Percent>,
    pub bandwidth_cap: Option<Bitrate>,
    pub max_live_rounds: Option<u32>,
    pub max_factor: Option<f64>,
    pub stop_pages: Option<u32>,
    pub skip: Option<bool>,
    pub stop_rule: Option<StopRule>,
    pub downtime_limit: Option<Seconds>,
    pub auto_converge: Option<bool>,
    pub throttle_initial: Option<Percent>,
    pub throttle_increment: Option<Percent>,
    pub throttle_max: Option<Percent>,
    pub throttle_trigger: Option<Percent>,
    pub throttle_period: Option<Seconds>,
    pub suspend: Option<Seconds>,
    pub resume: Option<Seconds>,
    pub cleanup_vm: Option<Seconds>,
    pub cleanup_dom0: Option<Seconds>,
    pub cleanup_dom0_cpu: Option<Percent>,
    pub switch: Option<Seconds>,
    pub fault_service: Option<Seconds>,
    pub push: Option<PushEntry>,
    pub push_chunk_pages: Option<u32>,
    pub fault_cpu: Option<Seconds>,
    pub tick: Option<Seconds>,
    pub sender_cap: Option<Percent>,
    pub vm_cap: Option<Percent>,
    pub vm_weight: Option<f64>,
    pub pstate: Option<usize>,
}

impl MigrationFields {
    /// The fields a preset or an override table sets.
    pub fn of(t: &Tagged<CommonFields, MechanismFields>) -> Self {
        let c = t.common.clone();
        let mut f = MigrationFields {
            description: c.description,
            mechanism: Some(t.kind.kind().to_string()),
            setup: c.setup,
            setup_cpu: c.setup_cpu,
            sender_cpu_per_page: c.sender_cpu_per_page,
            receiver_cpu_per_page: c.receiver_cpu_per_page,
            threads: c.threads,
            efficiency: c.efficiency,
            bandwidth_cap: c.bandwidth_cap,
            cleanup_vm: c.cleanup_vm,
            cleanup_dom0: c.cleanup_dom0,
            cleanup_dom0_cpu: c.cleanup_dom0_cpu,
            sender_cap: c.sender_cap,
            vm_cap: c.vm_cap,
            vm_weight: c.vm_weight,
            pstate: c.pstate,
            ..MigrationFields::default()
        };
        let precopy = |f: &mut Self, p: &PrecopyFields| {
            f.batch_pages = p.batch_pages;
            f.suspend = p.suspend;
            f.resume = p.resume;
        };
        match &t.kind {
            MechanismFields::XenPrecopy(x) => {
                precopy(&mut f, &x.precopy);
                let r = x.rounds.clone();
                f.max_live_rounds = r.max_live_rounds;
                f.max_factor = r.max_factor;
                f.stop_pages = r.stop_pages;
                f.skip = r.skip;
                f.stop_rule = r.stop_rule;
            }
            MechanismFields::QemuPrecopy(q) => {
                precopy(&mut f, &q.precopy);
                let p = q.passes.clone();
                f.downtime_limit = p.downtime_limit;
                f.auto_converge = p.auto_converge;
                f.throttle_initial = p.throttle_initial;
                f.throttle_increment = p.throttle_increment;
                f.throttle_max = p.throttle_max;
                f.throttle_trigger = p.throttle_trigger;
                f.throttle_period = p.throttle_period;
            }
            MechanismFields::Postcopy(p) => {
                let p = p.clone();
                f.switch = p.switch;
                f.fault_service = p.fault_service;
                f.push = p.push;
                f.push_chunk_pages = p.push_chunk_pages;
                f.fault_cpu = p.fault_cpu;
                f.tick = p.tick;
            }
        }
        f
    }

    /// Lays the fields this layer sets over `p`.
    fn lay_over(&self, p: &mut Params) {
        fn set<T: Clone, U>(v: &Option<T>, dst: &mut U, f: impl Fn(T) -> U) {
            if let Some(v) = v {
                *dst = f(v.clone());
            }
        }
        let ns = |s: Seconds| secs_to_nanos(s.0);
        let secs = |s: Seconds| s.0;
        let pct = |x: Percent| x.0;
        let same = |x| x;
        set(&self.batch_pages, &mut p.batch_pages, same);
        set(&self.setup, &mut p.setup_ns, ns);
        set(&self.setup_cpu, &mut p.setup_cpu, pct);
        set(
            &self.sender_cpu_per_page,
            &mut p.sender_cpu_per_page_s,
            secs,
        );
        set(
            &self.receiver_cpu_per_page,
            &mut p.receiver_cpu_per_page_s,
            secs,
        );
        set(&self.threads, &mut p.threads, |x| x);
        set(&self.efficiency, &mut p.efficiency, pct);
        set(&self.bandwidth_cap, &mut p.bandwidth_cap_bps, |b| Some(b.0));
        set(&self.max_live_rounds, &mut p.max_live_rounds, same);
        set(&self.max_factor, &mut p.max_factor, Some);
        set(&self.stop_pages, &mut p.stop_pages, same);
        set(&self.skip, &mut p.skip, |x| x);
        set(&self.stop_rule, &mut p.xen_stop, |r| match r {
            StopRule::SentPlusSkipped => XenStop::SentPlusSkipped,
            StopRule::DirtyCount => XenStop::DirtyCount,
        });
        set(&self.downtime_limit, &mut p.downtime_limit_ns, ns);
        set(&self.auto_converge, &mut p.auto_converge, |x| x);
        set(&self.throttle_initial, &mut p.throttle_initial, pct);
        set(&self.throttle_increment, &mut p.throttle_increment, pct);
        set(&self.throttle_max, &mut p.throttle_max, pct);
        set(&self.throttle_trigger, &mut p.throttle_trigger, pct);
        set(&self.throttle_period, &mut p.throttle_period_ns, ns);
        set(&self.suspend, &mut p.suspend_ns, ns);
        set(&self.resume, &mut p.resume_ns, ns);
        set(&self.cleanup_vm, &mut p.cleanup_vm_ns, ns);
        set(&self.cleanup_dom0, &mut p.cleanup_dom0_ns, ns);
        set(&self.cleanup_dom0_cpu, &mut p.cleanup_dom0_cpu, pct);
        set(&self.switch, &mut p.switch_ns, ns);
        set(&self.fault_service, &mut p.fault_service_ns, ns);
        set(&self.push, &mut p.push, |x| match x {
            PushEntry::None => Push::None,
            PushEntry::Linear => Push::Linear,
            PushEntry::Prepaging => Push::Prepaging,
        });
        set(&self.push_chunk_pages, &mut p.push_chunk_pages, same);
        set(&self.fault_cpu, &mut p.fault_cpu_s, secs);
        set(&self.tick, &mut p.tick_ns, ns);
        set(&self.sender_cap, &mut p.sender_cap, |x| Some(x.0));
        set(&self.vm_cap, &mut p.vm_cap, |x| Some(x.0));
        set(&self.vm_weight, &mut p.vm_weight, Some);
        set(&self.pstate, &mut p.pstate, Some);
    }
}

impl MechanismFields {
    /// The simulator's mechanism.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            MechanismFields::XenPrecopy(_) => Mechanism::XenPrecopy,
            MechanismFields::QemuPrecopy(_) => Mechanism::QemuPrecopy,
            MechanismFields::Postcopy(_) => Mechanism::Postcopy,
        }
    }
}

/// Lays `over` onto `preset` (named `name`, from `origin`) onto the built-in defaults and
/// validates the result.
pub fn params(
    name: &str,
    origin: &str,
    preset: &MigrationFields,
    over: &MigrationFields,
) -> Result<Params, ConfigError> {
    let bad = |field: &str, msg: String| ConfigError {
        file: origin.to_string(),
        line: 0,
        column: 0,
        field: field.to_string(),
        message: format!("migration preset `{name}` with overrides: {msg}"),
    };
    let kind = over.mechanism.as_ref().or(preset.mechanism.as_ref());
    let kind = kind.ok_or_else(|| {
        bad(
            "mechanism",
            format!("missing; valid: {}", MechanismFields::KINDS.join(", ")),
        )
    })?;
    let mechanism = MechanismFields::take(kind, &mut toml::Table::new())
        .map_err(|e| bad("mechanism", e.message))?
        .mechanism();
    let mut p = Params {
        preset: name.to_string(),
        mechanism,
        ..Params::default()
    };
    preset.lay_over(&mut p);
    over.lay_over(&mut p);
    check(&p).map_err(|(f, m)| bad(f, m.into()))?;
    Ok(p)
}

/// Range checks of merged parameters: (field, what is valid).
fn check(p: &Params) -> Result<(), (&'static str, &'static str)> {
    let positive = |v: f64| v > 0.0 && v.is_finite();
    let rules: [(bool, &str, &str); 10] = [
        (
            p.batch_pages == 0,
            "batch_pages",
            "must be at least 1 (Xen sends 1024)",
        ),
        (
            p.push_chunk_pages == 0,
            "push_chunk_pages",
            "must be at least 1",
        ),
        (
            !positive(p.threads),
            "threads",
            "must be a positive number of cores",
        ),
        (
            !(p.efficiency > 0.0 && p.efficiency <= 1.0),
            "efficiency",
            "must be in (0%, 100%]",
        ),
        (
            p.bandwidth_cap_bps.is_some_and(|b| b <= 0.0),
            "bandwidth_cap",
            "must be positive (leave it out for no cap)",
        ),
        (
            p.max_live_rounds == 0,
            "max_live_rounds",
            "must be at least 1",
        ),
        (
            p.max_factor.is_some_and(|f| !(f >= 1.0 && f.is_finite())),
            "max_factor",
            "must be at least 1 (Xen 3.x: 3)",
        ),
        (
            p.throttle_period_ns == 0 || p.tick_ns == 0,
            "throttle_period/tick",
            "must be longer than zero",
        ),
        (
            p.vm_weight.is_some_and(|w| !positive(w)),
            "vm_weight",
            "must be a positive number",
        ),
        (
            p.vm_cap == Some(0.0) || p.sender_cap == Some(0.0),
            "vm_cap/sender_cap",
            "a cap of 0% would stop the work for ever",
        ),
    ];
    if let Some((_, f, m)) = rules.iter().find(|r| r.0) {
        return Err((f, m));
    }
    for (f, v) in [
        ("throttle_initial", p.throttle_initial),
        ("throttle_increment", p.throttle_increment),
        ("throttle_max", p.throttle_max),
    ] {
        if v >= 1.0 {
            return Err((f, "must be below 100% (QEMU's maximum is 99%)"));
        }
    }
    Ok(())
}

/// A preset with a host's dom0 costs laid over it.
pub fn with_host_costs(
    mut preset: MigrationFields,
    host: &crate::model::server::HostMigrationCosts,
) -> MigrationFields {
    let s = |v: Option<f64>| v.map(Seconds);
    let p = |v: Option<f64>| v.map(Percent);
    preset.sender_cpu_per_page = s(host.sender_cpu_per_page_s).or(preset.sender_cpu_per_page);
    preset.receiver_cpu_per_page = s(host.receiver_cpu_per_page_s).or(preset.receiver_cpu_per_page);
    preset.setup_cpu = p(host.setup_cpu).or(preset.setup_cpu);
    preset.cleanup_dom0_cpu = p(host.cleanup_dom0_cpu).or(preset.cleanup_dom0_cpu);
    preset.fault_cpu = s(host.fault_cpu_s).or(preset.fault_cpu);
    preset
}

/// Parses a preset file.
pub fn preset_from_text(origin: &str, text: &str) -> Result<MigrationFields, ConfigError> {
    let src = Source { name: origin, text };
    let f: PresetFile = parse(&src)?;
    Ok(MigrationFields::of(&f))
}

/// Reads an `overrides` table against the preset's `mechanism`: the common fields and
/// that mechanism's (paths relative to the table).
pub fn overrides(mechanism: &str, table: &toml::Table) -> Result<MigrationFields, FieldError> {
    let t = Tagged::<CommonFields, MechanismFields>::of_kind(mechanism, table.clone())?;
    let mut f = MigrationFields::of(&t);
    // An override does not name a mechanism: it keeps the preset's.
    f.mechanism = None;
    Ok(f)
}
