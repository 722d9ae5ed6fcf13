//! Xen migration phases from domain names alone.
//!
//! `xl migrate` names the receiving domain `<vm>--incoming` while the stream arrives, then
//! renames it `<vm>` and unpauses it; the sender renames its domain `<vm>--migratedaway`
//! once the target has acknowledged the transfer and destroys it after a successful
//! start (or renames it back to `<vm>` on failure). Comparing two polls of the domain list
//! gives these events (fields: `domid`; `side` = `target` or `source` on the last three):
//!
//! | kind | when |
//! |---|---|
//! | `migration.incoming_seen` | `<vm>--incoming` appeared (target: the transfer started) |
//! | `migration.incoming_gone` | `<vm>--incoming` disappeared |
//! | `migration.migratedaway_seen` | `<vm>--migratedaway` appeared (source: transfer acknowledged, handover) |
//! | `migration.migratedaway_gone` | `<vm>--migratedaway` disappeared |
//! | `migration.switch` | the incoming domain (same domid) is now named `<vm>`: the target took over |
//! | `migration.end` | target: right after `migration.switch`; source: `--migratedaway` destroyed |
//! | `migration.failed` | target: `--incoming` vanished without becoming `<vm>`; source: `--migratedaway` renamed back to `<vm>` |
//!
//! A domain already present at the first poll counts as appearing then.

use std::collections::BTreeMap;

/// Suffix of the receiving domain during a transfer.
pub(crate) const INCOMING: &str = "--incoming";
/// Suffix of the sending domain after the target acknowledged the transfer.
pub(crate) const MIGRATEDAWAY: &str = "--migratedaway";

/// One phase observation: event kind, VM, domain id, side (`target`/`source`) if known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Phase {
    /// Event kind, e.g. `migration.switch`.
    pub kind: &'static str,
    /// The VM's base name (without suffix).
    pub vm: String,
    /// The domain id concerned.
    pub domid: u32,
    /// `target` or `source` for switch/end/failed.
    pub side: Option<&'static str>,
}

/// Remembers the previous poll's domains (name → domid).
#[derive(Clone, Debug, Default)]
pub(crate) struct MigrationWatch {
    /// VMs to watch; empty = all.
    vms: Vec<String>,
    prev: BTreeMap<String, u32>,
}

impl MigrationWatch {
    /// Watches `vms` (every VM when empty).
    pub(crate) fn new(vms: Vec<String>) -> Self {
        MigrationWatch {
            vms,
            prev: BTreeMap::new(),
        }
    }

    fn watched(&self, vm: &str) -> bool {
        !vm.is_empty() && (self.vms.is_empty() || self.vms.iter().any(|v| v == vm))
    }

    /// Compares this poll's `(name, domid)` list with the previous one; phases in a fixed
    /// order (appearances, then disappearances with their interpretation).
    pub(crate) fn update<'a>(
        &mut self,
        domains: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Vec<Phase> {
        let cur: BTreeMap<String, u32> = domains
            .into_iter()
            .map(|(n, d)| (n.to_string(), d))
            .collect();
        let mut out = Vec::new();
        let phase = |kind, vm: &str, domid, side| Phase {
            kind,
            vm: vm.to_string(),
            domid,
            side,
        };
        for (name, &domid) in &cur {
            if self.prev.contains_key(name) {
                continue;
            }
            if let Some(vm) = name.strip_suffix(INCOMING).filter(|v| self.watched(v)) {
                out.push(phase("migration.incoming_seen", vm, domid, None));
            }
            if let Some(vm) = name.strip_suffix(MIGRATEDAWAY).filter(|v| self.watched(v)) {
                out.push(phase("migration.migratedaway_seen", vm, domid, None));
            }
        }
        for (name, &domid) in &self.prev {
            if cur.contains_key(name) {
                continue;
            }
            if let Some(vm) = name.strip_suffix(INCOMING).filter(|v| self.watched(v)) {
                out.push(phase("migration.incoming_gone", vm, domid, None));
                if cur.get(vm) == Some(&domid) {
                    out.push(phase("migration.switch", vm, domid, Some("target")));
                    out.push(phase("migration.end", vm, domid, Some("target")));
                } else {
                    out.push(phase("migration.failed", vm, domid, Some("target")));
                }
            }
            if let Some(vm) = name.strip_suffix(MIGRATEDAWAY).filter(|v| self.watched(v)) {
                out.push(phase("migration.migratedaway_gone", vm, domid, None));
                if cur.get(vm) == Some(&domid) {
                    out.push(phase("migration.failed", vm, domid, Some("source")));
                } else {
                    out.push(phase("migration.end", vm, domid, Some("source")));
                }
            }
        }
        self.prev = cur;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(p: &[Phase]) -> Vec<(&'static str, &str, u32, Option<&'static str>)> {
        p.iter()
            .map(|p| (p.kind, p.vm.as_str(), p.domid, p.side))
            .collect()
    }

    #[test]
    fn target_side_success() {
        let mut w = MigrationWatch::new(vec!["vm1".into()]);
        assert!(w.update([("Domain-0", 0)]).is_empty());
        let p = w.update([("Domain-0", 0), ("vm1--incoming", 7)]);
        assert_eq!(kinds(&p), [("migration.incoming_seen", "vm1", 7, None)]);
        assert!(w.update([("Domain-0", 0), ("vm1--incoming", 7)]).is_empty());
        // Renamed in place: same domid 7 now called vm1.
        let p = w.update([("Domain-0", 0), ("vm1", 7)]);
        assert_eq!(
            kinds(&p),
            [
                ("migration.incoming_gone", "vm1", 7, None),
                ("migration.switch", "vm1", 7, Some("target")),
                ("migration.end", "vm1", 7, Some("target")),
            ]
        );
    }

    #[test]
    fn source_side_success_and_failure() {
        let mut w = MigrationWatch::new(vec![]);
        w.update([("Domain-0", 0), ("vm2", 3)]);
        let p = w.update([("Domain-0", 0), ("vm2--migratedaway", 3)]);
        assert_eq!(kinds(&p), [("migration.migratedaway_seen", "vm2", 3, None)]);
        let p = w.update([("Domain-0", 0)]);
        assert_eq!(
            kinds(&p),
            [
                ("migration.migratedaway_gone", "vm2", 3, None),
                ("migration.end", "vm2", 3, Some("source")),
            ]
        );
        // A second attempt that fails: renamed back to vm2 with the same domid 4.
        w.update([("vm2", 4)]);
        w.update([("vm2--migratedaway", 4)]);
        let p = w.update([("vm2", 4)]);
        assert_eq!(
            p[1],
            Phase {
                kind: "migration.failed",
                vm: "vm2".into(),
                domid: 4,
                side: Some("source"),
            }
        );
    }

    #[test]
    fn incoming_destroyed_is_a_failure_and_unwatched_vms_are_ignored() {
        let mut w = MigrationWatch::new(vec!["vm1".into()]);
        let p = w.update([("vm1--incoming", 9), ("vm9--incoming", 10)]);
        assert_eq!(kinds(&p), [("migration.incoming_seen", "vm1", 9, None)]);
        let p = w.update([]);
        assert_eq!(
            kinds(&p),
            [
                ("migration.incoming_gone", "vm1", 9, None),
                ("migration.failed", "vm1", 9, Some("target")),
            ]
        );
        // "--incoming" alone has no VM name: never reported.
        let mut all = MigrationWatch::new(vec![]);
        assert!(all.update([("--incoming", 1)]).is_empty());
    }
}
