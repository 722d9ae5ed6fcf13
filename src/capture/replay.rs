//! Replays a recorded power trace at its recorded pace (or faster), so the capture
//! pipeline can be exercised without hardware.
//!
//! Two formats are recognised by their header: capsim's own `power.csv`
//! (`t_mono_ns,t_utc,source,power_w,voltage_v,current_a,energy_raw_j,flags`) and a
//! yokotool-style `T,P,V,I` CSV (T in epoch seconds, P in W, V in V, I in A; spaces for
//! alignment allowed). Rows are re-stamped on the capture clock when they are replayed.

use super::record::{Flags, PowerRow, Record, Sink, Source, Stop};
use super::source_kit::{event, sleep_until};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// capsim `power.csv`.
    Capsim,
    /// yokotool `T,P,V,I`.
    Yokotool,
}

/// One parsed line: seconds since the first row, the row, and a bad-line note.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    /// Recorded time, s (absolute; the replay uses differences).
    pub t_s: Option<f64>,
    /// The row to emit.
    pub row: PowerRow,
    /// The raw line when it could not be fully parsed.
    pub bad: Option<String>,
}

fn opt(s: &str) -> Result<Option<f64>, ()> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("nan") {
        return Ok(None);
    }
    let v: f64 = s.parse().map_err(|_| ())?;
    Ok(if v.is_finite() && v.abs() < super::meter::NO_DATA {
        Some(v)
    } else {
        None
    })
}

/// Known flag names, so replayed flags keep their `&'static str` form.
const KNOWN_FLAGS: [&str; 7] = [
    Flags::MISSING,
    Flags::GAP,
    Flags::RECONNECTED,
    Flags::BAD_LINE,
    Flags::OVERRANGE,
    Flags::WRAPPED,
    Flags::STALE,
];

/// Detects the format from a header line.
fn detect(header: &str) -> Option<Format> {
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if cols.first().map(String::as_str) == Some("t_mono_ns") && cols.iter().any(|c| c == "power_w")
    {
        Some(Format::Capsim)
    } else if cols.len() >= 2 && cols[0] == "t" && cols[1] == "p" {
        Some(Format::Yokotool)
    } else {
        None
    }
}

/// Parses one data line of `fmt`.
fn parse_line(fmt: Format, line: &str) -> Line {
    let f: Vec<&str> = line.split(',').collect();
    let mut flags = Flags::none();
    let bad = |flags: &mut Flags| {
        flags.set(Flags::BAD_LINE);
        flags.set(Flags::MISSING);
        Line {
            t_s: None,
            row: PowerRow {
                source: "replay".into(),
                power_w: None,
                voltage_v: None,
                current_a: None,
                energy_raw_j: None,
                flags: flags.clone(),
            },
            bad: Some(line.to_string()),
        }
    };
    match fmt {
        Format::Capsim => {
            if f.len() != 8 {
                return bad(&mut flags);
            }
            let t = f[0].trim().parse::<u64>().ok().map(|n| n as f64 * 1e-9);
            let vals = (opt(f[3]), opt(f[4]), opt(f[5]), opt(f[6]));
            let (Some(t), (Ok(p), Ok(v), Ok(i), Ok(e))) = (t, vals) else {
                return bad(&mut flags);
            };
            for name in f[7].trim().split('|').filter(|s| !s.is_empty()) {
                if let Some(k) = KNOWN_FLAGS.iter().find(|k| **k == name) {
                    flags.set(k);
                }
            }
            Line {
                t_s: Some(t),
                row: PowerRow {
                    source: format!("replay:{}", f[2].trim()),
                    power_w: p,
                    voltage_v: v,
                    current_a: i,
                    energy_raw_j: e,
                    flags,
                },
                bad: None,
            }
        }
        Format::Yokotool => {
            if f.len() < 2 {
                return bad(&mut flags);
            }
            let t = f[0].trim().parse::<f64>().ok();
            let get = |k: usize| f.get(k).map(|s| opt(s)).unwrap_or(Ok(None));
            let (Some(t), Ok(p), Ok(v), Ok(i)) = (t, get(1), get(2), get(3)) else {
                return bad(&mut flags);
            };
            if p.is_none() {
                flags.set(Flags::MISSING);
            }
            Line {
                t_s: Some(t),
                row: PowerRow {
                    source: "replay".into(),
                    power_w: p,
                    voltage_v: v,
                    current_a: i,
                    energy_raw_j: None,
                    flags,
                },
                bad: None,
            }
        }
    }
}

