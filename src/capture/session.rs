//! One capture: creates the run directory, starts the writer, every source and the wrapped
//! command, waits for a reason to stop, then stops everything in order and closes the
//! manifest.
//!
//! Order at the end: sources are asked to stop and joined (each finishes its current read),
//! the wrapped command is waited for, `capture.end` is sent, the writer drains and syncs,
//! and `manifest.json` is rewritten atomically with status `complete`.

use super::record::{Clock, Sink, Source, Stop};
use super::source_kit::{event, fields};
use super::wrap::{start_marks, Wrapped};
use super::writer::{write_loop, Counts, Writer, FILES};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A validated capture request.
pub struct Config {
    /// The run directory (created; must not hold a previous capture's manifest).
    pub out: PathBuf,
    /// The sources to run, each on its own thread.
    pub sources: Vec<Box<dyn Source>>,
    /// `--run`: a shell command to wrap.
    pub run: Option<String>,
    /// `--keep-going`: go on capturing after the command ends.
    pub keep_going: bool,
    /// `--tail`: how long to go on capturing after the command ends.
    pub tail: Duration,
    /// `--mark`: read labels from stdin.
    pub mark: bool,
    /// `--duration`: stop after this long.
    pub duration: Option<Duration>,
    /// The command line, for the manifest.
    pub command_line: Vec<String>,
}

/// What a finished capture reports.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Why it stopped (`signal SIGINT`, `duration`, `command ended`, …).
    pub exit_reason: String,
    /// Rows written per file.
    pub counts: Counts,
}

/// Manifest status while capturing and once closed.
const RUNNING: &str = "running";
/// See [`RUNNING`].
const COMPLETE: &str = "complete";

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Kernel clock-discipline status (adjtimex, read-only): whether NTP/PTP keeps the wall
/// clock synchronised, with the estimated error.
fn clock_sync() -> serde_json::Value {
    // SAFETY: a zeroed timex with modes = 0 only reads the kernel's state.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return serde_json::json!({"known": false});
    }
    serde_json::json!({
        "known": true,
        "synchronised": state != libc::TIME_ERROR,
        "esterror_us": t.esterror,
        "maxerror_us": t.maxerror,
        "source": "adjtimex(2)",
    })
}

struct ManifestBase {
    command_line: Vec<String>,
    start_utc: String,
    hostname: String,
    clock_sync: serde_json::Value,
}

fn manifest(
    b: &ManifestBase,
    status: &str,
    sources: &[serde_json::Value],
    run: Option<serde_json::Value>,
    end: Option<(&str, &str, &Counts, f64)>,
) -> serde_json::Value {
    let files: Vec<serde_json::Value> = FILES
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut o = serde_json::json!({
                "name": f.name,
                "columns": f.columns.iter().map(|(n, u, d)| serde_json::json!({"name": n, "unit": u, "doc": d})).collect::<Vec<_>>(),
            });
            if let Some((_, _, c, _)) = end {
                o["rows"] = c.rows[i].into();
                o["flagged_rows"] = c.flagged[i].into();
            }
            o
        })
        .collect();
    let mut m = serde_json::json!({
        "format": "capsim-capture/1",
        "status": status,
        "tool": {"name": "capsim", "version": env!("CARGO_PKG_VERSION")},
        "command_line": b.command_line,
        "hostname": b.hostname,
        "start_utc": b.start_utc,
        "end_utc": null,
        "duration_s": null,
        "exit_reason": null,
        "clock": {
            "t_mono_ns": "ns since capture start on CLOCK_MONOTONIC (never jumps; use for alignment)",
            "t_utc": "wall clock, RFC 3339 UTC with ns",
            "semantics": "end-of-interval",
            "doc": "a row is stamped when its sample is received, i.e. at the end of the interval the sample describes",
            "sync": b.clock_sync,
        },
        "flags": {
            "missing": "value absent (meter sent >= 9.9E37, read failed, no previous counter)",
            "gap": "first row after the source stopped answering",
            "reconnected": "the source was reopened before this row",
            "bad_line": "the instrument's line could not be fully parsed (see source.bad_line events)",
            "wrapped": "a cumulative counter wrapped since the previous row",
            "overrange": "the instrument reported over-range",
            "stale": "no new instrument update since the previous row",
        },
        "sources": sources,
        "run": run,
        "files": files,
    });
    if let Some((end_utc, reason, c, dur)) = end {
        m["end_utc"] = end_utc.into();
        m["exit_reason"] = reason.into();
        m["duration_s"] = dur.into();
        m["write_errors"] = c.errors.into();
        m["first_write_error"] = c.error.clone().into();
    }
    m
}

