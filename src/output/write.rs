//! Writes a run's outputs: `summary.json`, `metrics.csv`, `timeseries.csv`,
//! `events.csv`, `meters.csv`, `power.svg` and `power.png`, all at once or not at all.

use super::dir::{Existing, Staging};
use super::plot::{write_figure, Figure, HLine, HLineKind, Marker, Panel, Series};
use crate::scenario::config::Scenario;
use crate::sim::{LogEvent, RunResult};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Formats a float for CSV: shortest round-trip form, so outputs are byte-stable; a -0
/// (an empty float sum) is written as 0.
pub(crate) fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{}", v + 0.0)
    } else {
        String::new()
    }
}

/// Quotes a CSV field if needed.
pub(crate) fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `timeseries.csv`.
pub fn timeseries_csv(r: &RunResult) -> String {
    let ts = &r.timeseries;
    let mut out = ts
        .columns
        .iter()
        .map(|c| field(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    if !ts.columns.is_empty() {
        for row in ts.values.chunks_exact(ts.columns.len()) {
            let line: Vec<String> = row.iter().map(|&v| num(v)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// `events.csv`.
pub fn events_csv(r: &RunResult) -> String {
    let mut out = String::from("time_s,kind,entity,detail\n");
    for e in r.event_rows() {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            num(e.time_ns as f64 / 1e9),
            e.kind,
            field(&e.entity),
            field(&e.detail)
        );
    }
    out
}

/// `meters.csv`.
pub fn meters_csv(r: &RunResult) -> String {
    let mut out = String::from("measured_s,available_s,meter,power_w\n");
    for m in &r.meter_readings {
        let _ = writeln!(
            out,
            "{},{},{},{}",
            num(m.measured_ns as f64 / 1e9),
            num(m.available_ns as f64 / 1e9),
            field(&r.meter_names[m.meter.idx()]),
            num(m.power_w)
        );
    }
    out
}

/// `metrics.csv`: one row per device with its violation and breaker figures.
pub fn metrics_csv(r: &RunResult) -> String {
    let mut out = String::from(
        "device,kind,cap_w,rating_a,episodes,seconds_over_cap,energy_over_cap_j,peak_overshoot_pct,trips,load_cut_w,max_heat,min_time_to_trip_s,energy_j,peak_w,mean_w\n",
    );
    for d in &r.summary.devices {
        let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&d.name),
            d.kind,
            opt(d.cap_w),
            opt(d.rating_a),
            d.violations.episodes,
            num(d.violations.seconds_over_cap),
            num(d.violations.energy_over_cap_j),
            num(d.violations.peak_overshoot_pct),
            d.trips.len(),
            num(d.trips.iter().map(|t| t.load_cut_w).sum()),
            num(d.max_heat),
            opt(d.min_time_to_trip_s),
            num(d.energy_j),
            num(d.peak_w),
            num(d.mean_w)
        );
    }
    out
}

/// The power figure: every device's power, its cap and its rating's power, trips marked.
pub fn power_figure(sc: &Scenario, r: &RunResult) -> Figure {
    let mut series = Vec::new();
    let mut hlines = Vec::new();
    for (d, cfg) in r.summary.devices.iter().zip(&sc.devices) {
        if let Some(points) = r.timeseries.column(&format!("{}.power_w", d.name)) {
            series.push(Series {
                label: d.name.clone(),
                points,
            });
        }
        if let Some(c) = d.cap_w {
            hlines.push(HLine {
                label: format!("{} cap", d.name),
                y: c,
                kind: HLineKind::Cap,
            });
        }
        if let Some(a) = d.rating_a {
            hlines.push(HLine {
                label: format!("{} rating ({a} A)", d.name),
                y: cfg.electrical.watts(a),
                kind: HLineKind::Rating,
            });
        }
    }
    // A world without devices: plot the servers instead.
    if series.is_empty() {
        for s in &r.summary.servers {
            if let Some(points) = r.timeseries.column(&format!("{}.power_w", s.name)) {
                series.push(Series {
                    label: s.name.clone(),
                    points,
                });
            }
        }
    }
    let markers = r
        .log
        .iter()
        .filter_map(|e| match e.event {
            LogEvent::BreakerTrip { device, .. } => Some(Marker {
                label: format!("{} trips", r.names.devices[device]),
                x: e.time_ns as f64 / 1e9,
            }),
            _ => None,
        })
        .collect();
    Figure {
        title: format!("{}: power", sc.name),
        panels: vec![Panel {
            y_label: "power (W)".into(),
            series,
            hlines,
            y_min: Some(0.0),
            y_max: None,
            scatter: false,
        }],
        markers,
        x_label: "time (s)".into(),
    }
}

/// Writes every output of a run into `dir` atomically (see [`crate::output::dir`] for
/// what happens to files already there); returns the directory.
pub fn write_run(
    sc: &Scenario,
    r: &RunResult,
    dir: &Path,
    existing: Existing,
) -> Result<PathBuf, String> {
    let ctx = |e: std::io::Error| format!("{}: {e}", dir.display());
    let st = Staging::open(dir, existing).map_err(ctx)?;
    let json = serde_json::to_string_pretty(&r.summary).map_err(|e| e.to_string())? + "\n";
    st.write("summary.json", json.as_bytes()).map_err(ctx)?;
    st.write("metrics.csv", metrics_csv(r).as_bytes())
        .map_err(ctx)?;
    st.write("timeseries.csv", timeseries_csv(r).as_bytes())
        .map_err(ctx)?;
    st.write("events.csv", events_csv(r).as_bytes())
        .map_err(ctx)?;
    st.write("meters.csv", meters_csv(r).as_bytes())
        .map_err(ctx)?;
    let fig = power_figure(sc, r);
    write_figure(&fig, &st.path("power.svg"), &st.path("power.png"))?;
    st.commit().map_err(ctx)
}
