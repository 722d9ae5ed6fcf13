//! What a run records as it goes: the event log and the time series.

/// One line of `events.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// When, ns.
    pub time_ns: u64,
    /// What happened (`breaker_trip`, `vm_lost`, `vm_complete`, `set_pstate`, …).
    pub kind: &'static str,
    /// Who it happened to.
    pub entity: String,
    /// Free-form `key=value` details.
    pub detail: String,
}

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
    /// Meter index.
    pub meter: u32,
    /// End of the averaging window, ns.
    pub measured_ns: u64,
    /// When a controller could first see it, ns.
    pub available_ns: u64,
    /// Average power over the window, W.
    pub power_w: f64,
}
