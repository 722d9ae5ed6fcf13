//! Migration phases from a run's events.
//!
//! Which event marks what (all on the capture's monotonic clock):
//!
//! | phase boundary | event |
//! |---|---|
//! | start (the command is issued) | `migration.start`, or the `run.start` of a `--run` command containing `migrate` (e.g. `xl migrate`) |
//! | transfer start (setup over, pages flow) | `migration.incoming_seen` (`--xl`: `<vm>--incoming` appeared on the target), or `migration.status` with `status` = `active` (`--qmp`) |
//! | transfer end (target acknowledged) | `migration.migratedaway_seen` (`--xl`: the source renamed its domain `<vm>--migratedaway`), or `migration.status` `completed` |
//! | switch-over (VM runs on the target) | `migration.switch` |
//! | source copy gone | `migration.end` with `side` = `source`, or `migration.migratedaway_gone` |
//!
//! The end of dom0's clean-up has no event: it is found in dom0's CPU (see
//! `migration_fit`). Bytes moved come from a `bytes_sent` member of any of these events,
//! else from the largest `transferred_b` in `migration.csv` for the VM, else from the
//! metered host's `net.csv`: the largest rise of an interface's `tx_b` from the last
//! sample at or before the transfer start to the first at or after its end (wire bytes:
//! protocol headers included, about 3 % more than the payload).

use super::run::{Event, MigrationSample, NetSample};

/// One migration's phase times, s since capture start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Migration {
    /// The VM, when the events name it.
    pub vm: Option<String>,
    /// Start.
    pub start: f64,
    /// Transfer start.
    pub transfer_start: Option<f64>,
    /// Transfer end.
    pub transfer_end: Option<f64>,
    /// Switch-over.
    pub switch: Option<f64>,
    /// Source copy gone.
    pub source_gone: Option<f64>,
    /// Payload bytes sent, B.
    pub bytes: Option<f64>,
    /// Whether a `migration.failed` event closed it.
    pub failed: bool,
}

impl Migration {
    /// Mean payload rate over the transfer, bit/s, when bytes and both ends are known.
    pub fn rate_bps(&self) -> Option<f64> {
        let (a, b, n) = (self.transfer_start?, self.transfer_end?, self.bytes?);
        (b > a).then(|| n * 8.0 / (b - a))
    }
}

fn field_str<'a>(e: &'a Event, k: &str) -> Option<&'a str> {
    e.fields.get(k).and_then(|v| v.as_str())
}

/// The migrations in `events`, in start order. Phase events attach to the latest open
/// migration of the same VM (or the latest open one when either side names no VM).
pub fn migrations(
    events: &[Event],
    progress: &[MigrationSample],
    net: &[NetSample],
) -> Vec<Migration> {
    let mut out: Vec<Migration> = Vec::new();
    for e in events {
        let starts = e.kind == "migration.start"
            || (e.kind == "run.start"
                && field_str(e, "command").is_some_and(|c| c.contains("migrate")));
        if starts {
            // Both a `run.start` and a `migration.start` for the same command count once.
            let dup = out.last().is_some_and(|m| {
                m.transfer_start.is_none() && (e.t_s - m.start).abs() < 1.0 && m.vm == e.vm
            });
            if !dup {
                out.push(Migration {
                    vm: e.vm.clone().or_else(|| vm_from_command(e)),
                    start: e.t_s,
                    ..Default::default()
                });
            }
            continue;
        }
        let same_vm = |m: &Migration| m.vm.is_none() || e.vm.is_none() || m.vm == e.vm;
        if let Some(b) = e.fields.get("bytes_sent").and_then(|v| v.as_f64()) {
            // Bytes may come with the closing event itself (after the source copy is gone).
            if let Some(m) = out.iter_mut().rev().find(|m| same_vm(m)) {
                m.bytes = Some(b);
            }
        }
        let Some(m) = out
            .iter_mut()
            .rev()
            .find(|m| m.source_gone.is_none() && !m.failed && same_vm(m))
        else {
            continue;
        };
        let status = field_str(e, "status");
        let side = field_str(e, "side");
        match e.kind.as_str() {
            "migration.incoming_seen" => {
                m.transfer_start.get_or_insert(e.t_s);
            }
            "migration.status" if status == Some("active") => {
                m.transfer_start.get_or_insert(e.t_s);
            }
            "migration.migratedaway_seen" => {
                m.transfer_end.get_or_insert(e.t_s);
            }
            "migration.status" if status == Some("completed") => {
                m.transfer_end.get_or_insert(e.t_s);
            }
            "migration.switch" => {
                m.switch.get_or_insert(e.t_s);
            }
            "migration.migratedaway_gone" => {
                m.source_gone.get_or_insert(e.t_s);
            }
            "migration.end" if side == Some("source") => {
                m.source_gone.get_or_insert(e.t_s);
            }
            "migration.failed" => m.failed = true,
            _ => {}
        }
    }
    for m in &mut out {
        if m.bytes.is_none() {
            m.bytes = progress
                .iter()
                .filter(|p| m.vm.as_deref().is_none_or(|v| v == p.vm))
                .filter(|p| p.t_s >= m.start && m.source_gone.is_none_or(|g| p.t_s <= g + 1.0))
                .filter_map(|p| p.transferred_b)
                .max()
                .map(|b| b as f64);
        }
        if m.bytes.is_none() {
            if let (Some(a), Some(b)) = (m.transfer_start, m.transfer_end) {
                m.bytes = wire_bytes(net, a, b);
            }
        }
    }
    out
}

