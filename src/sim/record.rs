//! What a run records as it goes: the time series, the `meters.csv` readings and the
//! event log, kept in memory ([`crate::sim::run()`]) or handed to a [`Sink`] as they are
//! made ([`crate::sim::run::run_streaming`]), so a long run's memory does not grow with
//! its duration.

use super::log::{LogEvent, LogRecord, Names};
use super::world::World;
use crate::model::ids::MeterId;
use crate::scenario::config::OutputConfig;

/// A wide time series: one row per recording interval, each value the exact average
/// over the interval that ends at the row's time.
#[derive(Clone, Debug, Default)]
pub struct Timeseries {
    /// Column names with units (`time_s` first).
    pub columns: Vec<String>,
    /// Row-major values, `columns.len()` per row.
    pub values: Vec<f64>,
}

impl Timeseries {
    /// Rows recorded.
    pub fn rows(&self) -> usize {
        if self.columns.is_empty() {
            0
        } else {
            self.values.len() / self.columns.len()
        }
    }

    /// One column as (time_s, value) points, if it exists.
    pub fn column(&self, name: &str) -> Option<Vec<(f64, f64)>> {
        let c = self.columns.iter().position(|n| n == name)?;
        let n = self.columns.len();
        Some(
            self.values
                .chunks_exact(n)
                .map(|row| (row[0], row[c]))
                .collect(),
        )
    }
}

/// One meter reading, for `meters.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeterRow {
    /// The meter.
    pub meter: MeterId,
    /// End of the averaging window, ns.
    pub measured_ns: u64,
    /// When a reader could first see it, ns.
    pub available_ns: u64,
    /// Mean power over the window, W.
    pub power_w: f64,
}

/// Where a streaming run puts its rows as they are made (the output layer writes them to
/// files). A sink that fails keeps its error for the caller, so the run goes on.
pub trait Sink {
    /// Called once before any row: the time series' columns (`time_s` first).
    fn begin(&mut self, columns: &[String]);
    /// One time-series row, `columns.len()` values.
    fn row(&mut self, values: &[f64]);
    /// One meter reading (`meter_names` by id, the same every call).
    fn meter(&mut self, m: &MeterRow, meter_names: &[String]);
    /// One event, in the order they happened (`names` the same every call).
    fn event(&mut self, e: &LogRecord, names: &Names);
}

/// Rows kept in the bounded plotting copy of a streamed series at most: when full, pairs
/// of rows are merged into their exact average over both intervals, so the copy holds
/// between half and all of this many rows whatever the duration.
pub const PLOT_ROWS: usize = 20_000;

/// The few columns a figure draws (devices, or servers when there are none), with
/// durations, halved in resolution whenever full.
struct PlotCopy {
    /// Columns kept: `time_s` and the next `width - 1`.
    width: usize,
    /// Row-major values, `width` per row.
    values: Vec<f64>,
    /// Each row's interval, s.
    dts: Vec<f64>,
}

impl PlotCopy {
    fn push(&mut self, row: &[f64], dt: f64) {
        self.values.extend_from_slice(&row[..self.width]);
        self.dts.push(dt);
        if self.dts.len() >= PLOT_ROWS {
            self.halve();
        }
    }

    /// Merges rows 2k and 2k+1: the time of the later, the duration-weighted mean of each
    /// column (the exact average over the joined interval).
    fn halve(&mut self) {
        let w = self.width;
        let n = self.dts.len() / 2;
        for k in 0..n {
            let (a, b) = (2 * k, 2 * k + 1);
            let (da, db) = (self.dts[a], self.dts[b]);
            self.values[k * w] = self.values[b * w];
            for c in 1..w {
                let v = (self.values[a * w + c] * da + self.values[b * w + c] * db) / (da + db);
                self.values[k * w + c] = v;
            }
            self.dts[k] = da + db;
        }
        // An odd last row stays as it is.
        if self.dts.len() % 2 == 1 {
            let last = self.dts.len() - 1;
            self.values.copy_within(last * w..(last + 1) * w, n * w);
            self.dts[n] = self.dts[last];
            self.dts.truncate(n + 1);
            self.values.truncate((n + 1) * w);
        } else {
            self.dts.truncate(n);
            self.values.truncate(n * w);
        }
    }
}

/// Builds the time series from the world's cumulative counters.
pub(crate) struct Recorder<'s> {
    /// The series so far (in memory), or its bounded plotting copy (streaming).
    pub ts: Timeseries,
    /// Every `meters.csv` reading so far (in memory only).
    pub meter_rows: Vec<MeterRow>,
    /// Meter names by id.
    pub meter_names: Vec<String>,
    /// Entity names by id (events' text form).
    pub names: Names,
    /// Breaker trips handed to the sink, kept for the figure's markers (streaming only).
    kept: Vec<LogRecord>,
    /// Where rows go as they are made, when streaming.
    sink: Option<&'s mut dyn Sink>,
    plot: Option<PlotCopy>,
    row: Vec<f64>,
    /// Cumulative values (energy J, CPU core-s) at the last row, by column.
    prev: Vec<f64>,
    last_ns: u64,
    servers: bool,
    vms: bool,
}

