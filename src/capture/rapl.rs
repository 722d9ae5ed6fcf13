//! Intel RAPL energy counters through the powercap sysfs tree (capture notes §3.4).
//!
//! Every `intel-rapl*` zone under the root (default `/sys/class/powercap`) is read each
//! interval: `energy_uj` is stored raw (as J in `energy_raw_j`), and power is derived from
//! successive counters, across a wraparound by Kepler's rule
//! `delta = (max_energy_range_uj − prev) + cur` when the counter went backwards. Zones
//! overlap (package ⊇ core + uncore): never sum them.

use super::record::{Flags, PowerRow, Record, Sink, Source, Stamp, Stop};
use super::source_kit::{event, sleep_until};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default powercap root.
pub(crate) const DEFAULT_ROOT: &str = "/sys/class/powercap";

/// One RAPL zone.
#[derive(Clone, Debug)]
struct Zone {
    dir: PathBuf,
    /// Source id: `rapl:package-0`, `rapl:package-0/core`, `rapl-mmio:package-0`.
    id: String,
    max_uj: u64,
    prev: Option<(u64, Stamp)>,
    read_errors: u64,
    wraps: u64,
}

/// Energy (µJ) consumed between two counter readings, and whether the counter wrapped.
/// `None` when the counter went backwards with no known range.
fn delta_uj(prev: u64, cur: u64, max_uj: u64) -> Option<(u64, bool)> {
    if cur >= prev {
        Some((cur - prev, false))
    } else if max_uj > 0 && prev <= max_uj {
        Some(((max_uj - prev) + cur, true))
    } else {
        None
    }
}

fn read_u64(p: &Path) -> Result<u64, String> {
    let s = fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{}: `{}` is not an integer", p.display(), s.trim()))
}

fn read_name(dir: &Path) -> String {
    fs::read_to_string(dir.join("name"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The RAPL source.
pub struct RaplSource {
    root: PathBuf,
    interval: Duration,
    zones: Vec<Zone>,
}

impl RaplSource {
    /// Finds the zones under `root`; an error when there is none or none is readable.
    pub fn new(root: &Path, interval: Duration) -> Result<Self, String> {
        let entries = fs::read_dir(root)
            .map_err(|e| format!("--rapl {}: cannot list powercap zones: {e}", root.display()))?;
        let mut dirs: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
            .filter(|(n, _)| n.starts_with("intel-rapl:") || n.starts_with("intel-rapl-mmio:"))
            .collect();
        dirs.sort();
        let mut zones = Vec::new();
        for (name, dir) in &dirs {
            // intel-rapl:0:1 → parent intel-rapl:0.
            let parts: Vec<&str> = name.split(':').collect();
            let prefix = if parts[0] == "intel-rapl-mmio" {
                "rapl-mmio"
            } else {
                "rapl"
            };
            let mut id = format!("{prefix}:{}", read_name(dir));
            if parts.len() > 2 {
                let parent = root.join(parts[..2].join(":"));
                id = format!("{prefix}:{}/{}", read_name(&parent), read_name(dir));
            }
            let energy = dir.join("energy_uj");
            if let Err(e) = read_u64(&energy) {
                return Err(format!(
                    "--rapl: {e} (energy_uj is root-only on Linux ≥ 5.10; run as root or relax its permissions)"
                ));
            }
            let max_uj = read_u64(&dir.join("max_energy_range_uj")).unwrap_or(0);
            zones.push(Zone {
                dir: dir.clone(),
                id,
                max_uj,
                prev: None,
                read_errors: 0,
                wraps: 0,
            });
        }
        if zones.is_empty() {
            return Err(format!(
                "--rapl {}: no intel-rapl zones found (is the intel_rapl module loaded?)",
                root.display()
            ));
        }
        Ok(RaplSource {
            root: root.to_path_buf(),
            interval,
            zones,
        })
    }
}

impl Source for RaplSource {
    fn id(&self) -> String {
        "rapl".into()
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "Intel RAPL (powercap)",
            "root": self.root.display().to_string(),
            "interval_s": self.interval.as_secs_f64(),
            "power": "derived from successive energy_uj readings over the t_mono_ns interval; first row per zone has no power (missing)",
            "zones": self.zones.iter().map(|z| serde_json::json!({
                "id": z.id, "dir": z.dir.display().to_string(),
                "max_energy_range_uj": z.max_uj, "wraps": z.wraps, "read_errors": z.read_errors,
            })).collect::<Vec<_>>(),
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        loop {
            for z in &mut self.zones {
                let at = sink.clock().now();
                let mut flags = Flags::none();
                let mut power = None;
                let raw = match read_u64(&z.dir.join("energy_uj")) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        z.read_errors += 1;
                        let ev =
                            event("source.bad_line", &z.id, None, Default::default(), Some(&e));
                        sink.send_at(at, ev);
                        flags.set(Flags::BAD_LINE);
                        None
                    }
                };
                if let Some(cur) = raw {
                    if let Some((prev, t0)) = z.prev {
                        let dt = at.mono_ns.saturating_sub(t0.mono_ns) as f64 * 1e-9;
                        match delta_uj(prev, cur, z.max_uj) {
                            Some((d, wrapped)) if dt > 0.0 => {
                                if wrapped {
                                    z.wraps += 1;
                                    flags.set(Flags::WRAPPED);
                                }
                                power = Some(d as f64 * 1e-6 / dt);
                            }
                            _ => {}
                        }
                    }
                    z.prev = Some((cur, at));
                }
                if power.is_none() {
                    flags.set(Flags::MISSING);
                }
                let row = PowerRow {
                    source: z.id.clone(),
                    power_w: power,
                    voltage_v: None,
                    current_a: None,
                    energy_raw_j: raw.map(|v| v as f64 * 1e-6),
                    flags,
                };
                if !sink.send_at(at, Record::Power(row)) {
                    return Ok(());
                }
            }
            if !sleep_until(Instant::now() + self.interval, stop) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraparound_by_kepler_rule() {
        // Kepler's realistic range 262_143_328_850 µJ; counter at 262_143_000_000 then 500_000:
        // (262_143_328_850 − 262_143_000_000) + 500_000 = 328_850 + 500_000 = 828_850 µJ.
        assert_eq!(
            delta_uj(262_143_000_000, 500_000, 262_143_328_850),
            Some((828_850, true))
        );
        assert_eq!(delta_uj(100, 350, 1000), Some((250, false)));
        // Backwards with no range known: no power rather than a bogus one.
        assert_eq!(delta_uj(100, 50, 0), None);
    }
}
