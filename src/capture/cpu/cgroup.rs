//! Linux/KVM per-VM CPU from cgroup v2 `cpu.stat`.
//!
//! `usage_usec` (cumulative CPU time of the group and its descendants, µs) becomes
//! `cpu_ns` = usage_usec × 1000. VMs are either named on the command line (NAME=PATH) or
//! discovered every poll as the `machine.slice/*.scope` groups that libvirt and
//! systemd-machined create; `machine-qemu\x2d1\x2dvm1.scope` is VM `vm1` with libvirt
//! domain id 1. `vcpus` counts libvirt's `libvirt/vcpuN` sub-groups when present.

use crate::capture::record::{CpuRow, Flags, Record, Sink, Source, Stop};
use crate::capture::source_kit::{event, fields, Ticker};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `cpu.stat` fields capsim reads (µs, cumulative); absent ones are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuStat {
    /// Total CPU time, µs.
    pub usage_usec: Option<u64>,
    /// User CPU time, µs.
    pub user_usec: Option<u64>,
    /// System CPU time, µs.
    pub system_usec: Option<u64>,
}

/// Parses `cpu.stat` (`key value` lines). Unknown keys are ignored (kernels add fields);
/// a known key with a non-numeric value is an error.
pub(crate) fn parse_cpu_stat(text: &str) -> Result<CpuStat, String> {
    let mut s = CpuStat::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let slot = match k {
            "usage_usec" => &mut s.usage_usec,
            "user_usec" => &mut s.user_usec,
            "system_usec" => &mut s.system_usec,
            _ => continue,
        };
        *slot = Some(
            v.parse()
                .map_err(|_| format!("cpu.stat `{k}` has a non-numeric value `{v}`"))?,
        );
    }
    Ok(s)
}

/// A VM name and libvirt domain id from a scope directory name, after systemd's `\xHH`
/// unescaping: `machine-qemu\x2d1\x2dvm1.scope` → (`vm1`, Some(1)),
/// `machine-foo.scope` → (`foo`, None); `None` for anything that is not a machine scope.
pub(crate) fn vm_from_scope(dir: &str) -> Option<(String, Option<u32>)> {
    let inner = dir.strip_suffix(".scope")?;
    let name = unescape(inner);
    let rest = name.strip_prefix("machine-")?;
    if let Some(q) = rest.strip_prefix("qemu-") {
        if let Some((id, vm)) = q.split_once('-') {
            if let (Ok(id), false) = (id.parse::<u32>(), vm.is_empty()) {
                return Some((vm.to_string(), Some(id)));
            }
        }
    }
    (!rest.is_empty()).then(|| (rest.to_string(), None))
}

/// Undoes systemd unit-name escaping (`\x2d` → `-`); malformed escapes are kept as is.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            // Bytes, not a str slice: the next two may be part of a multi-byte character.
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Number of `vcpuN` sub-groups under `group/libvirt`, when that directory exists.
fn count_vcpus(group: &Path) -> Option<u32> {
    let rd = std::fs::read_dir(group.join("libvirt")).ok()?;
    let n = rd
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix("vcpu")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
        })
        .count();
    u32::try_from(n).ok()
}

/// The `cgroup` source.
pub(crate) struct CgroupSource {
    root: PathBuf,
    explicit: Vec<(String, PathBuf)>,
    every: Duration,
}

impl CgroupSource {
    /// Reads `explicit` groups (NAME, absolute PATH) every `every`, or when there are none
    /// the scopes discovered under `root/machine.slice`.
    pub(crate) fn new(root: PathBuf, explicit: Vec<(String, PathBuf)>, every: Duration) -> Self {
        CgroupSource {
            root,
            explicit,
            every,
        }
    }

    /// The VMs of this poll: name → (group path, domain id).
    fn groups(&self) -> Result<BTreeMap<String, (PathBuf, Option<u32>)>, String> {
        if !self.explicit.is_empty() {
            return Ok(self
                .explicit
                .iter()
                .map(|(n, p)| (n.clone(), (p.clone(), None)))
                .collect());
        }
        let slice = self.root.join("machine.slice");
        let rd = std::fs::read_dir(&slice).map_err(|e| format!("{}: {e}", slice.display()))?;
        let mut out = BTreeMap::new();
        for e in rd.filter_map(Result::ok) {
            let dir = e.file_name().to_string_lossy().into_owned();
            if let Some((vm, id)) = vm_from_scope(&dir) {
                out.insert(vm, (e.path(), id));
            }
        }
        Ok(out)
    }
}

const ID: &str = "cgroup";

