//! QEMU migration progress over QMP: `query-migrate` polled on a unix socket.
//!
//! Session: read the greeting `{"QMP":{…}}`, send `qmp_capabilities`, optionally turn on
//! the migration capability `events`, then send `{"execute":"query-migrate","id":N}` every
//! interval. Each reply becomes a [`MigrationRow`]; replies are parsed leniently (every
//! field optional, unknown fields ignored, `total-time`, `expected-downtime` and
//! `downtime` accepted at the top level or inside `ram`, as QEMU's own doc examples put
//! them). A row is written for every reply while a migration is in progress, and once
//! for each status it settles in (`none`, `completed`, `failed`, `cancelled`), so an idle
//! VM does not fill the file.
//!
//! Events: `migration.status` (fields `from`, `status`) when the status differs from the
//! previous reply's; `qmp.<name>` (lowercase) for each asynchronous QMP event, with its
//! `data` members and `qemu_wall_ns` (QEMU's own timestamp); `qmp.error` for an error
//! reply. A closed socket gives `source.gap`, reconnection is retried every interval
//! (the target QEMU may start only when the migration does), and the first row after it
//! carries `gap|reconnected`. A line that is not JSON is a `source.bad_line` event and the
//! next row carries `bad_line`.

use crate::capture::record::{Flags, MigrationRow, Record, Sink, Source, Stop};
use crate::capture::source_kit::{event, fields, sleep_until};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Reads a `query-migrate` return value (the object inside `{"return": …}`) into a row
/// (`source` and `vm` left empty). Absent fields stay `None`; `missing` is set when the
/// status is absent, or when a migration is under way or done and `ram`'s byte counters
/// are absent; `bad_line` when a field has the wrong JSON type.
pub(crate) fn parse_query_migrate(ret: &Value) -> MigrationRow {
    let mut row = MigrationRow::default();
    let Some(obj) = ret.as_object() else {
        row.flags.set(Flags::BAD_LINE);
        row.flags.set(Flags::MISSING);
        return row;
    };
    let ram = obj.get("ram").and_then(Value::as_object);
    if obj.get("ram").is_some() && ram.is_none() {
        row.flags.set(Flags::BAD_LINE);
    }
    let mut flags = Flags::none();
    // A field from `ram`, or from the top level when `top` allows it.
    let mut get = |key: &str, top: bool| -> Option<&Value> {
        let v = ram
            .and_then(|r| r.get(key))
            .or_else(|| if top { obj.get(key) } else { None })?;
        if v.is_number() {
            Some(v)
        } else {
            if !v.is_null() {
                flags.set(Flags::BAD_LINE);
            }
            None
        }
    };
    let uint = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
        })
    };
    let float = |v: Option<&Value>| v.and_then(Value::as_f64);
    // Timings are ms at the top level (schema) or, in doc examples, inside `ram`.
    let ms = |v: Option<&Value>| float(v).map(|m| m / 1000.0);
    row.elapsed_s = ms(get("total-time", true));
    row.expected_downtime_s = ms(get("expected-downtime", true));
    row.downtime_s = ms(get("downtime", true));
    row.transferred_b = uint(get("transferred", false));
    row.remaining_b = uint(get("remaining", false));
    row.total_b = uint(get("total", false));
    row.iteration = uint(get("dirty-sync-count", false));
    row.dirty_pages_per_s = float(get("dirty-pages-rate", false));
    row.rate_bps = float(get("mbps", false)).map(|m| m * 1e6);
    if flags.has(Flags::BAD_LINE) {
        row.flags.set(Flags::BAD_LINE);
    }
    match obj.get("status") {
        Some(Value::String(s)) => row.status = s.clone(),
        Some(_) => {
            row.flags.set(Flags::BAD_LINE);
            row.flags.set(Flags::MISSING);
        }
        None => row.flags.set(Flags::MISSING),
    }
    let moving = matches!(
        row.status.as_str(),
        "active"
            | "postcopy-active"
            | "postcopy-paused"
            | "postcopy-recover"
            | "pre-switchover"
            | "device"
            | "completed"
    );
    if moving && (row.transferred_b.is_none() || row.remaining_b.is_none() || row.total_b.is_none())
    {
        row.flags.set(Flags::MISSING);
    }
    row
}

