//! Xen per-domain CPU from a long-running `xentop -b -d SECONDS`.
//!
//! Batch mode prints, every delay, one header line (`NAME STATE CPU(sec) …`) and one line
//! per domain, with no timestamps. A batch is stamped when its header arrives; each domain
//! row is sent as its line arrives. Columns are found from the right of a line (after NAME
//! and STATE come only values, where `no limit` counts as one), so names with spaces and
//! both column sets (19 columns with `VBD_RSECT`/`VBD_WSECT`, or the older 17) parse.
//! `CPU(sec)` is whole seconds (truncated), so `cpu_ns` is a multiple of 1e9. Names are
//! truncated to 10 characters unless `-f` (`--xentop-full-names`) is given.

use super::run::{self, Line, Stream};
use crate::capture::record::{CpuRow, Flags, Record, Sink, Source, Stamp, Stop};
use crate::capture::source_kit::{event, fields, sleep_until};
use serde_json::json;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Where the used columns sit in a line, counted from the left over the header's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Number of columns, NAME and STATE included (19 newer, 17 older).
    pub count: usize,
    /// Index of `CPU(sec)`.
    pub cpu: usize,
    /// Index of `VCPUS`, when present.
    pub vcpus: Option<usize>,
}

impl Columns {
    /// The newer 19-column layout (with VBD_RSECT, VBD_WSECT).
    pub(crate) const NEWER: Columns = Columns {
        count: 19,
        cpu: 2,
        vcpus: Some(8),
    };
    /// The older 17-column layout (e.g. Xen 3.3).
    pub(crate) const OLDER: Columns = Columns {
        count: 17,
        cpu: 2,
        vcpus: Some(8),
    };
}

/// One domain line of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XentopDomain {
    /// Name as printed (possibly truncated to 10 characters).
    pub name: String,
    /// The 6-character state, flags `dscbpr` in that order or `-`.
    pub state: String,
    /// Cumulative CPU time, whole seconds (truncated by xentop).
    pub cpu_s: u64,
    /// Virtual CPUs.
    pub vcpus: Option<u32>,
}

/// What one line of xentop output is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum XentopLine {
    /// A header line: a new batch starts.
    Header(Columns),
    /// A domain.
    Domain(XentopDomain),
    /// Blank lines and the optional per-vCPU / network / VBD detail lines.
    Other,
}

/// The header's columns, or `None` when `line` is not a header.
pub(crate) fn parse_xentop_header(line: &str) -> Option<Columns> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    if toks.first() != Some(&"NAME") || toks.get(1) != Some(&"STATE") {
        return None;
    }
    let cpu = toks.iter().position(|t| *t == "CPU(sec)")?;
    Some(Columns {
        count: toks.len(),
        cpu,
        vcpus: toks.iter().position(|t| *t == "VCPUS"),
    })
}

/// Classifies and parses one line. Without a header yet (`cols` = `None`) both known
/// layouts are tried. `Err` says why a line that should be a domain could not be read.
pub(crate) fn parse_xentop_line(line: &str, cols: Option<Columns>) -> Result<XentopLine, String> {
    if let Some(c) = parse_xentop_header(line) {
        return Ok(XentopLine::Header(c));
    }
    let t = line.trim_start();
    if t.is_empty() {
        return Ok(XentopLine::Other);
    }
    let result = match cols {
        Some(c) => parse_domain(line, c),
        None => parse_domain(line, Columns::NEWER).or_else(|_| parse_domain(line, Columns::OLDER)),
    };
    match result {
        Ok(d) => Ok(XentopLine::Domain(d)),
        // Detail lines of -v / -n / -x, which capsim does not ask for but tolerates.
        Err(_)
            if ["VCPUs(sec):", "Net", "VBD "]
                .iter()
                .any(|p| t.starts_with(p)) =>
        {
            Ok(XentopLine::Other)
        }
        Err(e) => Err(e),
    }
}

