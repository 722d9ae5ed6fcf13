//! The run-directory writer: one thread owns `power.csv`, `cpu.csv`, `migration.csv`,
//! `net.csv`, `freq.csv` and `events.jsonl`, receives stamped records from every source and appends them.
//!
//! Each line goes out in a single `write` call on an unbuffered file, so a killed capture
//! leaves whole lines only; the files are `fdatasync`ed at least once a second while
//! anything is unsynced, so a power cut loses at most about the last second.

use super::record::{CpuRow, EventRow, FreqRow, MigrationRow, NetRow, PowerRow, Record, Stamp};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often unsynced data is forced to disk (the most a power cut can lose).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How long the writer waits for a record before checking the sync timer and the close flag.
const POLL: Duration = Duration::from_millis(100);

/// One output file: its name, columns (name, unit, meaning) for the manifest.
pub(crate) struct FileDoc {
    /// File name inside the run directory.
    pub(crate) name: &'static str,
    /// Columns in order: (name, unit or "", what it holds).
    pub(crate) columns: &'static [(&'static str, &'static str, &'static str)],
}

const STAMP_COLS: [(&str, &str, &str); 2] = [
    (
        "t_mono_ns",
        "ns",
        "monotonic time since capture start when the sample was received (end of its interval)",
    ),
    (
        "t_utc",
        "RFC 3339 UTC",
        "wall-clock time of the same instant, nanosecond resolution",
    ),
];

/// `power.csv`.
const POWER: FileDoc = FileDoc {
    name: "power.csv",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        (
            "source",
            "",
            "source id (wt210, wt310, rapl:<zone>, ipmi, replay…)",
        ),
        (
            "power_w",
            "W",
            "active power, mean over the instrument's update interval",
        ),
        ("voltage_v", "V", "RMS voltage"),
        ("current_a", "A", "RMS current"),
        (
            "energy_raw_j",
            "J",
            "raw cumulative energy counter as read (RAPL energy_uj/1e6, meter WH×3600); may wrap",
        ),
        (
            "flags",
            "",
            "|-separated data-quality flags; empty when clean",
        ),
    ],
};

/// `cpu.csv`.
const CPU: FileDoc = FileDoc {
    name: "cpu.csv",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        ("source", "", "source id (xentop, xl, cgroup, procstat)"),
        (
            "domain",
            "",
            "domain / VM / cgroup name; host for the whole machine",
        ),
        ("domid", "", "hypervisor domain id when known"),
        ("cpu_ns", "ns", "cumulative CPU time consumed (raw counter)"),
        ("idle_ns", "ns", "cumulative idle time (host rows)"),
        ("vcpus", "", "virtual (or host) CPUs at this sample"),
        ("state", "", "domain state as the tool printed it"),
        (
            "flags",
            "",
            "|-separated data-quality flags; empty when clean",
        ),
    ],
};

/// `migration.csv`.
const MIGRATION: FileDoc = FileDoc {
    name: "migration.csv",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        ("source", "", "source id (qmp:<socket>)"),
        ("vm", "", "migrating VM"),
        ("status", "", "status as QEMU reported it"),
        ("elapsed_s", "s", "time since the migration started"),
        ("transferred_b", "B", "RAM bytes transferred so far"),
        ("remaining_b", "B", "RAM bytes remaining"),
        ("total_b", "B", "guest RAM size"),
        (
            "iteration",
            "",
            "completed dirty-bitmap syncs (pre-copy iterations)",
        ),
        ("dirty_pages_per_s", "pages/s", "dirty-page rate"),
        ("rate_bps", "bit/s", "transfer rate"),
        ("expected_downtime_s", "s", "expected downtime"),
        ("downtime_s", "s", "measured downtime once completed"),
        (
            "flags",
            "",
            "|-separated data-quality flags; empty when clean",
        ),
    ],
};

/// `net.csv`.
const NET: FileDoc = FileDoc {
    name: "net.csv",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        ("source", "", "source id (netdev)"),
        ("interface", "", "network interface (eth0, xenbr0, …)"),
        ("rx_b", "B", "cumulative bytes received (raw counter)"),
        ("tx_b", "B", "cumulative bytes sent (raw counter)"),
        (
            "flags",
            "",
            "|-separated data-quality flags; empty when clean",
        ),
    ],
};

/// `freq.csv`.
const FREQ: FileDoc = FileDoc {
    name: "freq.csv",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        ("source", "", "source id (cpufreq)"),
        ("cpu", "", "CPU (cpu0, cpu1, …)"),
        (
            "freq_hz",
            "Hz",
            "current core clock (cpufreq scaling_cur_freq)",
        ),
        (
            "flags",
            "",
            "|-separated data-quality flags; empty when clean",
        ),
    ],
};

