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
    /// Why the fit is not to be trusted (empty: plausible); see [`plausibility`].
    pub flags: Vec<String>,
}

/// RMSE above this share of the mean measured power flags the fit: a calibrated model
/// is within a few percent on its own testbed (the synthetic round trip: 1 W of ~150 W),
/// so a quarter means a wrong model or bad samples. An assumption; any value from 10 %
/// to 50 % separates those cases.
pub const MAX_RMSE_SHARE: f64 = 0.25;

/// A measured sample above this multiple of the median flags the run: no server draws
/// ten times its typical power (a torn line read as 1e158 W does).
pub const MAX_SAMPLE_OVER_MEDIAN: f64 = 10.0;

/// Reasons not to trust a replay: an offset at the edge of the search (the true one may
/// lie beyond it), an RMSE above [`MAX_RMSE_SHARE`] of the mean measured power, or a
/// sample of the run's power trace (`run_power_w`, all of it: the offset search can move
/// a bad sample out of the compared overlap) above [`MAX_SAMPLE_OVER_MEDIAN`] times its
/// median.
pub fn plausibility(r: &Replay, step_s: f64, run_power_w: &[f64]) -> Vec<String> {
    let mut flags = Vec::new();
    if r.shift_s.abs() >= SEARCH_S - step_s {
        flags.push(format!(
            "the clock offset {:+.3} s is at the edge of the ±{SEARCH_S} s search: the clocks may be further apart, or the power trace does not match the CPU trace",
            r.shift_s
        ));
    }
    let compared: Vec<f64> = r.points.iter().map(|p| p.1).collect();
    if !compared.is_empty() {
        let mean = compared.iter().sum::<f64>() / compared.len() as f64;
        // NaN is flagged too: only a finite RMSE within the share passes.
        if r.rmse_w.is_nan() || r.rmse_w > MAX_RMSE_SHARE * mean {
            flags.push(format!(
                "RMSE {:.3e} W is over {:.0} % of the mean measured power ({:.1} W): a wrong model or bad samples",
                r.rmse_w,
                100.0 * MAX_RMSE_SHARE,
                mean
            ));
        }
    }
    let mut measured = run_power_w.to_vec();
    measured.sort_by(f64::total_cmp);
    if let Some(&median) = measured.get(measured.len() / 2) {
        let top = measured[measured.len() - 1];
        if median > 0.0 && (top.is_nan() || top > MAX_SAMPLE_OVER_MEDIAN * median) {
            flags.push(format!(
                "a measured sample of {top:.3e} W is over {MAX_SAMPLE_OVER_MEDIAN}× the median ({median:.1} W): check power.csv"
            ));
        }
    }
    flags
}

/// Replays `dir` with the model in `model_path`.
pub fn replay(dir: &Path, model_path: &Path) -> Result<Replay, String> {
    let text = crate::scenario::input::read_input(model_path, "server model")?;
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
    let mut r = Replay {
        shift_s: shift,
        rmse_w: rmse,
        bias_w: bias,
        n: count,
        migrations: migration_times(&migs, &text),
        points,
        flags: Vec::new(),
    };
    let run_power: Vec<f64> = run.power.iter().map(|p| p.power_w).collect();
    r.flags = plausibility(&r, coarse_step(w) / 10.0, &run_power);
    Ok(r)
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
/// text and whether the fit was flagged implausible ([`plausibility`]; the command then
/// exits 1).
pub fn replay_command(
    dir: &Path,
    model: &Path,
    out: Option<&Path>,
    existing: Existing,
) -> Result<(String, bool), String> {
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
    for f in &r.flags {
        let _ = writeln!(t, "implausible fit: {f}");
    }
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
    Ok((t, !r.flags.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_with(shift_s: f64, rmse_w: f64) -> Replay {
        Replay {
            shift_s,
            rmse_w,
            bias_w: 0.0,
            n: 3,
            migrations: Vec::new(),
            // Measured 100 W throughout.
            points: vec![(1.0, 100.0, 101.0), (2.0, 100.0, 99.0), (3.0, 100.0, 100.0)],
            flags: Vec::new(),
        }
    }

    #[test]
    fn implausible_fits_are_flagged_for_their_reason() {
        let trace = [100.0, 100.0, 100.0];
        // 1 W of 100 W at a 0.2 s offset: plausible.
        assert!(plausibility(&replay_with(0.2, 1.0), 0.01, &trace).is_empty());
        // At the ±3 s edge (within one fine step of 0.01 s).
        let f = plausibility(&replay_with(-2.995, 1.0), 0.01, &trace);
        assert!(f.len() == 1 && f[0].contains("edge"), "{f:?}");
        // 30 W of 100 W is over 25 %; NaN is never plausible.
        for rmse in [30.0, f64::NAN] {
            let f = plausibility(&replay_with(0.0, rmse), 0.01, &trace);
            assert!(f.len() == 1 && f[0].contains("RMSE"), "{f:?}");
        }
        // A 2 kW sample in a 100 W trace is over 10× its median.
        let f = plausibility(&replay_with(0.0, 1.0), 0.01, &[100.0, 100.0, 2000.0]);
        assert!(f.len() == 1 && f[0].contains("median"), "{f:?}");
    }
}
