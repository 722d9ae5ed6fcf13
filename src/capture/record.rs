//! The records every capture source produces, their CSV columns, and the clock that
//! stamps them.
//!
//! Timestamps are taken when a sample is *received* and mark the **end** of the interval
//! the sample describes (a meter's 100 ms average ends when its update is read).
//! `t_mono_ns` is nanoseconds on a monotonic clock since the capture started (for
//! alignment; never jumps); `t_utc` is the wall clock in UTC, RFC 3339 with nanoseconds
//! (for humans and cross-host alignment). Cumulative counters are stored raw; rates are
//! derived offline. Missing values are empty cells with a flag, never 0 or 9.9E37.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// When a record was taken: monotonic ns since capture start, wall clock ns since the
/// Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since the capture started, monotonic.
    pub mono_ns: u64,
    /// Nanoseconds since 1970-01-01T00:00:00Z, wall clock.
    pub wall_ns: i128,
}

impl Stamp {
    /// The wall-clock time as RFC 3339 UTC with nanoseconds, e.g. `2026-11-28T16:20:01.123456789Z`.
    pub fn utc(&self) -> String {
        utc_string(self.wall_ns)
    }
}

/// The capture's clock: one monotonic origin and the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose monotonic origin is now.
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// The current time on both clocks.
    pub fn now(&self) -> Stamp {
        let mono_ns = self.start.elapsed().as_nanos() as u64;
        let wall_ns = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        Stamp { mono_ns, wall_ns }
    }
}

/// Formats ns since the Unix epoch as RFC 3339 UTC with nanoseconds.
pub(crate) fn utc_string(wall_ns: i128) -> String {
    let secs = wall_ns.div_euclid(1_000_000_000);
    let nanos = wall_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Data-quality flags of one row, written `|`-separated in the `flags` column (empty when
/// the row is clean).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags(Vec<&'static str>);

impl Flags {
    /// A value is absent (instrument said ≥ 9.9E37, a field was `n/a`, or a read failed).
    pub const MISSING: &'static str = "missing";
    /// The first row after a gap (source stopped answering and came back).
    pub const GAP: &'static str = "gap";
    /// The source was reopened/reconnected before this row.
    pub const RECONNECTED: &'static str = "reconnected";
    /// A line from the instrument could not be parsed; the row keeps what could be read.
    pub const BAD_LINE: &'static str = "bad_line";
    /// The instrument reported over-range.
    pub const OVERRANGE: &'static str = "overrange";
    /// A cumulative counter wrapped around since the previous row (handled in derived columns).
    pub const WRAPPED: &'static str = "wrapped";
    /// No new instrument update since the previous row; the value is repeated.
    pub const STALE: &'static str = "stale";

    /// No flags.
    pub fn none() -> Self {
        Flags(Vec::new())
    }
    /// Adds a flag (once).
    pub fn set(&mut self, f: &'static str) {
        if !self.0.contains(&f) {
            self.0.push(f);
        }
    }
    /// Whether a flag is set.
    pub fn has(&self, f: &str) -> bool {
        self.0.contains(&f)
    }
    /// The `flags` cell.
    pub fn cell(&self) -> String {
        self.0.join("|")
    }
}

/// One power sample: a row of `power.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerRow {
    /// The source's id (e.g. `wt210`, `rapl:package-0`, `ipmi`, `replay`).
    pub source: String,
    /// Active power, W (mean over the instrument's update interval).
    pub power_w: Option<f64>,
    /// RMS voltage, V.
    pub voltage_v: Option<f64>,
    /// RMS current, A.
    pub current_a: Option<f64>,
    /// A raw cumulative energy counter, J (RAPL `energy_uj` / 1e6, a meter's integrated
    /// WH × 3600), as read: it may wrap; the `wrapped` flag marks the row after a wrap.
    pub energy_raw_j: Option<f64>,
    /// Data-quality flags.
    pub flags: Flags,
}

/// One per-domain CPU sample: a row of `cpu.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuRow {
    /// The source's id (`xentop`, `xl`, `cgroup`, `procstat`).
    pub source: String,
    /// Domain / VM / cgroup name; `host` for the whole machine from /proc/stat.
    pub domain: String,
    /// Hypervisor domain id when known.
    pub domid: Option<u32>,
    /// Cumulative CPU time consumed, ns (raw counter: Xen cpu time, cgroup usage_usec × 1000,
    /// /proc/stat non-idle jiffies × 1e9 / USER_HZ).
    pub cpu_ns: Option<u64>,
    /// Cumulative idle time, ns (host rows from /proc/stat; empty otherwise).
    pub idle_ns: Option<u64>,
    /// Virtual CPUs (or host CPUs) at this sample.
    pub vcpus: Option<u32>,
    /// Domain state as the tool printed it (`-b----`, `r-----`, `running`, …), or empty.
    pub state: String,
    /// Data-quality flags.
    pub flags: Flags,
}

impl CpuRow {
    /// A row of `source` for `domain` with no values yet: each CPU source fills in what
    /// its tool reports.
    pub(crate) fn empty(source: &str, domain: &str) -> Self {
        CpuRow {
            source: source.to_string(),
            domain: domain.to_string(),
            domid: None,
            cpu_ns: None,
            idle_ns: None,
            vcpus: None,
            state: String::new(),
            flags: Default::default(),
        }
    }
}