/// `events.jsonl`.
const EVENTS: FileDoc = FileDoc {
    name: "events.jsonl",
    columns: &[
        STAMP_COLS[0],
        STAMP_COLS[1],
        (
            "kind",
            "",
            "dotted event kind (run.start, run.stderr, mark, source.gap, …)",
        ),
        ("source", "", "source id"),
        ("vm", "", "VM concerned, or null"),
        ("fields", "", "object of extra members (numbers, labels)"),
        ("raw", "", "the raw line that produced the event, or null"),
    ],
};

/// Number of files the writer produces.
pub(crate) const NFILES: usize = 6;

/// Every file the writer produces, in manifest order.
pub(crate) const FILES: [&FileDoc; NFILES] = [&POWER, &CPU, &MIGRATION, &NET, &FREQ, &EVENTS];

/// Rows written per file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows (lines after the header) per file, in [`FILES`] order.
    pub(crate) rows: [u64; NFILES],
    /// Rows with a non-empty `flags` cell per file (events: always 0).
    pub(crate) flagged: [u64; NFILES],
    /// Write or sync errors (the first is kept in `error`).
    pub(crate) errors: u64,
    /// The first I/O error met, if any.
    pub(crate) error: Option<String>,
}

impl Counts {
    /// Rows written to the file named `name` (`power.csv`, …); 0 for an unknown name.
    pub fn rows_in(&self, name: &str) -> u64 {
        FILES
            .iter()
            .position(|f| f.name == name)
            .map_or(0, |i| self.rows[i])
    }
}

/// The open files of a run directory.
pub(crate) struct Writer {
    files: [File; NFILES],
    paths: [PathBuf; NFILES],
    dirty: bool,
    last_sync: Instant,
    counts: Counts,
}

impl Writer {
    /// Creates the files in `dir` (which must exist) with their header lines.
    pub(crate) fn create(dir: &Path) -> Result<Writer, String> {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for doc in FILES {
            let p = dir.join(doc.name);
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&p)
                .map_err(|e| format!("{}: cannot create: {e}", p.display()))?;
            if doc.name.ends_with(".csv") {
                let header: Vec<&str> = doc.columns.iter().map(|c| c.0).collect();
                f.write_all(format!("{}\n", header.join(",")).as_bytes())
                    .map_err(|e| format!("{}: {e}", p.display()))?;
            }
            files.push(f);
            paths.push(p);
        }
        let files: [File; NFILES] = files.try_into().map_err(|_| "internal: file count")?;
        let paths: [PathBuf; NFILES] = paths.try_into().map_err(|_| "internal: file count")?;
        let mut w = Writer {
            files,
            paths,
            dirty: true,
            last_sync: Instant::now(),
            counts: Counts::default(),
        };
        w.sync();
        Ok(w)
    }

    /// Appends one record as one line (one `write` call).
    pub(crate) fn write(&mut self, at: Stamp, r: &Record) {
        let (i, line, flagged) = match r {
            Record::Power(p) => (0, power_line(at, p), !p.flags.cell().is_empty()),
            Record::Cpu(c) => (1, cpu_line(at, c), !c.flags.cell().is_empty()),
            Record::Migration(m) => (2, migration_line(at, m), !m.flags.cell().is_empty()),
            Record::Net(n) => (3, net_line(at, n), !n.flags.cell().is_empty()),
            Record::Freq(f) => (4, freq_line(at, f), !f.flags.cell().is_empty()),
            Record::Event(e) => (5, event_line(at, e), false),
        };
        // One write call per line: `write_all` on a regular file completes in one
        // syscall unless the disk is full, so a kill -9 never leaves half a line.
        match self.files[i].write_all(line.as_bytes()) {
            Ok(()) => {
                self.counts.rows[i] += 1;
                if flagged {
                    self.counts.flagged[i] += 1;
                }
                self.dirty = true;
            }
            Err(e) => self.error(format!("{}: write failed: {e}", self.paths[i].display())),
        }
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync();
        }
    }

    /// Forces written data to disk if anything is unsynced.
    pub(crate) fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        for i in 0..NFILES {
            if let Err(e) = self.files[i].sync_data() {
                self.error(format!("{}: sync failed: {e}", self.paths[i].display()));
            }
        }
        self.dirty = false;
        self.last_sync = Instant::now();
    }

    /// Syncs if the last sync is a second old (called when idle).
    pub(crate) fn tick(&mut self) {
        if self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync();
        }
    }

    fn error(&mut self, e: String) {
        self.counts.errors += 1;
        if self.counts.error.is_none() {
            eprintln!("capture: {e}");
            self.counts.error = Some(e);
        }
    }

    /// Final sync; returns the counts.
    pub(crate) fn finish(mut self) -> Counts {
        self.dirty = true;
        self.sync();
        self.counts
    }
}