fn describe(s: &dyn Source) -> serde_json::Value {
    let mut d = s.describe();
    if let serde_json::Value::Object(m) = &mut d {
        m.insert("id".into(), s.id().into());
    }
    d
}

/// A source's thread: it hands the source back (for its final manifest entry) with the
/// result of its run.
type SourceThread = JoinHandle<(Box<dyn Source>, Result<(), String>)>;

/// Runs a capture until a stop: `poll` (signals), `stop` (requested by a caller), the
/// duration, the wrapped command ending (plus tail), or every source having ended.
pub fn capture(
    cfg: Config,
    stop: &Stop,
    poll: &dyn Fn() -> Option<String>,
) -> Result<Outcome, String> {
    let dir = cfg.out.clone();
    let mpath = claim_run_dir(&dir)?;
    let clock = Clock::start();
    let started = clock.now();
    let base = ManifestBase {
        command_line: cfg.command_line.clone(),
        start_utc: started.utc(),
        hostname: hostname(),
        clock_sync: clock_sync(),
    };
    let writer = Writer::create(&dir)?;
    let descs: Vec<serde_json::Value> = cfg.sources.iter().map(|s| describe(s.as_ref())).collect();
    let run0 = cfg
        .run
        .as_ref()
        .map(|c| serde_json::json!({"command": c, "keep_going": cfg.keep_going, "tail_s": cfg.tail.as_secs_f64()}));
    write_manifest(
        &mpath,
        &manifest(&base, RUNNING, &descs, run0.clone(), None),
    )?;

    let (sink, writer) = WriterThread::start(writer, clock);
    let ids: Vec<String> = cfg.sources.iter().map(|s| s.id()).collect();
    let f = fields([("sources", serde_json::json!(ids))]);
    sink.send_at(started, event("capture.start", "capture", None, f, None));
    let threads = spawn_sources(cfg.sources, &sink, stop);
    if cfg.mark {
        start_marks(&sink);
    }
    let wrapped = cfg
        .run
        .as_deref()
        .and_then(|c| start_wrapped(c, &sink, stop));
    let until = Until {
        duration: cfg.duration,
        keep_going: cfg.keep_going,
        tail: cfg.tail,
    };
    let reason = wait_for_stop(&until, poll, stop, &threads, wrapped.as_ref());
    stop.request();

    let finals = join_sources(threads);
    let run = match wrapped {
        Some(w) => Some(with_result(run0, w)),
        None => run0,
    };
    let ended = clock.now();
    let f = fields([("exit_reason", serde_json::json!(reason))]);
    sink.send_at(ended, event("capture.end", "capture", None, f, None));
    let counts = writer.close(sink)?;
    let dur = (ended.mono_ns - started.mono_ns) as f64 * 1e-9;
    let end_utc = ended.utc();
    let end = Some((end_utc.as_str(), reason.as_str(), &counts, dur));
    write_manifest(&mpath, &manifest(&base, COMPLETE, &finals, run, end))?;
    Ok(Outcome {
        dir,
        exit_reason: reason,
        counts,
    })
}

/// Creates the run directory; its manifest path, or an error when the directory already
/// holds a capture.
fn claim_run_dir(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let mpath = dir.join("manifest.json");
    if mpath.exists() {
        return Err(format!(
            "{}: already holds a capture (manifest.json); choose a new --out directory",
            dir.display()
        ));
    }
    Ok(mpath)
}

/// Writes the manifest, pretty-printed, atomically.
fn write_manifest(path: &Path, m: &serde_json::Value) -> Result<(), String> {
    crate::atomic::write_text(path, &serde_json::to_string_pretty(m).unwrap_or_default())
}

/// The writer's thread, which owns the files, and how to tell it to finish.
struct WriterThread {
    thread: JoinHandle<Counts>,
    close: Arc<AtomicBool>,
}

