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
pub const RUNNING: &str = "running";
/// See [`RUNNING`].
pub const COMPLETE: &str = "complete";

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

/// Writes `text` to `path` via a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
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

/// Runs a capture until a stop: `poll` (signals), `stop` (requested by a caller), the
/// duration, the wrapped command ending (plus tail), or every source having ended.
pub fn capture(
    cfg: Config,
    stop: &Stop,
    poll: &dyn Fn() -> Option<String>,
) -> Result<Outcome, String> {
    let dir = cfg.out.clone();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let mpath = dir.join("manifest.json");
    if mpath.exists() {
        return Err(format!(
            "{}: already holds a capture (manifest.json); choose a new --out directory",
            dir.display()
        ));
    }
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
    write_atomic(
        &mpath,
        &serde_json::to_string_pretty(&manifest(&base, RUNNING, &descs, run0.clone(), None))
            .unwrap_or_default(),
    )?;

    let (tx, rx) = mpsc::channel();
    let close = Arc::new(AtomicBool::new(false));
    let c2 = close.clone();
    let wthread = std::thread::spawn(move || write_loop(writer, rx, c2));
    let sink = Sink::new(clock, tx);
    sink.send_at(
        started,
        event(
            "capture.start",
            "capture",
            None,
            fields([(
                "sources",
                serde_json::json!(cfg.sources.iter().map(|s| s.id()).collect::<Vec<_>>()),
            )]),
            None,
        ),
    );

    let mut threads = Vec::new();
    for mut s in cfg.sources {
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
    if cfg.mark {
        start_marks(&sink);
    }
    let wrapped = match &cfg.run {
        Some(c) => match Wrapped::start(c, &sink, stop) {
            Ok(w) => Some(w),
            Err(e) => {
                stop.request();
                let f = fields([("error", serde_json::json!(e))]);
                sink.send(event("run.error", "capture", None, f, None));
                None
            }
        },
        None => None,
    };

    let t0 = Instant::now();
    let mut tail_end: Option<Instant> = None;
    let reason = loop {
        if let Some(r) = poll() {
            break r;
        }
        if stop.requested() {
            break "stop requested".to_string();
        }
        if cfg.duration.is_some_and(|d| t0.elapsed() >= d) {
            break "duration".to_string();
        }
        let run_active = wrapped
            .as_ref()
            .is_some_and(|w| !w.done.load(Ordering::SeqCst));
        if let Some(w) = &wrapped {
            if w.done.load(Ordering::SeqCst) && !cfg.keep_going {
                let end = *tail_end.get_or_insert_with(|| Instant::now() + cfg.tail);
                if Instant::now() >= end {
                    break "command ended".to_string();
                }
            }
        }
        if !threads.is_empty() && !run_active && threads.iter().all(|t| t.is_finished()) {
            break "all sources ended".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.request();

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
    let run = match wrapped {
        Some(w) => {
            let r = w.join();
            let mut o = run0.unwrap_or_default();
            o["result"] = r.unwrap_or_default();
            Some(o)
        }
        None => run0,
    };
    let ended = clock.now();
    sink.send_at(
        ended,
        event(
            "capture.end",
            "capture",
            None,
            fields([("exit_reason", serde_json::json!(reason))]),
            None,
        ),
    );
    drop(sink);
    close.store(true, Ordering::SeqCst);
    let counts = wthread
        .join()
        .map_err(|_| "internal: the writer thread panicked".to_string())?;
    let dur = (ended.mono_ns - started.mono_ns) as f64 * 1e-9;
    let m = manifest(
        &base,
        COMPLETE,
        &finals,
        run,
        Some((&ended.utc(), &reason, &counts, dur)),
    );
    write_atomic(
        &mpath,
        &serde_json::to_string_pretty(&m).unwrap_or_default(),
    )?;
    Ok(Outcome {
        dir,
        exit_reason: reason,
        counts,
    })
}
