//! Turns file text into a validated [`Scenario`]: parse, resolve names and models, check
//! ranges. Every error names the file, line, column and field and says what is valid.

use super::config::*;
use super::error::{ConfigError, Source};
use super::library::Library;
use super::schema::*;
use crate::model::breaker::TripCurve;
use crate::model::pdu::Electrical;
use crate::model::power::{PState, PowerCurve, PowerModel};
use crate::model::workload::{Demand, TraceEnd};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// Parses TOML text into `T`, mapping errors to file positions.
pub fn parse<T: serde::de::DeserializeOwned>(src: &Source) -> Result<T, ConfigError> {
    toml::from_str(src.text).map_err(|e| src.from_toml(&e))
}

/// Loads and validates a scenario file. Model names are looked up in `lib` (plus the
/// `models/` directory nearest the file).
pub fn load_file(path: &Path, lib: &Library) -> Result<Scenario, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the scenario: {e}"),
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let lib = lib.clone().with_scenario_dir(&dir);
    load_str(&path.display().to_string(), &text, &dir, &lib)
}

/// Validates scenario `text` (named `name` in errors); relative trace paths are resolved
/// against `base_dir`.
pub fn load_str(
    name: &str,
    text: &str,
    base_dir: &Path,
    lib: &Library,
) -> Result<Scenario, ConfigError> {
    let src = Source { name, text };
    let file: ScenarioFile = parse(&src)?;
    Validator {
        src: &src,
        lib,
        base_dir: base_dir.to_path_buf(),
        server_models: HashMap::new(),
        breakers: HashMap::new(),
    }
    .scenario(file)
}

pub(super) struct Validator<'a> {
    pub(super) src: &'a Source<'a>,
    pub(super) lib: &'a Library,
    pub(super) base_dir: PathBuf,
    server_models: HashMap<String, Arc<ServerModel>>,
    breakers: HashMap<String, BreakerPreset>,
}

/// Registers a name, failing if it is taken (also used by the datacenter generator).
pub(super) fn unique<'n>(
    seen: &mut HashMap<String, &'n str>,
    name: &str,
    what: &'n str,
) -> Result<(), String> {
    match seen.insert(name.to_string(), what) {
        Some(prev) => Err(format!(
            "the name `{name}` is already used by a {prev}; names must be unique"
        )),
        None => Ok(()),
    }
}

