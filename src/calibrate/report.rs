//! The fit report: `report.html` (self-contained, figures inline as SVG) with measured
//! against fitted power over time, residuals, the estimates with 95 % intervals, the
//! clock offsets and the excluded rows; the figures also as SVG and PNG files.

use super::migration_fit::Est;
use super::runs_fit::Calibration;
use crate::output::dir::{Existing, Staging};
use crate::output::plot::{write_figure, Figure, Marker, Panel, Series};
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Migration phase markers of run `k`.
pub fn markers(c: &Calibration, k: usize) -> Vec<Marker> {
    let mut m = Vec::new();
    for e in c.migrations.iter().filter(|e| e.run == k) {
        let p = &e.phases;
        m.push(Marker {
            label: "migration start".into(),
            x: p.start,
        });
        for (l, t) in [
            ("transfer", p.transfer_start),
            ("switch-over", p.switch),
            ("source copy gone", p.source_gone),
        ] {
            if let Some(x) = t {
                m.push(Marker { label: l.into(), x });
            }
        }
    }
    m
}

/// The measured-vs-fitted and residual figure of run `k`.
pub fn figure(c: &Calibration, k: usize) -> Figure {
    let rows: Vec<_> = c.power.rows.iter().filter(|r| r.run == k).collect();
    let mid = |r: &super::power_fit::Row| 0.5 * (r.t0 + r.t1);
    let measured = Series {
        label: "measured (mean over each CPU interval)".into(),
        points: rows.iter().map(|r| (mid(r), r.power_w)).collect(),
    };
    let fitted = Series {
        label: "fitted model".into(),
        points: rows
            .iter()
            .map(|r| (mid(r), c.power.predict(r.busy, r.state, r.gbps)))
            .collect(),
    };
    let resid = Series {
        label: "measured − fitted".into(),
        points: rows
            .iter()
            .map(|r| (mid(r), r.power_w - c.power.predict(r.busy, r.state, r.gbps)))
            .collect(),
    };
    Figure {
        title: format!("{}: measured and fitted power", c.runs[k].name()),
        panels: vec![
            Panel {
                y_label: "power (W)".into(),
                series: vec![measured, fitted],
                ..Default::default()
            },
            Panel {
                y_label: "residual (W)".into(),
                series: vec![resid],
                ..Default::default()
            },
        ],
        markers: markers(c, k),
        x_label: "time since capture start (s, CPU clock)".into(),
    }
}

fn row(t: &mut String, name: &str, e: Option<Est>, scale: f64, unit: &str, df: usize) {
    match e {
        Some(e) => {
            let h = crate::output::stats::t95(df) * e.se;
            let _ = writeln!(
                t,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{unit}</td></tr>",
                esc(name),
                e.v * scale,
                e.se * scale,
                (e.v - h) * scale,
                (e.v + h) * scale
            );
        }
        None => {
            let _ = writeln!(
                t,
                "<tr><td>{}</td><td colspan=4>not available from these runs</td></tr>",
                esc(name)
            );
        }
    }
}

/// Writes the report into `dir` (replaced atomically); returns report.html's path.
pub fn write(c: &Calibration, dir: &Path, existing: Existing) -> Result<PathBuf, String> {
    let st = Staging::open(dir, existing).map_err(|e| format!("{}: {e}", dir.display()))?;
    let svgs = write_figures(c, &st)?;
    let mut t = String::new();
    t.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>capsim calibration report</title>");
    t.push_str("<style>body{font-family:sans-serif;max-width:1250px;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>");
    let _ = writeln!(
        t,
        "<h1>Calibration from {} capture run(s)</h1>",
        c.runs.len()
    );
    runs_table(&mut t, c);
    estimates(&mut t, c);
    if !c.notes.is_empty() {
        t.push_str("<h2>Notes</h2><ul>");
        for n in &c.notes {
            let _ = write!(t, "<li>{}</li>", esc(n));
        }
        t.push_str("</ul>\n");
    }
    t.push_str("<h2>Measured and fitted power</h2>\n");
    for s in &svgs {
        // The SVG file starts with its own root element; inline it as is.
        let body = s.find("<svg").map_or(s.as_str(), |i| &s[i..]);
        let _ = writeln!(t, "<div>{body}</div>");
    }
    t.push_str("</body></html>\n");
    st.write("report.html", t.as_bytes())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let d = st.commit().map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(d.join("report.html"))
}

