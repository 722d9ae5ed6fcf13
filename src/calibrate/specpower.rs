//! `capsim calibrate --specpower CSV --server NAME`: a server model from a published
//! SPECpower_ssj2008 result — the `specpower` table as published, and `linear` and
//! `cores` models fitted to its 11 points, each with its fit error.

use super::fit::{ols, Fit};
use crate::quote::clip;
use std::fmt::Write as _;
use std::path::Path;

/// One SPECpower_ssj2008 result (a row of `specpower_curves.csv`).
#[derive(Clone, Debug, PartialEq)]
pub struct SpecResult {
    /// Line in the CSV file (1-based, the header is line 1).
    pub line: usize,
    /// Hardware vendor.
    pub vendor: String,
    /// System model.
    pub model: String,
    /// CPU name.
    pub cpu: String,
    /// Nominal CPU clock, MHz.
    pub mhz: f64,
    /// SPEC's "CPUs enabled" text, e.g. `12 cores, 2 chips, 6 cores/chip`.
    pub cpus_enabled: String,
    /// Physical cores (from `cpus_enabled`).
    pub cores: u32,
    /// SPEC's hardware-threads text.
    pub threads: String,
    /// Installed memory, GB.
    pub mem_gb: f64,
    /// Publication date as SPEC writes it.
    pub publication: String,
    /// Test sponsor.
    pub sponsor: String,
    /// Average power at active idle and at 10 %, …, 100 % target load, W.
    pub power_w: [f64; 11],
    /// Measured load at each point, fraction (0 at active idle).
    pub load: [f64; 11],
}

impl SpecResult {
    /// `vendor model (cpu, published date)`, what the user matches against.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({} {} MHz, published {})",
            self.vendor, self.model, self.cpu, self.mhz, self.publication
        )
    }
}

/// Reads `specpower_curves.csv` (the layout of `../shared/data/specpower-ssj2008/`).
pub fn read(path: &Path) -> Result<Vec<SpecResult>, String> {
    let file = path.display().to_string();
    // Regular files of a bounded size only (a device or FIFO would be read forever).
    let text = crate::scenario::input::read_input(path, "SPECpower table").map_err(|e| {
        let hint = crate::scenario::trace::missing_data_hint(path);
        format!("{e}{hint}")
    })?;
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().map_err(|e| format!("{file}: {e}"))?.clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{file}: line 1: no column `{name}` (a SPECpower curves file has hw_vendor, \
                 hw_model, cpu_name, cpu_mhz, cpus_enabled, hw_threads, mem_gb, publication, \
                 test_sponsor, idle_w, w_10 … w_100, actual_load_10 … actual_load_100)"
            )
        })
    };
    let names = [
        "hw_vendor",
        "hw_model",
        "cpu_name",
        "cpu_mhz",
        "cpus_enabled",
        "hw_threads",
        "mem_gb",
        "publication",
        "test_sponsor",
        "idle_w",
    ];
    let mut c = Vec::new();
    for n in names {
        c.push(col(n)?);
    }
    let w: Vec<usize> = (1..=10)
        .map(|k| col(&format!("w_{}", k * 10)))
        .collect::<Result<_, _>>()?;
    let l: Vec<usize> = (1..=10)
        .map(|k| col(&format!("actual_load_{}", k * 10)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    // Line numbers counted here: the reader's own positions were off by one on this file.
    // A record spans one line plus the newlines inside its quoted fields.
    let mut next_line = 2;
    for rec in rd.records() {
        let line = next_line;
        let rec = rec.map_err(|e| format!("{file}: line {line}: {e}"))?;
        next_line += 1 + rec.iter().map(|f| f.matches('\n').count()).sum::<usize>();
        let get = |k: usize| rec.get(k).unwrap_or("").trim().to_string();
        // Every cell checked here, so the model written from it always loads back.
        let num = |k: usize, (lo, hi): (f64, f64), what: &str| -> Result<f64, String> {
            let v = get(k);
            let at = format!("{file}: line {line}, column {} (`{}`)", k + 1, &header[k]);
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
                Ok(_) => Err(format!("{at}: `{}` is not {what}", clip(&v))),
                Err(_) => Err(format!("{at}: `{}` is not a number", clip(&v))),
            }
        };
        const WATTS: (f64, f64) = (0.0, 1e6);
        const WATTS_TEXT: &str = "a power in W (finite, 0 to 1e6)";
        let mut power_w = [0.0; 11];
        let mut load = [0.0; 11];
        power_w[0] = num(c[9], WATTS, WATTS_TEXT)?;
        for k in 0..10 {
            power_w[k + 1] = num(w[k], WATTS, WATTS_TEXT)?;
            // SPEC's measured loads sit near their targets; 150 % leaves room.
            load[k + 1] = num(
                l[k],
                (0.0, 150.0),
                "a measured load in % (finite, 0 to 150)",
            )? / 100.0;
        }
        let cpus_enabled = get(c[4]);
        let cores = cpus_enabled
            .split_whitespace()
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|&n| n > 0 && cpus_enabled.contains("core"))
            .ok_or_else(|| {
                format!(
                    "{file}: line {line}, column {} (`cpus_enabled`): `{}` does not \
                     start with a core count (e.g. `12 cores, 2 chips, 6 cores/chip`)",
                    c[4] + 1,
                    clip(&cpus_enabled)
                )
            })?;
        out.push(SpecResult {
            line,
            vendor: get(c[0]),
            model: get(c[1]),
            cpu: get(c[2]),
            mhz: num(
                c[3],
                (1e-3, 1e6),
                "a clock in MHz (finite, above 0, at most 1e6)",
            )?,
            cpus_enabled,
            cores,
            threads: get(c[5]),
            mem_gb: num(c[6], (0.0, 1e6), "a memory size in GB (finite, 0 to 1e6)")?,
            publication: get(c[7]),
            sponsor: get(c[8]),
            power_w,
            load,
        });
    }
    Ok(out)
}

