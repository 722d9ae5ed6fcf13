//! The calibrated server model file: a `cores` model with `[dom0]` migration costs and
//! its provenance (runs, date, offset, fit statistics, every estimate ± SE) in comments.

use super::migration_fit::Est;
use super::power_fit::PowerFit;
use super::runs_fit::{Calibration, MigrationParams};
use std::fmt::Write;

/// What the runs cannot tell about the host, from the manifest's `host` object or the
/// command line: each a string with a unit as model files take them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostInfo {
    /// Physical cores.
    pub cores: Option<u32>,
    /// Memory, e.g. `4GiB`.
    pub memory: Option<String>,
    /// NIC rate, e.g. `1Gbps`.
    pub nic: Option<String>,
    /// The p-state's clock, e.g. `2.67GHz`.
    pub frequency: Option<String>,
    /// A description line.
    pub description: Option<String>,
}

impl HostInfo {
    /// Fills what `self` lacks from a manifest's `host` object.
    pub fn or_manifest(mut self, m: &serde_json::Value) -> Self {
        let h = m.get("host");
        let s = |k: &str| {
            h.and_then(|h| h.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        self.cores = self.cores.or_else(|| {
            h.and_then(|h| h.get("cores"))
                .and_then(|v| v.as_u64())
                .map(|c| c as u32)
        });
        self.memory = self.memory.or_else(|| s("memory"));
        self.nic = self.nic.or_else(|| s("nic"));
        self.frequency = self.frequency.or_else(|| s("frequency"));
        self.description = self.description.or_else(|| s("description"));
        self
    }
}

/// A machine-readable comment line with the phase durations and rate, for `capsim replay`
/// (phase durations belong to the migration algorithm, not to the server model).
pub const MIGRATION_LINE: &str = "# calibrated-migration:";

fn pm(e: Est, scale: f64, unit: &str, digits: usize) -> String {
    format!(
        "{:.digits$} ± {:.digits$} {unit}",
        e.v * scale,
        e.se * scale
    )
}

/// The model text. `today` is YYYY-MM-DD.
pub fn model_text(c: &Calibration, host: &HostInfo, today: &str) -> Result<String, String> {
    let need = HostNeeds::from(host)?;
    let mut t = String::new();
    run_comments(&mut t, c, today);
    power_fit_comments(&mut t, c);
    let mp = c.migration_params();
    migration_comments(&mut t, c, &mp);
    host_keys(&mut t, c, host, &need, today);
    power_section(&mut t, &c.power);
    dom0_section(&mut t, &mp);
    pstates_section(&mut t, &c.power, need.frequency);
    crate::scenario::validate::server_model_from_text("calibrated", "calibrated model", &t)
        .map_err(|e| format!("the calibrated model does not load ({e}); check --cores, --memory, --nic and --frequency"))?;
    Ok(t)
}

/// What a model file needs about the host that the runs cannot measure.
struct HostNeeds {
    cores: u32,
    memory: String,
    nic: String,
    frequency: String,
}

impl HostNeeds {
    /// The host's cores, memory, NIC rate and clock; an error naming the flag for the
    /// first one missing.
    fn from(host: &HostInfo) -> Result<Self, String> {
        let need = |v: &Option<String>, flag: &str, what: &str| {
            v.clone().ok_or_else(|| {
                format!("the runs' manifests do not say the host's {what}: pass {flag}")
            })
        };
        let cores = host
            .cores
            .ok_or("the runs' manifests do not say how many cores the host has: pass --cores N")?;
        let memory = need(&host.memory, "--memory SIZE (e.g. 4GiB)", "memory")?;
        let nic = need(&host.nic, "--nic RATE (e.g. 1Gbps)", "NIC rate")?;
        let frequency = need(
            &host.frequency,
            "--frequency F (e.g. 2.67GHz)",
            "clock frequency",
        )?;
        Ok(HostNeeds {
            cores,
            memory,
            nic,
            frequency,
        })
    }
}

/// Provenance comments: the date and, per run, its kind, sources, exclusions and offset.
fn run_comments(t: &mut String, c: &Calibration, today: &str) {
    let p = &c.power;
    let _ = writeln!(
        t,
        "# Calibrated by `capsim calibrate` on {today} from {} capture run(s):",
        c.runs.len()
    );
    for (k, r) in c.runs.iter().enumerate() {
        let kind = if r.synthetic() {
            "SYNTHETIC (simulated by capsim, not measured)"
        } else {
            "measured"
        };
        let _ = writeln!(
            t,
            "#   {} — {kind}; power from `{}` ({} usable samples, window {:.3} s), CPU from {} ({} intervals, {} dropped); {} rows excluded",
            r.dir.display(),
            r.power_source,
            r.power.len(),
            c.windows[k],
            c.cpu[k].source,
            c.cpu[k].intervals.len(),
            c.cpu[k].dropped,
            r.excluded.total()
        );
        for l in r.excluded.lines() {
            let _ = writeln!(t, "#     excluded: {l}");
        }
        let o = &p.offsets[k];
        let _ = writeln!(
            t,
            "#     clock offset power → CPU: {:+.3} s (search ±3 s, step {:.3} s; RMSE {:.2} W there, {:.2} W unshifted)",
            o.shift_s, o.step_s, o.rmse_best_w, o.rmse_zero_w
        );
    }
}

/// Comments on the power fit (its statistics and every coefficient ± SE) and the notes.
fn power_fit_comments(t: &mut String, c: &Calibration) {
    let p = &c.power;
    let f = &p.fit;
    let _ = writeln!(
        t,
        "# Power fit: P = idle + c × busy cores{} (busy cores = every domain's CPU, dom0 included),",
        if p.nic { " + k × migration Gbps" } else { "" }
    );
    let _ = writeln!(
        t,
        "#   least squares over {} CPU intervals: R² {:.5}, RMSE {:.3} W, worst residual {:.2} W",
        f.n, f.r2, f.rmse, f.max_abs_residual
    );
    for (k, n) in p.names.iter().enumerate() {
        let _ = writeln!(
            t,
            "#   {n}: {:.4} ± {:.4} W{} (95 % interval ± {:.4})",
            f.coef[k],
            f.se[k],
            if Some(k) == p.nic_column() {
                " per Gbit/s"
            } else {
                ""
            },
            f.ci95(k)
        );
    }
    for n in &c.notes {
        let _ = writeln!(t, "# Note: {n}");
    }
}

/// The top-level keys: description, cores, memory, NIC rate.
fn host_keys(t: &mut String, c: &Calibration, host: &HostInfo, need: &HostNeeds, today: &str) {
    let desc = host
        .description
        .clone()
        .unwrap_or_else(|| format!("calibrated from {} capture run(s) on {today}", c.runs.len()));
    let _ = writeln!(t, "description = {}", toml::Value::String(desc));
    let _ = writeln!(t, "cores = {}", need.cores);
    let _ = writeln!(t, "memory = {}", toml::Value::String(need.memory.clone()));
    let _ = writeln!(t, "nic = {}", toml::Value::String(need.nic.clone()));
}

/// `[power]`: the `cores` kind, idle power and, when fitted, the NIC's power per Gbit/s.
fn power_section(t: &mut String, p: &PowerFit) {
    let f = &p.fit;
    t.push_str("\n[power]\nkind = \"cores\"\n");
    let _ = writeln!(
        t,
        "idle = \"{:.3}W\"        # ± {:.3} W",
        p.idle_w(),
        f.se[0]
    );
    if p.nic {
        let _ = writeln!(
            t,
            "nic_per_gbps = \"{:.3}W\"  # ± {:.3} W",
            p.nic_w_per_gbps(),
            p.nic_column().map_or(f64::NAN, |c| f.se[c])
        );
    } else {
        t.push_str("# nic_per_gbps: not fitted (no migration with a known rate)\n");
    }
}

/// `[dom0]`: the migration CPU costs that were measured (positive), when any was.
fn dom0_section(t: &mut String, mp: &MigrationParams) {
    let dom0: Vec<String> = [
        ("sender_cpu_per_page", mp.sender, 1e6, "us"),
        ("receiver_cpu_per_page", mp.receiver, 1e6, "us"),
        ("setup_cpu", mp.setup_cpu, 100.0, "%"),
        ("cleanup_dom0_cpu", mp.cleanup_dom0_cpu, 100.0, "%"),
    ]
    .iter()
    .filter_map(|(k, e, s, u)| {
        let e = (*e)?;
        (e.v > 0.0).then(|| format!("{k} = \"{:.3}{u}\"  # ± {:.3} {u}", e.v * s, e.se * s))
    })
    .collect();
    if !dom0.is_empty() {
        t.push_str("\n[dom0]\n");
        for l in dom0 {
            let _ = writeln!(t, "{l}");
        }
    }
}

/// `[[pstates]]`: one per clock recorded in freq.csv, fastest first, or a single state at
/// the recorded clock (else the host's `frequency`).
fn pstates_section(t: &mut String, p: &PowerFit, frequency: String) {
    let f = &p.fit;
    if p.clocks_mhz.len() <= 1 {
        t.push_str("\n[[pstates]]          # one state (see the p-states note)\n");
        let f_text = match p.clocks_mhz.first() {
            Some(mhz) => format!("{mhz}MHz"),
            None => frequency,
        };
        let _ = writeln!(t, "frequency = {}", toml::Value::String(f_text));
        let _ = writeln!(
            t,
            "core_power = \"{:.3}W\"  # ± {:.3} W",
            p.core_w(),
            f.se[1]
        );
    } else {
        // One state per clock recorded, fastest first (capsim's P0 first order).
        for (k, mhz) in p.clocks_mhz.iter().enumerate() {
            let _ = writeln!(t, "\n[[pstates]]          # P{k}, from freq.csv");
            let _ = writeln!(t, "frequency = \"{mhz}MHz\"");
            let _ = writeln!(
                t,
                "core_power = \"{:.3}W\"  # ± {:.3} W",
                p.core_w_at(k),
                f.se[1 + k]
            );
        }
    }
}

fn migration_comments(t: &mut String, c: &Calibration, mp: &MigrationParams) {
    if c.migrations.is_empty() {
        let _ = writeln!(
            t,
            "# Migration: no migration in these runs; [dom0] and phase durations not calibrated."
        );
        return;
    }
    let _ = writeln!(
        t,
        "# Migration: {} migration(s); ± = standard error (stamp resolution for durations, window σ/√n for CPU levels, spread across migrations when several)",
        c.migrations.len()
    );
    let rows: [(&str, Option<Est>, f64, &str, usize); 11] = [
        (
            "setup time (start → transfer start)",
            mp.setup_s,
            1.0,
            "s",
            3,
        ),
        (
            "dom0 CPU during setup",
            mp.setup_cpu,
            100.0,
            "% of a core",
            2,
        ),
        ("effective transfer rate", mp.rate, 1e-6, "MB/s", 2),
        ("sender dom0 CPU per page", mp.sender, 1e6, "us", 3),
        ("receiver dom0 CPU per page", mp.receiver, 1e6, "us", 3),
        ("transfer end → switch-over", mp.handover_s, 1.0, "s", 3),
        (
            "source copy linger (switch-over → gone)",
            mp.cleanup_vm_s,
            1.0,
            "s",
            3,
        ),
        (
            "dom0 clean-up after the source copy is gone",
            mp.cleanup_dom0_s,
            1.0,
            "s",
            3,
        ),
        (
            "dom0 CPU during that clean-up",
            mp.cleanup_dom0_cpu,
            100.0,
            "% of a core",
            2,
        ),
        (
            "extra power while sending (vs the 5 s before)",
            mp.extra_power_w,
            1.0,
            "W",
            2,
        ),
        (
            "power not explained by busy cores while sending",
            mp.non_cpu_power_w,
            1.0,
            "W",
            2,
        ),
    ];
    for (name, e, s, u, d) in rows {
        match e {
            Some(e) => {
                let _ = writeln!(t, "#   {name}: {}", pm(e, s, u, d));
            }
            None => {
                let _ = writeln!(t, "#   {name}: not available from these runs");
            }
        }
    }
    let fmt = |e: Option<Est>| e.map_or("null".to_string(), |e| format!("\"{:.4}s\"", e.v));
    let _ = writeln!(
        t,
        "# Phase durations belong to the migration algorithm, not the server model; to use them, give a migrate action"
    );
    let parts: Vec<String> = [
        ("setup", mp.setup_s),
        ("cleanup_vm", mp.cleanup_vm_s),
        ("cleanup_dom0", mp.cleanup_dom0_s),
    ]
    .iter()
    .filter_map(|(k, e)| e.map(|_| format!("{k} = {}", fmt(*e))))
    .collect();
    let _ = writeln!(t, "#   overrides = {{ {} }}", parts.join(", "));
    let num = |e: Option<Est>| e.map_or("nan".to_string(), |e| format!("{}", e.v));
    let _ = writeln!(
        t,
        "{MIGRATION_LINE} setup_s={} rate_Bps={} handover_s={} cleanup_vm_s={} cleanup_dom0_s={}",
        num(mp.setup_s),
        num(mp.rate),
        num(mp.handover_s),
        num(mp.cleanup_vm_s),
        num(mp.cleanup_dom0_s)
    );
}

/// Reads the [`MIGRATION_LINE`] of a model file: (key, value) pairs; NaN where unknown.
pub fn migration_line(text: &str) -> Option<Vec<(String, f64)>> {
    let l = text.lines().find_map(|l| l.strip_prefix(MIGRATION_LINE))?;
    Some(
        l.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
            .collect(),
    )
}
