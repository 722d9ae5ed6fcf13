//! `capsim report DIR`: per policy and swept value, the mean and 95 % confidence interval
//! over replicates of each metric; plots (violations against the numeric axis per
//! policy, slowdown against violations, CDF of per-VM slowdown); a self-contained
//! `report.html` with the plots inlined as SVG.

use super::csv::records;
use super::identity::Identity;
use crate::output::dir::Staging;
use crate::output::plot::{write_figure, Figure, Panel, Series};
use crate::output::stats::mean_ci;
use crate::output::summary::Summary;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Metrics shown in the report: `runs.csv` column, heading with unit, scale applied.
/// Violation sums run over every capped device (a rack and its row both over cap for
/// one second count two device-seconds).
const SHOWN: [(&str, &str, f64); 11] = [
    ("episodes", "violation episodes", 1.0),
    ("seconds_over_cap", "time over cap (device·h)", 1.0 / 3600.0),
    ("energy_over_cap_j", "energy over cap (kWh)", 1.0 / 3.6e6),
    ("peak_overshoot_pct", "peak overshoot (% of cap)", 1.0),
    ("trips", "breaker trips", 1.0),
    ("mean_slowdown", "mean VM slowdown (×)", 1.0),
    ("p95_slowdown", "p95 VM slowdown (×)", 1.0),
    ("p99_delay_s", "p99 wait of services' work (s)", 1.0),
    ("backlog_vm_s", "time with backlog (VM·h)", 1.0 / 3600.0),
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

/// `runs.csv` as read back.
struct Runs {
    header: Vec<String>,
    /// Every row with as many fields as the header.
    rows: Vec<Vec<String>>,
    /// The swept columns (between `run_id` and `replicate`).
    swept: Vec<usize>,
    /// The `status` column.
    status: usize,
    /// Rows left out (cut or garbled), as warnings naming `FILE:LINE`.
    warnings: Vec<String>,
}

/// One run's row.
type Row<'a> = &'a [String];

/// Rows grouped by a key (a swept value combination, a series name).
type Groups<'a> = BTreeMap<Vec<String>, Vec<Row<'a>>>;

impl Runs {
    fn read(dir: &Path) -> Result<Runs, String> {
        let csv_path = dir.join("runs.csv");
        let text = crate::scenario::input::read_input(&csv_path, "runs.csv")?;
        let recs = records(&text);
        let header = recs
            .first()
            .ok_or_else(|| format!("{}: empty", csv_path.display()))?
            .fields
            .clone();
        let col = |name: &str| header.iter().position(|h| h == name);
        let no = |c: &str| format!("{}: no `{c}` column", csv_path.display());
        let rep = col("replicate").ok_or_else(|| no("replicate"))?;
        let status = col("status").ok_or_else(|| no("status"))?;
        let mut rows = Vec::new();
        let mut warnings = Vec::new();
        for r in recs.into_iter().skip(1) {
            if r.fields.len() == header.len() && r.terminated {
                rows.push(r.fields);
            } else {
                warnings.push(format!(
                    "{}:{}: row left out of the report: {} fields (the header has {}){}",
                    csv_path.display(),
                    r.line,
                    r.fields.len(),
                    header.len(),
                    if r.terminated {
                        ""
                    } else {
                        ", no newline at its end"
                    }
                ));
            }
        }
        Ok(Runs {
            swept: (1..rep).collect(),
            header,
            rows,
            status,
            warnings,
        })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Column `name` of row `r` as a number (NaN when missing or empty).
    fn num(&self, r: Row, name: &str) -> f64 {
        self.col(name)
            .and_then(|c| r[c].parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// The rows of runs that completed.
    fn ok(&self) -> Vec<Row<'_>> {
        self.rows
            .iter()
            .filter(|r| r[self.status] == "ok")
            .map(Vec::as_slice)
            .collect()
    }
}

/// A written report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `DIR/report.html`.
    pub path: PathBuf,
    /// What the report had to leave out (rows of `runs.csv`, runs without per-run data
    /// for a plot), to show on stderr.
    pub warnings: Vec<String>,
}

/// Writes `DIR/report.html` (self-contained: the plots are inlined) and the plots as
/// separate SVG and PNG files in `DIR/report/`.
pub fn report(dir: &Path) -> Result<Written, String> {
    let mut runs = Runs::read(dir)?;
    let mut warnings = std::mem::take(&mut runs.warnings);
    let ok = runs.ok();
    // The sweep's name from its identity file, else the directory's own name: not a path
    // that differs per machine, so a merged sweep's report equals a one-machine one's.
    let name = Identity::read(dir).map(|i| i.name).unwrap_or_else(|_| {
        std::fs::canonicalize(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string())
    });
    let mut html = table_html(&runs, &ok, &name);
    let st = Staging::new(&dir.join("report")).map_err(|e| e.to_string())?;
    for (name, fig) in &figures(&runs, &ok, dir, &mut warnings) {
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
    let path = dir.join("report.html");
    crate::atomic::write_text(&path, &html)?;
    Ok(Written { path, warnings })
}

/// The report's head and its table: per swept value combination, the number of runs
/// and each shown metric's mean and confidence half-width.
fn table_html(runs: &Runs, ok: &[Row], name: &str) -> String {
    let mut groups: Groups = BTreeMap::new();
    for r in ok {
        groups
            .entry(runs.swept.iter().map(|&c| r[c].clone()).collect())
            .or_default()
            .push(r);
    }
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
        html_escape(name),
        runs.rows.len(),
        runs.rows.len() - ok.len()
    );
    for &c in &runs.swept {
        let _ = write!(html, "<th>{}</th>", html_escape(&runs.header[c]));
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
            let values: Vec<f64> = rs.iter().map(|r| runs.num(r, m) * scale).collect();
            let (mean, ci) = mean_ci(&values);
            let _ = write!(html, "<td>{} ± {}</td>", sig(mean), sig(ci));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table></div>");
    html
}

/// The plots, by file stem: series by the policy (or first non-numeric) axis, x the
/// first numeric axis.
fn figures(
    runs: &Runs,
    ok: &[Row],
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Vec<(String, Figure)> {
    let is_num = |c: usize| ok.iter().all(|r| r[c].parse::<f64>().is_ok());
    let x_col = runs.swept.iter().copied().find(|&c| is_num(c));
    let s_col = runs
        .swept
        .iter()
        .copied()
        .find(|&c| runs.header[c] == "policy.kind")
        .or_else(|| runs.swept.iter().copied().find(|&c| !is_num(c)));
    let mut by_series: Groups = BTreeMap::new();
    for r in ok {
        let series = s_col.map_or("all".to_string(), |c| r[c].clone());
        by_series.entry(vec![series]).or_default().push(r);
    }
    let mut figures = Vec::new();
    if let Some(xc) = x_col {
        figures.push(("violations".into(), violations(runs, xc, &by_series)));
    }
    figures.push(("slowdown".into(), slowdown(runs, &by_series)));
    let (cdf, missing) = slowdown_cdf(dir, runs, &by_series);
    if let Some((n, first)) = missing {
        warnings.push(format!(
            "{n} of {} completed runs have no readable summary.json (first: {}): the \
             per-VM slowdown CDF leaves them out",
            ok.len(),
            first.display()
        ));
    }
    figures.push(("slowdown-cdf".into(), cdf));
    figures
}

/// Mean device-seconds over cap against the numeric axis in column `xc`, per series.
fn violations(runs: &Runs, xc: usize, by_series: &Groups) -> Figure {
    let series = by_series
        .iter()
        .map(|(name, rs)| {
            let mut per_x: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for r in rs {
                per_x
                    .entry(r[xc].clone())
                    .or_default()
                    .push(runs.num(r, "seconds_over_cap"));
            }
            let mut points: Vec<(f64, f64)> = per_x
                .iter()
                .map(|(x, v)| (x.parse().unwrap_or(f64::NAN), mean_ci(v).0))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: name[0].clone(),
                points,
            }
        })
        .collect();
    let x = &runs.header[xc];
    figure(
        format!("Seconds over cap against {x}"),
        x.clone(),
        "device-seconds over cap (mean over replicates)",
        series,
        (Some(0.0), None),
    )
}

/// Mean VM slowdown against time over cap, one point per run.
fn slowdown(runs: &Runs, by_series: &Groups) -> Figure {
    let scatter = by_series
        .iter()
        .map(|(name, rs)| {
            let mut points: Vec<(f64, f64)> = rs
                .iter()
                .map(|r| {
                    (
                        runs.num(r, "seconds_over_cap"),
                        runs.num(r, "mean_slowdown"),
                    )
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label: name[0].clone(),
                points,
            }
        })
        .collect();
    let mut fig = figure(
        "Mean VM slowdown against time over cap (one point per run)".into(),
        "device-seconds over cap".into(),
        "mean slowdown",
        scatter,
        (None, None),
    );
    fig.panels[0].scatter = true;
    fig
}

/// CDF of per-VM slowdown per series, from each run's summary.json (a run whose
/// summary is missing or does not parse contributes nothing: how many, and the first
/// such file, are returned too).
fn slowdown_cdf(dir: &Path, runs: &Runs, by_series: &Groups) -> (Figure, Option<(usize, PathBuf)>) {
    let id = runs.col("run_id").unwrap_or(0);
    let mut missing: Option<(usize, PathBuf)> = None;
    let cdf = by_series
        .iter()
        .map(|(name, rs)| {
            let mut s: Vec<f64> = Vec::new();
            for r in rs {
                let p = dir.join("runs").join(&r[id]).join("summary.json");
                let summary = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Summary>(&t).ok());
                if summary.is_none() {
                    let m = missing.get_or_insert((0, p));
                    m.0 += 1;
                }
                for vm in summary.iter().flat_map(|s| &s.vms) {
                    s.extend(vm.slowdown);
                }
            }
            s.sort_by(f64::total_cmp);
            let n = s.len().max(1) as f64;
            Series {
                label: name[0].clone(),
                points: s
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (x, (i + 1) as f64 / n))
                    .collect(),
            }
        })
        .collect();
    let fig = figure(
        "CDF of per-VM slowdown".into(),
        "slowdown".into(),
        "fraction of VMs",
        cdf,
        (Some(0.0), Some(1.0)),
    );
    (fig, missing)
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
