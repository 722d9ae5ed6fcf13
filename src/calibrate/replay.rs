//! `capsim replay RUN_DIR --model MODEL.toml`: predicts a captured run's power from its
//! measured CPU (and migration traffic) with a server model, and its migrations' durations
//! from the model's calibrated phase durations and rate; reports the errors and writes an
//! overlay plot of measured and predicted power.
//!
//! Power is compared per meter sample: the model's power for the busy cores and Gbit/s
//! averaged over each sample's window, at the clock offset (searched as in calibration,
//! ±3 s) that fits best. Migration time (start → source copy gone) is predicted as
//! setup plus bytes / rate plus handover plus source-copy linger, from the model's
//! `# calibrated-migration:` line; a model without one gets no migration prediction.

use super::align::{cpu_series, meter_window};
use super::clock::ClockLine;
use super::model_out::migration_line;
use super::phases::{migrations, Migration};
use super::power_fit::{coarse_step, sample_rows, RunInput, SEARCH_S};
use super::run::{read, Run};
use super::runs_fit::transfers;
use crate::model::power::PowerModel;
use crate::output::dir::{Existing, Staging};
use crate::output::plot::{write_figure, Figure, Panel, Series};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One migration's measured and predicted duration, s.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationTime {
    /// The VM.
    pub vm: Option<String>,
    /// Start → source copy gone, measured, s.
    pub measured_s: f64,
    /// The same, predicted by the model, s (None without calibrated phase durations or
    /// without the bytes moved).
    pub predicted_s: Option<f64>,
}

/// What a replay found.
#[derive(Clone, Debug)]
pub struct Replay {
    /// Clock offset used, s (added to power stamps).
    pub shift_s: f64,
    /// Power RMSE over the meter samples, W.
    pub rmse_w: f64,
    /// Mean error (predicted − measured), W.
    pub bias_w: f64,
    /// Samples compared.
    pub n: usize,
    /// Per migration.
    pub migrations: Vec<MigrationTime>,
    /// (time s, measured W, predicted W) per sample, on the CPU clock.
    pub points: Vec<(f64, f64, f64)>,
}

/// Replays `dir` with the model in `model_path`.
pub fn replay(dir: &Path, model_path: &Path) -> Result<Replay, String> {
    let text = std::fs::read_to_string(model_path)
        .map_err(|e| format!("{}: cannot read: {e}", model_path.display()))?;
    let model = crate::scenario::validate::server_model_from_text(
        "replayed",
        &model_path.display().to_string(),
        &text,
    )
    .map_err(|e| e.to_string())?;
    let run = read(dir)?;
    let cpu = cpu_series(&run.cpu, "").ok_or_else(|| {
        format!(
            "{}: fewer than two usable CPU polls",
            dir.join("cpu.csv").display()
        )
    })?;
    let w = meter_window(&run.power, run.meter_window_s()).ok_or_else(|| {
        format!(
            "{}: fewer than two power samples",
            dir.join("power.csv").display()
        )
    })?;
    let migs = migrations(&run.events, &run.migration, &run.net);
    let mut notes = Vec::new();
    let clock = ClockLine::new(&run.freq);
    let levels = pstate_levels(dir, &run, &clock, &model.power)?;
    let input = RunInput {
        power: &run.power,
        window_s: w,
        cpu: &cpu,
        transfers: transfers(&run, &migs, &mut notes),
        clock: &clock,
        levels: &levels,
    };
    let pw = &model.power;
    let shift = best_shift(&input, pw)?;
    let (rmse, bias, count) = score(&input, pw, shift).ok_or("no usable shift")?;
    let points = sample_rows(&input, shift)
        .iter()
        .map(|r| (r.t1, r.power_w, pw.power_w(r.busy, r.state, r.gbps)))
        .collect();
    Ok(Replay {
        shift_s: shift,
        rmse_w: rmse,
        bias_w: bias,
        n: count,
        migrations: migration_times(&migs, &text),
        points,
    })
}