/// The replay source.
pub struct ReplaySource {
    path: PathBuf,
    speed: f64,
    format: Format,
    lines: Vec<String>,
    replayed: u64,
    bad: u64,
}

impl ReplaySource {
    /// Reads `path` and checks its header; `speed` > 0 (2 = twice as fast).
    pub fn new(path: &Path, speed: f64) -> Result<Self, String> {
        if !(speed > 0.0 && speed.is_finite()) {
            return Err(format!(
                "--replay-speed {speed}: must be a positive number (1 = recorded pace)"
            ));
        }
        let text = crate::scenario::input::read_input(path, "power trace")
            .map_err(|e| format!("--replay {e}"))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let format = detect(header).ok_or_else(|| {
            format!(
                "--replay {}: line 1: header `{header}` is neither capsim's power.csv (t_mono_ns,…,power_w,…) nor yokotool's T,P,V,I",
                path.display()
            )
        })?;
        Ok(ReplaySource {
            path: path.to_path_buf(),
            speed,
            format,
            lines: lines
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect(),
            replayed: 0,
            bad: 0,
        })
    }
}

impl Source for ReplaySource {
    fn id(&self) -> String {
        "replay".into()
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "replay",
            "file": self.path.display().to_string(),
            "format": match self.format { Format::Capsim => "capsim power.csv", Format::Yokotool => "yokotool T,P,V,I" },
            "speed": self.speed,
            "rows_in_file": self.lines.len(),
            "replayed": self.replayed,
            "bad_lines": self.bad,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let start = Instant::now();
        let mut t0: Option<f64> = None;
        for k in 0..self.lines.len() {
            let line = parse_line(self.format, &self.lines[k]);
            if let Some(t) = line.t_s {
                let first = *t0.get_or_insert(t);
                let due = Duration::from_secs_f64(((t - first) / self.speed).max(0.0));
                let wait = due.saturating_sub(start.elapsed());
                if !sleep_until(Instant::now() + wait, stop) {
                    return Ok(());
                }
            } else if stop.requested() {
                return Ok(());
            }
            let at = sink.clock().now();
            if let Some(raw) = line.bad {
                self.bad += 1;
                let ev = event(
                    "source.bad_line",
                    "replay",
                    None,
                    Default::default(),
                    Some(&raw),
                );
                sink.send_at(at, ev);
            }
            self.replayed += 1;
            if !sink.send_at(at, Record::Power(line.row)) {
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
    fn yokotool_rows_with_alignment_spaces() {
        assert_eq!(
            detect("T,         P,        V,      I"),
            Some(Format::Yokotool)
        );
        let l = parse_line(Format::Yokotool, "1700000000.1,    101.5,   230.1, 0.4412");
        assert_eq!(l.t_s, Some(1_700_000_000.1));
        assert_eq!(l.row.power_w, Some(101.5));
        assert_eq!(l.row.current_a, Some(0.4412));
        assert!(l.bad.is_none());
        let l = parse_line(Format::Yokotool, "1700000000.2, 9.91e+037, 230, 0.4");
        assert_eq!(l.row.power_w, None);
        assert!(l.row.flags.has(Flags::MISSING));
        let l = parse_line(Format::Yokotool, "garbage");
        assert!(l.row.flags.has(Flags::BAD_LINE));
        assert_eq!(l.bad.as_deref(), Some("garbage"));
    }

    #[test]
    fn capsim_rows_keep_flags() {
        let h = "t_mono_ns,t_utc,source,power_w,voltage_v,current_a,energy_raw_j,flags";
        assert_eq!(detect(h), Some(Format::Capsim));
        let l = parse_line(
            Format::Capsim,
            "1500000000,2026-01-01T00:00:01.5Z,wt210,,230,0.5,,missing|gap",
        );
        assert_eq!(l.t_s, Some(1.5));
        assert_eq!(l.row.source, "replay:wt210");
        assert_eq!(l.row.power_w, None);
        assert_eq!(l.row.flags.cell(), "missing|gap");
    }
}
