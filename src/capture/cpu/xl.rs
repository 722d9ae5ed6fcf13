//! Xen per-domain CPU from `xl list`, run every interval, and migration phases from the
//! domain names it shows (see [`super::xl_migration`]).
//!
//! Columns: `Name ID Mem VCPUs State Time(s)`, separated by runs of spaces and tabs; Mem
//! in MiB, `Time(s)` cumulative CPU seconds with one decimal (so `cpu_ns` is a multiple
//! of 1e8). Fields are taken from the right, so a name may contain spaces. Rows are
//! stamped when `xl list` has finished.

use super::run::{self, RunError};
use super::xl_migration::MigrationWatch;
use crate::capture::record::{CpuRow, Flags, Record, Sink, Source, Stop};
use crate::capture::source_kit::{event, fields, Ticker};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// One domain line of `xl list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XlDomain {
    /// Domain name.
    pub name: String,
    /// Domain id.
    pub domid: u32,
    /// Memory, MiB.
    pub mem_mib: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// State as printed, e.g. `r-----`, `-b----`.
    pub state: String,
    /// Cumulative CPU time, ns (`Time(s)` × 1e9, exact).
    pub cpu_ns: u64,
}

/// `xl list` output, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct XlList {
    /// Domains in order.
    pub domains: Vec<XlDomain>,
    /// Lines that could not be parsed, with the reason.
    pub bad: Vec<(String, String)>,
}

/// Parses `xl list` output. The header is skipped; bad lines are collected.
pub(crate) fn parse_xl_list(text: &str) -> XlList {
    let mut out = XlList::default();
    for line in text.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.is_empty() || (toks[0] == "Name" && toks.get(1) == Some(&"ID")) {
            continue;
        }
        match parse_line(line, &toks) {
            Ok(d) => out.domains.push(d),
            Err(e) => out.bad.push((line.to_string(), e)),
        }
    }
    out
}

fn parse_line(line: &str, toks: &[&str]) -> Result<XlDomain, String> {
    let n = toks.len();
    if n < 6 {
        return Err(format!(
            "expected Name ID Mem VCPUs State Time(s), found {n} fields"
        ));
    }
    let num = |i: usize, what: &str| {
        toks[i]
            .parse::<u64>()
            .map_err(|_| format!("{what} `{}` is not a whole number", toks[i]))
    };
    let domid = num(n - 5, "ID")?;
    let mem_mib = num(n - 4, "Mem")?;
    let vcpus = num(n - 3, "VCPUs")?;
    let state = toks[n - 2];
    if state.len() != 6 || !state.chars().all(|c| "rbpscd-".contains(c)) {
        return Err(format!("`{state}` is not a 6-character xl state"));
    }
    let cpu_ns = decimal_scaled(toks[n - 1], 9)
        .ok_or_else(|| format!("Time(s) `{}` is not a number of seconds", toks[n - 1]))?;
    // The name is everything before the last five fields, so inner spaces survive.
    let mut rest = line.trim_end();
    for _ in 0..5 {
        let cut = rest.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        rest = rest[..cut].trim_end();
    }
    let name = rest.trim();
    if name.is_empty() {
        return Err("no domain name".into());
    }
    Ok(XlDomain {
        name: name.to_string(),
        domid: u32::try_from(domid).map_err(|_| format!("ID {domid} is out of range"))?,
        mem_mib,
        vcpus: u32::try_from(vcpus).map_err(|_| format!("VCPUs {vcpus} is out of range"))?,
        state: state.to_string(),
        cpu_ns,
    })
}

/// Parses a non-negative decimal like `123.4` into integer units of 10^-`scale`, exactly
/// (`decimal_scaled("1.5", 9)` = 1_500_000_000); `None` when it is not such a number.
fn decimal_scaled(s: &str, scale: u32) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > scale as usize {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let f = f.checked_mul(10u64.pow(scale - frac.len() as u32))?;
    i.checked_mul(10u64.pow(scale))?.checked_add(f)
}

/// The `xl` source: polls `xl list`.
pub(crate) struct XlSource {
    program: PathBuf,
    every: Duration,
    watch_vms: Vec<String>,
}

impl XlSource {
    /// Runs `program list` every `every`; reports migration phases of `watch_vms` (all
    /// VMs when empty).
    pub(crate) fn new(program: PathBuf, every: Duration, watch_vms: Vec<String>) -> Self {
        XlSource {
            program,
            every,
            watch_vms,
        }
    }
}

const ID: &str = "xl";