/// The result NAME designates: every word of NAME (case-insensitive) must appear in
/// the result's vendor, model, CPU, clock or publication date; `line` picks one of
/// several matches by its CSV line.
pub fn find<'a>(
    all: &'a [SpecResult],
    name: &str,
    line: Option<usize>,
) -> Result<&'a SpecResult, String> {
    let words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    let hits: Vec<&SpecResult> = all
        .iter()
        .filter(|r| {
            let hay = r.label().to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .filter(|r| line.is_none_or(|l| r.line == l))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no SPECpower result matches `{name}`{}: every word must appear in vendor, model, \
             CPU, MHz or publication date",
            line.map_or(String::new(), |l| format!(" on line {l}"))
        )),
        many => {
            let mut msg = format!(
                "{} SPECpower results match `{name}`; add words or pick one with --line:\n",
                many.len()
            );
            for r in many.iter().take(20) {
                let _ = writeln!(msg, "  line {}: {}", r.line, r.label());
            }
            if many.len() > 20 {
                let _ = writeln!(msg, "  … and {} more", many.len() - 20);
            }
            Err(msg.trim_end().to_string())
        }
    }
}

/// Which model to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The 11-point table as published.
    SpecPower,
    /// Idle to max, straight line fitted to the 11 points.
    Linear,
    /// Idle plus W per busy core at P0, fitted (the same line in per-core units).
    Cores,
}

/// The fitted line of a result: P = idle + slope · u, u the measured load (0…1).
pub fn fit_line(r: &SpecResult) -> Result<Fit, String> {
    let x: Vec<Vec<f64>> = r.load.iter().map(|&u| vec![1.0, u]).collect();
    ols(&x, &r.power_w, &["idle", "load slope"])
}

/// The line fitted to `r` (from `source`), checked to make a model of `kind`: a line
/// below zero at idle or falling with load is no linear or cores model (it was written
/// and then failed to load back).
fn fit_for(r: &SpecResult, kind: Kind, source: &str) -> Result<Fit, String> {
    let at = format!("{source}: line {}", r.line);
    let fit = fit_line(r).map_err(|e| format!("{at}: cannot fit a line to the 11 points: {e}"))?;
    let (idle, slope) = (fit.coef[0], fit.coef[1]);
    if kind != Kind::SpecPower && !(idle >= 0.0 && slope >= 0.0) {
        let name = if kind == Kind::Linear {
            "linear"
        } else {
            "cores"
        };
        return Err(format!(
            "{at}: the fitted line has idle {idle:.2} W and slope {slope:.2} W per unit load; \
             a `{name}` model needs both ≥ 0: use --kind specpower (the table as published)"
        ));
    }
    Ok(fit)
}