/// The model's p-state clocks, MHz, when the run recorded its clocks (each interval then
/// runs at the p-state of its clock); empty otherwise. An error when the run ran at a
/// clock the model has no p-state for.
fn pstate_levels(
    dir: &Path,
    run: &Run,
    clock: &ClockLine,
    pw: &PowerModel,
) -> Result<Vec<u64>, String> {
    let levels: Vec<u64> = if clock.is_empty() {
        Vec::new()
    } else {
        pw.pstates
            .iter()
            .map(|p| (p.frequency_hz / 1e6).round() as u64)
            .collect()
    };
    if let Some(mhz) = run.clocks_mhz().into_iter().find(|m| !levels.contains(m)) {
        return Err(format!(
            "{}: the run's clock {mhz} MHz (freq.csv) is none of the model's p-states ({} MHz)",
            dir.display(),
            levels
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(levels)
}

/// (RMSE W, mean error W, samples) of the model's power against the meter samples with
/// the power stamps shifted by `d` s; None when no sample overlaps the CPU series.
fn score(input: &RunInput, pw: &PowerModel, d: f64) -> Option<(f64, f64, usize)> {
    let rows = sample_rows(input, d);
    if rows.is_empty() {
        return None;
    }
    let (mut ss, mut s) = (0.0, 0.0);
    for r in &rows {
        let e = pw.power_w(r.busy, r.state, r.gbps) - r.power_w;
        ss += e * e;
        s += e;
    }
    let n = rows.len() as f64;
    Some(((ss / n).sqrt(), s / n, rows.len()))
}

/// The clock offset, s, with the lowest RMSE: a coarse grid over ±[`SEARCH_S`], then
/// tenths of its step around the best point.
fn best_shift(input: &RunInput, pw: &PowerModel) -> Result<f64, String> {
    let step = coarse_step(input.window_s);
    let n = (SEARCH_S / step).floor() as i64;
    let mut best: Option<(f64, f64)> = None;
    let grid = (-n..=n).map(|k| k as f64 * step);
    for d in grid {
        if let Some((e, _, _)) = score(input, pw, d) {
            if best.is_none_or(|(_, b)| e < b) {
                best = Some((d, e));
            }
        }
    }
    let (coarse, _) = best.ok_or("no power sample overlaps the CPU series")?;
    for k in -10..=10 {
        let d = coarse + k as f64 * step / 10.0;
        if let Some((e, _, _)) = score(input, pw, d) {
            if best.is_none_or(|(_, b)| e < b) {
                best = Some((d, e));
            }
        }
    }
    let (shift, _) = best.ok_or("no usable shift")?;
    Ok(shift)
}

/// Measured and predicted durations (start → source copy gone) of the migrations that
/// completed; predictions from the model's [`MIGRATION_LINE`](super::model_out::MIGRATION_LINE).
fn migration_times(migs: &[Migration], model_text: &str) -> Vec<MigrationTime> {
    let line = migration_line(model_text);
    let get = |k: &str| {
        line.as_ref()
            .and_then(|l| l.iter().find(|(n, _)| n == k).map(|(_, v)| *v))
            .filter(|v| v.is_finite())
    };
    let mut times = Vec::new();
    for m in migs.iter().filter(|m| !m.failed) {
        let Some(g) = m.source_gone else { continue };
        let predicted = (|| {
            Some(
                get("setup_s")?
                    + m.bytes? / get("rate_Bps")?
                    + get("handover_s").unwrap_or(0.0)
                    + get("cleanup_vm_s")?,
            )
        })();
        times.push(MigrationTime {
            vm: m.vm.clone(),
            measured_s: g - m.start,
            predicted_s: predicted,
        });
    }
    times
}

/// `capsim replay RUN_DIR --model MODEL.toml [-o DIR]`: replays, writes `replay.svg`,
/// `replay.png` and `replay.txt` into DIR (default `outputs/replay/<run>/`), returns the
/// text.
pub fn replay_command(
    dir: &Path,
    model: &Path,
    out: Option<&Path>,
    existing: Existing,
) -> Result<String, String> {
    let r = replay(dir, model)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let out: PathBuf = out.map_or_else(
        || Path::new("outputs/replay").join(&name),
        Path::to_path_buf,
    );
    let mut t = String::new();
    let _ = writeln!(t, "replay of {} with {}", dir.display(), model.display());
    let _ = writeln!(
        t,
        "power: RMSE {:.2} W, mean error (predicted − measured) {:+.2} W over {} meter samples; clock offset power → CPU {:+.3} s",
        r.rmse_w, r.bias_w, r.n, r.shift_s
    );
    if r.migrations.is_empty() {
        let _ = writeln!(t, "migration: none in this run");
    }
    for m in &r.migrations {
        let vm = m.vm.as_deref().unwrap_or("?");
        match m.predicted_s {
            Some(p) => {
                let _ = writeln!(
                    t,
                    "migration of {vm}: start → source copy gone measured {:.3} s, predicted {:.3} s, error {:+.3} s ({:+.1} %)",
                    m.measured_s,
                    p,
                    p - m.measured_s,
                    100.0 * (p - m.measured_s) / m.measured_s
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "migration of {vm}: measured {:.3} s; no prediction (the model has no calibrated phase durations, or the run no bytes moved)",
                    m.measured_s
                );
            }
        }
    }
    let fig = Figure {
        title: format!("{name}: measured and predicted power ({})", model.display()),
        panels: vec![Panel {
            y_label: "power (W)".into(),
            series: vec![
                Series {
                    label: "measured".into(),
                    points: r.points.iter().map(|p| (p.0, p.1)).collect(),
                },
                Series {
                    label: "predicted from measured CPU".into(),
                    points: r.points.iter().map(|p| (p.0, p.2)).collect(),
                },
            ],
            ..Default::default()
        }],
        markers: Vec::new(),
        x_label: "time since capture start (s, CPU clock)".into(),
    };
    let st = Staging::open(&out, existing).map_err(|e| format!("{}: {e}", out.display()))?;
    write_figure(&fig, &st.path("replay.svg"), &st.path("replay.png"))?;
    st.write("replay.txt", t.as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let d = st.commit().map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = write!(
        t,
        "written: {}/replay.svg, replay.png, replay.txt",
        d.display()
    );
    Ok(t)
}