/// Statuses a migration rests in: a row is written once per arrival, not every poll.
fn settled(status: &str) -> bool {
    matches!(status, "none" | "completed" | "failed" | "cancelled" | "")
}

/// The QMP source of one VM.
pub(crate) struct QmpSource {
    vm: String,
    socket: PathBuf,
    every: Duration,
    enable_events: bool,
}

impl QmpSource {
    /// Polls `query-migrate` for `vm` on `socket` every `every`; `enable_events` turns on
    /// the migration capability `events` after connecting.
    pub(crate) fn new(vm: String, socket: PathBuf, every: Duration, enable_events: bool) -> Self {
        QmpSource {
            vm,
            socket,
            every,
            enable_events,
        }
    }
}

/// Why a session ended.
enum End {
    /// Stop requested or writer gone.
    Stop,
    /// The socket failed or closed.
    Lost(String),
}

/// Longest accepted QMP line, bytes.
const MAX_LINE: usize = 1 << 20;

/// A connected QMP socket reading whole lines with a deadline.
struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Conn {
    fn send(&mut self, v: &Value) -> Result<(), End> {
        let mut s = v.to_string();
        s.push('\n');
        self.stream
            .write_all(s.as_bytes())
            .map_err(|e| End::Lost(format!("write: {e}")))
    }

    /// The next line, `Ok(None)` at the deadline.
    fn line(&mut self, deadline: Instant, stop: &Stop) -> Result<Option<String>, End> {
        loop {
            if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.buf.drain(..=p).collect();
                return Ok(Some(String::from_utf8_lossy(&l).trim().to_string()));
            }
            if stop.requested() {
                return Err(End::Stop);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now)
                .min(Duration::from_millis(20))
                .max(Duration::from_millis(1));
            let _ = self.stream.set_read_timeout(Some(wait));
            let mut tmp = [0u8; 8192];
            match self.stream.read(&mut tmp) {
                Ok(0) => return Err(End::Lost("socket closed".into())),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    // QMP lines are small; a peer that never ends one is not QMP.
                    if self.buf.len() > MAX_LINE {
                        return Err(End::Lost(format!("a line longer than {MAX_LINE} bytes")));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(End::Lost(format!("read: {e}"))),
            }
        }
    }
}

/// Per-session state of the poll loop.
struct Session<'a> {
    src: &'a QmpSource,
    id: String,
    sink: &'a Sink,
    /// Flags for the next row (gap/reconnected/bad_line).
    pending: Flags,
    /// Status of the previous reply, and of the last written row.
    last_status: Option<String>,
    last_written: Option<String>,
}

