//! Calibration: fitting capsim's models to measurements — published SPECpower results
//! and capture runs (power meter + hypervisor CPU counters).
//!
//! From capture runs: [`run`] reads a run directory, [`align`] puts power onto the CPU
//! intervals, [`phases`] finds migration phases in the events, [`power_fit`] fits the
//! `cores` model with the clock offset, [`migration_fit`] estimates the migration
//! parameters, [`runs_fit`] ties them together, [`model_out`] writes the model file.
//! [`synthetic`] makes capture runs from simulations (the round trip).

pub mod align;
pub mod clock;
pub mod fit;
pub mod migration_fit;
pub mod model_out;
pub mod phases;
pub mod power_fit;
pub mod replay;
pub mod report;
pub mod run;
pub mod runs_fit;
pub mod specpower;
pub mod synthetic;

use std::path::{Path, PathBuf};

fn today() -> String {
    let now = crate::capture::record::utc_string(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128),
    );
    now[..10].to_string()
}

/// `capsim calibrate RUN_DIR... -o MODEL.toml [--report DIR]`: fits, writes the model
/// (loaded back first) and optionally the report; returns what to print.
pub fn runs_command(
    dirs: &[PathBuf],
    out: &Path,
    report: Option<&Path>,
    existing: crate::output::dir::Existing,
    host: model_out::HostInfo,
) -> Result<String, String> {
    if dirs.is_empty() {
        return Err("give run directories (capsim calibrate RUN_DIR... -o MODEL.toml) or --specpower CSV --server NAME".into());
    }
    if let Some(dir) = report {
        crate::output::dir::preflight(dir, existing)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let c = runs_fit::calibrate(dirs)?;
    let host = host.or_manifest(&c.runs[0].manifest);
    let text = model_out::model_text(&c, &host, &today())?;
    crate::atomic::write_text(out, &text)?;
    let mut msg = summary(&c);
    msg.insert_str(0, &format!("{}: written\n", out.display()));
    if let Some(dir) = report {
        let p = report::write(&c, dir, existing)?;
        msg.push_str(&format!("\nreport: {}", p.display()));
    }
    Ok(msg)
}

/// The terminal summary of a calibration.
fn summary(c: &runs_fit::Calibration) -> String {
    let p = &c.power;
    let f = &p.fit;
    let mut s = format!(
        "power fit over {} intervals: idle {:.2} ± {:.2} W",
        f.n,
        p.idle_w(),
        f.se[0]
    );
    for k in 0..p.states() {
        let at = p
            .clocks_mhz
            .get(k)
            .map_or(String::new(), |m| format!(" at {m} MHz"));
        s.push_str(&format!(
            ", {:.3} ± {:.3} W per busy core{at}",
            p.core_w_at(k),
            f.se[1 + k]
        ));
    }
    if let Some(c) = p.nic_column() {
        s.push_str(&format!(
            ", {:.3} ± {:.3} W per Gbit/s",
            p.nic_w_per_gbps(),
            f.se[c]
        ));
    }
    s.push_str(&format!("; R² {:.4}, RMSE {:.2} W", f.r2, f.rmse));
    for (k, o) in p.offsets.iter().enumerate() {
        s.push_str(&format!(
            "\n{}: clock offset power → CPU {:+.3} s, {} rows excluded",
            c.runs[k].name(),
            o.shift_s,
            c.runs[k].excluded.total()
        ));
    }
    let mp = c.migration_params();
    if c.migrations.is_empty() {
        s.push_str("\nmigration: no migration in these runs");
    } else {
        let e = |x: Option<migration_fit::Est>, k: f64, u: &str| {
            x.map_or("n/a".to_string(), |x| {
                format!("{:.3} ± {:.3} {u}", x.v * k, x.se * k)
            })
        };
        s.push_str(&format!(
            "\nmigration ({}): setup {}, rate {}, sender {}, receiver {}, setup CPU {}, source copy {}, dom0 clean-up {} at {}, extra power {}",
            c.migrations.len(),
            e(mp.setup_s, 1.0, "s"),
            e(mp.rate, 1e-6, "MB/s"),
            e(mp.sender, 1e6, "us/page"),
            e(mp.receiver, 1e6, "us/page"),
            e(mp.setup_cpu, 100.0, "%"),
            e(mp.cleanup_vm_s, 1.0, "s"),
            e(mp.cleanup_dom0_s, 1.0, "s"),
            e(mp.cleanup_dom0_cpu, 100.0, "%"),
            e(mp.extra_power_w, 1.0, "W"),
        ));
    }
    for n in &c.notes {
        s.push_str(&format!("\nnote: {n}"));
    }
    s
}

/// `capsim capture --simulate SCENARIO --host NAME --out RUN_DIR`: a synthetic run.
pub fn synthesize_command(
    scenario: &Path,
    o: &synthetic::Options,
    out: &Path,
) -> Result<String, String> {
    let lib = crate::scenario::library::Library::new(Vec::new());
    let sc = crate::scenario::validate::load_file(scenario, &lib).map_err(|e| e.to_string())?;
    let s = synthetic::synthesize(&sc, &scenario.display().to_string(), o)?;
    let c = synthetic::write_run(out, &s)?;
    Ok(format!(
        "capture: {} (SYNTHETIC, simulated from {}; {} power, {} cpu, {} events)",
        out.display(),
        scenario.display(),
        c.rows_in("power.csv"),
        c.rows_in("cpu.csv"),
        c.rows_in("events.jsonl")
    ))
}

/// `capsim calibrate --specpower CSV --server NAME [--line N] --kind K -o MODEL.toml`:
/// writes the model (checked by loading it back as a server model first) and returns
/// what to print: the file and the fit's error.
pub fn specpower_command(
    csv: &Path,
    server: &str,
    line: Option<usize>,
    kind: specpower::Kind,
    out: &Path,
) -> Result<String, String> {
    let all = specpower::read(csv)?;
    let r = specpower::find(&all, server, line)?;
    let text = specpower::model_text(r, kind, &csv.display().to_string(), &today())?;
    // Never write a model capsim itself would reject.
    crate::scenario::validate::server_model_from_text(
        "calibrated",
        &out.display().to_string(),
        &text,
    )
    .map_err(|e| format!("internal: the written model does not load: {e}"))?;
    crate::atomic::write_text(out, &text)?;
    let fit = specpower::fit_line(r)?;
    Ok(format!(
        "{}: {} (line {})\nlinear fit: idle {:.1} W, max {:.1} W, R² {:.4}, RMSE {:.2} W, worst residual {:.2} W",
        out.display(),
        r.label(),
        r.line,
        fit.coef[0],
        fit.coef[0] + fit.coef[1],
        fit.r2,
        fit.rmse,
        fit.max_abs_residual
    ))
}