/// The writer thread's loop: writes until `close` is set and the channel is drained (or
/// every sender is gone), syncing at least once a second.
pub(crate) fn write_loop(
    mut w: Writer,
    rx: Receiver<(Stamp, Record)>,
    close: Arc<AtomicBool>,
) -> Counts {
    loop {
        match rx.recv_timeout(POLL) {
            Ok((at, r)) => w.write(at, &r),
            Err(RecvTimeoutError::Timeout) => {
                w.tick();
                if close.load(Ordering::SeqCst) {
                    // Sources are joined before `close` is set: drain what is queued.
                    while let Ok((at, r)) = rx.try_recv() {
                        w.write(at, &r);
                    }
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    w.finish()
}

/// A CSV cell: quoted when it holds a comma, quote or line break.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A float cell: shortest round-trip decimal; empty when absent or not finite.
fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

fn int<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn power_line(at: Stamp, p: &PowerRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{}\n",
        at.mono_ns,
        at.utc(),
        cell(&p.source),
        num(p.power_w),
        num(p.voltage_v),
        num(p.current_a),
        num(p.energy_raw_j),
        p.flags.cell()
    )
}

fn cpu_line(at: Stamp, c: &CpuRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{}\n",
        at.mono_ns,
        at.utc(),
        cell(&c.source),
        cell(&c.domain),
        int(c.domid),
        int(c.cpu_ns),
        int(c.idle_ns),
        int(c.vcpus),
        cell(&c.state),
        c.flags.cell()
    )
}

fn migration_line(at: Stamp, m: &MigrationRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        at.mono_ns,
        at.utc(),
        cell(&m.source),
        cell(&m.vm),
        cell(&m.status),
        num(m.elapsed_s),
        int(m.transferred_b),
        int(m.remaining_b),
        int(m.total_b),
        int(m.iteration),
        num(m.dirty_pages_per_s),
        num(m.rate_bps),
        num(m.expected_downtime_s),
        num(m.downtime_s),
        m.flags.cell()
    )
}

fn net_line(at: Stamp, n: &NetRow) -> String {
    format!(
        "{},{},{},{},{},{},{}\n",
        at.mono_ns,
        at.utc(),
        cell(&n.source),
        cell(&n.interface),
        int(n.rx_b),
        int(n.tx_b),
        n.flags.cell()
    )
}

fn freq_line(at: Stamp, f: &FreqRow) -> String {
    format!(
        "{},{},{},{},{},{}\n",
        at.mono_ns,
        at.utc(),
        cell(&f.source),
        cell(&f.cpu),
        num(f.freq_hz),
        f.flags.cell()
    )
}

/// One `events.jsonl` line (members in a fixed order, newline-terminated).
fn event_line(at: Stamp, e: &EventRow) -> String {
    let mut o = serde_json::Map::new();
    o.insert("t_mono_ns".into(), at.mono_ns.into());
    o.insert("t_utc".into(), at.utc().into());
    o.insert("kind".into(), e.kind.clone().into());
    o.insert("source".into(), e.source.clone().into());
    o.insert(
        "vm".into(),
        e.vm.clone()
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::Null),
    );
    o.insert("fields".into(), serde_json::Value::Object(e.fields.clone()));
    o.insert(
        "raw".into(),
        e.raw
            .clone()
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::Null),
    );
    // serde_json escapes control characters, so the line has no raw newline inside.
    let mut s = serde_json::Value::Object(o).to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::record::Flags;

    fn stamp() -> Stamp {
        // 1_700_000_000.5 s → 2023-11-14T22:13:20.5Z.
        Stamp {
            mono_ns: 42,
            wall_ns: 1_700_000_000_500_000_000,
        }
    }

    #[test]
    fn power_line_has_empty_cells_for_missing() {
        let mut flags = Flags::none();
        flags.set(Flags::MISSING);
        let p = PowerRow {
            source: "wt210".into(),
            power_w: None,
            voltage_v: Some(230.5),
            current_a: Some(0.25),
            energy_raw_j: None,
            flags,
        };
        assert_eq!(
            power_line(stamp(), &p),
            "42,2023-11-14T22:13:20.500000000Z,wt210,,230.5,0.25,,missing\n"
        );
    }

    #[test]
    fn cells_are_quoted_when_needed() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(num(Some(f64::NAN)), "");
        assert_eq!(num(Some(101.5)), "101.5");
    }

    #[test]
    fn event_line_is_one_json_line() {
        let mut fields = serde_json::Map::new();
        fields.insert("label".into(), "phase 1".into());
        let e = EventRow {
            kind: "mark".into(),
            source: "stdin".into(),
            vm: None,
            fields,
            raw: Some("phase 1\nsecond".into()),
        };
        let l = event_line(stamp(), &e);
        assert_eq!(l.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
        assert_eq!(v["kind"], "mark");
        assert_eq!(v["fields"]["label"], "phase 1");
        assert_eq!(v["raw"], "phase 1\nsecond");
        assert!(v["vm"].is_null());
        assert_eq!(v["t_mono_ns"], 42);
    }
}
