//! The plumbing every capture source is built from: the one event builder, the one
//! stop-aware sleep, a fixed-rate ticker, files re-read every tick, and bad-line reporting.
//!
//! Only what several sources share lives here; a helper one source needs stays with it.

use crate::capture::record::{EventRow, Record, Sink, Stamp, Stop};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An `events.jsonl` record from `source` (about `vm`, when there is one), with `fields`
/// as JSON members and the `raw` line that caused it, kept for auditability.
pub(crate) fn event(
    kind: &str,
    source: &str,
    vm: Option<&str>,
    fields: Map<String, Value>,
    raw: Option<&str>,
) -> Record {
    Record::Event(EventRow {
        kind: kind.to_string(),
        source: source.to_string(),
        vm: vm.map(str::to_string),
        fields,
        raw: raw.map(str::to_string),
    })
}

/// Builds a JSON object from `(name, value)` pairs, in that order.
pub(crate) fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Sleeps until `when` in slices of at most 20 ms, so a stop request is seen within 20 ms.
/// `true` once `when` is reached, `false` as soon as stop is requested (checked once more
/// at the deadline, so a stop during the last slice is never missed).
pub(crate) fn sleep_until(when: Instant, stop: &Stop) -> bool {
    loop {
        if stop.requested() {
            return false;
        }
        let now = Instant::now();
        if now >= when {
            return true;
        }
        std::thread::sleep((when - now).min(Duration::from_millis(20)));
    }
}

/// Fixed-rate ticks: `wait` returns at the next multiple of the interval (skipping ticks
/// that were missed rather than bunching them), or early with `false` once stop is asked.
pub(crate) struct Ticker {
    next: Instant,
    every: Duration,
}

impl Ticker {
    /// Ticks every `every`, the first one now.
    pub(crate) fn new(every: Duration) -> Self {
        Ticker {
            next: Instant::now(),
            every,
        }
    }

    /// Sleeps until the next tick; `false` when stop was requested meanwhile.
    pub(crate) fn wait(&mut self, stop: &Stop) -> bool {
        let ok = sleep_until(self.next, stop);
        let now = Instant::now();
        self.next += self.every;
        if self.next <= now {
            // Behind (slow tool): restart the grid from now.
            self.next = now + self.every;
        }
        ok
    }
}

/// A text file a source re-reads every tick (`/proc/stat`, `/proc/net/dev`): a read that
/// fails starts a gap, announced once with a `source.gap` event; the next good read ends it.
pub(crate) struct PolledFile {
    path: PathBuf,
    in_gap: bool,
}

/// One tick's read of a [`PolledFile`].
pub(crate) enum FileRead {
    /// The file's text, and whether this read ends a gap.
    Text { text: String, after_gap: bool },
    /// The read failed (the gap is announced once).
    Failed,
    /// The writer is gone: the source should stop.
    Closed,
}

impl PolledFile {
    /// The file at `path`, which must exist now (a missing file at start is a bad flag).
    pub(crate) fn open(path: PathBuf) -> Result<Self, String> {
        std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(PolledFile {
            path,
            in_gap: false,
        })
    }

    /// Reads the file once for source `id`.
    pub(crate) fn read(&mut self, id: &str, sink: &Sink) -> FileRead {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => FileRead::Text {
                text,
                after_gap: std::mem::replace(&mut self.in_gap, false),
            },
            Err(e) => {
                if !self.in_gap {
                    self.in_gap = true;
                    let f = fields([("reason", json!(format!("{}: {e}", self.path.display())))]);
                    if !sink.send(event("source.gap", id, None, f, None)) {
                        return FileRead::Closed;
                    }
                }
                FileRead::Failed
            }
        }
    }
}

/// Sends one `source.bad_line` event per (line, error) at `at`; false once the writer is gone.
pub(crate) fn send_bad_lines(sink: &Sink, id: &str, at: Stamp, bad: &[(String, String)]) -> bool {
    bad.iter().all(|(line, e)| {
        let ev = event(
            "source.bad_line",
            id,
            None,
            fields([("error", json!(e))]),
            Some(line),
        );
        sink.send_at(at, ev)
    })
}