/// Writes each run's figure as `fit-K.svg` and `fit-K.png`; the SVG texts, to inline.
fn write_figures(c: &Calibration, st: &Staging) -> Result<Vec<String>, String> {
    let mut svgs = Vec::new();
    for k in 0..c.runs.len() {
        let name = format!("fit-{k}");
        let (svg, png) = (
            st.path(&format!("{name}.svg")),
            st.path(&format!("{name}.png")),
        );
        write_figure(&figure(c, k), &svg, &png)?;
        svgs.push(std::fs::read_to_string(&svg).map_err(|e| format!("{}: {e}", svg.display()))?);
    }
    Ok(svgs)
}

/// The runs table: kind, samples, window, intervals, clock offset, RMSE, excluded rows.
fn runs_table(t: &mut String, c: &Calibration) {
    t.push_str("<h2>Runs</h2><table><tr><th>run</th><th>kind</th><th>power samples</th><th>window (s)</th><th>CPU intervals</th><th>clock offset power→CPU (s)</th><th>RMSE at offset / unshifted (W)</th><th>excluded rows</th></tr>\n");
    for (k, r) in c.runs.iter().enumerate() {
        let o = &c.power.offsets[k];
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{} ({} dropped, {} without power)</td><td>{:+.3} ± {:.3}</td><td>{:.3} / {:.3}</td><td>{}</td></tr>",
            esc(&r.dir.display().to_string()),
            if r.synthetic() { "SYNTHETIC" } else { "measured" },
            r.power.len(),
            c.windows[k],
            c.cpu[k].intervals.len(),
            c.cpu[k].dropped,
            c.power.unusable[k],
            o.shift_s,
            o.step_s,
            o.rmse_best_w,
            o.rmse_zero_w,
            esc(&if r.excluded.total() == 0 { "none".to_string() } else { r.excluded.lines().join("; ") })
        );
    }
    t.push_str("</table>\n");
}

/// The estimates: the power fit's statistics, then a table of every parameter with its
/// standard error and 95 % interval.
fn estimates(t: &mut String, c: &Calibration) {
    let f = &c.power.fit;
    let df = f.n.saturating_sub(f.coef.len());
    t.push_str("<h2>Estimates</h2>");
    let _ = writeln!(
        t,
        "<p>Power: P = idle + c × busy cores{}; least squares over {} intervals, R² {:.5}, RMSE {:.3} W, worst residual {:.2} W. Intervals: 95 % (Student t, {df} residual degrees of freedom).</p>",
        if c.power.nic { " + k × migration Gbit/s" } else { "" },
        f.n,
        f.r2,
        f.rmse,
        f.max_abs_residual
    );
    t.push_str("<table><tr><th>parameter</th><th>estimate</th><th>standard error</th><th>95 % interval</th><th>unit</th></tr>\n");
    for (k, n) in c.power.names.iter().enumerate() {
        let unit = if k == 0 {
            "W"
        } else if Some(k) == c.power.nic_column() {
            "W per Gbit/s"
        } else {
            "W per busy core"
        };
        row(
            t,
            n,
            Some(Est {
                v: f.coef[k],
                se: f.se[k],
            }),
            1.0,
            unit,
            df,
        );
    }
    migration_rows(t, c);
    t.push_str("</table>\n");
}

/// The migration parameters' rows of the estimates table.
fn migration_rows(t: &mut String, c: &Calibration) {
    let mp = c.migration_params();
    if c.migrations.is_empty() {
        t.push_str("<tr><td>migration</td><td colspan=4>no migration in these runs</td></tr>\n");
    } else {
        // Durations and levels: few independent values; a normal interval (df large).
        let d = 1000;
        row(t, "setup time", mp.setup_s, 1.0, "s", d);
        row(
            t,
            "dom0 CPU during setup",
            mp.setup_cpu,
            100.0,
            "% of a core",
            d,
        );
        row(t, "effective transfer rate", mp.rate, 1e-6, "MB/s", d);
        row(t, "sender dom0 CPU per page", mp.sender, 1e6, "µs", d);
        row(t, "receiver dom0 CPU per page", mp.receiver, 1e6, "µs", d);
        row(t, "transfer end → switch-over", mp.handover_s, 1.0, "s", d);
        row(t, "source copy linger", mp.cleanup_vm_s, 1.0, "s", d);
        row(t, "dom0 clean-up", mp.cleanup_dom0_s, 1.0, "s", d);
        row(
            t,
            "dom0 CPU during clean-up",
            mp.cleanup_dom0_cpu,
            100.0,
            "% of a core",
            d,
        );
        row(
            t,
            "extra power while sending (vs before)",
            mp.extra_power_w,
            1.0,
            "W",
            d,
        );
        row(
            t,
            "power not explained by busy cores while sending",
            mp.non_cpu_power_w,
            1.0,
            "W",
            d,
        );
    }
}
