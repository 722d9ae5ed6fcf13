//! Core clocks from Linux cpufreq: `ROOT/cpuN/cpufreq/scaling_cur_freq` (kHz) for every
//! CPU, so a calibration knows which p-state each interval ran at. (On Xen the hypervisor
//! owns frequency scaling and dom0 usually has no cpufreq directory; `xenpm` is the
//! source there, not read here.)

use crate::capture::record::{Flags, FreqRow, Record, Sink, Source, Stop};
use crate::capture::source_kit::{event, fields, Ticker};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ID: &str = "cpufreq";

/// The CPUs under `root` that have a cpufreq `scaling_cur_freq`, in numeric order.
pub(crate) fn cpus(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(u32, String, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_prefix("cpu")?.parse().ok()?;
            let f = e.path().join("cpufreq/scaling_cur_freq");
            f.exists().then_some((n, name, f))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n, p)| (n, p)).collect()
}

/// `scaling_cur_freq` text (kHz) → Hz; None when it is not a whole number.
pub(crate) fn parse_khz(text: &str) -> Option<f64> {
    text.trim().parse::<u64>().ok().map(|k| k as f64 * 1e3)
}

/// The `cpufreq` source.
pub(crate) struct CpuFreqSource {
    root: PathBuf,
    every: Duration,
}

impl CpuFreqSource {
    /// Reads every CPU's clock under `root` (normally /sys/devices/system/cpu) every `every`.
    pub(crate) fn new(root: PathBuf, every: Duration) -> Self {
        CpuFreqSource { root, every }
    }
}

impl Source for CpuFreqSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "cpufreq",
            "root": self.root.display().to_string(),
            "cpus": cpus(&self.root).len(),
            "interval_s": self.every.as_secs_f64(),
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let list = cpus(&self.root);
        if list.is_empty() {
            return Err(format!(
                "{}: no cpuN/cpufreq/scaling_cur_freq (no cpufreq driver, or a Xen dom0 whose \
                 frequency the hypervisor owns)",
                self.root.display()
            ));
        }
        let mut ticker = Ticker::new(self.every);
        while ticker.wait(stop) {
            let at = sink.clock().now();
            for (cpu, path) in &list {
                let mut flags = Flags::none();
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let freq_hz = parse_khz(&text);
                if freq_hz.is_none() {
                    flags.set(Flags::MISSING);
                    if !text.is_empty() {
                        flags.set(Flags::BAD_LINE);
                        let f = fields([("cpu", json!(cpu))]);
                        if !sink.send_at(at, event("source.bad_line", ID, None, f, Some(&text))) {
                            return Ok(());
                        }
                    }
                }
                let row = FreqRow {
                    source: ID.into(),
                    cpu: cpu.clone(),
                    freq_hz,
                    flags,
                };
                if !sink.send_at(at, Record::Freq(row)) {
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
    fn khz_to_hz_and_cpu_discovery() {
        assert_eq!(parse_khz("2667000\n"), Some(2.667e9));
        assert_eq!(parse_khz("<unknown>"), None);
        let root = std::env::temp_dir().join(format!("capsim-cpufreq-{}", std::process::id()));
        for n in [10, 2, 0] {
            let d = root.join(format!("cpu{n}/cpufreq"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("scaling_cur_freq"), "1600000\n").unwrap();
        }
        // Not CPUs, or without cpufreq: skipped.
        std::fs::create_dir_all(root.join("cpufreq")).unwrap();
        std::fs::create_dir_all(root.join("cpu3")).unwrap();
        let names: Vec<String> = cpus(&root).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["cpu0", "cpu2", "cpu10"]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