impl Validator<'_> {
    pub(super) fn err(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> ConfigError {
        self.src.error(span, field, msg)
    }

    fn scenario(mut self, f: ScenarioFile) -> Result<Scenario, ConfigError> {
        let whole = 0..0;
        if f.duration.get_ref().nanos() == 0 {
            return Err(self.err(
                f.duration.span(),
                "duration",
                "must be longer than zero, e.g. \"1h\"",
            ));
        }
        let interval_ns = f.output.interval.nanos();
        if interval_ns == 0 {
            return Err(self.err(
                whole,
                "output.interval",
                "must be longer than zero, e.g. \"1s\"",
            ));
        }
        let mut names: HashMap<String, &str> = HashMap::new();

        // Devices, parents first.
        let mut devices: Vec<DeviceConfig> = Vec::new();
        let mut device_ix: HashMap<String, usize> = HashMap::new();
        for (i, entry) in f.pdus.iter().enumerate() {
            let span = entry.span();
            let p = entry.get_ref();
            let field = |k: &str| format!("pdus[{i}].{k}");
            unique(&mut names, &p.name, "pdu")
                .map_err(|m| self.err(span.clone(), field("name"), m))?;
            let kind = p.kind.get_ref().as_str();
            if !["outlet_group", "rack", "row", "datacenter"].contains(&kind) {
                return Err(self.err(
                    p.kind.span(),
                    field("kind"),
                    format!(
                        "`{kind}` is not a device kind; valid: outlet_group, rack, row, datacenter"
                    ),
                ));
            }
            let parent = match &p.parent {
                None => None,
                Some(par) => Some(*device_ix.get(par.get_ref()).ok_or_else(|| {
                    self.err(par.span(), field("parent"), format!("no pdu named `{}` is listed before this one; parents must come first (known: {})", par.get_ref(), list(device_ix.keys())))
                })?),
            };
            let phases = *p.phases.get_ref();
            if phases != 1 && phases != 3 {
                return Err(self.err(
                    p.phases.span(),
                    field("phases"),
                    format!("{phases} phases: valid values are 1 and 3"),
                ));
            }
            let pf = *p.power_factor.get_ref();
            if !(pf > 0.0 && pf <= 1.0) {
                return Err(self.err(
                    p.power_factor.span(),
                    field("power_factor"),
                    format!("{pf} is outside (0, 1]"),
                ));
            }
            if p.voltage.get_ref().0 <= 0.0 {
                return Err(self.err(
                    p.voltage.span(),
                    field("voltage"),
                    "must be positive, e.g. \"208V\"",
                ));
            }
            let electrical = Electrical {
                voltage_v: p.voltage.get_ref().0,
                phases,
                power_factor: pf,
            };
            let rating_a = match &p.rating {
                Some(r) if r.get_ref().0 <= 0.0 => {
                    return Err(self.err(
                        r.span(),
                        field("rating"),
                        "a breaker rating must be positive, e.g. \"30A\"",
                    ));
                }
                Some(r) => Some(r.get_ref().0),
                None => None,
            };
            let cap_w = match &p.cap {
                None => None,
                Some(c) => Some(self.cap(c, rating_a, &electrical, &field("cap"))?),
            };
            let breaker = match &p.breaker {
                None => None,
                Some(b) => {
                    if rating_a.is_none() {
                        return Err(self.err(
                            b.span(),
                            field("breaker"),
                            "a breaker needs a `rating` (e.g. rating = \"30A\")",
                        ));
                    }
                    Some(self.breaker(b, &field("breaker"))?)
                }
            };
            device_ix.insert(p.name.clone(), devices.len());
            devices.push(DeviceConfig {
                name: p.name.clone(),
                kind: kind.to_string(),
                parent,
                electrical,
                rating_a,
                cap_w,
                breaker,
                draw_k: p.draw_k,
            });
        }

        // Servers.
        let mut servers: Vec<ServerConfig> = Vec::new();
        let mut server_ix: HashMap<String, usize> = HashMap::new();
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, entry) in f.servers.iter().enumerate() {
            let span = entry.span();
            let s = entry.get_ref();
            let field = |k: &str| format!("servers[{i}].{k}");
            let model = self.server_model(&s.model, &field("model"))?;
            let device = *device_ix.get(s.pdu.get_ref()).ok_or_else(|| {
                self.err(
                    s.pdu.span(),
                    field("pdu"),
                    format!(
                        "no pdu named `{}`; known: {}",
                        s.pdu.get_ref(),
                        list(device_ix.keys())
                    ),
                )
            })?;
            let pstate = match &s.pstate {
                Some(p) if *p.get_ref() >= model.power.pstates.len() => {
                    return Err(self.err(
                        p.span(),
                        field("pstate"),
                        format!(
                            "model `{}` has p-states 0..={}",
                            model.name,
                            model.power.pstates.len() - 1
                        ),
                    ));
                }
                Some(p) => *p.get_ref(),
                None => 0,
            };
            let count = match &s.count {
                Some(c) if *c.get_ref() == 0 => {
                    return Err(self.err(c.span(), field("count"), "must be at least 1"))
                }
                Some(c) => Some(*c.get_ref()),
                None => None,
            };
            let dom0 = s.dom0_load.0 * 1.0;
            if dom0 > model.power.cores as f64 {
                return Err(self.err(
                    span.clone(),
                    field("dom0_load"),
                    format!(
                        "{:.0}% is more than the server's {} cores",
                        s.dom0_load.0 * 100.0,
                        model.power.cores
                    ),
                ));
            }
            let names_for: Vec<String> = match count {
                None => vec![s.name.clone()],
                Some(n) => (1..=n).map(|k| format!("{}-{k}", s.name)).collect(),
            };
            if count.is_some() {
                unique(&mut names, &s.name, "server group")
                    .map_err(|m| self.err(span.clone(), field("name"), m))?;
            }
            for n in names_for {
                unique(&mut names, &n, "server")
                    .map_err(|m| self.err(span.clone(), field("name"), m))?;
                if count.is_some() {
                    groups
                        .entry(s.name.clone())
                        .or_default()
                        .push(servers.len());
                }
                server_ix.insert(n.clone(), servers.len());
                servers.push(ServerConfig {
                    name: n,
                    model: model.clone(),
                    device,
                    pstate,
                    dom0_cores: dom0,
                });
            }
        }

        // VMs.
        let mut vms: Vec<VmConfig> = Vec::new();
        let mut vm_ix: HashMap<String, usize> = HashMap::new();
        let mut mem_used: HashMap<usize, u64> = HashMap::new();
        for (i, entry) in f.vms.iter().enumerate() {
            let span = entry.span();
            let v = entry.get_ref();
            let field = |k: &str| format!("vms[{i}].{k}");
            let hosts: Vec<usize> = match server_ix.get(v.host.get_ref()) {
                Some(&h) => vec![h],
                None => groups.get(v.host.get_ref()).cloned().ok_or_else(|| {
                    self.err(
                        v.host.span(),
                        field("host"),
                        format!(
                            "no server or server group named `{}`; known: {}",
                            v.host.get_ref(),
                            list(server_ix.keys().chain(groups.keys()))
                        ),
                    )
                })?,
            };
            let count = match &v.count {
                Some(c) if *c.get_ref() == 0 => {
                    return Err(self.err(c.span(), field("count"), "must be at least 1"))
                }
                Some(c) => Some(*c.get_ref()),
                None => None,
            };
            let vcpus = *v.vcpus.get_ref();
            if vcpus == 0 {
                return Err(self.err(v.vcpus.span(), field("vcpus"), "must be at least 1"));
            }
            let weight = *v.weight.get_ref();
            if !(weight > 0.0 && weight.is_finite()) {
                return Err(self.err(
                    v.weight.span(),
                    field("weight"),
                    "must be a positive number (Xen's default is 256)",
                ));
            }
            let memory_bytes = v.memory.map_or(0, |m| m.0 as u64);
            let wl = match &v.workload {
                None => None,
                Some(name) => {
                    let mt = self.lib.find("workloads", name.get_ref()).ok_or_else(|| {
                        self.missing(name.span(), &field("workload"), "workloads", name.get_ref())
                    })?;
                    let wsrc = Source {
                        name: &mt.origin,
                        text: &mt.text,
                    };
                    let wf: WorkloadFile = parse(&wsrc)?;
                    Some((mt, wf))
                }
            };
            // VM fields win; otherwise the workload's, with errors in the workload file.
            let (demand, memory, work) = {
                let wsrc = wl.as_ref().map(|(mt, _)| Source {
                    name: &mt.origin,
                    text: &mt.text,
                });
                let demand = match (&v.demand, &wl) {
                    (Some(d), _) => self.demand(self.src, d, &field("demand"))?,
                    (None, Some((_, wf))) => {
                        self.demand(wsrc.as_ref().unwrap(), &wf.demand, "demand")?
                    }
                    (None, None) => {
                        return Err(self.err(span.clone(), field("demand"), "a VM needs `demand` (e.g. demand = { kind = \"constant\", level = \"100%\" }) or a `workload`"));
                    }
                };
                let memory = match (&v.dirty, &wl) {
                    (None, Some((_, wf))) if wf.dirty.is_some() => {
                        if v.memory.is_none() {
                            return Err(self.err(span.clone(), field("memory"), format!("workload `{}` writes memory: give the VM a `memory` size (e.g. memory = \"600MiB\")", v.workload.as_ref().unwrap().get_ref())));
                        }
                        self.memory(
                            wsrc.as_ref().unwrap(),
                            v.memory,
                            wf.dirty.as_ref(),
                            span.clone(),
                            "dirty",
                        )?
                    }
                    _ => self.memory(
                        self.src,
                        v.memory,
                        v.dirty.as_ref(),
                        span.clone(),
                        &field("dirty"),
                    )?,
                };
                let work = v.work.or(wl.as_ref().and_then(|(_, wf)| wf.work));
                (demand, memory, work)
            };
            let work_core_s = work.map(|w| w.0 * vcpus as f64);
            if work_core_s == Some(0.0) {
                return Err(self.err(
                    span.clone(),
                    field("work"),
                    "must be longer than zero, or left out for an open-ended VM",
                ));
            }
            let names_for: Vec<String> = match count {
                None => vec![v.name.clone()],
                Some(n) => (1..=n).map(|k| format!("{}-{k}", v.name)).collect(),
            };
            for (k, name) in names_for.into_iter().enumerate() {
                unique(&mut names, &name, "vm")
                    .map_err(|m| self.err(span.clone(), field("name"), m))?;
                let host = hosts[k % hosts.len()];
                let used = mem_used.entry(host).or_insert(0);
                *used += memory_bytes;
                let host_mem = servers[host].model.memory_bytes;
                if *used > host_mem {
                    return Err(self.err(
                        span.clone(),
                        field("memory"),
                        format!(
                            "VMs on `{}` now need {} MiB, more than its {} MiB",
                            servers[host].name,
                            *used >> 20,
                            host_mem >> 20
                        ),
                    ));
                }
                vm_ix.insert(name.clone(), vms.len());
                vms.push(VmConfig {
                    name,
                    host,
                    vcpus,
                    weight,
                    cap_cores: v.cap.map(|c| c.0),
                    memory_bytes,
                    start_ns: v.start.nanos(),
                    work_core_s,
                    demand: demand.clone(),
                    memory: memory.clone(),
                    priority: v.priority.unwrap_or(1),
                    synthetic: false,
                });
            }
        }

        // A generated datacenter.
        if let Some(dc) = &f.datacenter {
            self.datacenter(dc, &mut names, &mut devices, &mut servers, &mut vms)?;
            for (i, d) in devices.iter().enumerate() {
                device_ix.entry(d.name.clone()).or_insert(i);
            }
            for (i, sv) in servers.iter().enumerate() {
                server_ix.entry(sv.name.clone()).or_insert(i);
            }
            for (i, v) in vms.iter().enumerate() {
                vm_ix.entry(v.name.clone()).or_insert(i);
            }
        }

        // Meters.
        let mut meters = Vec::new();
        for (i, entry) in f.meters.iter().enumerate() {
            let m = entry.get_ref();
            let field = |k: &str| format!("meters[{i}].{k}");
            let t = m.target.get_ref();
            let target = if let Some(&d) = device_ix.get(t) {
                MeterTarget::Device(d)
            } else if let Some(&s) = server_ix.get(t) {
                MeterTarget::Server(s)
            } else {
                return Err(self.err(
                    m.target.span(),
                    field("target"),
                    format!("no pdu or server named `{t}`"),
                ));
            };
            let name = m.name.clone().unwrap_or_else(|| format!("{t}-meter"));
            unique(&mut names, &name, "meter")
                .map_err(|e| self.err(entry.span(), field("name"), e))?;
            let window_ns = m.window.nanos();
            if window_ns == 0 {
                return Err(self.err(
                    entry.span(),
                    field("window"),
                    "must be longer than zero, e.g. \"100ms\"",
                ));
            }
            meters.push(MeterConfig {
                name,
                target,
                window_ns,
                delay_ns: m.delay.nanos(),
            });
        }

        // Actions.
        let mut actions = Vec::new();
        for (i, entry) in f.actions.iter().enumerate() {
            let a = entry.get_ref();
            let field = |k: &str| format!("actions[{i}].{k}");
            let need = |present: bool, k: &str| -> Result<(), ConfigError> {
                if present {
                    Ok(())
                } else {
                    Err(self.err(
                        entry.span(),
                        field(k),
                        format!("`{}` needs the field `{k}`", a.kind.get_ref()),
                    ))
                }
            };
            let server_of = |s: &Option<Spanned<String>>| -> Result<usize, ConfigError> {
                need(s.is_some(), "server")?;
                let s = s.as_ref().unwrap();
                server_ix.get(s.get_ref()).copied().ok_or_else(|| {
                    self.err(
                        s.span(),
                        field("server"),
                        format!("no server named `{}`", s.get_ref()),
                    )
                })
            };
            let vm_of = |v: &Option<Spanned<String>>| -> Result<usize, ConfigError> {
                need(v.is_some(), "vm")?;
                let v = v.as_ref().unwrap();
                vm_ix.get(v.get_ref()).copied().ok_or_else(|| {
                    self.err(
                        v.span(),
                        field("vm"),
                        format!("no vm named `{}`", v.get_ref()),
                    )
                })
            };
            let kind = match a.kind.get_ref().as_str() {
                "set_pstate" => {
                    let server = server_of(&a.server)?;
                    need(a.pstate.is_some(), "pstate")?;
                    let p = a.pstate.as_ref().unwrap();
                    let n = servers[server].model.power.pstates.len();
                    if *p.get_ref() >= n {
                        return Err(self.err(
                            p.span(),
                            field("pstate"),
                            format!(
                                "server `{}` has p-states 0..={}",
                                servers[server].name,
                                n - 1
                            ),
                        ));
                    }
                    ActionKind::SetPstate {
                        server,
                        pstate: *p.get_ref(),
                    }
                }
                "set_vm_cap" => {
                    let vm = vm_of(&a.vm)?;
                    need(a.cap.is_some(), "cap")?;
                    let c = a.cap.as_ref().unwrap();
                    let cap_cores = if c.get_ref().trim() == "none" {
                        None
                    } else {
                        Some(
                            c.get_ref()
                                .parse::<crate::units::Percent>()
                                .map_err(|e| {
                                    self.err(c.span(), field("cap"), format!("{e}, or \"none\""))
                                })?
                                .0,
                        )
                    };
                    ActionKind::SetVmCap { vm, cap_cores }
                }
                "set_vm_weight" => {
                    let vm = vm_of(&a.vm)?;
                    need(a.weight.is_some(), "weight")?;
                    let w = a.weight.as_ref().unwrap();
                    if !(*w.get_ref() > 0.0 && w.get_ref().is_finite()) {
                        return Err(self.err(
                            w.span(),
                            field("weight"),
                            "must be a positive number",
                        ));
                    }
                    ActionKind::SetVmWeight {
                        vm,
                        weight: *w.get_ref(),
                    }
                }
                "migrate" => {
                    let vm = vm_of(&a.vm)?;
                    need(a.to.is_some(), "to")?;
                    need(a.algorithm.is_some(), "algorithm")?;
                    let to = a.to.as_ref().unwrap();
                    let to_ix = server_ix.get(to.get_ref()).copied().ok_or_else(|| {
                        self.err(
                            to.span(),
                            field("to"),
                            format!("no server named `{}`", to.get_ref()),
                        )
                    })?;
                    if vms[vm].memory.is_none() {
                        return Err(self.err(
                            a.vm.as_ref().unwrap().span(),
                            field("vm"),
                            format!("VM `{}` has no `memory` size: a migration needs one (e.g. memory = \"600MiB\")", vms[vm].name),
                        ));
                    }
                    let alg = a.algorithm.as_ref().unwrap();
                    let mt = self.lib.find("migration", alg.get_ref()).ok_or_else(|| {
                        self.missing(alg.span(), &field("algorithm"), "migration", alg.get_ref())
                    })?;
                    let preset = super::migration::preset_from_text(&mt.origin, &mt.text)?;
                    let empty = super::migration::MigrationFields::default();
                    let over = a.overrides.as_ref().map_or(&empty, |o| o.get_ref());
                    // The source's dom0 costs sit between the preset and the overrides.
                    let host = &servers[vms[vm].host].model.dom0;
                    let preset = super::migration::with_host_costs(preset, host);
                    let params = super::migration::params(alg.get_ref(), &mt.origin, &preset, over)
                        .map_err(|mut e| {
                            if let Some(o) = &a.overrides {
                                // An override made it invalid: point at the overrides.
                                let (line, column) = self.src.line_col(o.span().start);
                                e.file = self.src.name.to_string();
                                e.line = line;
                                e.column = column;
                                e.field = format!("{}.{}", field("overrides"), e.field);
                            }
                            e
                        })?;
                    if let Some(p) = params.pstate {
                        let n = servers[vms[vm].host].model.power.pstates.len();
                        if p >= n {
                            return Err(self.err(
                                alg.span(),
                                field("overrides.pstate"),
                                format!("p-state {p}: the source has p-states 0..={}", n - 1),
                            ));
                        }
                    }
                    ActionKind::Migrate {
                        vm,
                        to: to_ix,
                        params: Arc::new(params),
                    }
                }
                other => {
                    return Err(self.err(a.kind.span(), field("kind"), format!("`{other}` is not an action; valid: set_pstate, set_vm_cap, set_vm_weight, migrate")));
                }
            };
            actions.push(Action {
                at_ns: a.at.nanos(),
                kind,
            });
        }

        let policy = match &f.policy {
            None => None,
            Some(p) => self.policy(p)?,
        };
        Ok(Scenario {
            policy,
            name: f.name,
            description: f.description,
            seed: f.seed,
            replicate: 0,
            duration_ns: f.duration.get_ref().nanos(),
            output: OutputConfig {
                interval_ns,
                servers: f.output.servers,
                vms: f.output.vms,
            },
            devices,
            servers,
            vms,
            meters,
            actions,
        })
    }

    /// A cap: "80%" of the rating's power, or a power.
    fn cap(
        &self,
        c: &Spanned<String>,
        rating_a: Option<f64>,
        e: &Electrical,
        field: &str,
    ) -> Result<f64, ConfigError> {
        let s = c.get_ref().trim();
        if s.ends_with('%') {
            let frac = s
                .parse::<crate::units::Percent>()
                .map_err(|m| self.err(c.span(), field, m))?
                .0;
            let r = rating_a.ok_or_else(|| {
                self.err(
                    c.span(),
                    field,
                    "a cap in % needs a `rating`; or give the cap as a power, e.g. \"4.99kW\"",
                )
            })?;
            Ok(frac * e.watts(r))
        } else {
            let w = s
                .parse::<crate::units::Power>()
                .map_err(|m| {
                    self.err(
                        c.span(),
                        field,
                        format!("{m}; or a percentage of the rating, e.g. \"80%\""),
                    )
                })?
                .0;
            if w <= 0.0 {
                return Err(self.err(c.span(), field, "a cap must be positive"));
            }
            Ok(w)
        }
    }

    pub(super) fn demand(
        &self,
        src: &Source,
        d: &Spanned<DemandEntry>,
        field: &str,
    ) -> Result<Demand, ConfigError> {
        let e = d.get_ref();
        let f = |k: &str| format!("{field}.{k}");
        let level_ok = |v: f64, span, k: &str| -> Result<f64, ConfigError> {
            if v > 1.0 {
                Err(src.error(
                    span,
                    f(k),
                    format!("{:.1}% is above 100% of the VM's vCPUs", v * 100.0),
                ))
            } else {
                Ok(v)
            }
        };
        match e.kind.get_ref().as_str() {
            "constant" => {
                let l = e.level.as_ref().ok_or_else(|| {
                    src.error(
                        d.span(),
                        f("level"),
                        "`constant` demand needs `level`, e.g. level = \"100%\"",
                    )
                })?;
                Ok(Demand::Constant(level_ok(
                    l.get_ref().0,
                    l.span(),
                    "level",
                )?))
            }
            "steps" => {
                let s = e.steps.as_ref().ok_or_else(|| {
                    src.error(
                        d.span(),
                        f("steps"),
                        "`steps` demand needs `steps = [[\"0s\", \"20%\"], …]`",
                    )
                })?;
                let mut out: Vec<(u64, f64)> = Vec::new();
                for (t, l) in s.get_ref() {
                    let t = t.nanos();
                    if out.last().is_some_and(|&(p, _)| t <= p) {
                        return Err(src.error(
                            s.span(),
                            f("steps"),
                            "step times must increase strictly",
                        ));
                    }
                    out.push((t, level_ok(l.0, s.span(), "steps")?));
                }
                if out.first().map(|s| s.0) != Some(0) {
                    return Err(src.error(
                        s.span(),
                        f("steps"),
                        "the first step must be at \"0s\"",
                    ));
                }
                Ok(Demand::Steps(out))
            }
            "trace" => {
                let file = e
                    .file
                    .as_ref()
                    .ok_or_else(|| src.error(d.span(), f("file"), "`trace` demand needs `file`"))?;
                let interval_ns = e.interval.map_or(300_000_000_000, |i| i.nanos());
                if interval_ns == 0 {
                    return Err(src.error(
                        d.span(),
                        f("interval"),
                        "must be longer than zero, e.g. \"5min\"",
                    ));
                }
                let end = match e.after_end.as_ref().map(|s| s.get_ref().as_str()) {
                    None | Some("repeat") => TraceEnd::Repeat,
                    Some("hold") => TraceEnd::Hold,
                    Some("zero") => TraceEnd::Zero,
                    Some(other) => {
                        let sp = e.after_end.as_ref().unwrap().span();
                        return Err(src.error(
                            sp,
                            f("after_end"),
                            format!("`{other}`: valid values are repeat, hold, zero"),
                        ));
                    }
                };
                let path = self.base_dir.join(file.get_ref());
                let samples = super::trace::read_planetlab(&path).map_err(|mut err| {
                    if err.line == 0 {
                        // Cannot read at all: point at the field in the scenario.
                        err = src.error(
                            file.span(),
                            f("file"),
                            format!("{}: {}", path.display(), err.message),
                        );
                    }
                    err
                })?;
                Ok(Demand::Trace {
                    interval_ns,
                    samples: samples.into(),
                    end,
                })
            }
            other => Err(src.error(
                e.kind.span(),
                f("kind"),
                format!("`{other}` is not a demand kind; valid: constant, steps, trace"),
            )),
        }
    }

    /// The `[policy]` section.
    fn policy(
        &mut self,
        p: &Spanned<PolicyEntry>,
    ) -> Result<Option<crate::scenario::config::PolicySetup>, ConfigError> {
        use crate::policy::{dvfs_feedback, group_dvfs, idle_injection, migration, thunderbolt};
        use crate::policy::{Bands, Latencies, PolicyConfig};
        let e = p.get_ref();
        let field = |k: &str| format!("policy.{k}");
        let pct = |v: Option<crate::units::Percent>, d: f64| v.map_or(d, |x| x.0);
        let ns = |v: Option<crate::units::Seconds>, d: f64| {
            crate::engine::time::secs_to_nanos(v.map_or(d, |x| x.0))
        };
        let period_ns = ns(e.period, 1.0);
        if period_ns == 0 {
            return Err(self.err(
                p.span(),
                field("period"),
                "must be longer than zero, e.g. \"1s\"",
            ));
        }
        let delay_ns = ns(e.meter_delay, 0.0);
        let bands = Bands {
            cap: pct(e.cap, 1.0),
            target: pct(e.target, 0.95),
            uncap: pct(e.uncap, 0.9),
        };
        if !(bands.uncap <= bands.target && bands.target <= bands.cap) {
            return Err(self.err(
                p.span(),
                field("target"),
                format!(
                    "thresholds must satisfy uncap <= target <= cap; got {}% <= {}% <= {}%",
                    bands.uncap * 100.0,
                    bands.target * 100.0,
                    bands.cap * 100.0
                ),
            ));
        }
        let kind = e.kind.get_ref().as_str();
        let migration = |this: &mut Self,
                         default_alg: &str,
                         headroom: bool|
         -> Result<migration::Config, ConfigError> {
            let alg_name = e
                .algorithm
                .as_ref()
                .map_or(default_alg.to_string(), |a| a.get_ref().clone());
            let span = e.algorithm.as_ref().map_or(p.span(), |a| a.span());
            let mt = this.lib.find("migration", &alg_name).ok_or_else(|| {
                this.missing(span.clone(), &field("algorithm"), "migration", &alg_name)
            })?;
            let preset = super::migration::preset_from_text(&mt.origin, &mt.text)?;
            let empty = super::migration::MigrationFields::default();
            let over = e.overrides.as_ref().map_or(&empty, |o| o.get_ref());
            let params = super::migration::params(&alg_name, &mt.origin, &preset, over)?;
            if params.pstate.is_some() {
                return Err(this.err(span, field("algorithm"), "a policy's migrations may go from any server: use a preset without a fixed `pstate`"));
            }
            let vm_choice = match e.vm_choice.as_ref().map(|s| s.get_ref().as_str()) {
                None | Some("largest-cpu") => migration::VmChoice::LargestCpu,
                Some("smallest-memory") => migration::VmChoice::SmallestMemory,
                Some("best-ratio") => migration::VmChoice::BestRatio,
                Some(other) => {
                    return Err(this.err(
                        e.vm_choice.as_ref().unwrap().span(),
                        field("vm_choice"),
                        format!("`{other}`; valid: largest-cpu, smallest-memory, best-ratio"),
                    ));
                }
            };
            Ok(migration::Config {
                threshold: pct(e.threshold, 1.0),
                dwell_ns: ns(e.dwell, 5.0),
                headroom,
                vm_choice,
                destination_limit: pct(e.destination_limit, 0.95),
                max_in_flight: e.max_in_flight.unwrap_or(1).max(1),
                algorithm: std::sync::Arc::new(params),
            })
        };
        let config = match kind {
            "none" => PolicyConfig::None,
            "dvfs" => PolicyConfig::DvfsFeedback(dvfs_feedback::Config {
                bands,
                gain: e.gain.unwrap_or(1.0),
            }),
            "group-dvfs" => PolicyConfig::GroupDvfs(group_dvfs::Config { bands }),
            "thunderbolt" => {
                let decrease = pct(e.decrease, 0.5);
                if !(decrease > 0.0 && decrease < 1.0) {
                    return Err(self.err(
                        p.span(),
                        field("decrease"),
                        "must be between 0% and 100% (exclusive)",
                    ));
                }
                PolicyConfig::Thunderbolt(thunderbolt::Config {
                    bands,
                    low_priority: e.low_priority.unwrap_or(0),
                    decrease,
                    min_quota: pct(e.min_quota, 0.1),
                    recovery: pct(e.recovery, 0.25).min(1.0),
                })
            }
            "idle" => {
                let max = pct(e.idle_max, 0.5);
                if max >= 1.0 {
                    return Err(self.err(p.span(), field("idle_max"), "must be below 100%"));
                }
                PolicyConfig::IdleInjection(idle_injection::Config {
                    bands,
                    step: pct(e.idle_step, 0.1),
                    max,
                })
            }
            "migration" => PolicyConfig::Migration(migration(self, "xen34-precopy", false)?),
            "headroom" => PolicyConfig::Migration(migration(self, "xen34-precopy", true)?),
            "power-aware-migration" => {
                PolicyConfig::Migration(migration(self, "precopy-vm-cap", true)?)
            }
            "dvfs+migration" => PolicyConfig::DvfsThenMigration(
                group_dvfs::Config { bands },
                migration(self, "xen34-precopy", false)?,
            ),
            other => {
                return Err(self.err(e.kind.span(), field("kind"), format!("`{other}` is not a policy; valid: none, dvfs, group-dvfs, thunderbolt, idle, migration, headroom, power-aware-migration, dvfs+migration")));
            }
        };
        Ok(Some(crate::scenario::config::PolicySetup {
            config,
            period_ns,
            sensors: {
                let mut s = crate::model::meter::SensorSpecs::defaults(period_ns);
                if e.meter_delay.is_some() {
                    s.pdu.delay_ns = delay_ns;
                }
                s
            },
            latencies: Latencies {
                dvfs_ns: ns(e.dvfs_latency, 0.01),
                cap_ns: ns(e.cap_latency, 0.001),
                idle_ns: ns(e.idle_latency, 0.01),
                migrate_ns: ns(e.migration_latency, 0.1),
            },
        }))
    }

    /// A VM's memory profile from `memory` and `dirty`.
    pub(super) fn memory(
        &self,
        src: &Source,
        mem: Option<crate::units::Bytes>,
        dirty: Option<&Spanned<DirtyEntry>>,
        span: std::ops::Range<usize>,
        field: &str,
    ) -> Result<Option<crate::model::memory::MemoryProfile>, ConfigError> {
        use crate::model::memory::{MemoryProfile, Sweep, PAGE_SIZE};
        let pages_of = |b: f64| (b / PAGE_SIZE as f64).ceil() as u64;
        let Some(mem) = mem else {
            if let Some(d) = dirty {
                return Err(src.error(
                    d.span(),
                    field,
                    "a `dirty` process needs the VM's `memory` size",
                ));
            }
            return Ok(None);
        };
        let pages = pages_of(mem.0);
        if pages == 0 || pages > u32::MAX as u64 {
            return Err(src.error(
                span,
                field.replace("dirty", "memory"),
                "must be between 4KiB and 16TiB",
            ));
        }
        let pages = pages as u32;
        let profile = match dirty {
            None => MemoryProfile::quiet(pages),
            Some(d) => {
                let e = d.get_ref();
                let sweep = e.sweep.as_ref().map(|s| Sweep {
                    start: pages_of(s.start.map_or(0.0, |b| b.0)).min(u32::MAX as u64) as u32,
                    pages: pages_of(s.size.0).min(u32::MAX as u64) as u32,
                    pages_per_s: s.speed.0 / 8.0 / PAGE_SIZE as f64,
                });
                MemoryProfile {
                    pages,
                    footprint_pages: pages_of(e.footprint.0).min(u32::MAX as u64) as u32,
                    hot_pages: pages_of(e.hot_set.map_or(0.0, |b| b.0)).min(u32::MAX as u64) as u32,
                    hot_start: pages_of(e.hot_offset.map_or(0.0, |b| b.0)).min(u32::MAX as u64)
                        as u32,
                    hot_rate: e.hot_rate.map_or(0.0, |r| r.0),
                    cold_rate: e.cold_rate.map_or(0.0, |r| r.0),
                    sweep,
                }
            }
        };
        profile.check().map_err(|m| {
            let sp = dirty.map_or(span.clone(), |d| d.span());
            src.error(sp, field, m)
        })?;
        Ok(Some(profile))
    }

    pub(super) fn missing(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        kind: &str,
        name: &str,
    ) -> ConfigError {
        self.err(span, field, format!("no {} model `{name}` in the model library (models/{kind}/{name}.toml); available: {}", kind.trim_end_matches('s'), self.lib.names(kind).join(", ")))
    }

    pub(super) fn server_model(
        &mut self,
        name: &Spanned<String>,
        field: &str,
    ) -> Result<Arc<ServerModel>, ConfigError> {
        if let Some(m) = self.server_models.get(name.get_ref()) {
            return Ok(m.clone());
        }
        let mt = self
            .lib
            .find("servers", name.get_ref())
            .ok_or_else(|| self.missing(name.span(), field, "servers", name.get_ref()))?;
        let m = Arc::new(server_model_from_text(
            name.get_ref(),
            &mt.origin,
            &mt.text,
        )?);
        self.server_models.insert(name.get_ref().clone(), m.clone());
        Ok(m)
    }

    pub(super) fn breaker(
        &mut self,
        name: &Spanned<String>,
        field: &str,
    ) -> Result<BreakerPreset, ConfigError> {
        if let Some(b) = self.breakers.get(name.get_ref()) {
            return Ok(b.clone());
        }
        let mt = self
            .lib
            .find("breakers", name.get_ref())
            .ok_or_else(|| self.missing(name.span(), field, "breakers", name.get_ref()))?;
        let b = breaker_from_text(name.get_ref(), &mt.origin, &mt.text)?;
        self.breakers.insert(name.get_ref().clone(), b.clone());
        Ok(b)
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut v: Vec<&String> = names.collect();
    if v.is_empty() {
        return "none".into();
    }
    v.sort();
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// Parses and checks a server model file.
pub fn server_model_from_text(
    name: &str,
    origin: &str,
    text: &str,
) -> Result<ServerModel, ConfigError> {
    let src = Source { name: origin, text };
    let f: ServerModelFile = parse(&src)?;
    let whole = |field: &str, msg: String| src.error(0..0, field, msg);
    let kind = f.power.kind.get_ref().as_str();
    let need = |v: Option<crate::units::Power>, k: &str| {
        v.map(|p| p.0).ok_or_else(|| {
            src.error(
                f.power.kind.span(),
                format!("power.{k}"),
                format!("power kind `{kind}` needs `{k}`"),
            )
        })
    };
    let curve = match kind {
        "linear" => PowerCurve::Linear {
            idle_w: need(f.power.idle, "idle")?,
            max_w: need(f.power.max, "max")?,
        },
        "cores" => PowerCurve::Cores {
            idle_w: need(f.power.idle, "idle")?,
        },
        "specpower" => {
            let t = f.power.table.as_ref().ok_or_else(|| {
                src.error(
                    f.power.kind.span(),
                    "power.table",
                    "power kind `specpower` needs `table`: 11 powers at 0%, 10%, …, 100% load",
                )
            })?;
            let v: Vec<f64> = t.get_ref().iter().map(|p| p.0).collect();
            let table_w: [f64; 11] = v.clone().try_into().map_err(|_| {
                src.error(
                    t.span(),
                    "power.table",
                    format!(
                        "has {} values; a SPECpower table has 11 (0%, 10%, …, 100% load)",
                        v.len()
                    ),
                )
            })?;
            PowerCurve::SpecPower { table_w }
        }
        other => {
            return Err(src.error(
                f.power.kind.span(),
                "power.kind",
                format!("`{other}` is not a power kind; valid: linear, specpower, cores"),
            ))
        }
    };
    let cores = *f.cores.get_ref();
    if cores == 0 {
        return Err(src.error(f.cores.span(), "cores", "must be at least 1"));
    }
    let pstates: Vec<PState> = f
        .pstates
        .iter()
        .map(|p| PState {
            frequency_hz: p.get_ref().frequency.0,
            voltage_v: p.get_ref().voltage.map(|v| v.0),
            core_w: p.get_ref().core_power.map(|c| c.0),
        })
        .collect();
    let pstates = if pstates.is_empty() {
        if kind == "cores" {
            return Err(whole("pstates", "a `cores` model needs at least one [[pstates]] entry with `frequency` and `core_power`".into()));
        }
        vec![PState {
            frequency_hz: 1.0,
            voltage_v: None,
            core_w: None,
        }]
    } else {
        pstates
    };
    let power = PowerModel {
        cores,
        curve,
        pstates,
        nic_w_per_gbps: f.power.nic_per_gbps.0,
    };
    power.check().map_err(|m| whole("", m))?;
    let d = f.dom0.unwrap_or_default();
    let dom0 = crate::model::server::HostMigrationCosts {
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
    let curve = TripCurve {
        pickup: f.pickup,
        alpha: f.alpha,
        k_s: f.k.0,
        k_band_s: f.k_band.map(|(a, b)| (a.0, b.0)),
        reset_s: f.reset.0,
        magnetic_pickup: f.magnetic_pickup,
        magnetic_time_s: f.magnetic_time.0,
    };
    curve.check().map_err(|m| src.error(0..0, "", m))?;
    Ok(BreakerPreset {
        name: name.to_string(),
        curve,
    })
}
