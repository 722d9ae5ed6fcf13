//! Host CPU time from `/proc/stat`.
//!
//! The `cpu` line's fields are USER_HZ ticks: user nice system idle iowait irq softirq
//! steal guest guest_nice. Busy = user+nice+system+irq+softirq+steal (guest time is
//! already inside user/nice, so it is not added again); idle = idle+iowait. The `host`
//! row has `cpu_ns` = busy × 1e9 / USER_HZ, `idle_ns` = idle × 1e9 / USER_HZ and `vcpus` =
//! the number of `cpuN` lines. Fields a kernel does not print count as 0 (they did not
//! exist); fewer than the first four is a bad line.

use crate::capture::record::{CpuRow, Flags, Record, Sink, Source, Stop};
use crate::capture::source_kit::{send_bad_lines, FileRead, PolledFile, Ticker};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Ticks of one `cpu` / `cpuN` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CpuTicks {
    /// `cpu` for the total, `cpuN` for one CPU.
    pub name: String,
    /// Non-idle ticks: user+nice+system+irq+softirq+steal.
    pub busy: u64,
    /// Idle ticks: idle+iowait.
    pub idle: u64,
}

/// `/proc/stat`'s CPU lines, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// The aggregate `cpu` line, when present.
    pub total: Option<CpuTicks>,
    /// The `cpuN` lines in order.
    pub per_cpu: Vec<CpuTicks>,
    /// CPU lines that could not be parsed, with the reason.
    pub bad: Vec<(String, String)>,
}

/// Parses the `cpu` lines of `/proc/stat`; other lines (`intr`, `ctxt`, …) are skipped.
pub(crate) fn parse_proc_stat(text: &str) -> ProcStat {
    let mut out = ProcStat::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some(name) = it.next() else { continue };
        let Some(n) = name.strip_prefix("cpu") else {
            continue;
        };
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let vals: Result<Vec<u64>, _> = it.map(str::parse::<u64>).collect();
        let ticks = match vals {
            Ok(v) if v.len() >= 4 => {
                let f = |i: usize| v.get(i).copied().unwrap_or(0);
                // user nice system idle iowait irq softirq steal (guest, guest_nice ignored).
                let busy = [0, 1, 2, 5, 6, 7]
                    .iter()
                    .map(|&i| f(i))
                    .try_fold(0u64, u64::checked_add);
                let idle = f(3).checked_add(f(4));
                match (busy, idle) {
                    (Some(busy), Some(idle)) => CpuTicks {
                        name: name.to_string(),
                        busy,
                        idle,
                    },
                    _ => {
                        out.bad
                            .push((line.to_string(), "tick sum overflows".into()));
                        continue;
                    }
                }
            }
            Ok(v) => {
                out.bad.push((
                    line.to_string(),
                    format!("expected at least 4 tick fields, found {}", v.len()),
                ));
                continue;
            }
            Err(_) => {
                out.bad.push((
                    line.to_string(),
                    "a tick field is not a whole number".into(),
                ));
                continue;
            }
        };
        if n.is_empty() {
            out.total = Some(ticks);
        } else {
            out.per_cpu.push(ticks);
        }
    }
    out
}

/// Ticks to ns at `hz` ticks per second, exact integer arithmetic (`None` on overflow).
pub(crate) fn ticks_to_ns(ticks: u64, hz: u64) -> Option<u64> {
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(hz.max(1))).ok()
}

/// USER_HZ from `getconf CLK_TCK`, or 100 (the value on every common Linux build) when
/// that fails.
pub(crate) fn user_hz() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&h: &u64| h > 0)
        .unwrap_or(100)
}

/// The `procstat` source.
pub(crate) struct ProcStatSource {
    path: PathBuf,
    hz: u64,
    per_cpu: bool,
    every: Duration,
}

impl ProcStatSource {
    /// Reads `path` every `every` with `hz` ticks per second; `per_cpu` adds `cpuN` rows.
    pub(crate) fn new(path: PathBuf, hz: u64, per_cpu: bool, every: Duration) -> Self {
        ProcStatSource {
            path,
            hz,
            per_cpu,
            every,
        }
    }

