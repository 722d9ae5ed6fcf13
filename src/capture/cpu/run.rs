//! Running the external tools (`xentop`, `xl`): a long-running child whose lines arrive
//! stamped on a channel, and a one-shot command with a timeout.

use crate::capture::record::{Clock, Stamp, Stop};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// One line from a child, stamped when it was read.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    /// When the line arrived.
    pub at: Stamp,
    /// stdout or stderr.
    pub stream: Stream,
    /// The line without its terminator (invalid UTF-8 replaced).
    pub text: String,
}

/// Starts `program args…` with stdout and stderr piped; each line is sent on the returned
/// channel as it arrives. The channel disconnects once both streams reach end of file.
pub(crate) fn spawn_lines(
    program: &Path,
    args: &[String],
    clock: Clock,
) -> std::io::Result<(Child, Receiver<Line>)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = mpsc::channel();
    let out = child
        .stdout
        .take()
        .map(|s| (Stream::Out, Box::new(s) as Box<dyn Read + Send>));
    let err = child
        .stderr
        .take()
        .map(|s| (Stream::Err, Box::new(s) as Box<dyn Read + Send>));
    for (stream, pipe) in [out, err].into_iter().flatten() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let at = clock.now();
                        let text = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        if tx.send(Line { at, stream, text }).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    Ok((child, rx))
}

/// The result of a one-shot command.
#[derive(Debug)]
pub(crate) struct Output {
    /// When the command finished (its output is complete).
    pub at: Stamp,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Why a one-shot command gave no output.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started (e.g. not found).
    Spawn(std::io::Error),
    /// It ran longer than the timeout and was killed.
    Timeout,
    /// Stop was requested while it ran (it was killed).
    Stopped,
}

/// Runs `program args…` to completion, killing it after `timeout` or on stop.
pub(crate) fn run_once(
    program: &Path,
    args: &[String],
    clock: Clock,
    timeout: Duration,
    stop: &Stop,
) -> Result<Output, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Spawn)?;
    // Read both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(_) => {
                kill(&mut child);
                return Err(RunError::Timeout);
            }
        }
        if stop.requested() {
            kill(&mut child);
            return Err(RunError::Stopped);
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            return Err(RunError::Timeout);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Output {
        at: clock.now(),
        status,
        stdout,
        stderr,
    })
}

/// Kills and reaps a child (errors ignored: it may have exited already).
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
