//! Migration presets (`models/migration/<name>.toml`) and their overrides in a scenario's
//! `migrate` action: the same fields in both, every one optional; an override wins over
//! the preset, the preset over the built-in default named in each field's comment.

use super::error::{ConfigError, Source};
use crate::migration::params::{Mechanism, Params, Push, XenStop};
use crate::units::{Bitrate, Percent, Seconds};
use serde::Deserialize;

/// The fields of a migration preset or override.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationFields {
    /// Free text.
    pub description: Option<String>,
    /// `xen-precopy`, `qemu-precopy` or `postcopy` (required in a preset).
    pub mechanism: Option<String>,
    /// Pages per batch (default 1024, Xen's MAX_BATCH_SIZE).
    pub batch_pages: Option<u32>,
    /// Setup before the first page (default "1s").
    pub setup: Option<Seconds>,
    /// dom0 CPU during setup, % of a core (default "10%").
    pub setup_cpu: Option<Percent>,
    /// Sender dom0 CPU per 4 KiB page (default "17us").
    pub sender_cpu_per_page: Option<Seconds>,
    /// Receiver dom0 CPU per 4 KiB page (default "10us").
    pub receiver_cpu_per_page: Option<Seconds>,
    /// Most CPU the sender or receiver can use, cores (default 1: one thread).
    pub threads: Option<f64>,
    /// Payload share of the line rate (default "94%": TCP over Ethernet).
    pub efficiency: Option<Percent>,
    /// Payload rate limit (default none).
    pub bandwidth_cap: Option<Bitrate>,
    /// Xen: live rounds at most (default 29).
    pub max_live_rounds: Option<u32>,
    /// Xen 3.x: total sent / memory at most (default none).
    pub max_factor: Option<f64>,
    /// Xen: small-dirty-set threshold, pages (default 50).
    pub stop_pages: Option<u32>,
    /// Xen 3.x: skip pages re-dirtied in the current round (default false).
    pub skip: Option<bool>,
    /// Xen: `sent+skipped` (3.x, default) or `dirty-count` (4.6+).
    pub stop_rule: Option<String>,
    /// QEMU: downtime limit (default "300ms").
    pub downtime_limit: Option<Seconds>,
    /// QEMU: auto-converge (default false).
    pub auto_converge: Option<bool>,
    /// QEMU: first throttle (default "20%").
    pub throttle_initial: Option<Percent>,
    /// QEMU: throttle step (default "10%").
    pub throttle_increment: Option<Percent>,
    /// QEMU: largest throttle (default "99%").
    pub throttle_max: Option<Percent>,
    /// QEMU: dirtied/sent ratio that counts towards a step (default "50%").
    pub throttle_trigger: Option<Percent>,
    /// QEMU: rate period (default "1s").
    pub throttle_period: Option<Seconds>,
    /// Suspend before the final copy (default "30ms").
    pub suspend: Option<Seconds>,
    /// CPU state, restore and unpause on the destination (default "100ms").
    pub resume: Option<Seconds>,
    /// The source copy of the VM keeps running after switch-over (default "1s").
    pub cleanup_vm: Option<Seconds>,
    /// Then dom0 on the source stays busy (default "1s").
    pub cleanup_dom0: Option<Seconds>,
    /// dom0 CPU during that clean-up, % of a core (default "50%").
    pub cleanup_dom0_cpu: Option<Percent>,
    /// Post-copy: suspend → running on the destination (default "120ms").
    pub switch: Option<Seconds>,
    /// Post-copy: vCPU stall per demand fault (default "300us").
    pub fault_service: Option<Seconds>,
    /// Post-copy: `none`, `linear` or `prepaging` (default `linear`).
    pub push: Option<String>,
    /// Post-copy: pages per push chunk (default 64).
    pub push_chunk_pages: Option<u32>,
    /// Post-copy: source dom0 CPU per fault served (default "50us").
    pub fault_cpu: Option<Seconds>,
    /// Post-copy: fault accounting interval when idle (default "10ms").
    pub tick: Option<Seconds>,
    /// Power-aware: cap on the sender's CPU, % of a core (default none).
    pub sender_cap: Option<Percent>,
    /// Power-aware: cap on the migrating VM's CPU while copied, % of a core (default none).
    pub vm_cap: Option<Percent>,
    /// Power-aware: the migrating VM's weight while copied (default unchanged).
    pub vm_weight: Option<f64>,
    /// Power-aware: source p-state during the migration (default unchanged).
    pub pstate: Option<usize>,
}

macro_rules! pick {
    ($o:expr, $p:expr, $f:ident) => {
        $o.$f.clone().or_else(|| $p.$f.clone())
    };
}

