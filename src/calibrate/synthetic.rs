//! Synthetic capture runs: capsim simulates a testbed with known parameters and the
//! result is written as a capture run directory through the capture tool's own writer,
//! so calibration can be checked end to end (the round trip) and users can see the layout.
//!
//! What is written, from the simulator's exact averages over each `interval` (100 ms):
//! - `power.csv`: the metered host's mean power over each interval (a WT210-like 100 ms
//!   mean, stamped at the interval's end) plus Gaussian noise (σ = `noise_w`, seeded);
//! - `cpu.csv`: cumulative `cpu_ns` per domain, as `xl list` reports it: `Domain-0`
//!   (domid 0), each VM (domid = its index + 1), renamed `<vm>--migratedaway` between
//!   switch-over and the source copy's end (the lingering copy's CPU counts there); the
//!   destination's rows have `source` = `xl@<destination>`, with the incoming domain
//!   `<vm>--incoming` (domid 100 + index) from the transfer's start, `<vm>` after switch-over;
//! - `events.jsonl`: the kinds a real `--run "xl migrate …" --xl` capture writes:
//!   `run.start`/`run.end` of the command (at the migration's start and when the source
//!   copy is gone), `migration.incoming_seen` (transfer start), `migration.migratedaway_seen`
//!   (transfer end), `migration.switch` + `migration.end` side target (switch-over),
//!   `migration.migratedaway_gone` + `migration.end` side source (source copy gone, with
//!   `bytes_sent` and `pages_sent`, which a real Xen capture lacks). Stamps are the
//!   simulated instants (a real `--xl` poll stamps them up to one poll later). The end of
//!   dom0's clean-up has no event, as in a real capture.
//! - `manifest.json`: `"synthetic"` with the scenario, host, seed, noise and the true
//!   parameters, and `"host"` with cores, memory, NIC and clock for the model file.

use crate::actuation::Actuation;
use crate::capture::record::{CpuRow, EventRow, Flags, FreqRow, PowerRow, Record, Stamp};
use crate::capture::writer::{Counts, Writer, FILES};
use crate::model::ids::{MigrationId, ServerId};
use crate::scenario::config::Scenario;
use crate::sim::{LogEvent, RunResult};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::path::Path;

/// Wall-clock origin of synthetic runs: 2026-01-01T00:00:00Z, so files are reproducible.
const WALL_ORIGIN_NS: i128 = 1_767_225_600_000_000_000;

/// How to turn a simulation into a capture run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The metered server's name.
    pub host: String,
    /// Sample interval of power and CPU rows, s (the meter's update interval).
    pub interval_s: f64,
    /// Standard deviation of the meter noise, W.
    pub noise_w: f64,
    /// Seed of the noise.
    pub seed: u64,
    /// Added to every power stamp, s (a clock offset between meter and CPU, for tests).
    pub power_shift_s: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "source".into(),
            interval_s: 0.1,
            noise_w: 1.0,
            seed: 1,
            power_shift_s: 0.0,
        }
    }
}

/// The simulation's true parameters, for checking a calibration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Truth {
    /// Idle power, W.
    pub idle_w: f64,
    /// Power per busy core at the host's p-state, W.
    pub core_w: f64,
    /// NIC power, W per Gbit/s.
    pub nic_w_per_gbps: f64,
    /// Per migration (the first one from the host): sender CPU per page, s.
    pub sender_cpu_per_page_s: Option<f64>,
    /// Receiver CPU per page, s.
    pub receiver_cpu_per_page_s: Option<f64>,
    /// dom0 CPU during setup, cores.
    pub setup_cpu: Option<f64>,
    /// dom0 CPU during clean-up, cores.
    pub cleanup_dom0_cpu: Option<f64>,
    /// Setup time, s.
    pub setup_s: Option<f64>,
    /// Source copy linger, s.
    pub cleanup_vm_s: Option<f64>,
    /// dom0 clean-up, s.
    pub cleanup_dom0_s: Option<f64>,
    /// Payload goodput of the link (NIC × efficiency), B/s.
    pub link_goodput_bps_bytes: Option<f64>,
}