impl<'s> Recorder<'s> {
    /// The columns for `w` as `out` asks; rows go to `sink` if given, else to memory.
    pub(crate) fn new(w: &World, out: &OutputConfig, sink: Option<&'s mut dyn Sink>) -> Self {
        let mut columns = vec!["time_s".to_string()];
        columns.extend(w.devices.iter().map(|d| format!("{}.power_w", d.name)));
        if out.servers {
            columns.extend(w.servers.iter().map(|s| format!("{}.power_w", s.name)));
        }
        if out.vms {
            columns.extend(
                w.servers
                    .iter()
                    .map(|s| format!("{}.dom0.cpu_cores", s.name)),
            );
            columns.extend(
                w.servers
                    .iter()
                    .map(|s| format!("{}.vm_copies.cpu_cores", s.name)),
            );
            columns.extend(w.vms.iter().map(|v| format!("{}.cpu_cores", v.name)));
        }
        let meter_names: Vec<String> = w.meters.iter().map(|m| m.name.clone()).collect();
        let mut sink = sink;
        let plot = sink.as_mut().map(|s| {
            s.begin(&columns);
            let shown = if w.devices.is_empty() && out.servers {
                w.servers.len()
            } else {
                w.devices.len()
            };
            PlotCopy {
                width: 1 + shown,
                values: Vec::new(),
                dts: Vec::new(),
            }
        });
        Recorder {
            prev: vec![0.0; columns.len()],
            row: Vec::with_capacity(columns.len()),
            ts: Timeseries {
                columns,
                values: Vec::new(),
            },
            meter_rows: Vec::new(),
            meter_names,
            names: Names {
                devices: w.devices.iter().map(|d| d.name.clone()).collect(),
                servers: w.servers.iter().map(|s| s.name.clone()).collect(),
                vms: w.vms.iter().map(|v| v.name.clone()).collect(),
            },
            kept: Vec::new(),
            sink,
            plot,
            last_ns: 0,
            servers: out.servers,
            vms: out.vms,
        }
    }

    /// Time of the last row, ns.
    pub(crate) fn last_ns(&self) -> u64 {
        self.last_ns
    }

    /// Appends a row: exact averages over the interval ending now.
    pub(crate) fn record(&mut self, w: &World, now: u64) {
        let dt = (now - self.last_ns) as f64 / 1e9;
        if dt <= 0.0 {
            return;
        }
        let mut cum: Vec<f64> = Vec::with_capacity(self.ts.columns.len());
        cum.push(0.0);
        cum.extend(w.devices.iter().map(|d| d.energy_at(now)));
        if self.servers {
            cum.extend(w.servers.iter().map(|s| s.energy_at(now)));
        }
        if self.vms {
            cum.extend(w.servers.iter().map(|s| s.dom0_cpu_at(now)));
            // Source copies of migrated VMs lingering after switch-over, per server.
            cum.extend(w.servers.iter().map(|s| s.ghost_cpu_at(now)));
            cum.extend(w.vms.iter().map(|v| v.cpu_at(now)));
        }
        self.row.clear();
        self.row.push(now as f64 / 1e9);
        for (c, &v) in cum.iter().enumerate().skip(1) {
            self.row.push((v - self.prev[c]) / dt);
        }
        match (self.sink.as_mut(), self.plot.as_mut()) {
            (Some(sink), Some(plot)) => {
                sink.row(&self.row);
                plot.push(&self.row, dt);
            }
            _ => self.ts.values.extend_from_slice(&self.row),
        }
        self.prev = cum;
        self.last_ns = now;
    }

    /// Keeps or hands on one meter reading.
    pub(crate) fn meter(&mut self, m: MeterRow) {
        match self.sink.as_mut() {
            Some(sink) => sink.meter(&m, &self.meter_names),
            None => self.meter_rows.push(m),
        }
    }

    /// Hands the events logged since the last call to the sink when streaming (keeping
    /// only breaker trips, which the figure marks); in memory, leaves `log` alone.
    pub(crate) fn events(&mut self, log: &mut Vec<LogRecord>) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        for e in log.drain(..) {
            sink.event(&e, &self.names);
            if matches!(e.event, LogEvent::BreakerTrip { .. }) {
                self.kept.push(e);
            }
        }
    }

    /// The log to return: the whole log in memory, or the kept breaker trips when
    /// streaming (after a last [`Recorder::events`]).
    pub(crate) fn take_log(&mut self, log: &mut Vec<LogRecord>) -> Vec<LogRecord> {
        self.events(log);
        if self.sink.is_some() {
            std::mem::take(&mut self.kept)
        } else {
            std::mem::take(log)
        }
    }

    /// The series to return: the whole series in memory, or the plotting copy (its
    /// columns the first ones of the whole) when streaming.
    pub(crate) fn take_series(&mut self) -> Timeseries {
        match self.plot.take() {
            None => std::mem::take(&mut self.ts),
            Some(p) => Timeseries {
                columns: self.ts.columns[..p.width].to_vec(),
                values: p.values,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_keeps_exact_interval_averages() {
        // Rows (time, value) of 1 s, 1 s, 2 s, 1 s, 5 s intervals: (1, 10), (2, 20),
        // (4, 40), (5, 0), (10, 7). Pairs merge to (2, (10+20)/2 = 15) and
        // (5, (40·2 + 0·1)/3 = 26.67); the odd last row stays (10, 7).
        let mut p = PlotCopy {
            width: 2,
            values: vec![1.0, 10.0, 2.0, 20.0, 4.0, 40.0, 5.0, 0.0, 10.0, 7.0],
            dts: vec![1.0, 1.0, 2.0, 1.0, 5.0],
        };
        p.halve();
        assert_eq!(p.dts, [2.0, 3.0, 5.0]);
        assert_eq!(p.values[..4], [2.0, 15.0, 5.0, 80.0 / 3.0]);
        assert_eq!(p.values[4..], [10.0, 7.0]);
    }
}
