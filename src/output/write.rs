//! Writes a run's outputs: `summary.json`, `metrics.csv`, `timeseries.csv`,
//! `events.csv`, `meters.csv`, `power.svg` and `power.png`, all at once or not at all
//! (the three CSV series stream into the staging directory as the run goes).

use super::dir::{Existing, Staging};
use super::plot::{write_figure, Figure, HLine, HLineKind, Marker, Panel, Series};
use crate::scenario::config::Scenario;
use crate::sim::log::{EventRow, LogRecord, Names};
use crate::sim::record::{MeterRow, Sink};
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

/// `timeseries.csv` in one piece, from an in-memory run (what [`run_to_dir`] streams
/// must equal it).
#[cfg(test)]
fn timeseries_csv(r: &RunResult) -> String {
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

/// The `events.csv` header.
const EVENTS_HEADER: &str = "time_s,kind,entity,detail\n";

/// Appends one `events.csv` line for `e` to `out`.
fn event_line(out: &mut String, e: &EventRow) {
    let _ = writeln!(
        out,
        "{},{},{},{}",
        num(e.time_ns as f64 / 1e9),
        e.kind,
        field(&e.entity),
        field(&e.detail)
    );
}

/// `events.csv` in one piece, from an in-memory run.
#[cfg(test)]
fn events_csv(r: &RunResult) -> String {
    let mut out = String::from(EVENTS_HEADER);
    for e in r.event_rows() {
        event_line(&mut out, &e);
    }
    out
}

/// `meters.csv` in one piece, from an in-memory run.
#[cfg(test)]
fn meters_csv(r: &RunResult) -> String {
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

/// The streamed files.
#[derive(Clone, Copy)]
enum Streamed {
    Timeseries,
    Meters,
    Events,
}

/// The streaming sink of [`run_to_dir`]: `timeseries.csv`, `meters.csv` and `events.csv`
/// rows written to the staging directory as the run makes them, in the same bytes as
/// `timeseries_csv`, `meters_csv` and `events_csv` (checked by a test). The first write
/// error is kept for the end.
struct CsvSink {
    ts: std::io::BufWriter<std::fs::File>,
    meters: std::io::BufWriter<std::fs::File>,
    events: std::io::BufWriter<std::fs::File>,
    err: Option<std::io::Error>,
    line: String,
}

impl CsvSink {
    fn create(st: &Staging) -> std::io::Result<CsvSink> {
        let file = |n: &str| std::fs::File::create(st.path(n)).map(std::io::BufWriter::new);
        Ok(CsvSink {
            ts: file("timeseries.csv")?,
            meters: file("meters.csv")?,
            events: file("events.csv")?,
            err: None,
            line: String::new(),
        })
    }

    fn put(&mut self, to: Streamed) {
        use std::io::Write as _;
        let w = match to {
            Streamed::Timeseries => &mut self.ts,
            Streamed::Meters => &mut self.meters,
            Streamed::Events => &mut self.events,
        };
        if let Err(e) = w.write_all(self.line.as_bytes()) {
            self.err.get_or_insert(e);
        }
    }

    /// Flushes and syncs the files; the first error of the run if any.
    fn finish(mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        for w in [&mut self.ts, &mut self.meters, &mut self.events] {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        Ok(())
    }
}

impl Sink for CsvSink {
    fn begin(&mut self, columns: &[String]) {
        self.line = columns
            .iter()
            .map(|c| field(c))
            .collect::<Vec<_>>()
            .join(",");
        self.line.push('\n');
        self.put(Streamed::Timeseries);
        self.line = "measured_s,available_s,meter,power_w\n".into();
        self.put(Streamed::Meters);
        self.line = EVENTS_HEADER.into();
        self.put(Streamed::Events);
    }

    fn row(&mut self, values: &[f64]) {
        self.line.clear();
        for (i, &v) in values.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            self.line.push_str(&num(v));
        }
        self.line.push('\n');
        self.put(Streamed::Timeseries);
    }

    fn meter(&mut self, m: &MeterRow, meter_names: &[String]) {
        self.line.clear();
        let _ = writeln!(
            self.line,
            "{},{},{},{}",
            num(m.measured_ns as f64 / 1e9),
            num(m.available_ns as f64 / 1e9),
            field(&meter_names[m.meter.idx()]),
            num(m.power_w)
        );
        self.put(Streamed::Meters);
    }

    fn event(&mut self, e: &LogRecord, names: &Names) {
        self.line.clear();
        event_line(&mut self.line, &e.row(names));
        self.put(Streamed::Events);
    }
}

/// Output cells (time-series values plus four fields per meter reading) a run may write
/// unless `--allow-large`: 500 million, about 6 GB of CSV at ~12 bytes a cell, 20 times
/// what the 10,000-server day writes. Memory does not limit it (rows stream to disk);
/// the disk and the reader do.
pub const MAX_OUTPUT_CELLS: u128 = 500_000_000;

/// The output cells `sc` will write: `timeseries.csv` rows × columns plus `meters.csv`
/// readings × 4, from its duration, row interval, what it records and its meters.
pub fn output_cells(sc: &Scenario) -> u128 {
    let d = sc.duration_ns as u128;
    let interval = sc.output.interval_ns.max(1) as u128;
    let rows = d.div_ceil(interval);
    let (n_s, n_v) = (sc.servers.len() as u128, sc.vms.len() as u128);
    let mut cols = 1 + sc.devices.len() as u128;
    if sc.output.servers {
        cols += n_s;
    }
    if sc.output.vms {
        cols += 2 * n_s + n_v;
    }
    let readings: u128 = sc
        .meters
        .iter()
        .map(|m| d / m.window_ns.max(1) as u128)
        .sum();
    rows * cols + 4 * readings
}

/// Refuses, before it runs, a scenario whose outputs would exceed [`MAX_OUTPUT_CELLS`]
/// unless `allow_large`, saying how to shrink them.
pub fn check_output_size(sc: &Scenario, allow_large: bool) -> Result<(), String> {
    let cells = output_cells(sc);
    if allow_large || cells <= MAX_OUTPUT_CELLS {
        return Ok(());
    }
    Err(format!(
        "{}: its outputs would hold about {cells} values (timeseries.csv and meters.csv),          more than the limit of {MAX_OUTPUT_CELLS} (about 6 GB of CSV): lengthen          [output] interval, set [output] servers = false or vms = false, lengthen the          meters' windows, or pass --allow-large",
        sc.name
    ))
}

/// Runs `sc` with its time series, meter readings and events streamed into `dir`'s staging
/// directory as they are made (memory flat in the simulated duration), then writes the
/// rest and puts the set in place; returns the result (its `timeseries` is the bounded
/// plotting copy) and the directory.
pub fn run_to_dir(
    sc: &Scenario,
    dir: &Path,
    existing: Existing,
) -> Result<(RunResult, PathBuf), String> {
    let st = Staging::open(dir, existing).map_err(|e| format!("{}: {e}", dir.display()))?;
    run_to_staging(sc, st)
}

/// [`run_to_dir`] into a staging directory the caller opened (a sweep opens its runs'
/// with [`Staging::open_among`]).
pub fn run_to_staging(sc: &Scenario, st: Staging) -> Result<(RunResult, PathBuf), String> {
    let at = st.target().display().to_string();
    let ctx = |e: std::io::Error| format!("{at}: {e}");
    let mut sink = CsvSink::create(&st).map_err(ctx)?;
    let r = crate::sim::run_streaming(sc, &mut sink);
    sink.finish().map_err(ctx)?;
    write_rest(sc, &r, &st)?;
    let dir = st.commit().map_err(ctx)?;
    Ok((r, dir))
}

/// Every file but the streamed ones.
fn write_rest(sc: &Scenario, r: &RunResult, st: &Staging) -> Result<(), String> {
    let ctx = |e: std::io::Error| format!("{}: {e}", st.path("").display());
    let json = serde_json::to_string_pretty(&r.summary).map_err(|e| e.to_string())? + "\n";
    st.write("summary.json", json.as_bytes()).map_err(ctx)?;
    st.write("metrics.csv", metrics_csv(r).as_bytes())
        .map_err(ctx)?;
    let fig = power_figure(sc, r);
    write_figure(&fig, &st.path("power.svg"), &st.path("power.png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_cells_count_rows_columns_and_readings() {
        // The basic rack: 2 h of 10 s rows = 720 rows × 218 columns (time, the rack, 24
        // servers, 24 dom0s, 24 VM copies, 144 VMs) = 156,960, plus its 1 s rack meter:
        // 7,200 readings × 4 fields = 28,800. (Its files hold 720 rows and 7,199
        // readings: the estimate counts the first window too.)
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lib = crate::scenario::Library::new(vec![]);
        let sc = crate::scenario::load_file(&root.join("scenarios/rack/basic.toml"), &lib).unwrap();
        assert_eq!(output_cells(&sc), 156_960 + 28_800);
        assert!(check_output_size(&sc, false).is_ok());
    }

    #[test]
    fn streamed_files_equal_the_in_memory_run_and_the_plot_copy_is_bounded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lib = crate::scenario::Library::new(vec![]);
        // overload-trip has a meter (meters.csv rows) and a trip; the basic rack at 10 s
        // rows for 2 h has 720 rows.
        for f in [
            "scenarios/rack/overload-trip.toml",
            "scenarios/rack/basic.toml",
        ] {
            let sc = crate::scenario::load_file(&root.join(f), &lib).unwrap();
            let mem = crate::sim::run(&sc);
            let dir = std::env::temp_dir().join(format!(
                "capsim-stream-{}-{}",
                std::process::id(),
                sc.name
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let (streamed, _) = run_to_dir(&sc, &dir, Existing::Refuse).unwrap();
            let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
            assert_eq!(read("timeseries.csv"), timeseries_csv(&mem), "{f}");
            assert_eq!(read("meters.csv"), meters_csv(&mem), "{f}");
            assert_eq!(read("events.csv"), events_csv(&mem), "{f}");
            // The streamed result keeps only the breaker trips of the whole log.
            let trips: Vec<_> = mem
                .log
                .iter()
                .filter(|e| matches!(e.event, LogEvent::BreakerTrip { .. }))
                .cloned()
                .collect();
            assert_eq!(streamed.log, trips, "{f}");
            // Under PLOT_ROWS rows the plotting copy is the device columns, unmerged.
            let devices = 1 + sc.devices.len();
            assert_eq!(
                streamed.timeseries.columns,
                mem.timeseries.columns[..devices]
            );
            let mem_rows: Vec<&[f64]> = mem
                .timeseries
                .values
                .chunks(mem.timeseries.columns.len())
                .collect();
            let plot_rows: Vec<&[f64]> = streamed.timeseries.values.chunks(devices).collect();
            assert_eq!(plot_rows.len(), mem_rows.len());
            for (p, m) in plot_rows.iter().zip(&mem_rows) {
                assert_eq!(*p, &m[..devices]);
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