/// Merges `over` onto `preset` (named `name`, from `origin`) and validates the result.
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
    let mechanism = match pick!(over, preset, mechanism).as_deref() {
        Some("xen-precopy") => Mechanism::XenPrecopy,
        Some("qemu-precopy") => Mechanism::QemuPrecopy,
        Some("postcopy") => Mechanism::Postcopy,
        Some(other) => {
            return Err(bad(
                "mechanism",
                format!("`{other}` is not a mechanism; valid: xen-precopy, qemu-precopy, postcopy"),
            ))
        }
        None => {
            return Err(bad(
                "mechanism",
                "missing; valid: xen-precopy, qemu-precopy, postcopy".into(),
            ))
        }
    };
    let secs = |v: Option<Seconds>, d: f64| v.map_or(d, |s| s.0);
    let ns = |v: Option<Seconds>, d: f64| crate::engine::time::secs_to_nanos(secs(v, d));
    let pct = |v: Option<Percent>, d: f64| v.map_or(d, |p| p.0);
    let xen_stop = match pick!(over, preset, stop_rule).as_deref() {
        None | Some("sent+skipped") => XenStop::SentPlusSkipped,
        Some("dirty-count") => XenStop::DirtyCount,
        Some(other) => {
            return Err(bad(
                "stop_rule",
                format!("`{other}`; valid: sent+skipped, dirty-count"),
            ))
        }
    };
    let push = match pick!(over, preset, push).as_deref() {
        None | Some("linear") => Push::Linear,
        Some("none") => Push::None,
        Some("prepaging") => Push::Prepaging,
        Some(other) => {
            return Err(bad(
                "push",
                format!("`{other}`; valid: none, linear, prepaging"),
            ))
        }
    };
    let p = Params {
        preset: name.to_string(),
        mechanism,
        batch_pages: pick!(over, preset, batch_pages).unwrap_or(1024),
        setup_ns: ns(pick!(over, preset, setup), 1.0),
        setup_cpu: pct(pick!(over, preset, setup_cpu), 0.1),
        sender_cpu_per_page_s: secs(pick!(over, preset, sender_cpu_per_page), 17e-6),
        receiver_cpu_per_page_s: secs(pick!(over, preset, receiver_cpu_per_page), 10e-6),
        threads: pick!(over, preset, threads).unwrap_or(1.0),
        efficiency: pct(pick!(over, preset, efficiency), 0.94),
        bandwidth_cap_bps: pick!(over, preset, bandwidth_cap).map(|b| b.0),
        max_live_rounds: pick!(over, preset, max_live_rounds).unwrap_or(29),
        max_factor: pick!(over, preset, max_factor),
        stop_pages: pick!(over, preset, stop_pages).unwrap_or(50),
        skip: pick!(over, preset, skip).unwrap_or(false),
        xen_stop,
        downtime_limit_ns: ns(pick!(over, preset, downtime_limit), 0.3),
        auto_converge: pick!(over, preset, auto_converge).unwrap_or(false),
        throttle_initial: pct(pick!(over, preset, throttle_initial), 0.2),
        throttle_increment: pct(pick!(over, preset, throttle_increment), 0.1),
        throttle_max: pct(pick!(over, preset, throttle_max), 0.99),
        throttle_trigger: pct(pick!(over, preset, throttle_trigger), 0.5),
        throttle_period_ns: ns(pick!(over, preset, throttle_period), 1.0),
        suspend_ns: ns(pick!(over, preset, suspend), 0.03),
        resume_ns: ns(pick!(over, preset, resume), 0.1),
        cleanup_vm_ns: ns(pick!(over, preset, cleanup_vm), 1.0),
        cleanup_dom0_ns: ns(pick!(over, preset, cleanup_dom0), 1.0),
        cleanup_dom0_cpu: pct(pick!(over, preset, cleanup_dom0_cpu), 0.5),
        switch_ns: ns(pick!(over, preset, switch), 0.12),
        fault_service_ns: ns(pick!(over, preset, fault_service), 300e-6),
        push,
        push_chunk_pages: pick!(over, preset, push_chunk_pages).unwrap_or(64),
        fault_cpu_s: secs(pick!(over, preset, fault_cpu), 50e-6),
        tick_ns: ns(pick!(over, preset, tick), 0.01),
        sender_cap: pick!(over, preset, sender_cap).map(|p| p.0),
        vm_cap: pick!(over, preset, vm_cap).map(|p| p.0),
        vm_weight: pick!(over, preset, vm_weight),
        pstate: pick!(over, preset, pstate),
    };
    let positive = |v: f64| v > 0.0 && v.is_finite();
    if p.batch_pages == 0 {
        return Err(bad(
            "batch_pages",
            "must be at least 1 (Xen sends 1024)".into(),
        ));
    }
    if p.push_chunk_pages == 0 {
        return Err(bad("push_chunk_pages", "must be at least 1".into()));
    }
    if !positive(p.threads) {
        return Err(bad("threads", "must be a positive number of cores".into()));
    }
    if !(p.efficiency > 0.0 && p.efficiency <= 1.0) {
        return Err(bad("efficiency", "must be in (0%, 100%]".into()));
    }
    if p.bandwidth_cap_bps.is_some_and(|b| b <= 0.0) {
        return Err(bad(
            "bandwidth_cap",
            "must be positive (leave it out for no cap)".into(),
        ));
    }
    if p.max_live_rounds == 0 {
        return Err(bad("max_live_rounds", "must be at least 1".into()));
    }
    if p.max_factor.is_some_and(|f| !(f >= 1.0 && f.is_finite())) {
        return Err(bad("max_factor", "must be at least 1 (Xen 3.x: 3)".into()));
    }
    for (f, v) in [
        ("throttle_initial", p.throttle_initial),
        ("throttle_increment", p.throttle_increment),
        ("throttle_max", p.throttle_max),
    ] {
        if v >= 1.0 {
            return Err(bad(f, "must be below 100% (QEMU's maximum is 99%)".into()));
        }
    }
    if p.throttle_period_ns == 0 || p.tick_ns == 0 {
        return Err(bad(
            "throttle_period/tick",
            "must be longer than zero".into(),
        ));
    }
    if p.vm_weight.is_some_and(|w| !positive(w)) {
        return Err(bad("vm_weight", "must be a positive number".into()));
    }
    if p.vm_cap == Some(0.0) || p.sender_cap == Some(0.0) {
        return Err(bad(
            "vm_cap/sender_cap",
            "a cap of 0% would stop the work for ever".into(),
        ));
    }
    Ok(p)
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
    super::validate::parse(&src)
}