impl WriterThread {
    /// Starts `writer` on its own thread; the sink every source sends to.
    fn start(writer: Writer, clock: Clock) -> (Sink, WriterThread) {
        let (tx, rx) = mpsc::channel();
        let close = Arc::new(AtomicBool::new(false));
        let c2 = close.clone();
        let thread = std::thread::spawn(move || write_loop(writer, rx, c2));
        (Sink::new(clock, tx), WriterThread { thread, close })
    }

    /// Drops the last sink, lets the writer drain and sync, and returns its counts. The
    /// close flag is needed as well: the `--mark` reader keeps a sink until stdin ends.
    fn close(self, sink: Sink) -> Result<Counts, String> {
        drop(sink);
        self.close.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| "internal: the writer thread panicked".to_string())
    }
}

/// Starts every source on its own thread. A source that fails says so on stderr and as a
/// `source.error` event; the others go on.
fn spawn_sources(sources: Vec<Box<dyn Source>>, sink: &Sink, stop: &Stop) -> Vec<SourceThread> {
    let mut threads = Vec::new();
    for mut s in sources {
        let (sk, st) = (sink.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let r = s.run(&sk, &st);
            if let Err(e) = &r {
                eprintln!("capture: source {}: {e}", s.id());
                sk.send(event(
                    "source.error",
                    &s.id(),
                    None,
                    Default::default(),
                    Some(e),
                ));
            }
            (s, r)
        }));
    }
    threads
}

/// Starts the `--run` command; when it cannot start, the capture is asked to stop and a
/// `run.error` event says why.
fn start_wrapped(command: &str, sink: &Sink, stop: &Stop) -> Option<Wrapped> {
    match Wrapped::start(command, sink, stop) {
        Ok(w) => Some(w),
        Err(e) => {
            stop.request();
            let f = fields([("error", serde_json::json!(e))]);
            sink.send(event("run.error", "capture", None, f, None));
            None
        }
    }
}

/// When a capture ends by itself: `--duration`, `--keep-going` and `--tail`.
struct Until {
    duration: Option<Duration>,
    keep_going: bool,
    tail: Duration,
}

/// Waits (polling every 20 ms) for a reason to stop, and returns it.
fn wait_for_stop(
    until: &Until,
    poll: &dyn Fn() -> Option<String>,
    stop: &Stop,
    threads: &[SourceThread],
    wrapped: Option<&Wrapped>,
) -> String {
    let t0 = Instant::now();
    let mut tail_end: Option<Instant> = None;
    loop {
        if let Some(r) = poll() {
            return r;
        }
        if stop.requested() {
            return "stop requested".to_string();
        }
        if until.duration.is_some_and(|d| t0.elapsed() >= d) {
            return "duration".to_string();
        }
        let run_active = wrapped.is_some_and(|w| !w.done.load(Ordering::SeqCst));
        if let Some(w) = wrapped {
            if w.done.load(Ordering::SeqCst) && !until.keep_going {
                let end = *tail_end.get_or_insert_with(|| Instant::now() + until.tail);
                if Instant::now() >= end {
                    return "command ended".to_string();
                }
            }
        }
        if !threads.is_empty() && !run_active && threads.iter().all(|t| t.is_finished()) {
            return "all sources ended".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Joins the source threads; each source's final manifest entry (with its error, if it
/// failed).
fn join_sources(threads: Vec<SourceThread>) -> Vec<serde_json::Value> {
    let mut finals = Vec::new();
    for t in threads {
        match t.join() {
            Ok((s, r)) => {
                let mut d = describe(s.as_ref());
                if let (Err(e), serde_json::Value::Object(m)) = (&r, &mut d) {
                    m.insert("error".into(), e.clone().into());
                }
                finals.push(d);
            }
            Err(_) => finals.push(serde_json::json!({"error": "source thread panicked"})),
        }
    }
    finals
}

/// The manifest's `run` object with the wrapped command's `result`, once it has ended.
fn with_result(run0: Option<serde_json::Value>, w: Wrapped) -> serde_json::Value {
    let r = w.join();
    let mut o = run0.unwrap_or_default();
    o["result"] = r.unwrap_or_default();
    o
}
