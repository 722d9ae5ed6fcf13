//! `capsim report DIR`: per policy and swept value, the mean and 95 % confidence interval
//! over replicates of each metric; plots (violations against the numeric axis per
//! policy, slowdown against violations, CDF of per-VM slowdown); a self-contained
//! `report.html` with the plots inlined as SVG.

use crate::output::dir::{write_file_atomic, Staging};
use crate::output::plot::{write_figure, Figure, Panel, Series};
use crate::output::stats::mean_ci;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Splits one CSV line (our own writer's quoting).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Metrics shown in the report: `runs.csv` column, heading with unit, scale applied.
/// Violation sums run over every capped device (a rack and its row both over cap for
/// one second count two device-seconds).
const SHOWN: [(&str, &str, f64); 9] = [
    ("episodes", "violation episodes", 1.0),
    ("seconds_over_cap", "time over cap (device·h)", 1.0 / 3600.0),
    ("energy_over_cap_j", "energy over cap (kWh)", 1.0 / 3.6e6),
    ("peak_overshoot_pct", "peak overshoot (% of cap)", 1.0),
    ("trips", "breaker trips", 1.0),
    ("mean_slowdown", "mean VM slowdown (×)", 1.0),
    ("p95_slowdown", "p95 VM slowdown (×)", 1.0),
    ("migrations", "migrations", 1.0),
    ("energy_j", "energy (kWh)", 1.0 / 3.6e6),
];

/// A number with four significant digits, without exponent for everyday magnitudes.
fn sig(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..=8).contains(&mag) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Text safe inside HTML elements.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A one-panel figure.
fn figure(
    title: String,
    x_label: String,
    y_label: &str,
    series: Vec<Series>,
    y: (Option<f64>, Option<f64>),
) -> Figure {
    Figure {
        title,
        panels: vec![Panel {
            y_label: y_label.into(),
            series,
            hlines: vec![],
            y_min: y.0,
            y_max: y.1,
            scatter: false,
        }],
        markers: vec![],
        x_label,
    }
}

/// Writes `DIR/report.html` (self-contained: the plots are inlined) and the plots as
/// separate SVG and PNG files in `DIR/report/`; returns the report's path.
pub fn report(dir: &Path) -> Result<PathBuf, String> {
    let csv_path = dir.join("runs.csv");
    let text =
        std::fs::read_to_string(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    let mut lines = text.lines();
    let header = fields(lines.next().ok_or("runs.csv is empty")?);
    let col = |name: &str| header.iter().position(|h| h == name);
    let rep = col("replicate").ok_or("runs.csv has no `replicate` column")?;
    let status = col("status").ok_or("runs.csv has no `status` column")?;
    // Swept columns sit between run_id and replicate.
    let swept: Vec<usize> = (1..rep).collect();
    let rows: Vec<Vec<String>> = lines
        .map(fields)
        .filter(|r| r.len() == header.len())
        .collect();
    let ok: Vec<&Vec<String>> = rows.iter().filter(|r| r[status] == "ok").collect();
    let failed = rows.len() - ok.len();
    let num = |r: &Vec<String>, name: &str| -> f64 {
        col(name)
            .and_then(|c| r[c].parse().ok())
            .unwrap_or(f64::NAN)
    };
    // Groups: every swept value combination.
    let mut groups: BTreeMap<Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for r in &ok {
        groups
            .entry(swept.iter().map(|&c| r[c].clone()).collect())
            .or_default()
            .push(r);
    }
    // The directory's own name (normally the sweep's), not a path that differs per machine.
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>capsim sweep report</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}th{{background:#eee}}\
         .wide{{overflow-x:auto;max-width:100%}}svg{{max-width:100%;height:auto}}</style>\
         </head><body><h1>Sweep report: {}</h1><p>{} runs, {} failed. Each cell: mean ± 95 % \
         confidence half-width over replicates (Student t). Violations are summed over \
         every capped device.</p><div class=\"wide\"><table><tr>",
        html_escape(&name),
        rows.len(),
        failed
    );
    for &c in &swept {
        let _ = write!(html, "<th>{}</th>", html_escape(&header[c]));
    }
    html.push_str("<th>n</th>");
    for (_, heading, _) in SHOWN {
        let _ = write!(html, "<th>{heading}</th>");
    }
    html.push_str("</tr>");
    for (key, rs) in &groups {
        html.push_str("<tr>");
        for k in key {
            let _ = write!(html, "<td>{}</td>", html_escape(k));
        }
        let _ = write!(html, "<td>{}</td>", rs.len());
        for (m, _, scale) in SHOWN {
            let (mean, ci) = mean_ci(&rs.iter().map(|r| num(r, m) * scale).collect::<Vec<_>>());
            let _ = write!(html, "<td>{} ± {}</td>", sig(mean), sig(ci));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></div>");

    // Plots: series by the policy (or first non-numeric) axis, x the first numeric axis.
    let is_num = |c: usize| ok.iter().all(|r| r[c].parse::<f64>().is_ok());
    let x_col = swept.iter().copied().find(|&c| is_num(c));
    let s_col = swept
        .iter()
        .copied()
        .find(|&c| header[c] == "policy.kind")
        .or_else(|| swept.iter().copied().find(|&c| !is_num(c)));
    let series_of = |r: &Vec<String>| s_col.map_or("all".to_string(), |c| r[c].clone());
    let mut by_series: BTreeMap<String, Vec<&Vec<String>>> = BTreeMap::new();
    for r in &ok {
        by_series.entry(series_of(r)).or_default().push(r);
    }
    let st = Staging::new(&dir.join("report")).map_err(|e| e.to_string())?;
    let mut figures: Vec<(String, Figure)> = Vec::new();
    if let Some(xc) = x_col {
        let series = by_series
            .iter()
            .map(|(name, rs)| {
                let mut per_x: BTreeMap<String, Vec<f64>> = BTreeMap::new();
                for r in rs {
                    per_x
                        .entry(r[xc].clone())
                        .or_default()
                        .push(num(r, "seconds_over_cap"));
                }
                let mut points: Vec<(f64, f64)> = per_x
                    .iter()
                    .map(|(x, v)| (x.parse().unwrap_or(f64::NAN), mean_ci(v).0))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    label: name.clone(),
                    points,
                }
            })
            .collect();
        figures.push((
            "violations".into(),
            figure(
                format!("Seconds over cap against {}", header[xc]),
                header[xc].clone(),
                "device-seconds over cap (mean over replicates)",
                series,
                (Some(0.0), None),
            ),
        ));
    }
    let scatter = by_series
        .iter()
        .map(|(name, rs)| {
            let mut points: Vec<(f64, f64)> = rs
                .iter()
                .map(|r| (num(r, "seconds_over_cap"), num(r, "mean_slowdown")))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: name.clone(),
                points,
            }
        })
        .collect();
    let mut slow_fig = figure(
        "Mean VM slowdown against time over cap (one point per run)".into(),
        "device-seconds over cap".into(),
        "mean slowdown",
        scatter,
        (None, None),
    );
    slow_fig.panels[0].scatter = true;
    figures.push(("slowdown".into(), slow_fig));
    // CDF of per-VM slowdown, from each run's summary.json.
    let id = col("run_id").unwrap_or(0);
    let cdf = by_series
        .iter()
        .map(|(name, rs)| {
            let mut s: Vec<f64> = Vec::new();
            for r in rs {
                let p = dir.join("runs").join(&r[id]).join("summary.json");
                if let Ok(t) = std::fs::read_to_string(p) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                        for vm in v["vms"].as_array().into_iter().flatten() {
                            if let Some(x) = vm["slowdown"].as_f64() {
                                s.push(x);
                            }
                        }
                    }
                }
            }
            s.sort_by(f64::total_cmp);
            let n = s.len().max(1) as f64;
            Series {
                label: name.clone(),
                points: s
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (x, (i + 1) as f64 / n))
                    .collect(),
            }
        })
        .collect();
    figures.push((
        "slowdown-cdf".into(),
        figure(
            "CDF of per-VM slowdown".into(),
            "slowdown".into(),
            "fraction of VMs",
            cdf,
            (Some(0.0), Some(1.0)),
        ),
    ));
    for (name, fig) in &figures {
        let svg = st.path(&format!("{name}.svg"));
        write_figure(fig, &svg, &st.path(&format!("{name}.png")))?;
        let text = std::fs::read_to_string(&svg).map_err(|e| e.to_string())?;
        let _ = write!(
            html,
            "<h2>{}</h2><div>{}</div>",
            html_escape(&fig.title),
            text
        );
    }
    html.push_str("</body></html>\n");
    st.commit().map_err(|e| e.to_string())?;
    let out = dir.join("report.html");
    write_file_atomic(&out, html.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(1.0), "1.000");
        assert_eq!(sig(47.37), "47.37");
        assert_eq!(sig(12345.6), "12346");
        assert_eq!(sig(0.0098656), "0.009866");
        assert_eq!(sig(1.6e-6), "1.600e-6");
        assert_eq!(sig(f64::NAN), "–");
        // t quantiles: 2 replicates → df 1 → 12.706; mean of [1, 3] = 2, s = √2,
        // half-width = 12.706 · √2 / √2 = 12.706.
        let (m, ci) = mean_ci(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((ci - 12.706).abs() < 1e-12);
    }
}