/// A synthetic run in memory.
pub struct Synthetic {
    /// Records in time order.
    pub records: Vec<(Stamp, Record)>,
    /// manifest.json (rows per file are added when written).
    pub manifest: serde_json::Value,
    /// The true parameters.
    pub truth: Truth,
}

fn stamp(t_s: f64) -> Stamp {
    let mono_ns = (t_s * 1e9).round().max(0.0) as u64;
    Stamp {
        mono_ns,
        wall_ns: WALL_ORIGIN_NS + mono_ns as i128,
    }
}

fn event(kind: &str, source: &str, vm: Option<&str>, fields: serde_json::Value) -> Record {
    Record::Event(EventRow {
        kind: kind.into(),
        source: source.into(),
        vm: vm.map(str::to_string),
        fields: fields.as_object().cloned().unwrap_or_default(),
        raw: None,
    })
}

/// A migration as the simulator logged it.
#[derive(Clone, Debug, Default)]
struct SimMig {
    vm: usize,
    to: usize,
    start: f64,
    transfer_start: Option<f64>,
    transfer_end: Option<f64>,
    switch: Option<f64>,
    gone: Option<f64>,
    bytes: Option<u64>,
    pages: Option<u64>,
}

/// Migrations out of the metered host `h`, from the simulator's log.
fn sim_migrations(res: &crate::sim::RunResult, h: ServerId) -> Vec<SimMig> {
    let mut migs: Vec<(MigrationId, SimMig)> = Vec::new();
    for e in &res.log {
        let t = e.time_ns as f64 / 1e9;
        if let LogEvent::MigrationStart {
            mig, vm, from, to, ..
        } = e.event
        {
            if from == h {
                let m = SimMig {
                    vm: vm.idx(),
                    to: to.idx(),
                    start: t,
                    ..Default::default()
                };
                migs.push((mig, m));
            }
            continue;
        }
        let Some(id) = e.event.migration() else {
            continue;
        };
        let Some((_, m)) = migs.iter_mut().find(|(x, _)| *x == id) else {
            continue;
        };
        match e.event {
            LogEvent::TransferStart { .. } => m.transfer_start = Some(t),
            LogEvent::TransferEnd {
                bytes_sent,
                pages_sent,
                ..
            } => {
                m.transfer_end = Some(t);
                m.bytes = Some(bytes_sent);
                m.pages = Some(pages_sent);
            }
            LogEvent::SwitchOver { .. } => m.switch = Some(t),
            LogEvent::SourceVmGone { .. } => m.gone = Some(t),
            _ => {}
        }
    }
    migs.into_iter().map(|(_, m)| m).collect()
}