impl Session<'_> {
    fn emit(&self, r: Record) -> Result<(), End> {
        if self.sink.send(r) {
            Ok(())
        } else {
            Err(End::Stop)
        }
    }

    /// Handles one incoming line; returns the reply (`return` or `error` object) with its
    /// `id`, if it was one.
    fn on_line(&mut self, line: &str) -> Result<Option<(Value, Value)>, End> {
        if line.is_empty() {
            return Ok(None);
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                self.pending.set(Flags::BAD_LINE);
                let f = fields([("error", json!(e.to_string()))]);
                self.emit(event(
                    "source.bad_line",
                    &self.id,
                    Some(&self.src.vm),
                    f,
                    Some(line),
                ))?;
                return Ok(None);
            }
        };
        if let Some(name) = v.get("event").and_then(Value::as_str) {
            let mut f = serde_json::Map::new();
            if let Some(Value::Object(d)) = v.get("data") {
                f.extend(d.clone());
            }
            if let Some(ts) = v.get("timestamp") {
                let s = ts.get("seconds").and_then(Value::as_i64);
                let us = ts.get("microseconds").and_then(Value::as_i64);
                // Checked: a hostile or broken peer must not overflow (and panic) here.
                let ns = s.zip(us).and_then(|(s, us)| {
                    s.checked_mul(1_000_000_000)?
                        .checked_add(us.checked_mul(1000)?)
                });
                if let Some(ns) = ns {
                    f.insert("qemu_wall_ns".into(), json!(ns));
                }
            }
            let kind = format!("qmp.{}", name.to_ascii_lowercase());
            self.emit(event(&kind, &self.id, Some(&self.src.vm), f, Some(line)))?;
            return Ok(None);
        }
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        if let Some(r) = v.get("return") {
            return Ok(Some((id, json!({ "return": r }))));
        }
        if let Some(e) = v.get("error") {
            return Ok(Some((id, json!({ "error": e }))));
        }
        if v.get("QMP").is_some() {
            return Ok(None);
        }
        self.pending.set(Flags::BAD_LINE);
        let f = fields([("error", json!("neither a reply nor an event"))]);
        self.emit(event(
            "source.bad_line",
            &self.id,
            Some(&self.src.vm),
            f,
            Some(line),
        ))?;
        Ok(None)
    }

    /// Sends `cmd` with `id` and waits (up to `timeout`) for its reply, handling events
    /// meanwhile. `Ok(None)` on timeout.
    fn call(
        &mut self,
        conn: &mut Conn,
        cmd: Value,
        id: &Value,
        timeout: Duration,
        stop: &Stop,
    ) -> Result<Option<(Value, String)>, End> {
        conn.send(&cmd)?;
        let deadline = Instant::now() + timeout;
        while let Some(line) = conn.line(deadline, stop)? {
            if let Some((rid, reply)) = self.on_line(&line)? {
                if &rid == id {
                    return Ok(Some((reply, line)));
                }
            }
        }
        Ok(None)
    }

    /// One connected session: handshake, then poll until the socket fails or stop.
    fn run(&mut self, conn: &mut Conn, stop: &Stop) -> Result<(), End> {
        let hello = Duration::from_secs(5);
        match conn.line(Instant::now() + hello, stop)? {
            Some(g) if g.contains("\"QMP\"") => {}
            Some(g) => return Err(End::Lost(format!("unexpected greeting: {g}"))),
            None => return Err(End::Lost("no QMP greeting".into())),
        }
        let cap_id = json!("capsim-cap");
        let cmd = json!({"execute": "qmp_capabilities", "id": cap_id});
        match self.call(conn, cmd, &cap_id, hello, stop)? {
            Some((r, _)) if r.get("return").is_some() => {}
            Some((r, line)) => {
                return Err(End::Lost(format!("qmp_capabilities refused: {r} ({line})")))
            }
            None => return Err(End::Lost("no answer to qmp_capabilities".into())),
        }
        if self.src.enable_events {
            let id = json!("capsim-events");
            let cmd = json!({"execute": "migrate-set-capabilities", "id": id,
                "arguments": {"capabilities": [{"capability": "events", "state": true}]}});
            if let Some((r, line)) = self.call(conn, cmd, &id, hello, stop)? {
                if let Some(e) = r.get("error") {
                    let f = fields([
                        ("command", json!("migrate-set-capabilities")),
                        ("error", e.clone()),
                    ]);
                    self.emit(event(
                        "qmp.error",
                        &self.id,
                        Some(&self.src.vm),
                        f,
                        Some(&line),
                    ))?;
                }
            }
        }
        let mut n: u64 = 0;
        let mut next = Instant::now();
        loop {
            // Between polls, keep reading: events arrive whenever QEMU sends them.
            while let Some(line) = conn.line(next, stop)? {
                self.on_line(&line)?;
            }
            next += self.src.every;
            if next <= Instant::now() {
                next = Instant::now() + self.src.every;
            }
            n += 1;
            let id = json!(n);
            let cmd = json!({"execute": "query-migrate", "id": id});
            let timeout = (self.src.every * 10).max(Duration::from_secs(2));
            match self.call(conn, cmd, &id, timeout, stop)? {
                None => return Err(End::Lost("no answer to query-migrate".into())),
                Some((r, line)) => {
                    if let Some(e) = r.get("error") {
                        let f = fields([("command", json!("query-migrate")), ("error", e.clone())]);
                        self.emit(event(
                            "qmp.error",
                            &self.id,
                            Some(&self.src.vm),
                            f,
                            Some(&line),
                        ))?;
                        continue;
                    }
                    self.on_reply(&r["return"], &line)?;
                }
            }
        }
    }

    fn on_reply(&mut self, ret: &Value, line: &str) -> Result<(), End> {
        let mut row = parse_query_migrate(ret);
        row.source = self.id.clone();
        row.vm = self.src.vm.clone();
        if self.last_status.as_deref() != Some(row.status.as_str()) {
            if let Some(from) = &self.last_status {
                let f = fields([("from", json!(from)), ("status", json!(row.status))]);
                self.emit(event(
                    "migration.status",
                    &self.id,
                    Some(&self.src.vm),
                    f,
                    Some(line),
                ))?;
            }
            self.last_status = Some(row.status.clone());
        }
        let write = !settled(&row.status)
            || self.last_written.as_deref() != Some(row.status.as_str())
            || self.pending != Flags::none()
            || row.flags != Flags::none();
        if write {
            let pending = std::mem::take(&mut self.pending);
            for f in [Flags::GAP, Flags::RECONNECTED, Flags::BAD_LINE] {
                if pending.has(f) {
                    row.flags.set(f);
                }
            }
            self.last_written = Some(row.status.clone());
            self.emit(Record::Migration(row))?;
        }
        Ok(())
    }
}

