//! `--run COMMAND` (a wrapped command whose start, end and stderr lines become events) and
//! `--mark` (labels typed on stdin become `mark` events).

use super::record::{Sink, Stop};
use super::source_kit::{event, fields};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a still-running command gets after a stop before SIGTERM, then before SIGKILL.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// A wrapped command running under `sh -c`.
pub(crate) struct Wrapped {
    /// Set once the command has exited and `run.end` was sent.
    pub done: Arc<AtomicBool>,
    /// The exit summary (`exit_code`, `signal`, `killed`, `duration_s`) once done.
    pub result: Arc<Mutex<Option<serde_json::Value>>>,
    thread: JoinHandle<()>,
}

impl Wrapped {
    /// Starts `command` via `sh -c`; its stdout goes to ours, each stderr line becomes a
    /// `run.stderr` event stamped on arrival (and is echoed to our stderr).
    pub(crate) fn start(command: &str, sink: &Sink, stop: &Stop) -> Result<Wrapped, String> {
        let start = sink.clock().now();
        let t0 = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("--run: cannot start `sh -c {command}`: {e}"))?;
        sink.send_at(
            start,
            event(
                "run.start",
                "run",
                None,
                fields([("command", json!(command)), ("pid", json!(child.id()))]),
                None,
            ),
        );
        let stderr = child.stderr.take();
        let s2 = sink.clone();
        let reader = std::thread::spawn(move || {
            let Some(e) = stderr else { return };
            let mut r = BufReader::new(e);
            let mut buf = Vec::new();
            let mut n = 0u64;
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let at = s2.clock().now();
                        n += 1;
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        eprintln!("{line}");
                        s2.send_at(
                            at,
                            event(
                                "run.stderr",
                                "run",
                                None,
                                fields([("line", json!(n))]),
                                Some(&line),
                            ),
                        );
                    }
                }
            }
        });
        let done = Arc::new(AtomicBool::new(false));
        let result = Arc::new(Mutex::new(None));
        let (d2, r2, s3, stop2) = (done.clone(), result.clone(), sink.clone(), stop.clone());
        let cmd = command.to_string();
        let thread = std::thread::spawn(move || {
            let (status, killed) = wait_child(&mut child, &stop2);
            // Let the stderr reader drain, but not forever: a background grandchild may
            // keep the pipe open.
            let until = Instant::now() + Duration::from_secs(1);
            while !reader.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
            use std::os::unix::process::ExitStatusExt;
            let summary = fields([
                ("command", json!(cmd)),
                ("exit_code", json!(status.as_ref().and_then(|s| s.code()))),
                ("signal", json!(status.as_ref().and_then(|s| s.signal()))),
                ("killed", json!(killed)),
                ("duration_s", json!(t0.elapsed().as_secs_f64())),
            ]);
            s3.send(event("run.end", "run", None, summary.clone(), None));
            if let Ok(mut g) = r2.lock() {
                *g = Some(serde_json::Value::Object(summary));
            }
            d2.store(true, Ordering::SeqCst);
        });
        Ok(Wrapped {
            done,
            result,
            thread,
        })
    }

    /// Waits for the runner thread (after the command ended or was killed).
    pub(crate) fn join(self) -> Option<serde_json::Value> {
        let _ = self.thread.join();
        self.result.lock().ok().and_then(|g| g.clone())
    }
}

/// Waits for the child; after a stop it gets [`GRACE`], then SIGTERM, then SIGKILL.
fn wait_child(child: &mut Child, stop: &Stop) -> (Option<std::process::ExitStatus>, bool) {
    let mut stopped_at: Option<Instant> = None;
    let mut termed = false;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return (Some(s), termed),
            Ok(None) => {}
            Err(_) => return (None, termed),
        }
        if stop.requested() {
            let t = *stopped_at.get_or_insert_with(Instant::now);
            if t.elapsed() >= GRACE * 2 {
                let _ = child.kill();
                return (child.wait().ok(), true);
            }
            if t.elapsed() >= GRACE && !termed {
                // SAFETY: plain kill(2) on our own child's pid.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                termed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads stdin lines on a detached thread; each non-empty line becomes a `mark` event
/// with `label` (the trimmed line) and the raw line. Ends at end of input.
pub(crate) fn start_marks(sink: &Sink) {
    let s = sink.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        let mut lock = stdin.lock();
        loop {
            line.clear();
            match lock.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let at = s.clock().now();
                    let raw = line.trim_end_matches(['\r', '\n']).to_string();
                    let label = raw.trim().to_string();
                    if label.is_empty() {
                        continue;
                    }
                    if !s.send_at(
                        at,
                        event(
                            "mark",
                            "stdin",
                            None,
                            fields([("label", json!(label))]),
                            Some(&raw),
                        ),
                    ) {
                        break;
                    }
                }
            }
        }
    });
}