/// Parses a domain line from the right: `count − 2` values, then STATE, then NAME.
fn parse_domain(line: &str, c: Columns) -> Result<XentopDomain, String> {
    // Tokens with their byte offsets, so NAME keeps its inner spaces.
    let mut toks: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, ch) in line.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(s)) => {
                toks.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        toks.push((s, &line[s..]));
    }
    let want = c.count.saturating_sub(2);
    let mut values: Vec<&str> = Vec::with_capacity(want);
    let mut i = toks.len();
    while values.len() < want {
        if i == 0 {
            return Err(format!(
                "expected {} columns after NAME and STATE, found {}",
                want,
                values.len()
            ));
        }
        i -= 1;
        if toks[i].1 == "limit" && i > 0 && toks[i - 1].1 == "no" {
            i -= 1;
            values.push("no limit");
        } else {
            values.push(toks[i].1);
        }
    }
    values.reverse();
    if i < 2 {
        return Err("no NAME and STATE before the values".into());
    }
    let (state_at, state) = toks[i - 1];
    if state.len() != 6 || !state.chars().all(|ch| "dscbpr-".contains(ch)) {
        return Err(format!("`{state}` is not a 6-character xentop state"));
    }
    let name = line[..state_at].trim();
    let cpu_tok = values[c.cpu - 2];
    let cpu_s = cpu_tok
        .parse::<u64>()
        .map_err(|_| format!("CPU(sec) `{cpu_tok}` is not a whole number of seconds"))?;
    let vcpus = match c.vcpus {
        Some(v) if v >= 2 => {
            let tok = values[v - 2];
            Some(
                tok.parse::<u32>()
                    .map_err(|_| format!("VCPUS `{tok}` is not a count"))?,
            )
        }
        _ => None,
    };
    Ok(XentopDomain {
        name: name.to_string(),
        state: state.to_string(),
        cpu_s,
        vcpus,
    })
}

/// A whole batch, parsed. Only the tests parse whole batches: the source takes lines
/// one at a time as they arrive.
#[cfg(test)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct XentopBatch {
    /// The header's columns, when there was one.
    pub columns: Option<Columns>,
    /// Domain lines in order.
    pub domains: Vec<XentopDomain>,
    /// Lines that could not be parsed, with the reason.
    pub bad: Vec<(String, String)>,
}

/// Parses one batch (a header and its domain lines). Bad lines are collected, not fatal.
#[cfg(test)]
pub(crate) fn parse_xentop_batch(text: &str) -> XentopBatch {
    let mut b = XentopBatch::default();
    for line in text.lines() {
        match parse_xentop_line(line, b.columns) {
            Ok(XentopLine::Header(c)) => b.columns = Some(c),
            Ok(XentopLine::Domain(d)) => b.domains.push(d),
            Ok(XentopLine::Other) => {}
            Err(e) => b.bad.push((line.to_string(), e)),
        }
    }
    b
}

/// The `xentop` source: one child for the whole capture, restarted if it dies.
pub(crate) struct XentopSource {
    program: PathBuf,
    delay_s: u64,
    full_names: bool,
}