/// A model file for `r` of the given kind, with its provenance and every fit's error
/// in comments. `source` is how the CSV is named in the comments; `today` a UTC date.
pub fn model_text(r: &SpecResult, kind: Kind, source: &str, today: &str) -> Result<String, String> {
    let fit = fit_for(r, kind, source)?;
    let (idle, slope) = (fit.coef[0], fit.coef[1]);
    let per_core = slope / r.cores as f64;
    let worst = r
        .load
        .iter()
        .zip(&r.power_w)
        .map(|(&u, &p)| ((idle + slope * u - p) / p, u))
        .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .unwrap_or((0.0, 0.0));
    let mut t = provenance(r, source, today);
    let _ = writeln!(
        t,
        "# Points: average power at active idle and at 10 %, …, 100 % target load (W):"
    );
    let _ = writeln!(t, "#   {}", fmt_list(&r.power_w, 1));
    let _ = writeln!(
        t,
        "# measured loads (%): {}",
        fmt_list(&r.load.map(|u| u * 100.0), 1)
    );
    let _ = writeln!(
        t,
        "# Fits to those 11 points (x = measured load; least squares; ± = standard error):"
    );
    let _ = writeln!(
        t,
        "#   specpower: the table as published, indexed by target load (as CloudSim); error 0 at every point"
    );
    let _ = writeln!(
        t,
        "#   linear: idle {:.2} ± {:.2} W, max {:.2} W (slope {:.2} ± {:.2} W per unit load);",
        idle,
        fit.se[0],
        idle + slope,
        slope,
        fit.se[1]
    );
    let _ = writeln!(
        t,
        "#           R² {:.4}, RMSE {:.2} W, worst point {:+.1} % at {:.0} % load",
        fit.r2,
        fit.rmse,
        worst.0 * 100.0,
        worst.1 * 100.0
    );
    let _ = writeln!(
        t,
        "#   cores: idle {:.2} W + {:.3} ± {:.3} W per busy core ({} cores); the same line, same error",
        idle,
        per_core,
        fit.se[1] / r.cores as f64,
        r.cores
    );
    let _ = writeln!(
        t,
        "# SPEC and SPECpower_ssj are registered trademarks of the Standard Performance Evaluation"
    );
    let _ = writeln!(
        t,
        "# Corporation (SPEC); the values are SPEC's published results, used as a model input."
    );
    let _ = writeln!(
        t,
        "description = {}",
        toml_str(&format!(
            "{} {}: {} {} MHz, {}",
            r.vendor, r.model, r.cpu, r.mhz, r.cpus_enabled
        ))
    );
    let _ = writeln!(t, "cores = {}", r.cores);
    let _ = writeln!(t, "memory = \"{}GB\"", r.mem_gb);
    let _ = writeln!(
        t,
        "nic = \"1Gbps\"      # assumption: SPECpower results do not report or load the network"
    );
    t.push_str("\n[power]\n");
    match kind {
        Kind::SpecPower => {
            t.push_str("kind = \"specpower\"\n");
            let cells: Vec<String> = r.power_w.iter().map(|p| format!("\"{p}W\"")).collect();
            let _ = writeln!(t, "table = [{}]  # 0%, 10%, …, 100% load", cells.join(", "));
        }
        Kind::Linear => {
            t.push_str("kind = \"linear\"\n");
            let _ = writeln!(t, "idle = \"{:.3}W\"", idle);
            let _ = writeln!(t, "max = \"{:.3}W\"", idle + slope);
        }
        Kind::Cores => {
            t.push_str("kind = \"cores\"\n");
            let _ = writeln!(t, "idle = \"{:.3}W\"", idle);
        }
    }
    t.push_str("\n[[pstates]]          # the nominal clock, the only state SPEC reports\n");
    let _ = writeln!(t, "frequency = \"{}MHz\"", r.mhz);
    if kind == Kind::Cores {
        let _ = writeln!(t, "core_power = \"{:.4}W\"", per_core);
    }
    Ok(t)
}

/// The model file's first comment lines: where and when it was calibrated, and the
/// result's own description.
fn provenance(r: &SpecResult, source: &str, today: &str) -> String {
    // A cell may hold control characters (a line break inside a quoted cell, a stray
    // byte), which end or break a TOML comment: shown as spaces there.
    let c = |s: &str| -> String {
        s.chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .collect()
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Calibrated by `capsim calibrate --specpower` on {today} from {} line {}.",
        c(source),
        r.line
    );
    let _ = writeln!(
        t,
        "# Source: SPECpower_ssj2008 result, {} {}, {} {} MHz, {}, {} hardware threads, {} GB,",
        c(&r.vendor),
        c(&r.model),
        c(&r.cpu),
        r.mhz,
        c(&r.cpus_enabled),
        c(&r.threads),
        r.mem_gb
    );
    let _ = writeln!(
        t,
        "# published {}, test sponsor {}.",
        c(&r.publication),
        c(&r.sponsor)
    );
    t
}

fn fmt_list(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
