//! Reading a capture run directory (`manifest.json`, `power.csv`, `cpu.csv`,
//! `events.jsonl`, `migration.csv`) into typed series.
//!
//! Rows flagged `missing`, `bad_line`, `gap`, `overrange` or `stale` are excluded and
//! counted, never used: such a row's value is absent, unparsed, follows an unknown
//! stretch, is clipped, or repeats an old reading. Malformed files are errors naming
//! `file:line`, the column and what is valid.

use crate::scenario::input::read_input;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flags that make a row unusable for calibration.
pub const EXCLUDING_FLAGS: [&str; 5] = ["missing", "bad_line", "gap", "overrange", "stale"];

/// One usable power sample.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerSample {
    /// End of the meter's averaging window, s since capture start (t_mono_ns / 1e9).
    pub t_s: f64,
    /// Mean power over the window, W.
    pub power_w: f64,
}

/// One usable per-domain CPU sample.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuSample {
    /// When the counter was read, s since capture start.
    pub t_s: f64,
    /// The host the row describes: empty for the metered host; `NAME` for rows whose
    /// `source` is `tool@NAME` (another host's CPU recorded into the same run).
    pub host: String,
    /// Domain name (`Domain-0`, a VM, `host` for /proc/stat rows).
    pub domain: String,
    /// Hypervisor domain id, when known.
    pub domid: Option<u32>,
    /// Cumulative CPU time, ns.
    pub cpu_ns: u64,
    /// False for a row that was flagged or had no counter: kept (with `cpu_ns` 0) only so
    /// that its whole poll is dropped — summing a poll with a domain missing would
    /// undercount the host's busy cores.
    pub ok: bool,
}

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// s since capture start.
    pub t_s: f64,
    /// Dotted kind (`run.start`, `migration.switch`, …).
    pub kind: String,
    /// The VM concerned, if any.
    pub vm: Option<String>,
    /// Extra members.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Line in events.jsonl (1-based), for messages.
    pub line: usize,
}

/// One usable `migration.csv` row (QEMU progress).
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationSample {
    /// s since capture start.
    pub t_s: f64,
    /// The migrating VM.
    pub vm: String,
    /// RAM bytes transferred so far, B.
    pub transferred_b: Option<u64>,
    /// Transfer rate, bit/s.
    pub rate_bps: Option<f64>,
}

/// One usable `freq.csv` row of the metered host.
#[derive(Clone, Debug, PartialEq)]
pub struct FreqSample {
    /// s since capture start.
    pub t_s: f64,
    /// The CPU (`cpu0`, …).
    pub cpu: String,
    /// Its clock, MHz (rounded).
    pub mhz: u64,
}

/// One usable `net.csv` row of the metered host (sources without `@HOST`).
#[derive(Clone, Debug, PartialEq)]
pub struct NetSample {
    /// s since capture start.
    pub t_s: f64,
    /// Interface name.
    pub interface: String,
    /// Cumulative bytes sent, B.
    pub tx_b: u64,
}

/// Rows left out, per file, with the reason counts and the first few line numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Excluded {
    /// (file, reason) → count.
    pub counts: BTreeMap<(String, String), usize>,
    /// (file, line) of the first excluded rows (at most 20), for the report.
    pub first_lines: Vec<(String, usize)>,
}

impl Excluded {
    fn add(&mut self, file: &str, reason: &str, line: usize) {
        *self
            .counts
            .entry((file.to_string(), reason.to_string()))
            .or_default() += 1;
        if self.first_lines.len() < 20 {
            self.first_lines.push((file.to_string(), line));
        }
    }
    /// Total rows excluded.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
    /// One line per (file, reason): `power.csv: 12 rows flagged gap`.
    pub fn lines(&self) -> Vec<String> {
        self.counts
            .iter()
            .map(|((f, r), n)| format!("{f}: {n} rows {r}"))
            .collect()
    }
}