impl Source for QmpSource {
    fn id(&self) -> String {
        format!("qmp:{}", self.socket.display())
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "qmp query-migrate",
            "vm": self.vm,
            "socket": self.socket.display().to_string(),
            "interval_s": self.every.as_secs_f64(),
            "migration_events_enabled": self.enable_events,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let id = self.id();
        let mut s = Session {
            src: self,
            id: id.clone(),
            sink,
            pending: Flags::none(),
            last_status: None,
            last_written: None,
        };
        let mut connected_before = false;
        let mut in_gap = false;
        while !stop.requested() {
            match UnixStream::connect(&self.socket) {
                Ok(stream) => {
                    // (in_gap is set again below whichever way this session ends.)
                    if in_gap {
                        let f = fields([("socket", json!(self.socket.display().to_string()))]);
                        if !sink.send(event("source.reconnected", &id, Some(&self.vm), f, None)) {
                            return Ok(());
                        }
                    }
                    if connected_before {
                        s.pending.set(Flags::GAP);
                        s.pending.set(Flags::RECONNECTED);
                        // After a reconnection the status row is written again.
                        s.last_written = None;
                    }
                    connected_before = true;
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                    let mut conn = Conn {
                        stream,
                        buf: Vec::new(),
                    };
                    match s.run(&mut conn, stop) {
                        Ok(()) | Err(End::Stop) => return Ok(()),
                        Err(End::Lost(reason)) => {
                            in_gap = true;
                            let f = fields([("reason", json!(reason))]);
                            if !sink.send(event("source.gap", &id, Some(&self.vm), f, None)) {
                                return Ok(());
                            }
                        }
                    }
                }
                Err(e) => {
                    if !in_gap {
                        in_gap = true;
                        let f = fields([("reason", json!(format!("connect: {e}")))]);
                        if !sink.send(event("source.gap", &id, Some(&self.vm), f, None)) {
                            return Ok(());
                        }
                    }
                }
            }
            if !sleep_until(Instant::now() + self.every, stop) {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_reply_with_timings_at_the_top() {
        // Synthetic reply following the schema: timings (ms) at the top level.
        let v = json!({"status": "active", "total-time": 1500, "expected-downtime": 300,
            "setup-time": 12, "ram": {"transferred": 4000, "remaining": 6000, "total": 10000,
            "dirty-sync-count": 2, "dirty-pages-rate": 250.5, "mbps": 940.0, "duplicate": 0}});
        let r = parse_query_migrate(&v);
        assert_eq!(r.status, "active");
        // 1500 ms = 1.5 s; 300 ms = 0.3 s; 940 Mbit/s = 9.4e8 bit/s.
        assert_eq!(r.elapsed_s, Some(1.5));
        assert_eq!(r.expected_downtime_s, Some(0.3));
        assert_eq!(r.downtime_s, None);
        assert_eq!(
            (r.transferred_b, r.remaining_b, r.total_b),
            (Some(4000), Some(6000), Some(10000))
        );
        assert_eq!(r.iteration, Some(2));
        assert_eq!(r.dirty_pages_per_s, Some(250.5));
        assert_eq!(r.rate_bps, Some(9.4e8));
        assert_eq!(r.flags.cell(), "");
    }

    #[test]
    fn doc_example_shape_with_timings_in_ram() {
        // The QAPI doc example puts total-time and expected-downtime inside `ram`.
        let v = json!({"status": "completed", "ram": {"transferred": 123, "remaining": 0,
            "total": 246, "total-time": 12345, "downtime": 12, "setup-time": 3}});
        let r = parse_query_migrate(&v);
        // 12345 ms = 12.345 s; 12 ms = 0.012 s.
        assert_eq!(r.elapsed_s, Some(12.345));
        assert_eq!(r.downtime_s, Some(0.012));
        assert_eq!(r.remaining_b, Some(0));
        assert_eq!(r.flags.cell(), "");
    }

    #[test]
    fn incomplete_and_mistyped_replies_are_flagged() {
        // Active without ram: the byte counters are missing.
        let r = parse_query_migrate(&json!({"status": "active", "total-time": 10}));
        assert_eq!(r.flags.cell(), "missing");
        assert_eq!(r.elapsed_s, Some(0.01));
        // No status at all.
        assert!(parse_query_migrate(&json!({})).flags.has(Flags::MISSING));
        // `none` needs no ram.
        assert_eq!(
            parse_query_migrate(&json!({"status": "none"})).flags.cell(),
            ""
        );
        // A string where a number belongs.
        let r = parse_query_migrate(&json!({"status": "setup", "ram": {"total": "lots"}}));
        assert!(r.flags.has(Flags::BAD_LINE));
        assert_eq!(r.total_b, None);
        // Not an object.
        assert!(parse_query_migrate(&json!([1])).flags.has(Flags::BAD_LINE));
    }

    #[test]
    fn events_with_absurd_timestamps_do_not_panic() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Sink::new(crate::capture::record::Clock::start(), tx);
        let src = QmpSource::new("vm1".into(), "/x".into(), Duration::from_millis(100), false);
        let mut s = Session {
            src: &src,
            id: "qmp:/x".into(),
            sink: &sink,
            pending: Flags::none(),
            last_status: None,
            last_written: None,
        };
        // i64::MAX seconds × 1e9 overflows: the event keeps its data, without qemu_wall_ns.
        let line = format!(
            r#"{{"event": "STOP", "timestamp": {{"seconds": {}, "microseconds": 1}}}}"#,
            i64::MAX
        );
        assert!(matches!(s.on_line(&line), Ok(None)));
        let (_, r) = rx.try_recv().unwrap();
        match r {
            Record::Event(e) => {
                assert_eq!(e.kind, "qmp.stop");
                assert!(!e.fields.contains_key("qemu_wall_ns"));
            }
            other => panic!("{other:?}"),
        }
        // A JSON line that is neither reply nor event flags the next row.
        assert!(matches!(s.on_line(r#"{"hello": 1}"#), Ok(None)));
        assert!(s.pending.has(Flags::BAD_LINE));
    }
}