/// The index of the metered server `host`.
fn metered_host(sc: &Scenario, scenario_name: &str, host: &str) -> Result<usize, String> {
    sc.servers
        .iter()
        .position(|s| s.name == host)
        .ok_or_else(|| {
            format!(
                "{scenario_name}: no server `{host}`; valid: {}",
                sc.servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The metered host's p-state changes (time s, p-state) from the simulator's log.
fn pstate_changes(res: &RunResult, h: usize) -> Vec<(f64, usize)> {
    let mut changes = Vec::new();
    for e in &res.log {
        if let LogEvent::Actuated {
            actuation: Actuation::SetPstate { server, pstate },
            ..
        } = e.event
        {
            if server.idx() == h {
                changes.push((e.time_ns as f64 / 1e9, pstate));
            }
        }
    }
    changes
}

/// What the per-interval records are made from.
struct Sampler<'a> {
    sc: &'a Scenario,
    res: &'a RunResult,
    migs: &'a [SimMig],
    /// The metered host.
    h: usize,
    /// It and every destination of its migrations.
    hosts: Vec<usize>,
    pstate_changes: Vec<(f64, usize)>,
}

impl Sampler<'_> {
    fn col(&self, n: &str) -> Option<usize> {
        self.res.timeseries.columns.iter().position(|c| c == n)
    }

    fn vm(&self, v: usize) -> &str {
        &self.sc.vms[v].name
    }

    fn server(&self, s: usize) -> &str {
        &self.sc.servers[s].name
    }

    /// Where VM `v` runs during an interval ending at `t`: after a switch-over inside
    /// the interval the VM is on the destination (it was suspended for the rest of it).
    fn host_at(&self, v: usize, t: f64) -> usize {
        let mut hst = self.sc.vms[v].host.idx();
        for m in self.migs.iter().filter(|m| m.vm == v) {
            if m.switch.is_some_and(|s| s < t) {
                hst = m.to;
            }
        }
        hst
    }

    /// The metered host's p-state during an interval ending at `t`.
    fn pstate_at(&self, t: f64) -> usize {
        self.pstate_changes
            .iter()
            .take_while(|(at, _)| *at < t)
            .last()
            .map_or(self.sc.servers[self.h].pstate, |c| c.1)
    }

    /// freq.csv rows for the interval ending at `t` (only if the host ever changes
    /// p-state, as `capture --cpufreq` would show a change).
    fn freq_rows(&self, t: f64, recs: &mut Vec<(Stamp, Record)>) {
        if self.pstate_changes.is_empty() {
            return;
        }
        let pw = &self.sc.servers[self.h].model.power;
        // Stamped like the CPU poll: the clock in force at the poll's end.
        let hz = pw.pstates.get(self.pstate_at(t)).map(|p| p.frequency_hz);
        for c in 0..pw.cores {
            recs.push((
                stamp(t),
                Record::Freq(FreqRow {
                    source: "cpufreq".into(),
                    cpu: format!("cpu{c}"),
                    freq_hz: hz,
                    flags: Flags::none(),
                }),
            ));
        }
    }

    /// Adds host `s`'s CPU over the interval (t − dt, t] to the cumulative counters.
    fn accumulate(&self, row: &[f64], s: usize, t: f64, dt: f64, cum: &mut Counters) {
        let at = |n: String| self.col(&n).map_or(0.0, |c| row[c]);
        cum.dom0[s] += at(format!("{}.dom0.cpu_cores", self.server(s))) * dt;
        let ghost = at(format!("{}.vm_copies.cpu_cores", self.server(s)));
        for v in 0..self.sc.vms.len() {
            if self.host_at(v, t) == s {
                cum.vm[s][v] += at(format!("{}.cpu_cores", self.vm(v))) * dt;
            }
        }
        // The lingering source copy's CPU counts in the renamed domain.
        if let Some(m) = self.migs.iter().find(|m| {
            self.sc.vms[m.vm].host.idx() == s
                && m.switch.is_some_and(|w| w < t)
                && m.gone.is_none_or(|g| g > t - dt)
        }) {
            cum.vm[s][m.vm] += ghost * dt;
        }
    }

    /// cpu.csv rows of host `s` at `t`, domains named as `xl list` shows them then.
    fn cpu_rows(&self, s: usize, t: f64, cum: &Counters, recs: &mut Vec<(Stamp, Record)>) {
        let source = if s == self.h {
            "xl".to_string()
        } else {
            format!("xl@{}", self.server(s))
        };
        let mut push = |domain: String, domid: u32, core_s: f64| {
            recs.push((
                stamp(t),
                Record::Cpu(CpuRow {
                    source: source.clone(),
                    domain,
                    domid: Some(domid),
                    cpu_ns: Some((core_s * 1e9).round() as u64),
                    idle_ns: None,
                    vcpus: None,
                    state: String::new(),
                    flags: Flags::none(),
                }),
            ))
        };
        push("Domain-0".into(), 0, cum.dom0[s]);
        for (v, &c) in cum.vm[s].iter().enumerate() {
            let name = self.vm(v);
            if self.sc.vms[v].host.idx() == s {
                match self.migs.iter().find(|m| m.vm == v) {
                    Some(m) if m.gone.is_some_and(|g| g < t) => {}
                    Some(m) if m.switch.is_some_and(|w| w < t) => {
                        push(format!("{name}--migratedaway"), v as u32 + 1, c)
                    }
                    _ => push(name.to_string(), v as u32 + 1, c),
                }
            } else if let Some(m) = self.migs.iter().find(|m| m.vm == v && m.to == s) {
                if m.transfer_start.is_some_and(|a| a < t) {
                    let n = if m.switch.is_some_and(|w| w < t) {
                        name.to_string()
                    } else {
                        format!("{name}--incoming")
                    };
                    push(n, 100 + v as u32, c);
                }
            }
        }
    }

    /// Power (with noise), freq and CPU rows for every time-series row.
    fn interval_records(&self, o: &Options, recs: &mut Vec<(Stamp, Record)>) -> Result<(), String> {
        let ts = &self.res.timeseries;
        let p_col = self
            .col(&format!("{}.power_w", self.server(self.h)))
            .ok_or("internal: no power column")?;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(o.seed);
        let noise = Normal::new(0.0, o.noise_w.max(1e-300)).map_err(|e| e.to_string())?;
        let servers = self.sc.servers.len();
        let mut cum = Counters {
            dom0: vec![0.0; servers],
            vm: vec![vec![0.0; self.sc.vms.len()]; servers],
        };
        let mut prev_t = 0.0;
        for row in ts.values.chunks_exact(ts.columns.len()) {
            let t = row[0];
            let dt = t - prev_t;
            prev_t = t;
            // One draw per row, kept or not, so the noise does not depend on the shift.
            let n = if o.noise_w > 0.0 {
                noise.sample(&mut rng)
            } else {
                0.0
            };
            let shifted = t + o.power_shift_s;
            if shifted > 0.0 {
                recs.push((
                    stamp(shifted),
                    Record::Power(PowerRow {
                        source: "synthetic-meter".into(),
                        power_w: Some(row[p_col] + n),
                        voltage_v: None,
                        current_a: None,
                        energy_raw_j: None,
                        flags: Flags::none(),
                    }),
                ));
            }
            self.freq_rows(t, recs);
            for &s in &self.hosts {
                self.accumulate(row, s, t, dt, &mut cum);
                self.cpu_rows(s, t, &cum, recs);
            }
        }
        Ok(())
    }

    /// The events a real `--run "xl migrate …" --xl` capture writes for each migration.
    fn migration_events(&self, recs: &mut Vec<(Stamp, Record)>) {
        let ev = |kind: &str, source: &str, vm: Option<&str>, f: serde_json::Value| {
            event(kind, source, vm, f)
        };
        for m in self.migs {
            let vm = Some(self.vm(m.vm));
            let cmd = format!("xl migrate --live {} {}", self.vm(m.vm), self.server(m.to));
            let (src_id, dst_id) = (m.vm + 1, 100 + m.vm);
            recs.push((
                stamp(m.start),
                ev(
                    "run.start",
                    "run",
                    None,
                    serde_json::json!({"command": cmd}),
                ),
            ));
            if let Some(t) = m.transfer_start {
                let f = serde_json::json!({"domid": dst_id});
                recs.push((stamp(t), ev("migration.incoming_seen", "xl", vm, f)));
            }
            if let Some(t) = m.transfer_end {
                let f = serde_json::json!({"domid": src_id, "side": "source"});
                recs.push((stamp(t), ev("migration.migratedaway_seen", "xl", vm, f)));
            }
            if let Some(t) = m.switch {
                let f = serde_json::json!({"domid": dst_id, "side": "target"});
                recs.push((stamp(t), ev("migration.switch", "xl", vm, f.clone())));
                recs.push((stamp(t), ev("migration.end", "xl", vm, f)));
            }
            if let Some(t) = m.gone {
                let gone = serde_json::json!({"domid": src_id});
                let end = serde_json::json!({"domid": src_id, "side": "source",
                    "bytes_sent": m.bytes, "pages_sent": m.pages});
                let run_end = serde_json::json!({"command": cmd, "exit_code": 0,
                    "duration_s": t - m.start});
                recs.push((stamp(t), ev("migration.migratedaway_gone", "xl", vm, gone)));
                recs.push((stamp(t), ev("migration.end", "xl", vm, end)));
                recs.push((stamp(t), ev("run.end", "run", None, run_end)));
            }
        }
    }
}

/// Cumulative CPU per host: dom0's and each VM's, core-seconds.
struct Counters {
    dom0: Vec<f64>,
    vm: Vec<Vec<f64>>,
}

/// Simulates `sc` and turns the metered host (and the destinations of its migrations)
/// into capture records.
pub fn synthesize(sc: &Scenario, scenario_name: &str, o: &Options) -> Result<Synthetic, String> {
    let h = metered_host(sc, scenario_name, &o.host)?;
    if !(o.interval_s > 0.0 && o.noise_w >= 0.0) {
        return Err("the interval must be > 0 and the noise ≥ 0".into());
    }
    let mut sc = sc.clone();
    sc.output.interval_ns = (o.interval_s * 1e9).round() as u64;
    sc.output.servers = true;
    sc.output.vms = true;
    let res = crate::sim::run(&sc);
    let migs = sim_migrations(&res, ServerId::new(h));
    let mut hosts = vec![h];
    for m in &migs {
        if !hosts.contains(&m.to) {
            hosts.push(m.to);
        }
    }
    let sampler = Sampler {
        sc: &sc,
        res: &res,
        migs: &migs,
        h,
        hosts,
        pstate_changes: pstate_changes(&res, h),
    };
    let capture = |kind: &str, f: serde_json::Value| event(kind, "capture", None, f);
    let mut recs: Vec<(Stamp, Record)> = vec![(
        stamp(0.0),
        capture(
            "capture.start",
            serde_json::json!({"sources": ["synthetic-meter", "xl"]}),
        ),
    )];
    sampler.interval_records(o, &mut recs)?;
    sampler.migration_events(&mut recs);
    let end = sc.duration_ns as f64 / 1e9;
    recs.push((
        stamp(end),
        capture(
            "capture.end",
            serde_json::json!({"exit_reason": "synthetic"}),
        ),
    ));
    recs.sort_by_key(|(s, _)| s.mono_ns);
    let truth = truth_of(&sc, h, &migs);
    let manifest = manifest(&sc, h, scenario_name, o, &truth);
    Ok(Synthetic {
        records: recs,
        manifest,
        truth,
    })
}

/// manifest.json of a synthetic run.
fn manifest(
    sc: &Scenario,
    h: usize,
    scenario_name: &str,
    o: &Options,
    truth: &Truth,
) -> serde_json::Value {
    let end = sc.duration_ns as f64 / 1e9;
    let model = &sc.servers[h].model;
    let p0 = model.power.pstates.get(sc.servers[h].pstate);
    serde_json::json!({
        "format": "capsim-capture/1",
        "status": "complete",
        "tool": {"name": "capsim", "version": env!("CARGO_PKG_VERSION")},
        "synthetic": {
            "doc": "SYNTHETIC: simulated by capsim, not measured on a testbed",
            "scenario": scenario_name,
            "host": o.host,
            "noise_w": o.noise_w,
            "seed": o.seed,
            "power_shift_s": o.power_shift_s,
            "truth": truth_json(truth),
        },
        "host": {
            "description": format!("SYNTHETIC run of model `{}`: {}", model.name, model.description),
            "cores": model.power.cores,
            "memory": if model.memory_bytes % (1 << 30) == 0 {
                format!("{}GiB", model.memory_bytes >> 30)
            } else {
                format!("{}B", model.memory_bytes)
            },
            "nic": format!("{}Gbps", model.nic_bps / 1e9),
            "frequency": format!("{}GHz", p0.map_or(1e9, |p| p.frequency_hz) / 1e9),
        },
        "hostname": format!("synthetic-{}", o.host),
        "start_utc": stamp(0.0).utc(),
        "end_utc": stamp(end).utc(),
        "duration_s": end,
        "exit_reason": "synthetic",
        "clock": {"semantics": "end-of-interval", "t_mono_ns": "ns since the simulation's start"},
        "sources": [
            {"id": "synthetic-meter", "kind": "power meter", "model": "simulated 100 ms means + Gaussian noise", "update_interval_s": o.interval_s},
            {"id": "xl", "kind": "cpu", "interval_s": o.interval_s},
        ],
    })
}

fn truth_of(sc: &Scenario, h: usize, migs: &[SimMig]) -> Truth {
    let s = &sc.servers[h];
    let pw = &s.model.power;
    let mut t = Truth {
        idle_w: s.model.power.idle_w(),
        core_w: pw
            .pstates
            .get(s.pstate)
            .and_then(|p| p.core_w)
            .unwrap_or(f64::NAN),
        nic_w_per_gbps: pw.nic_w_per_gbps,
        ..Default::default()
    };
    let Some(m) = migs.first() else { return t };
    let params = sc.actions.iter().find_map(|a| match &a.kind {
        Actuation::Migrate { vm, params, .. } if vm.idx() == m.vm => Some(params.clone()),
        _ => None,
    });
    if let Some(p) = params {
        t.sender_cpu_per_page_s = Some(p.sender_cpu_per_page_s);
        t.receiver_cpu_per_page_s = Some(p.receiver_cpu_per_page_s);
        t.setup_cpu = Some(p.setup_cpu);
        t.cleanup_dom0_cpu = Some(p.cleanup_dom0_cpu);
        t.setup_s = Some(p.setup_ns as f64 / 1e9);
        t.cleanup_vm_s = Some(p.cleanup_vm_ns as f64 / 1e9);
        t.cleanup_dom0_s = Some(p.cleanup_dom0_ns as f64 / 1e9);
        let link = s.model.nic_bps.min(sc.servers[m.to].model.nic_bps);
        t.link_goodput_bps_bytes = Some(link * p.efficiency / 8.0);
    }
    t
}

fn truth_json(t: &Truth) -> serde_json::Value {
    serde_json::json!({
        "idle_w": t.idle_w,
        "core_w": t.core_w,
        "nic_w_per_gbps": t.nic_w_per_gbps,
        "sender_cpu_per_page_s": t.sender_cpu_per_page_s,
        "receiver_cpu_per_page_s": t.receiver_cpu_per_page_s,
        "setup_cpu_cores": t.setup_cpu,
        "cleanup_dom0_cpu_cores": t.cleanup_dom0_cpu,
        "setup_s": t.setup_s,
        "cleanup_vm_s": t.cleanup_vm_s,
        "cleanup_dom0_s": t.cleanup_dom0_s,
        "link_goodput_bytes_per_s": t.link_goodput_bps_bytes,
    })
}

/// Writes a synthetic run into `dir` (created; it must not hold a capture already)
/// through the capture tool's writer, then the manifest (atomically) with the rows
/// per file.
pub fn write_run(dir: &Path, s: &Synthetic) -> Result<Counts, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let mpath = dir.join("manifest.json");
    if mpath.exists() {
        return Err(format!(
            "{}: already holds a capture (manifest.json); choose a new directory",
            dir.display()
        ));
    }
    let mut w = Writer::create(dir)?;
    for (at, r) in &s.records {
        w.write(*at, r);
    }
    let counts = w.finish();
    if let Some(e) = &counts.error {
        return Err(e.clone());
    }
    let mut m = s.manifest.clone();
    m["files"] = FILES
        .iter()
        .enumerate()
        .map(|(i, f)| {
            serde_json::json!({
                "name": f.name,
                "columns": f.columns.iter().map(|(n, u, d)| serde_json::json!({"name": n, "unit": u, "doc": d})).collect::<Vec<_>>(),
                "rows": counts.rows[i],
                "flagged_rows": counts.flagged[i],
            })
        })
        .collect();
    crate::atomic::write_text(
        &mpath,
        &serde_json::to_string_pretty(&m).unwrap_or_default(),
    )?;
    Ok(counts)
}