impl XentopSource {
    /// Runs `program -b -d ⌈interval⌉` (whole seconds, at least 1), with `-f` if asked.
    pub(crate) fn new(program: PathBuf, interval: Duration, full_names: bool) -> Self {
        let delay_s = interval.as_secs() + u64::from(interval.subsec_nanos() > 0);
        XentopSource {
            program,
            delay_s: delay_s.max(1),
            full_names,
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a = vec!["-b".to_string(), "-d".to_string(), self.delay_s.to_string()];
        if self.full_names {
            a.push("-f".into());
        }
        a
    }
}

const ID: &str = "xentop";

impl Source for XentopSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "xentop",
            "program": self.program.display().to_string(),
            "args": self.args(),
            "interval_s": self.delay_s,
            "resolution_s": 1,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let mut first = true;
        let mut restart_flags = Flags::none();
        let mut backoff = Duration::from_millis(250);
        while !stop.requested() {
            let (mut child, rx) = match run::spawn_lines(&self.program, &self.args(), sink.clock())
            {
                Ok(c) => c,
                Err(e) if first => {
                    return Err(format!("cannot start `{}`: {e}", self.program.display()))
                }
                Err(e) => {
                    // Could not restart: keep trying, a little slower each time.
                    let _ = sink.send(event(
                        "source.gap",
                        ID,
                        None,
                        fields([("reason", json!(format!("cannot restart: {e}")))]),
                        None,
                    ));
                    if !sleep_until(std::time::Instant::now() + backoff, stop) {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if !first {
                let _ = sink.send(event(
                    "source.reconnected",
                    ID,
                    None,
                    fields([("program", json!(self.program.display().to_string()))]),
                    None,
                ));
            }
            first = false;
            let mut batch = Batch::default();
            let mut lines_seen = 0usize;
            loop {
                if stop.requested() {
                    run::kill(&mut child);
                    return Ok(());
                }
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => {
                        lines_seen += 1;
                        if !self.on_line(line, &mut batch, &mut restart_flags, sink) {
                            run::kill(&mut child);
                            return Ok(());
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            // Both pipes closed: the child is gone (or going).
            let status = child.wait().ok().and_then(|s| s.code());
            let _ = sink.send(event(
                "source.gap",
                ID,
                None,
                fields([
                    ("reason", json!("xentop exited")),
                    ("status", json!(status)),
                ]),
                None,
            ));
            restart_flags = Flags::none();
            restart_flags.set(Flags::GAP);
            restart_flags.set(Flags::RECONNECTED);
            // A child that printed nothing is failing at once: back off further.
            backoff = if lines_seen == 0 {
                (backoff * 2).min(Duration::from_secs(5))
            } else {
                Duration::from_millis(250)
            };
            if !sleep_until(std::time::Instant::now() + backoff, stop) {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The batch being received.
#[derive(Default)]
struct Batch {
    columns: Option<Columns>,
    stamp: Option<Stamp>,
    /// Flags every row of this batch carries (gap/reconnected after a restart).
    flags: Flags,
}

impl XentopSource {
    /// Handles one line; `false` once the writer is gone.
    fn on_line(&self, line: Line, batch: &mut Batch, pending: &mut Flags, sink: &Sink) -> bool {
        if line.stream == Stream::Err {
            return sink.send_at(
                line.at,
                event(
                    "source.stderr",
                    ID,
                    None,
                    Default::default(),
                    Some(&line.text),
                ),
            );
        }
        match parse_xentop_line(&line.text, batch.columns) {
            Ok(XentopLine::Header(c)) => {
                batch.columns = Some(c);
                batch.stamp = Some(line.at);
                // The restart flags mark the first batch after the restart only.
                batch.flags = std::mem::take(pending);
                true
            }
            Ok(XentopLine::Domain(d)) => {
                let mut row = CpuRow::empty(ID, &d.name);
                row.cpu_ns = d.cpu_s.checked_mul(1_000_000_000);
                row.vcpus = d.vcpus;
                row.state = d.state;
                row.flags = batch.flags.clone();
                if batch.stamp.is_none() {
                    // Rows before any header: the restart flags go on these.
                    row.flags = std::mem::take(pending);
                }
                let at = batch.stamp.unwrap_or(line.at);
                sink.send_at(at, Record::Cpu(row))
            }
            Ok(XentopLine::Other) => true,
            Err(e) => sink.send_at(
                line.at,
                event(
                    "source.bad_line",
                    ID,
                    None,
                    fields([("error", json!(e))]),
                    Some(&line.text),
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Synthetic lines in the documented layout: NAME right-aligned in 10 chars, then
    // STATE, CPU(sec), CPU(%), MEM(k), MEM(%), MAXMEM(k), MAXMEM(%), VCPUS, NETS,
    // NETTX(k), NETRX(k), VBDS, VBD_OO, VBD_RD, VBD_WR, [VBD_RSECT, VBD_WSECT,] SSID.
    const NEW_HEADER: &str = "      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR  VBD_RSECT  VBD_WSECT SSID";
    const OLD_HEADER: &str = "      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR SSID";

    #[test]
    fn headers() {
        assert_eq!(parse_xentop_header(NEW_HEADER), Some(Columns::NEWER));
        assert_eq!(parse_xentop_header(OLD_HEADER), Some(Columns::OLDER));
        assert_eq!(parse_xentop_header("  Domain-0 -----r"), None);
    }

    #[test]
    fn newer_batch_with_no_limit_and_dashes() {
        let text = format!(
            "{NEW_HEADER}\n  Domain-0 -----r       4321    2.5    4194304   12.5   no limit       n/a     4    0        0        0    0        0        0        0          0          0    0\n       vm1 --b---        987   99.1    2097152    6.2    2098176       6.3     2    1       15       27    1        0       12       34        -          -    0\n"
        );
        let b = parse_xentop_batch(&text);
        assert!(b.bad.is_empty(), "{:?}", b.bad);
        assert_eq!(b.columns, Some(Columns::NEWER));
        assert_eq!(
            b.domains,
            vec![
                XentopDomain {
                    name: "Domain-0".into(),
                    state: "-----r".into(),
                    cpu_s: 4321,
                    vcpus: Some(4),
                },
                XentopDomain {
                    name: "vm1".into(),
                    state: "--b---".into(),
                    cpu_s: 987,
                    vcpus: Some(2),
                },
            ]
        );
    }

    #[test]
    fn older_layout_truncated_and_spaced_names() {
        // A 10-character (truncated) name starts at column 0; a name with a space keeps it.
        let text = format!(
            "{OLD_HEADER}\nvm1--incom --p---          3    0.0    1048576    3.1    1049600       3.1     1    0        0        0    0        0        0        0    0\n   my vm 2 --b---         55    1.0    1048576    3.1    1049600       3.1     2    0        0        0    0        0        0        0    0\n"
        );
        let b = parse_xentop_batch(&text);
        assert!(b.bad.is_empty(), "{:?}", b.bad);
        assert_eq!(b.columns, Some(Columns::OLDER));
        assert_eq!(b.domains[0].name, "vm1--incom");
        assert_eq!(b.domains[0].state, "--p---");
        assert_eq!(b.domains[0].cpu_s, 3);
        assert_eq!(b.domains[1].name, "my vm 2");
        assert_eq!(b.domains[1].vcpus, Some(2));
    }

    #[test]
    fn without_a_header_both_layouts_are_tried() {
        // 17-column line with no header before it.
        let line = "       vm2 --b---         12    0.4     524288    1.6     525312       1.6     1    0        0        0    0        0        0        0    0";
        match parse_xentop_line(line, None).unwrap() {
            XentopLine::Domain(d) => {
                assert_eq!((d.name.as_str(), d.cpu_s, d.vcpus), ("vm2", 12, Some(1)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let text = format!(
            "{NEW_HEADER}\ngarbage\n       vm1 --b---      x987   99.1    2097152    6.2    2098176       6.3     2    1       15       27    1        0       12       34        -          -    0\n       vm1 running        987   99.1    2097152    6.2    2098176       6.3     2    1       15       27    1        0       12       34        -          -    0\n\nVCPUs(sec):   0:          5s  1:          6s\n"
        );
        let b = parse_xentop_batch(&text);
        assert!(b.domains.is_empty());
        assert_eq!(b.bad.len(), 3);
        assert!(b.bad[0].1.contains("expected 17 columns"), "{}", b.bad[0].1);
        assert!(b.bad[1].1.contains("CPU(sec) `x987`"), "{}", b.bad[1].1);
        assert!(b.bad[2].1.contains("xentop state"), "{}", b.bad[2].1);
    }

    #[test]
    fn delay_rounds_up_to_whole_seconds() {
        // 1.5 s → 2 s; 100 ms → at least 1 s; 3 s stays 3.
        let d = |ms| XentopSource::new("xentop".into(), Duration::from_millis(ms), false).delay_s;
        assert_eq!((d(1500), d(100), d(3000)), (2, 1, 3));
        let full = XentopSource::new("xentop".into(), Duration::from_secs(1), true);
        assert_eq!(full.args(), ["-b", "-d", "1", "-f"]);
    }
}