/// A run directory, read.
#[derive(Clone, Debug)]
pub struct Run {
    /// The directory.
    pub dir: PathBuf,
    /// `manifest.json` as written.
    pub manifest: serde_json::Value,
    /// The power source used (the first `source` in power.csv).
    pub power_source: String,
    /// Usable power samples of that source, in time order.
    pub power: Vec<PowerSample>,
    /// Usable CPU samples, in file order.
    pub cpu: Vec<CpuSample>,
    /// Every event, in file order.
    pub events: Vec<Event>,
    /// Usable migration-progress rows.
    pub migration: Vec<MigrationSample>,
    /// Usable network-counter rows (empty when the run has no net.csv).
    pub net: Vec<NetSample>,
    /// Usable freq.csv rows of the metered host, in file order.
    pub freq: Vec<FreqSample>,
    /// What was left out and why.
    pub excluded: Excluded,
}

impl Run {
    /// Distinct core clocks in freq.csv, MHz, ascending (empty without freq.csv).
    pub fn clocks_mhz(&self) -> Vec<u64> {
        let mut c: Vec<u64> = self.freq.iter().map(|f| f.mhz).collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Whether the manifest says the run was made by the simulator, not a testbed.
    pub fn synthetic(&self) -> bool {
        self.manifest
            .get("synthetic")
            .is_some_and(|v| v.as_bool() == Some(true) || v.is_object())
    }

    /// The power meter's averaging window from the manifest (`update_interval_s` of a
    /// meter, `interval_s` of RAPL/IPMI), s; None when the manifest does not say.
    pub fn meter_window_s(&self) -> Option<f64> {
        let sources = self.manifest.get("sources")?.as_array()?;
        let s = sources
            .iter()
            .find(|s| s.get("id").and_then(|v| v.as_str()) == Some(self.power_source.as_str()))?;
        ["update_interval_s", "interval_s"]
            .iter()
            .find_map(|k| s.get(*k).and_then(|v| v.as_f64()))
            .filter(|w| w.is_finite() && *w > 0.0)
    }

    /// A short name for messages: the directory's last component.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }
}

/// Reads a run directory. `manifest.json`, `power.csv`, `cpu.csv` and `events.jsonl`
/// must exist; `migration.csv` is optional.
pub fn read(dir: &Path) -> Result<Run, String> {
    let mpath = dir.join("manifest.json");
    let mtext = read_input(&mpath, "manifest")
        .map_err(|e| format!("{e} (is this a capture run directory?)"))?;
    let manifest: serde_json::Value = serde_json::from_str(&mtext).map_err(|e| {
        format!(
            "{}:{}:{}: not valid JSON: {e}",
            mpath.display(),
            e.line(),
            e.column()
        )
    })?;
    if let Some(f) = manifest.get("format").and_then(|v| v.as_str()) {
        if !f.starts_with("capsim-capture/") {
            return Err(format!(
                "{}: field `format`: `{}`; valid: capsim-capture/1",
                mpath.display(),
                crate::quote::clip(f)
            ));
        }
    }
    let mut excluded = Excluded::default();
    let (power_source, power) = read_power(&dir.join("power.csv"), &mut excluded)?;
    let cpu = read_cpu(&dir.join("cpu.csv"), &mut excluded)?;
    let events = read_events(&dir.join("events.jsonl"))?;
    // Files older captures (or other tools) may not have: absent means no rows.
    type Reader<T> = fn(&Path, &mut Excluded) -> Result<Vec<T>, String>;
    fn optional<T>(p: &Path, ex: &mut Excluded, read: Reader<T>) -> Result<Vec<T>, String> {
        if p.exists() {
            read(p, ex)
        } else {
            Ok(Vec::new())
        }
    }
    let migration = optional(&dir.join("migration.csv"), &mut excluded, read_migration)?;
    let net = optional(&dir.join("net.csv"), &mut excluded, read_net)?;
    let freq = optional(&dir.join("freq.csv"), &mut excluded, read_freq)?;
    Ok(Run {
        net,
        freq,
        dir: dir.to_path_buf(),
        manifest,
        power_source,
        power,
        cpu,
        events,
        migration,
        excluded,
    })
}

/// A CSV file with its header mapped to column indices.
struct Table {
    path: String,
    file: &'static str,
    cols: Vec<String>,
    records: Vec<(usize, csv::StringRecord)>,
}

impl Table {
    fn open(path: &Path, file: &'static str, need: &[&str]) -> Result<Table, String> {
        let p = path.display().to_string();
        let text = read_input(path, file)?;
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let cols: Vec<String> = rdr
            .headers()
            .map_err(|e| format!("{p}:1: bad header: {e}"))?
            .iter()
            .map(str::to_string)
            .collect();
        for n in need {
            if !cols.iter().any(|c| c == n) {
                return Err(format!(
                    "{p}:1: no column `{n}`; a capture's {file} has the columns {}",
                    need.join(",")
                ));
            }
        }
        let mut records = Vec::new();
        for r in rdr.records() {
            let r = r.map_err(|e| {
                let line = e.position().map_or(0, |q| q.line());
                format!("{p}:{line}: not a CSV row: {e}")
            })?;
            let line = r.position().map_or(0, |q| q.line()) as usize;
            if r.len() != cols.len() {
                return Err(format!(
                    "{p}:{line}: {} cells, the header has {}",
                    r.len(),
                    cols.len()
                ));
            }
            records.push((line, r));
        }
        Ok(Table {
            path: p,
            file,
            cols,
            records,
        })
    }

