//! IPMI DCMI power readings: `ipmitool [ARGS] dcmi power reading` every interval (capture
//! notes §3.5). Whole watts, BMC-averaged: coarse validation only.
//!
//! Output that does not hold an `Instantaneous power reading: N Watts` line, a failing or
//! hanging `ipmitool`, is logged as an event and a flagged row — never fatal. Only a missing
//! `ipmitool` at start stops this source.

use super::record::{Flags, PowerRow, Record, Sink, Source, Stop};
use super::source_kit::{event, fields, sleep_until};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `ipmitool` call may take before it is killed and counted as a gap.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The instantaneous reading in W from `ipmitool dcmi power reading` output, and the
/// `Power reading state is` value when present.
pub(crate) fn parse_reading(out: &str) -> (Option<f64>, Option<String>) {
    let mut watts = None;
    let mut state = None;
    for line in out.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("Instantaneous power reading:") {
            let rest = rest.trim();
            if let Some(n) = rest.strip_suffix("Watts") {
                watts = n.trim().parse::<u64>().ok().map(|w| w as f64);
            }
        } else if let Some(rest) = l.strip_prefix("Power reading state is") {
            state = Some(rest.trim().trim_start_matches(':').trim().to_string());
        }
    }
    (watts, state)
}

/// The IPMI DCMI source.
pub(crate) struct IpmiSource {
    program: String,
    args: Vec<String>,
    interval: Duration,
    samples: u64,
    bad: u64,
    gaps: u64,
    last_state: Option<String>,
}

impl IpmiSource {
    /// Runs `program args… dcmi power reading` every `interval`.
    pub(crate) fn new(program: &str, args: Vec<String>, interval: Duration) -> Self {
        IpmiSource {
            program: program.to_string(),
            args,
            interval,
            samples: 0,
            bad: 0,
            gaps: 0,
            last_state: None,
        }
    }

    /// One call: Ok(stdout+stderr, success) or Err(timeout / spawn error).
    fn call(&self, stop: &Stop) -> Result<(String, bool), String> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .args(["dcmi", "power", "reading"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: cannot run: {e}", self.program))?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        // Read both pipes on helper threads so a chatty child never blocks.
        let ho = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let he = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let end = Instant::now() + CALL_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                // A stop does not wait for a hanging BMC.
                Ok(None) if Instant::now() < end && !stop.requested() => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} did not answer within {CALL_TIMEOUT:?}",
                        self.program
                    ));
                }
            }
        };
        let mut text = ho.join().unwrap_or_default();
        text.push_str(&he.join().unwrap_or_default());
        Ok((text, status.success()))
    }
}

impl Source for IpmiSource {
    fn id(&self) -> String {
        "ipmi".into()
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "IPMI DCMI",
            "command": format!("{} {} dcmi power reading", self.program, self.args.join(" ")),
            "interval_s": self.interval.as_secs_f64(),
            "resolution_w": 1,
            "samples": self.samples, "bad_outputs": self.bad, "gaps": self.gaps,
            "power_reading_state": self.last_state,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let mut pending = Flags::none();
        let mut first = true;
        loop {
            let next = Instant::now() + self.interval;
            let result = self.call(stop);
            if stop.requested() && result.is_err() {
                return Ok(());
            }
            let at = sink.clock().now();
            let mut flags = std::mem::take(&mut pending);
            let power = match result {
                Err(e) if first => return Err(e),
                Err(e) => {
                    // No answer: a gap; the next good row says so.
                    self.gaps += 1;
                    sink.send_at(
                        at,
                        event("source.gap", "ipmi", None, Default::default(), Some(&e)),
                    );
                    pending.set(Flags::GAP);
                    pending.set(Flags::RECONNECTED);
                    if !sleep_until(next, stop) {
                        return Ok(());
                    }
                    continue;
                }
                Ok((text, ok)) => {
                    let (w, state) = parse_reading(&text);
                    if state.is_some() && state != self.last_state {
                        let f = fields([("state", state.clone().into())]);
                        sink.send_at(at, event("ipmi.state", "ipmi", None, f, state.as_deref()));
                        self.last_state = state;
                    }
                    if w.is_none() || !ok {
                        self.bad += 1;
                        flags.set(Flags::BAD_LINE);
                        sink.send_at(
                            at,
                            event(
                                "source.bad_line",
                                "ipmi",
                                None,
                                Default::default(),
                                Some(&text),
                            ),
                        );
                    }
                    w
                }
            };
            first = false;
            if power.is_none() {
                flags.set(Flags::MISSING);
            }
            self.samples += 1;
            let row = PowerRow {
                source: "ipmi".into(),
                power_w: power,
                voltage_v: None,
                current_a: None,
                energy_raw_j: None,
                flags,
            };
            if !sink.send_at(at, Record::Power(row)) {
                return Ok(());
            }
            if !sleep_until(next, stop) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instantaneous_reading() {
        // Synthetic output in the documented layout (labels, padding, " Watts").
        let out = "\n    Instantaneous power reading:                   212 Watts\n    Minimum during sampling period:                 98 Watts\n    Maximum during sampling period:                305 Watts\n    Power reading state is:                   activated\n";
        assert_eq!(
            parse_reading(out),
            (Some(212.0), Some("activated".to_string()))
        );
        // An activated 0 is a real reading, not missing.
        assert_eq!(
            parse_reading("Instantaneous power reading: 0 Watts").0,
            Some(0.0)
        );
        assert_eq!(parse_reading("Error: no DCMI support").0, None);
        assert_eq!(
            parse_reading("Instantaneous power reading: lots Watts").0,
            None
        );
    }
}