impl Source for CgroupSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "cgroup v2 cpu.stat",
            "root": self.root.display().to_string(),
            "vms": self.explicit.iter().map(|(n, p)| json!({"name": n, "path": p.display().to_string()})).collect::<Vec<_>>(),
            "discovery": if self.explicit.is_empty() { "machine.slice/*.scope" } else { "none" },
            "interval_s": self.every.as_secs_f64(),
            "resolution_s": 1e-6,
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        if self.explicit.is_empty() && !self.root.join("machine.slice").is_dir() {
            // Not fatal: libvirt creates machine.slice with the first VM.
            let f = fields([(
                "reason",
                json!(format!(
                    "{}/machine.slice does not exist yet",
                    self.root.display()
                )),
            )]);
            sink.send(event("source.gap", ID, None, f, None));
        }
        let mut known: BTreeMap<String, Option<u32>> = BTreeMap::new();
        // VMs whose last read failed: their next good row carries `gap`.
        let mut failing: BTreeSet<String> = BTreeSet::new();
        let mut ticker = Ticker::new(self.every);
        while ticker.wait(stop) {
            let groups = self.groups().unwrap_or_default();
            if self.explicit.is_empty() {
                for (vm, (_, id)) in &groups {
                    if !known.contains_key(vm) {
                        let f = fields([("domid", json!(id))]);
                        if !sink.send(event("cpu.domain_seen", ID, Some(vm), f, None)) {
                            return Ok(());
                        }
                    }
                }
                for (vm, id) in &known {
                    if !groups.contains_key(vm) {
                        let f = fields([("domid", json!(id))]);
                        if !sink.send(event("cpu.domain_gone", ID, Some(vm), f, None)) {
                            return Ok(());
                        }
                    }
                }
                known = groups.iter().map(|(k, (_, id))| (k.clone(), *id)).collect();
            }
            for (vm, (path, id)) in &groups {
                let file = path.join("cpu.stat");
                let read = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))
                    .and_then(|t| parse_cpu_stat(&t));
                let mut row = CpuRow::empty(ID, vm);
                row.domid = *id;
                row.vcpus = count_vcpus(path);
                match read {
                    Ok(s) => {
                        row.cpu_ns = s.usage_usec.and_then(|u| u.checked_mul(1000));
                        if row.cpu_ns.is_none() {
                            row.flags.set(Flags::MISSING);
                        }
                        if failing.remove(vm) {
                            row.flags.set(Flags::GAP);
                        }
                    }
                    Err(e) => {
                        if !self.explicit.is_empty() || path.exists() {
                            row.flags.set(Flags::MISSING);
                            if failing.insert(vm.clone()) {
                                let f = fields([("reason", json!(e))]);
                                if !sink.send(event("source.gap", ID, Some(vm), f, None)) {
                                    return Ok(());
                                }
                            }
                        } else {
                            // A discovered VM that vanished between listing and reading.
                            continue;
                        }
                    }
                }
                if !sink.send(Record::Cpu(row)) {
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
    fn cpu_stat_fields() {
        // Synthetic cpu.stat with the cpu controller's extra fields.
        let s = parse_cpu_stat(
            "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
        )
        .unwrap();
        assert_eq!(
            s,
            CpuStat {
                usage_usec: Some(1_500_000),
                user_usec: Some(1_000_000),
                system_usec: Some(500_000),
            }
        );
        assert_eq!(parse_cpu_stat("user_usec 3\n").unwrap().usage_usec, None);
        assert!(parse_cpu_stat("usage_usec lots\n")
            .unwrap_err()
            .contains("usage_usec"));
    }

    #[test]
    fn scope_names() {
        assert_eq!(
            vm_from_scope(r"machine-qemu\x2d1\x2dvm1.scope"),
            Some(("vm1".into(), Some(1)))
        );
        // A dash inside the VM name is escaped too and survives.
        assert_eq!(
            vm_from_scope(r"machine-qemu\x2d12\x2dweb\x2d01.scope"),
            Some(("web-01".into(), Some(12)))
        );
        assert_eq!(
            vm_from_scope("machine-box.scope"),
            Some(("box".into(), None))
        );
        assert_eq!(vm_from_scope("machine-.scope"), None);
        assert_eq!(vm_from_scope("user.slice"), None);
        assert_eq!(vm_from_scope("session-3.scope"), None);
        assert_eq!(unescape(r"a\xZZb\x"), r"a\xZZb\x");
        // `\x` before a multi-byte character is not an escape (and must not panic).
        assert_eq!(unescape("a\\xé1"), "a\\xé1");
    }
}