/// One migration-progress sample (QEMU `query-migrate`): a row of `migration.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationRow {
    /// The source's id (`qmp:<socket>`).
    pub source: String,
    /// The migrating VM's name as given on the command line.
    pub vm: String,
    /// `status` as QEMU reported it (`setup`, `active`, `postcopy-active`, `completed`, `failed`, …).
    pub status: String,
    /// Time since the migration started, s (QEMU `total-time` / 1000).
    pub elapsed_s: Option<f64>,
    /// RAM bytes transferred so far, B.
    pub transferred_b: Option<u64>,
    /// RAM bytes remaining, B.
    pub remaining_b: Option<u64>,
    /// Guest RAM size, B.
    pub total_b: Option<u64>,
    /// Completed dirty-bitmap syncs (pre-copy iterations).
    pub iteration: Option<u64>,
    /// Dirty-page rate, pages/s.
    pub dirty_pages_per_s: Option<f64>,
    /// Transfer rate, bit/s (QEMU `mbps` × 1e6).
    pub rate_bps: Option<f64>,
    /// Expected downtime, s.
    pub expected_downtime_s: Option<f64>,
    /// Measured downtime once completed, s.
    pub downtime_s: Option<f64>,
    /// Data-quality flags.
    pub flags: Flags,
}

/// One network-interface sample: a row of `net.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetRow {
    /// The source's id (`netdev`).
    pub source: String,
    /// Interface name as the kernel lists it (`eth0`, `xenbr0`, …).
    pub interface: String,
    /// Cumulative bytes received, B (raw counter, may wrap on 32-bit kernels).
    pub rx_b: Option<u64>,
    /// Cumulative bytes sent, B (raw counter).
    pub tx_b: Option<u64>,
    /// Data-quality flags.
    pub flags: Flags,
}

/// One CPU clock sample: a row of `freq.csv` (the p-state a calibration needs to fit
/// per-core power per p-state).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FreqRow {
    /// The source's id (`cpufreq`).
    pub source: String,
    /// The CPU (`cpu0`, `cpu1`, …).
    pub cpu: String,
    /// Current clock, Hz (cpufreq `scaling_cur_freq` × 1000).
    pub freq_hz: Option<f64>,
    /// Data-quality flags.
    pub flags: Flags,
}

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// Dotted kind: `run.start`, `run.end`, `run.stderr`, `mark`, `migration.start`,
    /// `migration.switch`, `migration.end`, `migration.failed`, `migration.status`,
    /// `source.gap`, `source.reconnected`, `source.bad_line`, `capture.start`, `capture.end`, …
    pub kind: String,
    /// The source's id.
    pub source: String,
    /// The VM concerned, when there is one.
    pub vm: Option<String>,
    /// Extra fields (numbers, labels), written as JSON members.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The raw line that produced the event, kept for auditability.
    pub raw: Option<String>,
}

/// Anything a source can produce.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A `power.csv` row.
    Power(PowerRow),
    /// A `cpu.csv` row.
    Cpu(CpuRow),
    /// A `migration.csv` row.
    Migration(MigrationRow),
    /// A `net.csv` row.
    Net(NetRow),
    /// A `freq.csv` row.
    Freq(FreqRow),
    /// An `events.jsonl` line.
    Event(EventRow),
}

/// Where sources send records: stamps them and passes them to the writer.
#[derive(Clone)]
pub struct Sink {
    clock: Clock,
    tx: Sender<(Stamp, Record)>,
}

impl Sink {
    /// A sink on `clock` feeding `tx`.
    pub fn new(clock: Clock, tx: Sender<(Stamp, Record)>) -> Self {
        Sink { clock, tx }
    }
    /// The clock records are stamped with.
    pub fn clock(&self) -> Clock {
        self.clock
    }
    /// Sends a record stamped now. Returns false once the writer is gone (stop).
    pub fn send(&self, r: Record) -> bool {
        self.send_at(self.clock.now(), r)
    }
    /// Sends a record with an explicit stamp (e.g. taken when a line arrived).
    pub fn send_at(&self, at: Stamp, r: Record) -> bool {
        self.tx.send((at, r)).is_ok()
    }
}

/// Shared stop request, set by SIGINT/SIGTERM or the end of a wrapped command.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A stop flag, not yet set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks every source to finish.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// The underlying flag (for signal handlers).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// A capture source: runs in its own thread until `stop` is requested, sending records.
/// It must not return early on instrument errors: it flags them, reconnects, and goes on.
pub trait Source: Send {
    /// A stable id used in the `source` column (`wt210`, `xentop`, …).
    fn id(&self) -> String;
    /// What goes into `manifest.json` for this source: device, settings, `*IDN?`, interval…
    fn describe(&self) -> serde_json::Value;
    /// Polls until `stop` is requested. An `Err` is fatal for this source only (e.g. the
    /// device path does not exist at start); the capture goes on with the others.
    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        // 0 → the epoch; 1_700_000_000 s is 2023-11-14T22:13:20Z (date -u -d @1700000000).
        assert_eq!(utc_string(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            utc_string(1_700_000_000_000_000_123),
            "2023-11-14T22:13:20.000000123Z"
        );
        // 2000-02-29 (leap day in a /400 year) 12:00:00 = 951825600 s.
        assert_eq!(
            utc_string(951_825_600_000_000_000),
            "2000-02-29T12:00:00.000000000Z"
        );
        // One ns before the epoch.
        assert_eq!(utc_string(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn flags_cell() {
        let mut f = Flags::none();
        assert_eq!(f.cell(), "");
        f.set(Flags::MISSING);
        f.set(Flags::GAP);
        f.set(Flags::MISSING);
        assert_eq!(f.cell(), "missing|gap");
        assert!(f.has("gap"));
    }
}
