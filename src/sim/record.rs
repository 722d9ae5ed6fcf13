//! What a run records as it goes: the time series and the `meters.csv` readings.

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

/// Builds the time series from the world's cumulative counters.
pub(crate) struct Recorder {
    /// The series so far.
    pub ts: Timeseries,
    /// Every `meters.csv` reading so far.
    pub meter_rows: Vec<MeterRow>,
    /// Cumulative values (energy J, CPU core-s) at the last row, by column.
    prev: Vec<f64>,
    last_ns: u64,
    servers: bool,
    vms: bool,
}

impl Recorder {
    /// The columns for `w` as `out` asks.
    pub(crate) fn new(w: &World, out: &OutputConfig) -> Self {
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
        Recorder {
            prev: vec![0.0; columns.len()],
            ts: Timeseries {
                columns,
                values: Vec::new(),
            },
            meter_rows: Vec::new(),
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
        self.ts.values.push(now as f64 / 1e9);
        for (c, &v) in cum.iter().enumerate().skip(1) {
            self.ts.values.push((v - self.prev[c]) / dt);
        }
        self.prev = cum;
        self.last_ns = now;
    }
}