    fn idx(&self, name: &str) -> usize {
        self.cols.iter().position(|c| c == name).unwrap_or(0)
    }

    fn cell<'r>(&self, r: &'r csv::StringRecord, name: &str) -> &'r str {
        r.get(self.idx(name)).unwrap_or("").trim()
    }

    /// A number cell; None when empty.
    fn num<T: std::str::FromStr>(
        &self,
        r: &csv::StringRecord,
        line: usize,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, String> {
        let s = self.cell(r, name);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<T>().map(Some).map_err(|_| {
            format!(
                "{}:{line}: column `{name}`: `{}` is not {what}; valid: {what}, or an empty cell",
                self.path,
                crate::quote::clip(s)
            )
        })
    }

    /// The metered host's rows (sources without `@HOST`; other hosts' rows are skipped)
    /// that are not flagged and carry a number in `col`, as (time s, row, value); flagged
    /// rows and rows without the number are excluded and counted.
    fn local_values<T: std::str::FromStr>(
        &self,
        ex: &mut Excluded,
        col: &str,
        what: &str,
    ) -> Result<Vec<(f64, &csv::StringRecord, T)>, String> {
        let mut out = Vec::new();
        for (line, r) in &self.records {
            let line = *line;
            let t_s = self.t_s(r, line)?;
            if self.cell(r, "source").contains('@') {
                continue;
            }
            if let Some(f) = self.excluding_flag(r) {
                ex.add(self.file, &format!("flagged {f}"), line);
                continue;
            }
            match self.num::<T>(r, line, col, what)? {
                Some(v) => out.push((t_s, r, v)),
                None => ex.add(self.file, &format!("without {col}"), line),
            }
        }
        Ok(out)
    }

    fn t_s(&self, r: &csv::StringRecord, line: usize) -> Result<f64, String> {
        self.num::<u64>(r, line, "t_mono_ns", "a whole number of ns")?
            .map(|n| n as f64 / 1e9)
            .ok_or_else(|| {
                format!(
                    "{}:{line}: column `t_mono_ns` is empty; every row needs its monotonic time (ns)",
                    self.path
                )
            })
    }

    /// The first excluding flag of a row, if any.
    fn excluding_flag(&self, r: &csv::StringRecord) -> Option<&'static str> {
        let flags = self.cell(r, "flags");
        EXCLUDING_FLAGS
            .iter()
            .copied()
            .find(|f| flags.split('|').any(|x| x.trim() == *f))
    }
}