    fn row(&self, t: &CpuTicks, domain: &str, vcpus: Option<u32>) -> CpuRow {
        let mut row = CpuRow::empty(ID, domain);
        row.cpu_ns = ticks_to_ns(t.busy, self.hz);
        row.idle_ns = ticks_to_ns(t.idle, self.hz);
        row.vcpus = vcpus;
        if row.cpu_ns.is_none() || row.idle_ns.is_none() {
            row.flags.set(Flags::MISSING);
        }
        row
    }
}

const ID: &str = "procstat";

impl Source for ProcStatSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "/proc/stat",
            "path": self.path.display().to_string(),
            "user_hz": self.hz,
            "per_cpu": self.per_cpu,
            "interval_s": self.every.as_secs_f64(),
            "resolution_s": 1.0 / self.hz as f64,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let mut file = PolledFile::open(self.path.clone())?;
        let mut ticker = Ticker::new(self.every);
        while ticker.wait(stop) {
            let (text, after_gap) = match file.read(ID, sink) {
                FileRead::Text { text, after_gap } => (text, after_gap),
                FileRead::Failed => continue,
                FileRead::Closed => return Ok(()),
            };
            let at = sink.clock().now();
            let p = parse_proc_stat(&text);
            let bad_lines = !p.bad.is_empty();
            if !send_bad_lines(sink, ID, at, &p.bad) {
                return Ok(());
            }
            let vcpus = u32::try_from(p.per_cpu.len()).ok().filter(|&n| n > 0);
            let mut rows = Vec::new();
            match &p.total {
                Some(t) => rows.push(self.row(t, "host", vcpus)),
                None => {
                    let mut r = CpuRow::empty(ID, "host");
                    r.vcpus = vcpus;
                    r.flags.set(Flags::MISSING);
                    rows.push(r);
                }
            }
            if self.per_cpu {
                rows.extend(p.per_cpu.iter().map(|t| self.row(t, &t.name, Some(1))));
            }
            for mut r in rows {
                if after_gap {
                    r.flags.set(Flags::GAP);
                }
                if bad_lines {
                    r.flags.set(Flags::BAD_LINE);
                }
                if !sink.send_at(at, Record::Cpu(r)) {
                    return Ok(());
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
    fn cpu_lines() {
        // Synthetic /proc/stat: two CPUs, 10 fields each.
        let text = "cpu  100 20 30 1000 50 5 6 7 40 2\n\
cpu0 60 10 20 500 25 3 4 4 30 1\n\
cpu1 40 10 10 500 25 2 2 3 10 1\n\
intr 12345 0 0\nctxt 999\nbtime 1700000000\nprocs_running 2\n";
        let p = parse_proc_stat(text);
        assert!(p.bad.is_empty());
        // busy = 100+20+30+5+6+7 = 168 (guest 40 and guest_nice 2 are inside user/nice);
        // idle = 1000+50 = 1050.
        assert_eq!(
            p.total,
            Some(CpuTicks {
                name: "cpu".into(),
                busy: 168,
                idle: 1050
            })
        );
        // cpu0 busy = 60+10+20+3+4+4 = 101, idle = 525.
        assert_eq!(p.per_cpu[0].busy, 101);
        assert_eq!(p.per_cpu[0].idle, 525);
        assert_eq!(p.per_cpu.len(), 2);
        // 168 ticks at 100 Hz = 1.68 s = 1_680_000_000 ns; at 250 Hz = 672_000_000 ns.
        assert_eq!(ticks_to_ns(168, 100), Some(1_680_000_000));
        assert_eq!(ticks_to_ns(168, 250), Some(672_000_000));
        assert_eq!(ticks_to_ns(u64::MAX, 1), None);
    }

    #[test]
    fn short_and_bad_lines() {
        // An old kernel with only 4 fields: the rest count as 0. busy = 1+2+3 = 6, idle 4.
        let p = parse_proc_stat("cpu 1 2 3 4\ncpu0 1 2\ncpu1 1 x 3 4\ncpufreq 3\n");
        assert_eq!(p.total.as_ref().map(|t| (t.busy, t.idle)), Some((6, 4)));
        assert!(p.per_cpu.is_empty());
        assert_eq!(p.bad.len(), 2);
        assert!(p.bad[0].1.contains("found 2"));
        assert!(p.bad[1].1.contains("not a whole number"));
    }
}