/// The largest rise of one interface's sent-byte counter across [a, b], s: from its last
/// sample at or before `a` to its first at or after `b`; None without such a pair.
fn wire_bytes(net: &[NetSample], a: f64, b: f64) -> Option<f64> {
    let mut names: Vec<&str> = net.iter().map(|n| n.interface.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let it = || net.iter().filter(move |n| n.interface == name);
            let before = it()
                .filter(|n| n.t_s <= a)
                .max_by(|x, y| x.t_s.total_cmp(&y.t_s))?;
            let after = it()
                .filter(|n| n.t_s >= b)
                .min_by(|x, y| x.t_s.total_cmp(&y.t_s))?;
            // A counter that went down was reset or wrapped: no usable difference.
            after.tx_b.checked_sub(before.tx_b)
        })
        .max()
        .map(|d| d as f64)
}

/// `xl migrate [options] VM HOST` → VM (the second-to-last word).
fn vm_from_command(e: &Event) -> Option<String> {
    let c = field_str(e, "command")?;
    let w: Vec<&str> = c.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "migrate")?;
    let args: Vec<&str> = w[i + 1..]
        .iter()
        .copied()
        .filter(|x| !x.starts_with('-'))
        .collect();
    (args.len() >= 2).then(|| args[args.len() - 2].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, kind: &str, vm: Option<&str>, fields: serde_json::Value) -> Event {
        Event {
            t_s: t,
            kind: kind.into(),
            vm: vm.map(str::to_string),
            fields: fields.as_object().cloned().unwrap_or_default(),
            line: 0,
        }
    }

    #[test]
    fn xl_phases_in_order() {
        let e = vec![
            ev(
                10.0,
                "run.start",
                None,
                serde_json::json!({"command": "xl migrate --live vm1 dst"}),
            ),
            ev(
                11.5,
                "migration.incoming_seen",
                Some("vm1"),
                serde_json::json!({"domid": 7}),
            ),
            ev(
                17.0,
                "migration.migratedaway_seen",
                Some("vm1"),
                serde_json::json!({"side": "source"}),
            ),
            ev(
                17.2,
                "migration.switch",
                Some("vm1"),
                serde_json::json!({"side": "target"}),
            ),
            ev(
                17.2,
                "migration.end",
                Some("vm1"),
                serde_json::json!({"side": "target"}),
            ),
            ev(
                18.2,
                "migration.end",
                Some("vm1"),
                serde_json::json!({"side": "source", "bytes_sent": 6.6e8}),
            ),
        ];
        let m = migrations(&e, &[], &[]);
        assert_eq!(m.len(), 1);
        let m = &m[0];
        assert_eq!(m.vm.as_deref(), Some("vm1"));
        assert_eq!(
            (
                m.start,
                m.transfer_start,
                m.transfer_end,
                m.switch,
                m.source_gone
            ),
            (10.0, Some(11.5), Some(17.0), Some(17.2), Some(18.2))
        );
        // 6.6e8 B × 8 / 5.5 s = 960 Mbit/s.
        assert!((m.rate_bps().unwrap() - 9.6e8).abs() < 1.0);
        assert!(migrations(&e[1..], &[], &[]).is_empty());
    }

    #[test]
    fn bytes_from_net_counters_when_events_carry_none() {
        // The xl phases without `bytes_sent`; dom0's eth0 sent 1e9 B at 11.4 s and
        // 1.66e9 B at 17.1 s (the samples around the 11.5–17.0 s transfer), so the wire
        // bytes are 6.6e8 and the rate 6.6e8 × 8 / 5.5 s = 960 Mbit/s. `lo` moved less;
        // eth1's counter went down (reset) and is ignored.
        let e = vec![
            ev(10.0, "migration.start", Some("vm1"), serde_json::json!({})),
            ev(
                11.5,
                "migration.incoming_seen",
                Some("vm1"),
                serde_json::json!({}),
            ),
            ev(
                17.0,
                "migration.migratedaway_seen",
                Some("vm1"),
                serde_json::json!({}),
            ),
        ];
        let n = |t: f64, i: &str, tx: u64| NetSample {
            t_s: t,
            interface: i.into(),
            tx_b: tx,
        };
        let net = [
            n(11.3, "eth0", 999_000_000),
            n(11.4, "eth0", 1_000_000_000),
            n(11.4, "lo", 0),
            n(11.4, "eth1", 9_000_000_000),
            n(17.1, "eth0", 1_660_000_000),
            n(17.1, "lo", 1_000),
            n(17.1, "eth1", 5),
            n(17.2, "eth0", 1_700_000_000),
        ];
        let m = migrations(&e, &[], &net);
        assert_eq!(m[0].bytes, Some(6.6e8));
        assert!((m[0].rate_bps().unwrap() - 9.6e8).abs() < 1.0);
        // Without a sample after the transfer's end there is no byte count.
        assert_eq!(migrations(&e, &[], &net[..4])[0].bytes, None);
    }

    #[test]
    fn qmp_phases_and_bytes_from_progress_rows() {
        let e = vec![
            ev(5.0, "migration.start", Some("vm2"), serde_json::json!({})),
            ev(
                5.2,
                "migration.status",
                Some("vm2"),
                serde_json::json!({"status": "setup"}),
            ),
            ev(
                5.4,
                "migration.status",
                Some("vm2"),
                serde_json::json!({"status": "active"}),
            ),
            ev(
                9.4,
                "migration.status",
                Some("vm2"),
                serde_json::json!({"status": "completed"}),
            ),
            ev(
                9.5,
                "migration.end",
                Some("vm2"),
                serde_json::json!({"side": "source"}),
            ),
        ];
        let p = |t: f64, b: u64| MigrationSample {
            t_s: t,
            vm: "vm2".into(),
            transferred_b: Some(b),
            rate_bps: None,
        };
        let m = migrations(&e, &[p(6.0, 1_000), p(9.4, 500_000_000)], &[]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].transfer_start, m[0].transfer_end),
            (Some(5.4), Some(9.4))
        );
        // 5e8 B over 4 s = 1e9 bit/s.
        assert!((m[0].rate_bps().unwrap() - 1e9).abs() < 1.0);
        // `xl migrate -l vm7 host3` names vm7; a failed migration is marked.
        let f = vec![
            ev(
                1.0,
                "run.start",
                None,
                serde_json::json!({"command": "xl migrate -l vm7 host3"}),
            ),
            ev(2.0, "migration.failed", Some("vm7"), serde_json::json!({})),
        ];
        let m = migrations(&f, &[], &[]);
        assert_eq!(m[0].vm.as_deref(), Some("vm7"));
        assert!(m[0].failed);
    }
}