impl Source for XlSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "xl list",
            "program": self.program.display().to_string(),
            "interval_s": self.every.as_secs_f64(),
            "resolution_s": 0.1,
            "migrate_vms": self.watch_vms,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let mut watch = MigrationWatch::new(self.watch_vms.clone());
        let mut ticker = Ticker::new(self.every);
        // A hung `xl` is killed after a few intervals (at least 5 s).
        let timeout = (self.every * 5).max(Duration::from_secs(5));
        let args = vec!["list".to_string()];
        let mut first = true;
        let mut in_gap = false;
        while ticker.wait(stop) {
            let failure = match run::run_once(&self.program, &args, sink.clock(), timeout, stop) {
                Err(RunError::Stopped) => return Ok(()),
                Err(RunError::Spawn(e)) if first => {
                    return Err(format!("cannot run `{} list`: {e}", self.program.display()))
                }
                Err(RunError::Spawn(e)) => Some((format!("cannot run: {e}"), None, None)),
                Err(RunError::Timeout) => Some(("timed out".to_string(), None, None)),
                Ok(o) if !o.status.success() => Some((
                    "xl list failed".to_string(),
                    o.status.code(),
                    Some(o.stderr.trim().to_string()),
                )),
                Ok(o) => {
                    first = false;
                    let list = parse_xl_list(&o.stdout);
                    let after_gap = std::mem::replace(&mut in_gap, false);
                    if after_gap {
                        let ev = event("source.reconnected", ID, None, Default::default(), None);
                        if !sink.send_at(o.at, ev) {
                            return Ok(());
                        }
                    }
                    for (line, e) in &list.bad {
                        let ev = event(
                            "source.bad_line",
                            ID,
                            None,
                            fields([("error", json!(e))]),
                            Some(line),
                        );
                        if !sink.send_at(o.at, ev) {
                            return Ok(());
                        }
                    }
                    for d in &list.domains {
                        let mut row = CpuRow::empty(ID, &d.name);
                        row.domid = Some(d.domid);
                        row.cpu_ns = Some(d.cpu_ns);
                        row.vcpus = Some(d.vcpus);
                        row.state = d.state.clone();
                        if after_gap {
                            row.flags.set(Flags::GAP);
                        }
                        if !sink.send_at(o.at, Record::Cpu(row)) {
                            return Ok(());
                        }
                    }
                    let phases =
                        watch.update(list.domains.iter().map(|d| (d.name.as_str(), d.domid)));
                    for p in phases {
                        let mut f = fields([("domid", json!(p.domid))]);
                        if let Some(side) = p.side {
                            f.insert("side".into(), json!(side));
                        }
                        if !sink.send_at(o.at, event(p.kind, ID, Some(&p.vm), f, None)) {
                            return Ok(());
                        }
                    }
                    None
                }
            };
            if let Some((reason, status, stderr)) = failure {
                first = false;
                if !in_gap {
                    in_gap = true;
                    let f = fields([("reason", json!(reason)), ("status", json!(status))]);
                    if !sink.send(event("source.gap", ID, None, f, stderr.as_deref())) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_with_tabs_spaces_and_bad_lines() {
        // Synthetic: header with tabs before State and Time(s); names left-aligned.
        let text = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
Domain-0                                     0  4096     4     r-----    1234.5\n\
vm1--incoming                                7  2048     2     --p---       0.3\n\
my vm                                       12  1024     1     -b----      56.0\n\
broken line\n\
vm3                                          x  1024     1     -b----      56.0\n\
vm4                                          4  1024     1     -b----      5e1\n";
        let l = parse_xl_list(text);
        assert_eq!(l.domains.len(), 3);
        // 1234.5 s = 1_234_500_000_000 ns.
        assert_eq!(
            l.domains[0],
            XlDomain {
                name: "Domain-0".into(),
                domid: 0,
                mem_mib: 4096,
                vcpus: 4,
                state: "r-----".into(),
                cpu_ns: 1_234_500_000_000,
            }
        );
        assert_eq!(l.domains[1].name, "vm1--incoming");
        assert_eq!(l.domains[1].cpu_ns, 300_000_000);
        assert_eq!(l.domains[2].name, "my vm");
        assert_eq!(l.domains[2].domid, 12);
        assert_eq!(l.bad.len(), 3);
        assert!(l.bad[0].1.contains("found 2 fields"));
        assert!(l.bad[1].1.contains("ID `x`"));
        assert!(l.bad[2].1.contains("Time(s) `5e1`"));
    }

    #[test]
    fn decimals() {
        // "123.4" s in ns: 123 s + 0.4 s = 123_400_000_000 ns.
        assert_eq!(decimal_scaled("123.4", 9), Some(123_400_000_000));
        assert_eq!(decimal_scaled("0", 9), Some(0));
        assert_eq!(decimal_scaled(".5", 3), Some(500));
        assert_eq!(
            decimal_scaled("1.2345", 3),
            None,
            "more digits than the scale"
        );
        assert_eq!(decimal_scaled("-1", 9), None);
        assert_eq!(decimal_scaled("1e3", 9), None);
        assert_eq!(decimal_scaled(".", 9), None);
        assert_eq!(decimal_scaled("99999999999999999999", 9), None, "overflow");
    }
}