fn read_power(path: &Path, ex: &mut Excluded) -> Result<(String, Vec<PowerSample>), String> {
    let t = Table::open(
        path,
        "power.csv",
        &["t_mono_ns", "source", "power_w", "flags"],
    )?;
    let mut source: Option<String> = None;
    let mut out = Vec::new();
    for (line, r) in &t.records {
        let line = *line;
        let src = t.cell(r, "source").to_string();
        let s = source.get_or_insert_with(|| src.clone());
        if *s != src {
            // A second instrument (e.g. RAPL beside the AC meter) is not mixed in.
            ex.add(t.file, &format!("from another source ({src})"), line);
            continue;
        }
        let t_s = t.t_s(r, line)?;
        if let Some(f) = t.excluding_flag(r) {
            ex.add(t.file, &format!("flagged {f}"), line);
            continue;
        }
        match t.num::<f64>(r, line, "power_w", "a power in W")? {
            Some(p) if p.is_finite() => out.push(PowerSample { t_s, power_w: p }),
            _ => ex.add(t.file, "with no power_w", line),
        }
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let source = source.ok_or_else(|| format!("{}: no power rows", t.path))?;
    Ok((source, out))
}

fn read_cpu(path: &Path, ex: &mut Excluded) -> Result<Vec<CpuSample>, String> {
    let t = Table::open(
        path,
        "cpu.csv",
        &["t_mono_ns", "source", "domain", "domid", "cpu_ns", "flags"],
    )?;
    let mut out = Vec::new();
    for (line, r) in &t.records {
        let line = *line;
        let t_s = t.t_s(r, line)?;
        let domid = t.num::<u32>(r, line, "domid", "a domain id (whole number)")?;
        let flag = t.excluding_flag(r);
        let cpu_ns = if flag.is_some() {
            None
        } else {
            t.num::<u64>(r, line, "cpu_ns", "a whole number of ns")?
        };
        match (flag, cpu_ns) {
            (Some(f), _) => ex.add(t.file, &format!("flagged {f}"), line),
            (None, None) => ex.add(t.file, "with no cpu_ns", line),
            _ => {}
        }
        let host = t
            .cell(r, "source")
            .split_once('@')
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        out.push(CpuSample {
            t_s,
            host,
            domain: t.cell(r, "domain").to_string(),
            domid,
            cpu_ns: cpu_ns.unwrap_or(0),
            ok: cpu_ns.is_some(),
        });
    }
    Ok(out)
}

fn read_migration(path: &Path, ex: &mut Excluded) -> Result<Vec<MigrationSample>, String> {
    let t = Table::open(
        path,
        "migration.csv",
        &["t_mono_ns", "vm", "transferred_b", "rate_bps", "flags"],
    )?;
    let mut out = Vec::new();
    for (line, r) in &t.records {
        let line = *line;
        let t_s = t.t_s(r, line)?;
        if let Some(f) = t.excluding_flag(r) {
            ex.add(t.file, &format!("flagged {f}"), line);
            continue;
        }
        out.push(MigrationSample {
            t_s,
            vm: t.cell(r, "vm").to_string(),
            transferred_b: t.num::<u64>(r, line, "transferred_b", "a whole number of bytes")?,
            rate_bps: t.num::<f64>(r, line, "rate_bps", "a rate in bit/s")?,
        });
    }
    Ok(out)
}

/// The metered host's clock samples in freq.csv (sources without `@HOST`).
fn read_freq(path: &Path, ex: &mut Excluded) -> Result<Vec<FreqSample>, String> {
    let t = Table::open(
        path,
        "freq.csv",
        &["t_mono_ns", "source", "cpu", "freq_hz", "flags"],
    )?;
    Ok(t.local_values::<f64>(ex, "freq_hz", "a clock in Hz")?
        .into_iter()
        .map(|(t_s, r, hz)| FreqSample {
            t_s,
            cpu: t.cell(r, "cpu").to_string(),
            mhz: (hz / 1e6).round() as u64,
        })
        .collect())
}

/// The metered host's NIC counters in net.csv (sources without `@HOST`).
fn read_net(path: &Path, ex: &mut Excluded) -> Result<Vec<NetSample>, String> {
    let t = Table::open(
        path,
        "net.csv",
        &["t_mono_ns", "source", "interface", "tx_b", "flags"],
    )?;
    Ok(
        t.local_values::<u64>(ex, "tx_b", "a whole number of bytes")?
            .into_iter()
            .map(|(t_s, r, tx_b)| NetSample {
                t_s,
                interface: t.cell(r, "interface").to_string(),
                tx_b,
            })
            .collect(),
    )
}

fn read_events(path: &Path) -> Result<Vec<Event>, String> {
    let p = path.display().to_string();
    let text = read_input(path, "events.jsonl")?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(l)
            .map_err(|e| format!("{p}:{line}:{}: not a JSON object: {e}", e.column()))?;
        let t_s = v.get("t_mono_ns").and_then(|x| x.as_u64()).ok_or_else(|| {
            format!("{p}:{line}: member `t_mono_ns` missing or not a whole number of ns")
        })? as f64
            / 1e9;
        let kind = v
            .get("kind")
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("{p}:{line}: member `kind` missing or not a string"))?
            .to_string();
        out.push(Event {
            t_s,
            kind,
            vm: v.get("vm").and_then(|x| x.as_str()).map(str::to_string),
            fields: v
                .get("fields")
                .and_then(|x| x.as_object())
                .cloned()
                .unwrap_or_default(),
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("capsim-runread-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_min(d: &Path, power: &str, cpu: &str, events: &str) {
        std::fs::write(
            d.join("manifest.json"),
            r#"{"format":"capsim-capture/1","sources":[{"id":"wt210","update_interval_s":0.25}]}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("power.csv"),
            format!(
                "t_mono_ns,t_utc,source,power_w,voltage_v,current_a,energy_raw_j,flags\n{power}"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("cpu.csv"),
            format!("t_mono_ns,t_utc,source,domain,domid,cpu_ns,idle_ns,vcpus,state,flags\n{cpu}"),
        )
        .unwrap();
        std::fs::write(d.join("events.jsonl"), events).unwrap();
    }

    #[test]
    fn flagged_rows_are_excluded_and_counted() {
        let d = dir("flags");
        write_min(
            &d,
            "100000000,x,wt210,101.5,,,,\n200000000,x,wt210,,,,,missing\n300000000,x,wt210,99,,,,gap|reconnected\n400000000,x,rapl:package-0,20,,,,\n",
            "100000000,x,xl,Domain-0,0,5,,,,\n100000000,x,xl@dst,Domain-0,0,7,,,,bad_line\n",
            "{\"t_mono_ns\":5,\"kind\":\"mark\",\"vm\":null,\"fields\":{}}\n",
        );
        let r = read(&d).unwrap();
        assert_eq!(r.power_source, "wt210");
        assert_eq!(
            r.power,
            vec![PowerSample {
                t_s: 0.1,
                power_w: 101.5
            }]
        );
        assert_eq!(r.meter_window_s(), Some(0.25));
        // 1 missing + 1 gap + 1 other source in power.csv, 1 bad_line in cpu.csv.
        assert_eq!(r.excluded.total(), 4);
        assert_eq!(r.cpu.len(), 2);
        assert_eq!((r.cpu[0].host.as_str(), r.cpu[0].ok), ("", true));
        assert_eq!((r.cpu[1].host.as_str(), r.cpu[1].ok), ("dst", false));
        assert_eq!(r.events[0].kind, "mark");
        assert!(!r.synthetic());
    }

    #[test]
    fn bad_cells_name_file_line_and_column() {
        let d = dir("bad");
        write_min(&d, "100000000,x,wt210,abc,,,,\n", "", "");
        let e = read(&d).unwrap_err();
        assert!(
            e.contains("power.csv:2: column `power_w`: `abc` is not a power in W"),
            "{e}"
        );
        write_min(&d, "1,x,wt210,1,,,,\n", "", "{\"kind\":\"mark\"}\n");
        let e = read(&d).unwrap_err();
        assert!(e.contains("events.jsonl:1: member `t_mono_ns`"), "{e}");
        std::fs::write(d.join("cpu.csv"), "t_mono_ns,source\n1,xl\n").unwrap();
        let e = read(&d).unwrap_err();
        assert!(e.contains("cpu.csv:1: no column `domain`"), "{e}");
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        let e = read(&d).unwrap_err();
        assert!(e.contains("manifest.json: cannot read"), "{e}");
    }
}
