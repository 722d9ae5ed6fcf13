//! Acceptance tests of the capping policies, through the whole simulator, on the shipped
//! rack examples (scenarios/rack/capping-*.toml) and on a harsher variant of their world.
//!
//! The shared world (every capping example; only `[policy]` differs): rack-a (8 ×
//! i7-920-xen34, 4 one-vCPU VMs each: `web-*` priority 1 and `batch-*` priority 0) is capped
//! at 1200 W; its VMs want 30 % of a core, 100 % from 300 s to 900 s, 30 % after. Rack-b
//! (8 hosts, one `quiet-*` VM at 20 % each) has room. Both racks: 10 A × 230 V = 2300 W,
//! IEC 60898 curve C; the row above them 32 A × 230 V = 7360 W. Control period 1 s, DVFS
//! latency 1.02 ms (1 ms command delivery + 20 µs transition), quota latency 16 ms (1 ms +
//! Xen's mean 15 ms wait for its credit accounting), idle latency 1 ms + half
//! powerclamp's injection interval (6 ms / (2 × fraction): 30 ms at 10 %, 15 ms at 20 %,
//! 10 ms at 30 %, 7.5 ms at 40 %), migration 100 ms (the `[policy]` defaults). What the policies see (src/model/meter.rs defaults): each rack's PDU meter
//! and each server's BMC report 1 s means every second, delivered 1 s later, so the tick
//! at t s sees the means over (t − 2, t − 1]; the hypervisor's CPU counters are read at
//! once, so the tick at t sees each VM's CPU over (t − 1, t]. The overload that starts
//! at 300 s is first seen at the 302 s tick.
//!
//! Numbers used throughout (models/servers/i7-920-xen34.toml, checked in
//! `the_i7_920_model_gives_the_powers_used_here`): idle 100 W, 4 cores, 17 W per busy core
//! at P0, 9.17 W at P8 (the slowest), 10.07 W at P7, NIC 3.5 W per Gbps.
//! - 30 % phase: 4 VMs × 0.3 = 1.2 busy cores: 100 + 1.2 × 17 = 120.4 W; rack 963.2 W.
//! - 100 % phase: 4 busy cores: 100 + 4 × 17 = 168 W; rack 8 × 168 = 1344 W, 144 W over.
//! - Pre-copy on a saturated source: the sender's 0.488 core (17 µs × 28,686.5 pages/s)
//!   is taken from the guests (4 cores are busy either way); the NIC adds
//!   3.5 W × 0.94 Gbps = 3.29 W.
//!
//! Every expected value is worked out by hand in the comment beside its assertion.
//! The examples are run once each (1200 s, 100 ms rows, device columns only) and shared
//! between tests; the migration examples dominate the run time.

use capsim::app::{run_command, RunOptions};
use capsim::model::meter::MeterSpec;
use capsim::model::Thermal;
use capsim::policy::PolicyConfig;
use capsim::scenario::{load_file, Library, Scenario};
use capsim::sim::{run, RunResult};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Every shipped capping example.
const EXAMPLES: [&str; 10] = [
    "capping-none.toml",
    "capping-dvfs.toml",
    "capping-group-dvfs.toml",
    "capping-thunderbolt.toml",
    "capping-idle.toml",
    "capping-migration.toml",
    "capping-migration-postcopy.toml",
    "capping-headroom.toml",
    "capping-power-aware-migration.toml",
    "capping-dvfs-then-migration.toml",
];

/// Row interval of the shared runs, ns.
const ROW_NS: u64 = 100_000_000;

const S: u64 = 1_000_000_000;

fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn scenario(file: &str) -> Scenario {
    let p = crate_path("scenarios/rack").join(file);
    load_file(&p, &Library::new(vec![]))
        .unwrap_or_else(|e| panic!("{} should load, got: {e}", p.display()))
}

/// A shipped example run to its end with 100 ms rows of the device columns only; each
/// example runs once per test binary and is shared.
fn example(file: &'static str) -> &'static RunResult {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static OnceLock<RunResult>>>> =
        OnceLock::new();
    let cell: &'static OnceLock<RunResult> = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(file)
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    cell.get_or_init(|| {
        let mut sc = scenario(file);
        sc.output.interval_ns = ROW_NS;
        sc.output.servers = false;
        sc.output.vms = false;
        run(&sc)
    })
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, expected {expected} ± {tol}"
    );
}

fn device<'a>(r: &'a RunResult, name: &str) -> &'a capsim::output::summary::DeviceSummary {
    r.summary
        .devices
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no device `{name}` in the summary"))
}

/// A column as (row end, ns; value), each value the exact average over the row interval.
fn column(r: &RunResult, name: &str) -> Vec<(u64, f64)> {
    r.timeseries
        .column(name)
        .unwrap_or_else(|| panic!("no column `{name}`"))
        .into_iter()
        .map(|(t, v)| ((t * 1e9).round() as u64, v))
        .collect()
}

/// The 100 ms rows lying entirely inside [from_ns, to_ns].
fn rows_within(col: &[(u64, f64)], from_ns: u64, to_ns: u64) -> Vec<(u64, f64)> {
    col.iter()
        .copied()
        .filter(|&(t, _)| t >= from_ns + ROW_NS && t <= to_ns)
        .collect()
}

/// The value of the row ending exactly at `t_ns`.
fn row_ending_at(col: &[(u64, f64)], t_ns: u64) -> f64 {
    col.iter()
        .find(|&&(t, _)| t == t_ns)
        .unwrap_or_else(|| panic!("no row ends at {} s", t_ns as f64 / 1e9))
        .1
}

fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}

/// The value of `key=` in an event's detail.
fn detail_f64(detail: &str, key: &str) -> f64 {
    detail
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no `{key}=` in `{detail}`"))
        .parse()
        .unwrap_or_else(|e| panic!("`{key}` in `{detail}`: {e}"))
}

/// A unique, empty scratch directory under the system temp dir.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-policy-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn read_dir_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 0. The model numbers everything below relies on
// ---------------------------------------------------------------------------------------

#[test]
fn the_i7_920_model_gives_the_powers_used_here() {
    let sc = scenario("capping-none.toml");
    let a1 = sc
        .servers
        .iter()
        .find(|s| s.name == "a-1")
        .expect("server a-1");
    let pm = &a1.model.power;
    assert_eq!(pm.cores, 4);
    assert_eq!(pm.pstates.len(), 9, "P0..P8");
    close(pm.idle_w(), 100.0, 1e-9, "idle");
    // 100 + 4 × 17 = 168 W with every core busy at P0.
    close(pm.peak_w(), 168.0, 1e-9, "peak");
    close(pm.power_w(4.0, 0, 0.0), 168.0, 1e-9, "4 busy cores at P0");
    // 30 % phase: 1.2 busy cores → 100 + 1.2 × 17 = 120.4 W.
    close(pm.power_w(1.2, 0, 0.0), 120.4, 1e-9, "1.2 busy cores at P0");
    // Slowest p-state: 100 + 4 × 9.17 = 136.68 W; P7: 100 + 4 × 10.07 = 140.28 W.
    close(pm.power_w(4.0, 8, 0.0), 136.68, 1e-9, "4 busy cores at P8");
    close(pm.power_w(4.0, 7, 0.0), 140.28, 1e-9, "4 busy cores at P7");
    close(pm.nic_w_per_gbps, 3.5, 1e-12, "NIC W per Gbps");
    // rack-a: 1200 W cap, 10 A; the row: 32 A, 230 V.
    let dev = |n: &str| sc.devices.iter().find(|d| d.name == n).unwrap();
    assert_eq!(dev("rack-a").cap_w, Some(1200.0));
    assert_eq!(dev("rack-a").rating_a, Some(10.0));
    assert_eq!(dev("row").rating_a, Some(32.0));
    close(
        dev("row").electrical.watts(32.0),
        7360.0,
        1e-9,
        "row rating power",
    );
}

// ---------------------------------------------------------------------------------------
// 1. Violations and settling
// ---------------------------------------------------------------------------------------

#[test]
fn none_violates_for_exactly_the_600_s_of_overload() {
    let r = example("capping-none.toml");
    assert_eq!(r.summary.policy, "none");
    let a = device(r, "rack-a");
    // 1344 W from 300 s to 900 s, 963.2 W otherwise: one episode of 600 s,
    // (1344 − 1200) × 600 = 86,400 J over the cap, (1344 − 1200) / 1200 = 12 % overshoot.
    assert_eq!(a.violations.episodes, 1);
    close(
        a.violations.seconds_over_cap,
        600.0,
        1e-9,
        "seconds over cap",
    );
    close(
        a.violations.energy_over_cap_j,
        86_400.0,
        1e-6,
        "energy over cap",
    );
    close(
        a.violations.peak_overshoot_pct,
        12.0,
        1e-9,
        "peak overshoot",
    );
    close(a.peak_w, 1344.0, 1e-9, "peak");
    // The time series agrees row by row: 6000 rows of 1344 W inside the overload, 963.2 W
    // in the 3000 + 3000 rows outside it.
    let col = column(r, "rack-a.power_w");
    assert_eq!(col.len(), 12_000, "1200 s / 0.1 s");
    let (mut inside, mut outside) = (0, 0);
    for &(t, p) in &col {
        if t > 300 * S && t <= 900 * S {
            close(p, 1344.0, 1e-6, &format!("rack-a at {} s", t as f64 / 1e9));
            inside += 1;
        } else {
            close(p, 963.2, 1e-6, &format!("rack-a at {} s", t as f64 / 1e9));
            outside += 1;
        }
    }
    assert_eq!((inside, outside), (6000, 6000));
    // Nothing else is over a cap, and nothing happened.
    assert_eq!(device(r, "rack-b").violations.episodes, 0);
    assert!(
        r.event_rows().is_empty(),
        "no policy events: {:?}",
        &r.event_rows()[..3.min(r.event_rows().len())]
    );
}

/// rack-a stays at or under its cap in every 100 ms row from `settled_ns` to 900 s;
/// returns how many rows that was.
fn under_cap_from(r: &RunResult, settled_ns: u64) -> usize {
    let col = column(r, "rack-a.power_w");
    let rows = rows_within(&col, settled_ns, 900 * S);
    for &(t, p) in &rows {
        assert!(
            p <= 1200.0 + 1e-9,
            "{}: rack-a at {:.1} s is {p} W, over its 1200 W cap after settling at {} s",
            r.summary.policy,
            t as f64 / 1e9,
            settled_ns as f64 / 1e9
        );
    }
    rows.len()
}

#[test]
fn dvfs_feedback_brings_rack_a_under_its_cap_within_its_settling_time() {
    let sc = scenario("capping-dvfs.toml");
    let setup = sc.policy.as_ref().expect("a [policy]");
    let PolicyConfig::DvfsFeedback(cfg) = &setup.config else {
        panic!(
            "capping-dvfs.toml should configure dvfs, got {:?}",
            setup.config
        )
    };
    // Settling: the BMC's first reading of the overload, (300, 301], is visible at
    // 301 + 1 s delay = 302 s, the tick then; DVFS takes 1.02 ms more. Its estimate uses
    // the DVFS table, so one step (`settling_periods` = 2 periods of reading and acting)
    // suffices: rack-a must be ≤ 1200 W from 302.00102 s on.
    assert_eq!(setup.period_ns, S);
    assert_eq!(setup.latencies.dvfs_ns, 1_020_000);
    let bmc = setup.sensors.bmc;
    assert_eq!((bmc.window_ns, bmc.period_ns, bmc.delay_ns), (S, S, S));
    let settle_ns = cfg.settling_periods() as u64 * setup.period_ns + setup.latencies.dvfs_ns;
    assert_eq!(
        settle_ns,
        bmc.window_ns + bmc.delay_ns + setup.latencies.dvfs_ns
    );
    assert_eq!(settle_ns, 2_001_020_000);
    let r = example("capping-dvfs.toml");
    assert_eq!(r.summary.policy, "dvfs");
    // 100 ms rows lying inside [302.00102 s, 900 s]: the first is (302.1, 302.2], the last
    // (899.9, 900]: (900 − 302.2) / 0.1 + 1 = 5979 rows.
    assert_eq!(under_cap_from(r, 300 * S + settle_ns), 5979);
    let a = device(r, "rack-a");
    // One excursion, no longer than the settling time.
    assert_eq!(a.violations.episodes, 1);
    assert!(
        a.violations.seconds_over_cap <= 2.00102 + 1e-9,
        "over cap for {} s",
        a.violations.seconds_over_cap
    );
    // Where it settles: each server's budget is 0.95 × 1200 / 8 = 142.5 W, i.e. 42.5 W of
    // dynamic power for 4 busy cores = 10.625 W per core; the fastest p-state under that
    // is P7 (10.07 W; P6 is 10.99 W): 8 × (100 + 4 × 10.07) = 1122.24 W from 302.00102 s.
    // But the 303 s tick still sees the BMC's (301, 302] mean, 168 W, above the act band
    // (142.5 / 0.95 = 150 W), and steps each server once more, to P8, at 303.00102 s. From
    // the 304 s tick on it sees 140.31 W ((302, 303]: 0.00102 s × 168 + 0.99898 s × 140.28),
    // then 136.72 and 136.68 W, inside the hold band (135 W, 150 W]: it stays at P8,
    // 8 × (100 + 4 × 9.17) = 1093.44 W. (The stale reading costs one step: the policy
    // does not wait for its own change to show in the readings.)
    let col = column(r, "rack-a.power_w");
    close(
        row_ending_at(&col, 302 * S + 200 * 1_000_000),
        1122.24,
        1e-6,
        "rack-a at 302.2 s",
    );
    close(
        row_ending_at(&col, 600 * S),
        1093.44,
        1e-6,
        "rack-a at 600 s",
    );
    // Demand is work: at P8 each VM runs 0.6 of the core-second per second that arrives
    // (at P7 from 302.00102 s, 0.65), so at 900 s it owes (1 − 1.7333/2.6667) × 1 s +
    // (1 − 1.6/2.6667) × 596.99898 s = 0.35 + 238.80 = 239.15 core-s. After 900 s its work
    // arrives at 0.3 core-s/s but it keeps its core busy to catch up, so every server
    // still reads 136.68 W, in the hold band, and stays at P8: 1093.44 W at the end
    // (963.2 W had the work been thrown away), each VM owing 239.15 − (0.6 − 0.3) × 300 =
    // 149.15 core-s.
    close(
        row_ending_at(&col, 1200 * S),
        1093.44,
        1e-6,
        "rack-a at 1200 s",
    );
    let ff7 = 1.7333 / 2.6667;
    let ff8 = 1.6 / 2.6667;
    let owed = (1.0 - ff7) + (1.0 - ff8) * 596.99898 - (ff8 - 0.3) * 300.0;
    for v in r.summary.vms.iter().filter(|v| v.host.starts_with("a-")) {
        close(v.backlog_at_end_core_s, owed, 1e-6, &v.name);
    }
}

#[test]
fn group_dvfs_brings_rack_a_under_its_cap_within_the_same_settling_time() {
    let r = example("capping-group-dvfs.toml");
    assert_eq!(r.summary.policy, "group-dvfs");
    // It acts on the first rack reading over the cap (the (300, 301] mean, visible at
    // 302 s); its estimate uses the exact DVFS table, so it needs the same 2.00102 s as the
    // per-server controller: ≤ 1200 W from 302.00102 s on.
    assert_eq!(under_cap_from(r, 302 * S + 1_020_000), 5979);
    let a = device(r, "rack-a");
    assert_eq!(a.violations.episodes, 1);
    // 1344 W from 300 s until the p-states change at 302.00102 s: 2.00102 s over the cap,
    // 2.00102 × 144 = 288.14688 J.
    close(
        a.violations.seconds_over_cap,
        2.00102,
        1e-9,
        "seconds over cap",
    );
    close(
        a.violations.energy_over_cap_j,
        288.14688,
        1e-6,
        "energy over cap",
    );
    // It aims at 0.95 × 1200 = 1140 W: to save 1344 − 1140 = 204 W. Every server hosts a
    // priority-1 VM (one priority group) and reads 168 W (one 10 W bucket), so the cut is
    // spread evenly, in index order, each server taking the fastest p-state whose saving
    // 68 × (1 − core_w/17) covers its share of what is left (P7 27.72 W, P6 24.04 W):
    // a-1 204/8 = 25.5 → P7; a-2 176.28/7 = 25.18 → P7; a-3 148.56/6 = 24.76 → P7; a-4
    // 120.84/5 = 24.17 → P7; a-5 93.12/4 = 23.28 → P6; a-6 69.08/3 = 23.03 → P6; a-7
    // 45.04/2 = 22.52 → P6; a-8 21.0 → P6: 1344 − 4 × 27.72 − 4 × 24.04 = 1136.96 W from
    // 302.00102 s. The 303 s tick still reads (301, 302] = 1344 W and the BMCs' 168 W, so
    // it cuts another 204 W: each share (25.5 W and more) exceeds what one more step
    // saves (P7 → P8: 68 × (1 − 9.17/10.07) = 6.08 W; P6 → P8: 11.26 W), so every server
    // goes to P8 from 303.00102 s, 8 × 136.68 = 1093.44 W. Then it reads 1137.17 W
    // ((302, 303]: 0.00102 × 1344 + 0.99898 × 1136.96), then 1093.49 and 1093.44 W, all in
    // the hold band (1080 W, 1200 W]: it stays there.
    let col = column(r, "rack-a.power_w");
    close(
        row_ending_at(&col, 302 * S + 200 * 1_000_000),
        1136.96,
        1e-6,
        "rack-a at 302.2 s",
    );
    close(
        row_ending_at(&col, 600 * S),
        1093.44,
        1e-6,
        "rack-a at 600 s",
    );
    // As under per-server DVFS the VMs still owe work at the end (a-1's at P7 for 1 s,
    // then P8: (1 − 0.65) × 1 + (1 − 0.6) × 596.99898 − (0.6 − 0.3) × 300 = 149.15 core-s
    // each), so every server stays at P8, in the hold band, instead of 963.2 W.
    close(
        row_ending_at(&col, 1200 * S),
        1093.44,
        1e-6,
        "rack-a at 1200 s",
    );
    let ff7 = 1.7333 / 2.6667;
    let ff8 = 1.6 / 2.6667;
    let owed = (1.0 - ff7) + (1.0 - ff8) * 596.99898 - (ff8 - 0.3) * 300.0;
    for v in r.summary.vms.iter().filter(|v| v.host == "a-1") {
        close(v.backlog_at_end_core_s, owed, 1e-6, &v.name);
    }
}

/// The first migration's summary row.
fn first_migration(r: &RunResult) -> &capsim::output::summary::MigrationSummary {
    r.summary
        .migrations
        .iter()
        .min_by(|a, b| a.start_s.total_cmp(&b.start_s))
        .expect("at least one migration")
}

#[test]
fn precopy_migration_raises_rack_power_before_it_relieves_it() {
    let r = example("capping-migration.toml");
    assert_eq!(r.summary.policy, "migration");
    let rows = r.event_rows();
    let first_event = rows
        .iter()
        .find(|e| e.kind == "migration_start")
        .expect("a migration_start event");
    let m = first_migration(r);
    let start = secs_to_ns(m.start_s);
    assert_eq!(start, first_event.time_ns);
    // The rack is over its cap from 300 s (its (300, 301] reading visible at 302 s) and
    // the dwell is 5 s: command at the 307 s tick, started after the 100 ms migration
    // latency.
    assert_eq!(start, 307_100_000_000);
    assert!(m.from.starts_with("a-") && m.to.starts_with("b-"), "{m:?}");
    let col = column(r, "rack-a.power_w");
    // Just before: every rack-a server busy, 1344 W.
    let before = row_ending_at(&col, start);
    close(
        before,
        1344.0,
        1e-9,
        "rack-a just before the first migration",
    );
    // In the next 5 s (setup ends, pages flow) the source's NIC adds
    // 3.5 W × 0.94 Gbps = 3.29 W; its cores were all busy already, so dom0's half core
    // displaces guest CPU and adds nothing: at least +3.0 W.
    let rise = rows_within(&col, start, start + 5 * S)
        .into_iter()
        .map(|(_, p)| p)
        .fold(f64::MIN, f64::max);
    assert!(
        rise >= before + 3.0,
        "pre-copy should first raise rack-a above {before} W (+3.29 W of NIC), max was {rise} W"
    );
    // Once the VM has switched over and the source copy and dom0's clean-up are done
    // (end_s), its core is free: the rack falls below where it started (by 17 W with the
    // source otherwise idle).
    let switch = secs_to_ns(m.switch_s.expect("switched over"));
    let end = secs_to_ns(m.end_s.expect("ended"));
    assert!(
        switch > start + 5 * S,
        "the rise window ends before the switch-over"
    );
    let fall = rows_within(&col, switch, end + 2 * S)
        .into_iter()
        .map(|(_, p)| p)
        .fold(f64::MAX, f64::min);
    assert!(
        fall < before - 1.0,
        "after the switch-over rack-a should fall below {before} W, min was {fall} W"
    );
}

#[test]
fn postcopy_migration_relieves_rack_power_at_once() {
    let r = example("capping-migration-postcopy.toml");
    let m = first_migration(r);
    let start = secs_to_ns(m.start_s);
    assert_eq!(
        start, 307_100_000_000,
        "dwell 5 s after the 302 s tick + 100 ms latency"
    );
    let col = column(r, "rack-a.power_w");
    let before = row_ending_at(&col, start);
    close(
        before,
        1344.0,
        1e-9,
        "rack-a just before the first migration",
    );
    // The switch comes 0.12 s after the start (100 ms setup + 20 ms switch): from then on
    // the VM's busy core (17 W) is gone from its saturated source. What the source still
    // spends serving the destination's page faults is bounded by the fault rate of one
    // vCPU, 1 / 300 µs = 3333 faults/s: 3333 × 50 µs = 0.167 core = 2.83 W, plus
    // 3333 × 32,768 bit = 0.109 Gbps × 3.5 W = 0.38 W: at most 3.22 W. So over the second
    // that starts 0.2 s after the start, the rack's mean is at least 17 − 3.22 = 13.78 W
    // below where it was: assert a 13.5 W drop (most of one busy core).
    let window = rows_within(&col, start + 200_000_000, start + 1_200_000_000);
    assert_eq!(window.len(), 10, "rows (307.3, 307.4] … (308.2, 308.3]");
    let mean = window.iter().map(|&(_, p)| p).sum::<f64>() / window.len() as f64;
    assert!(
        mean <= before - 13.5,
        "post-copy should relieve rack-a by most of a busy core within 0.2 s of its start: \
         mean over (307.3, 308.3] s is {mean:.3} W, only {:.3} W below {before} W \
         (algorithm `{}`: a background push costs the source about 0.488 core × 17 W + \
         3.29 W = 11.58 W until every page is sent)",
        before - mean,
        m.algorithm
    );
}

// ---------------------------------------------------------------------------------------
// Meters are the policies' only view
// ---------------------------------------------------------------------------------------

#[test]
fn group_dvfs_cuts_the_lowest_priority_group_first_and_its_highest_bucket_first() {
    // One rack capped at 620 W (target 0.95 × 620 = 589 W) with four i7-920 hosts, one
    // 4-vCPU VM each: s-1 priority 0 at 100 % (168 W), s-2 priority 0 at 50 % (2 cores,
    // 134 W), s-3 and s-4 priority 1 at 100 % (168 W each): 638 W. The 2 s tick reads
    // (0, 1] = 638 W > 620 W: save 638 − 589 = 49 W. Priority 0 first, its 10 W buckets
    // from the top: [s-1] alone (134 W is 34 W below it) takes all 49 W, more than its
    // slowest p-state saves (68 × (1 − 9.17/17) = 31.32 W): P8, 17.68 W left. Then [s-2]
    // (34 W dynamic): P8 saves 34 × (1 − 9.17/17) = 15.66 W < 17.68: P8, 2.02 W left. Then
    // priority 1, one bucket [s-3, s-4]: s-3's share 2.02 / 2 = 1.01 W, covered by P1
    // (68 × (1 − 15.94/17) = 4.24 W); nothing is left for s-4. (Highest power first
    // without the groups would have slowed s-3 and s-4 before s-2.)
    let text = r#"
name = "dynamo-groups"
duration = "3s"
[policy]
kind = "group-dvfs"
[[pdus]]
name = "rack"
voltage = "230V"
rating = "10A"
cap = "620W"
[[servers]]
name = "s"
count = 4
model = "i7-920-xen34"
pdu = "rack"
[[vms]]
name = "low-full"
host = "s-1"
vcpus = 4
priority = 0
demand = { kind = "constant", level = "100%" }
[[vms]]
name = "low-half"
host = "s-2"
vcpus = 4
priority = 0
demand = { kind = "constant", level = "50%" }
[[vms]]
name = "high-3"
host = "s-3"
vcpus = 4
priority = 1
demand = { kind = "constant", level = "100%" }
[[vms]]
name = "high-4"
host = "s-4"
vcpus = 4
priority = 1
demand = { kind = "constant", level = "100%" }
"#;
    let lib = Library::new(vec![]);
    let sc = capsim::scenario::load_str("dynamo-groups", text, Path::new("."), &lib)
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    let got: Vec<(u64, String, String)> = r
        .event_rows()
        .into_iter()
        .filter(|e| e.kind == "policy_pstate")
        .map(|e| (e.time_ns, e.entity, e.detail))
        .collect();
    let at = 2 * S + 1_020_000;
    let want: Vec<(u64, String, String)> = [
        ("s-1", "pstate=8"),
        ("s-2", "pstate=8"),
        ("s-3", "pstate=1"),
    ]
    .iter()
    .map(|(s, d)| (at, s.to_string(), d.to_string()))
    .collect();
    assert_eq!(got, want);
}

/// Group DVFS on the shared world with its PDU meters and BMCs reporting as given (and a
/// control period of `period_ns`), over the first `secs` seconds; the demand steps of
/// rack-a's VMs replaced by `steps`.
fn group_dvfs_with(pdu: MeterSpec, bmc: MeterSpec, period_ns: u64, steps: &str) -> RunResult {
    let path = crate_path("scenarios/rack/capping-group-dvfs.toml");
    let text = fs::read_to_string(&path).unwrap();
    let old = r#"steps = [["0s", "30%"], ["300s", "100%"], ["900s", "30%"]]"#;
    assert_eq!(text.matches(old).count(), 2, "rack-a's two VM groups");
    let text = text
        .replace(old, &format!("steps = {steps}"))
        .replace("duration = \"1200s\"", "duration = \"320s\"");
    let lib = Library::new(vec![]).with_scenario_dir(&crate_path("scenarios/rack"));
    let mut sc = capsim::scenario::load_str("group-dvfs-variant", &text, Path::new("."), &lib)
        .unwrap_or_else(|e| panic!("{e}"));
    sc.output.interval_ns = ROW_NS;
    let setup = sc.policy.as_mut().unwrap();
    setup.period_ns = period_ns;
    setup.sensors.pdu = pdu;
    setup.sensors.bmc = bmc;
    run(&sc)
}

/// Times of the `policy_pstate` events, ns.
fn pstate_times(r: &RunResult) -> Vec<u64> {
    r.event_rows()
        .iter()
        .filter(|e| e.kind == "policy_pstate")
        .map(|e| e.time_ns)
        .collect()
}

#[test]
fn a_three_second_meter_delay_makes_the_policy_act_three_seconds_later() {
    // Rack-a goes from 963.2 W to 1344 W (over its 1200 W cap) at 300 s. With a 1 s PDU
    // mean delivered at once, the 301 s tick reads (300, 301] = 1344 W and slows the
    // servers at 301 s + 1.02 ms DVFS latency = 301.00102 s. Delivered 3 s later, the same
    // reading is first visible at 304 s: the p-states change at 304.00102 s. (The BMCs
    // report at once in both runs, so the two first decisions see the same 168 W per
    // server and cut alike.)
    let steps = r#"[["0s", "30%"], ["300s", "100%"], ["900s", "30%"]]"#;
    let now = |delay_ns| MeterSpec {
        window_ns: S,
        period_ns: S,
        delay_ns,
    };
    let prompt = group_dvfs_with(now(0), now(0), S, steps);
    let late = group_dvfs_with(now(3 * S), now(0), S, steps);
    let (p, l) = (pstate_times(&prompt), pstate_times(&late));
    assert_eq!(p.first(), Some(&301_001_020_000), "{p:?}");
    assert_eq!(l.first(), Some(&304_001_020_000), "{l:?}");
    // The first decision is the same: the even spread of group_dvfs_brings_rack_a_under…,
    // a-1…a-4 to P7 and a-5…a-8 to P6, at once.
    let first = |r: &RunResult, t: u64| -> Vec<(String, String)> {
        r.event_rows()
            .into_iter()
            .filter(|e| e.kind == "policy_pstate" && e.time_ns == t)
            .map(|e| (e.entity, e.detail))
            .collect()
    };
    let a = first(&prompt, 301_001_020_000);
    assert_eq!(a, first(&late, 304_001_020_000));
    assert_eq!(a.len(), 8, "{a:?}");
    for (i, (name, detail)) in a.iter().enumerate() {
        let want = if i < 4 { "pstate=7" } else { "pstate=6" };
        assert_eq!(
            (name.as_str(), detail.as_str()),
            (format!("a-{}", i + 1).as_str(), want)
        );
    }
    // Over the cap for 1.00102 s and for 4.00102 s: × 144 W over it.
    let over = |r: &RunResult| device(r, "rack-a").violations.energy_over_cap_j;
    close(
        over(&prompt),
        1.00102 * 144.0,
        1e-6,
        "energy over cap, no delay",
    );
    close(
        over(&late),
        4.00102 * 144.0,
        1e-6,
        "energy over cap, 3 s delay",
    );
}

#[test]
fn the_policy_follows_the_meter_reading_not_the_exact_power() {
    // Rack-a's VMs run at 100 % only from 300.2 s to 300.5 s: the exact rack power is
    // 1344 W, over the 1200 W cap, for 0.3 s. A PDU meter averaging 1 s reads
    // (300, 301] = 963.2 + 0.3 × (1344 − 963.2) = 1077.44 W, under the cap (below the
    // 0.9 × 1200 = 1080 W uncap band, where every server is already at P0): group DVFS
    // never acts, although the breaker saw 1344 W.
    let spike = r#"[["0s", "30%"], ["300.2s", "100%"], ["300.5s", "30%"]]"#;
    let bmc = MeterSpec {
        window_ns: S,
        period_ns: S,
        delay_ns: 0,
    };
    let mean = group_dvfs_with(
        MeterSpec {
            window_ns: S,
            period_ns: S,
            delay_ns: 0,
        },
        bmc,
        S,
        spike,
    );
    close(
        device(&mean, "rack-a").violations.seconds_over_cap,
        0.3,
        1e-9,
        "the exact power is over the cap",
    );
    assert_eq!(
        pstate_times(&mean),
        Vec::<u64>::new(),
        "no reading over the cap"
    );
    // A meter with 100 ms means delivered at once, read every 100 ms: the 300.3 s tick
    // reads (300.2, 300.3] = 1344 W and the servers slow down at 300.30102 s, cutting the
    // overload short: over the cap only (300.2, 300.30102], 0.10102 s.
    let fast = MeterSpec {
        window_ns: 100_000_000,
        period_ns: 100_000_000,
        delay_ns: 0,
    };
    let quick = group_dvfs_with(fast, bmc, 100_000_000, spike);
    assert_eq!(pstate_times(&quick).first(), Some(&300_301_020_000));
    close(
        device(&quick, "rack-a").violations.seconds_over_cap,
        0.10102,
        1e-9,
        "over the cap until the first reading of the spike is acted on",
    );
}

// ---------------------------------------------------------------------------------------
// Migration policies: one migration in flight per device, destinations with room
// ---------------------------------------------------------------------------------------

#[test]
fn migration_policies_keep_to_one_migration_in_flight_per_device() {
    for file in ["capping-migration.toml", "capping-migration-postcopy.toml"] {
        let sc = scenario(file);
        let PolicyConfig::Migration(cfg) = &sc.policy.as_ref().unwrap().config else {
            panic!("{file}: a migration policy expected")
        };
        // The default: migrations in flight per device at most 1.
        assert_eq!(cfg.max_in_flight, 1, "{file}");
        let r = example(file);
        let mut from_a: Vec<_> = r
            .summary
            .migrations
            .iter()
            .filter(|m| m.from.starts_with("a-"))
            .collect();
        assert!(from_a.len() >= 2, "{file}: several migrations leave rack-a");
        from_a.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        // Each migration from rack-a starts only after the previous one ended.
        for w in from_a.windows(2) {
            let prev_end = w[0].end_s.expect("ended");
            assert!(
                w[1].start_s >= prev_end,
                "{file}: {} started at {} s while {} (from {}) was still in flight until {} s \
                 (max_in_flight = 1)",
                w[1].vm,
                w[1].start_s,
                w[0].vm,
                w[0].from,
                prev_end
            );
        }
    }
}

#[test]
fn migration_destinations_have_the_cpu_for_what_they_receive() {
    // During the overload web-* and batch-* want 1 core each, quiet-* 0.2 core; a
    // destination "has the CPU" if, after the move, its VMs' demand fits its 4 cores.
    for file in ["capping-migration.toml", "capping-migration-postcopy.toml"] {
        let r = example(file);
        assert!(
            !r.summary.migrations.is_empty(),
            "{file}: migrations expected"
        );
        let mut demand: BTreeMap<&str, f64> = BTreeMap::new();
        for v in &r.summary.vms {
            let d = if v.name.starts_with("quiet") {
                0.2
            } else {
                1.0
            };
            *demand.entry(v.host.as_str()).or_default() += d;
        }
        for (host, d) in demand {
            assert!(
                d <= 4.0 + 1e-9,
                "{file}: {host} ends up hosting {d} cores of demand on 4 cores"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. Breakers: no policy trips what `none` does not
// ---------------------------------------------------------------------------------------

/// Trips per device name.
fn trips(r: &RunResult) -> BTreeMap<String, usize> {
    r.summary
        .devices
        .iter()
        .map(|d| (d.name.clone(), d.trips.len()))
        .collect()
}

#[test]
fn no_example_policy_trips_a_breaker_that_none_does_not() {
    // Warm the shared runs in parallel (the four migration examples dominate).
    std::thread::scope(|s| {
        for f in EXAMPLES {
            s.spawn(move || example(f));
        }
    });
    let base = trips(example("capping-none.toml"));
    // In the shipped world nothing comes near a trip: rack-a's 1344 W is 1344 / 2300 =
    // 58 % of its rating (thermal pickup 1.13).
    assert!(base.values().all(|&n| n == 0), "none trips: {base:?}");
    for file in EXAMPLES {
        let r = example(file);
        for (dev, &n) in &trips(r) {
            assert!(
                n <= base[dev],
                "{file} ({}): {dev} tripped {n} time(s), none tripped it {} time(s)",
                r.summary.policy,
                base[dev]
            );
        }
        assert!(
            r.summary.vms.iter().all(|v| !v.lost),
            "{file}: a VM was lost"
        );
    }
}

/// rack-a rated 4.4 A (4.4 × 230 = 1012 W; thermal pickup 1.13 × 1012 = 1143.56 W) and
/// capped at 1000 W: `none` trips it, DVFS's floor does not heat it. `integral` swaps its
/// iec60898-c breaker's two-body thermal state for Model A (reset 600 s, the notes'
/// preset value), whose heat is a sum of rates worked by hand below.
fn harsh_with(file: &str, integral: bool) -> RunResult {
    let mut sc = scenario(file);
    sc.output.interval_ns = 10 * S;
    sc.output.servers = false;
    sc.output.vms = false;
    let a = sc.devices.iter_mut().find(|d| d.name == "rack-a").unwrap();
    a.rating_a = Some(4.4);
    a.cap_w = Some(1000.0);
    if integral {
        let curve = &mut a.breaker.as_mut().unwrap().curve;
        curve.thermal = Thermal::Integral;
        curve.reset_s = Some(600.0);
    }
    run(&sc)
}

fn harsh(file: &str) -> RunResult {
    harsh_with(file, true)
}

#[test]
fn in_an_overload_that_trips_none_the_shipped_two_body_breaker_trips_sooner_and_dvfs_holds() {
    // The same overload on the shipped iec60898-c (two-body: 62 % of the heating in a
    // fast body, τ 145 s; 38 % in a slow one, τ 1300 s; x = (M / 1.13)²). Before 300 s
    // rack-a carries 963.2 W, x₀ = (963.2 / 1012 / 1.13)² = 0.709439, which Model A
    // ignores but the bodies do not: at 300 s the fast one holds 0.62 x₀ (1 − e^(−300/145))
    // = 0.384292 and the slow one 0.38 x₀ (1 − e^(−300/1300)) = 0.055556. At 1344 W
    // (x = 1.381277) their sum reaches 1 after 386.883 s (bisection on the formula
    // below): rack-a trips at 686.883 s, 137.7 s before Model A's 824.554 s.
    let (x0, x1) = (
        (963.2f64 / 1012.0 / 1.13).powi(2),
        (1344.0f64 / 1012.0 / 1.13).powi(2),
    );
    let hf = 0.62 * x0 * (1.0 - (-300.0f64 / 145.0).exp());
    let hs = 0.38 * x0 * (1.0 - (-300.0f64 / 1300.0).exp());
    let sum = |t: f64| {
        0.62 * x1
            + (hf - 0.62 * x1) * (-t / 145.0).exp()
            + 0.38 * x1
            + (hs - 0.38 * x1) * (-t / 1300.0).exp()
    };
    let (mut lo, mut hi) = (0.0, 2000.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if sum(mid) < 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let none = harsh_with("capping-none.toml", false);
    let a = device(&none, "rack-a");
    assert_eq!(a.trips.len(), 1, "none should trip rack-a: {:?}", a.trips);
    close(a.trips[0].time_s, 300.0 + hi, 1e-6, "none's trip time");
    close(
        a.trips[0].time_s,
        686.883,
        1e-3,
        "none's trip time (literal)",
    );
    // DVFS and group DVFS are at 1093.44 W (x = 0.914265 < 1) 2.00102 s after the
    // overload starts: the bodies then relax towards a sum below 1 and nothing trips.
    for file in ["capping-dvfs.toml", "capping-group-dvfs.toml"] {
        let r = harsh_with(file, false);
        assert!(
            trips(&r).values().all(|&n| n == 0),
            "{file}: {:?}",
            trips(&r)
        );
        let heat = device(&r, "rack-a").max_heat;
        assert!(heat < 0.914265, "{file}: heat {heat} at or above x at P8");
    }
}

#[test]
fn in_an_overload_that_trips_none_dvfs_keeps_the_breaker_closed() {
    let none = harsh("capping-none.toml");
    let a = device(&none, "rack-a");
    // rack-a's breaker under Model A (`harsh`; the shipped two-body state is the next
    // test). k = 200 s (no draw): before 300 s, 963.2 W < 1143.56 W: no heat. From 300 s:
    // M = 1344 / 1012 = 1.32806, x = (M / 1.13)² = 1.38128, t = 200 / 0.38128 = 524.55 s:
    // rack-a trips at 824.55 s (before the overload ends at 900 s), cutting 1344 W.
    assert_eq!(a.breaker_k_s, Some(200.0));
    assert_eq!(a.trips.len(), 1, "none should trip rack-a: {:?}", a.trips);
    let m: f64 = 1344.0 / 1012.0;
    let expect = 300.0 + 200.0 / ((m / 1.13).powi(2) - 1.0);
    close(a.trips[0].time_s, expect, 1e-3, "none's trip time");
    close(
        a.trips[0].time_s,
        824.554,
        1e-3,
        "none's trip time (literal)",
    );
    close(a.trips[0].load_cut_w, 1344.0, 1e-6, "load cut");
    let base = trips(&none);
    assert_eq!(
        base["row"] + base["rack-b"],
        0,
        "only rack-a trips: {base:?}"
    );
    // Heating rate at P watts (above 1143.56 W): ((P / 1012 / 1.13)² − 1) / 200 per
    // second; at 1344 W: 0.38128 / 200 = 0.0019064.
    let heating = |p: f64| ((p / 1012.0 / 1.13).powi(2) - 1.0) / 200.0;
    let rate = heating(1344.0);
    close(rate, 0.0019064, 1e-7, "heating rate at 1344 W");
    for (file, max_heat) in [
        // dvfs: the BMCs' (300, 301] reading (168 W, visible at 302 s) is far above each
        // server's budget 0.95 × 1000 / 8 = 118.75 W, below even P8: every server to P8
        // at 302.00102 s, 8 × (100 + 4 × 9.17) = 1093.44 W < 1143.56 W: no more heat after
        // H = 2.00102 × 0.0019064 = 0.0038148.
        ("capping-dvfs.toml", 2.00102 * rate),
        // group-dvfs: the same 2.00102 s at 1344 W (the rack reading (300, 301] seen at the
        // 302 s tick asks for 1344 − 950 = 394 W, more than all eight at P8 give:
        // 8 × 31.32 = 250.56 W): then 1093.44 W, cooling.
        ("capping-group-dvfs.toml", 2.00102 * rate),
        // dvfs+migration: the same DVFS first, and migrations only lower rack-a further
        // (each sender adds 3.29 W of NIC to a ≥ 49 W margin).
        ("capping-dvfs-then-migration.toml", 2.00102 * rate),
        // thunderbolt: every batch VM hard-throttled to its 1 % floor at 302.016 s
        // (1344 W > 0.98 × 1000 W): 8 × (100 + 2.02 × 17) = 1074.72 W < 1143.56 W, and
        // the readings stay above 980 W (the hard threshold) so it stays there:
        // H = 2.016 × 0.0019064 = 0.0038433.
        ("capping-thunderbolt.toml", 2.016 * rate),
        // idle: 10 % more forced idle per period (the ticks at 302–305 s all read over
        // 1000 W), each after 1 ms + half powerclamp's interval at the new fraction:
        // 1344 W until 302.031 s, then 3.6 cores: 1289.6 W until 303.016 s, 3.2: 1235.2 W
        // until 304.011 s, 2.8: 1180.8 W until 305.0085 s, then 2.4 cores (1126.4 W,
        // cooling); H = 2.031 × 0.0019064 + 0.985 × 0.0013586 + 0.995 × 0.0008334 +
        // 0.9975 × 0.0003309 = 0.0038719 + 0.0013382 + 0.0008292 + 0.0003301 = 0.0063694.
        // At its 50 % max: 8 × (100 + 2 × 17) = 1072 W, never heats.
        (
            "capping-idle.toml",
            2.031 * rate
                + 0.985 * heating(1289.6)
                + 0.995 * heating(1235.2)
                + 0.9975 * heating(1180.8),
        ),
    ] {
        let r = harsh(file);
        let rd = trips(&r);
        assert!(
            rd.values().all(|&n| n == 0),
            "{file} ({}): should keep every breaker closed, trips {rd:?}",
            r.summary.policy
        );
        // The general rule holds too: nothing trips that none does not trip.
        for (dev, &n) in &rd {
            assert!(n <= base[dev], "{file}: {dev}");
        }
        assert!(
            r.summary.vms.iter().all(|v| !v.lost),
            "{file}: a VM was lost"
        );
        let heat = device(&r, "rack-a").max_heat;
        close(heat, max_heat, 1e-6, &format!("{file}: max heat"));
    }
}

// ---------------------------------------------------------------------------------------
// 3. Thunderbolt throttles only low-priority VMs
// ---------------------------------------------------------------------------------------

#[test]
fn thunderbolt_caps_only_the_low_priority_vms() {
    let r = example("capping-thunderbolt.toml");
    assert_eq!(r.summary.policy, "thunderbolt");
    let rows = r.event_rows();
    let capped: Vec<_> = rows.iter().filter(|e| e.kind == "policy_vm_cap").collect();
    assert!(!capped.is_empty(), "thunderbolt should cap something");
    for e in &capped {
        assert!(
            e.entity.starts_with("batch-"),
            "only priority-0 batch VMs may be capped, got {} at {} s",
            e.entity,
            e.time_ns as f64 / 1e9
        );
    }
    // Thresholds: high 0.98 × 1200 = 1176 W, low 0.96 × 1200 = 1152 W. The 302 s tick
    // reads (300, 301] = 1344 W > 1176 W: hard throttling, every batch VM's bandwidth
    // 1 × 0.01 = 1 % of its one vCPU, applied 16 ms later: 8 × (100 + (2 + 2 × 0.01) × 17)
    // = 1074.72 W. The 303 s tick still reads 1344 W, but 0.01 × 0.01 is floored at 0.01:
    // no command. The 304 s tick reads (302, 303] = 0.016 × 1344 + 0.984 × 1074.72 =
    // 1079.03 W ≤ 1152 W: unthrottling starts, each VM drawing its wait w ∈ [1, 10] s, so
    // its first +5 % step is at the first tick at or after 304 + w: 306 s at the earliest
    // (w > 1 almost surely), 314 s at the latest.
    let mut quotas: BTreeMap<String, Vec<(u64, Option<f64>)>> = BTreeMap::new();
    for e in &capped {
        let q = (e.detail != "cap_cores=none").then(|| detail_f64(&e.detail, "cap_cores"));
        quotas
            .entry(e.entity.clone())
            .or_default()
            .push((e.time_ns, q));
    }
    assert_eq!(quotas.len(), 16, "every batch VM is throttled");
    for (name, mine) in &quotas {
        assert_eq!(
            mine[0],
            (302 * S + 16_000_000, Some(0.01)),
            "{name}: hard cut"
        );
        let first_step = mine[1].0;
        assert!(
            (306 * S + 16_000_000..=314 * S + 16_000_000).contains(&first_step),
            "{name}: first unthrottle step at {first_step}"
        );
        close(mine[1].1.unwrap(), 0.06, 1e-12, name);
        // Every later change is a soft cut (× 0.75), a hard cut (× 0.01, floored at
        // 0.01) or a +5 % step, never below the floor, and a quota is removed only by a
        // step that would reach 100 %; two steps in a row are 2–10 s apart (the next is
        // due w ∈ (1, 10] s after a tick, so at its ceiling).
        for w in mine.windows(2) {
            let ((t0, q0), (t1, q1)) = (w[0], w[1]);
            // Released (after 900 s, when the backlog lets its rack rise again) and cut
            // afresh: from a bandwidth of 1.
            let Some(q0) = q0 else {
                let q1 = q1.expect("a release follows a cut");
                assert!(q1 == 0.75 || q1 == 0.01, "{name}: {q1} after a release");
                continue;
            };
            match q1 {
                None => assert!(q0 + 0.05 >= 1.0 - 1e-9, "{name}: released from {q0}"),
                Some(q1) => {
                    assert!(q1 >= 0.01 - 1e-12, "{name}: {q1} below the floor");
                    let soft = (q1 - 0.75 * q0).abs() < 1e-12;
                    let hard = (q1 - (0.01 * q0).max(0.01)).abs() < 1e-12;
                    let step = (q1 - (q0 + 0.05)).abs() < 1e-12;
                    assert!(soft || hard || step, "{name}: {q0} → {q1} at {t1}");
                    if step && (q0 - 0.01).abs() > 1e-12 {
                        let gap = t1 - t0;
                        assert!(gap >= 2 * S, "{name}: steps {gap} ns apart");
                    }
                }
            }
        }
    }
    // Once engaged the rack never reaches its cap again during the overload: a step is
    // sent only when the reading is at most 1152 W, that reading lags the power by one
    // period, so at most two periods of steps are unseen: 16 VMs × 0.05 × 17 W = 13.6 W
    // each, 1152 + 2 × 13.6 = 1179.2 W < 1200 W (soft cuts only lower it). So rack-a is
    // over its cap only from 300 s to the cut at 302.016 s: 2.016 × 144 = 290.304 J.
    let a = device(r, "rack-a");
    assert_eq!(a.violations.episodes, 1);
    close(
        a.violations.seconds_over_cap,
        2.016,
        1e-9,
        "seconds over cap",
    );
    close(
        a.violations.energy_over_cap_j,
        290.304,
        1e-6,
        "energy over cap",
    );
    let col = column(r, "rack-a.power_w");
    close(
        row_ending_at(&col, 302 * S + 200 * 1_000_000),
        1074.72,
        1e-6,
        "rack-a at 302.2 s",
    );
    for (t, p) in rows_within(&col, 306 * S, 900 * S) {
        assert!(p <= 1179.2 + 0.5, "rack-a at {} s: {p} W", t as f64 / 1e9);
    }
    // In this world every VM gets its demand unless capped (4 × 1 core on 4 cores at
    // most), so only capped VMs are ever throttled: batch-* from 302.016 s at least until
    // 900 s (597.984 s), web-* and quiet-* never.
    for v in &r.summary.vms {
        if v.name.starts_with("batch-") {
            assert_eq!(v.priority, 0);
            assert!(
                v.time_throttled_s >= 597.984 - 1e-9,
                "{}: throttled {} s",
                v.name,
                v.time_throttled_s
            );
        } else {
            assert_eq!(v.time_throttled_s, 0.0, "{} was throttled", v.name);
            if v.name.starts_with("web-") {
                assert_eq!(v.priority, 1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Idle injection: bounded, released after the overload
// ---------------------------------------------------------------------------------------

/// (time, server, fraction) of every `policy_idle` event.
fn idle_events(r: &RunResult) -> Vec<(u64, String, f64)> {
    r.event_rows()
        .iter()
        .filter(|e| e.kind == "policy_idle")
        .map(|e| {
            (
                e.time_ns,
                e.entity.clone(),
                detail_f64(&e.detail, "idle_fraction"),
            )
        })
        .collect()
}

#[test]
fn idle_injection_stays_within_its_max_and_is_released_after_the_overload() {
    let sc = scenario("capping-idle.toml");
    let PolicyConfig::IdleInjection(cfg) = &sc.policy.as_ref().unwrap().config else {
        panic!("capping-idle.toml: idle expected")
    };
    close(cfg.max, 0.5, 1e-12, "idle_max");
    close(cfg.step, 0.1, 1e-12, "idle_step");
    let r = example("capping-idle.toml");
    assert_eq!(r.summary.policy, "idle");
    let ev = idle_events(r);
    assert!(!ev.is_empty(), "idle injection should act");
    let mut last: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let mut peak: f64 = 0.0;
    for (t, s, f) in &ev {
        assert!(s.starts_with("a-"), "only rack-a is over its cap: {s}");
        assert!(
            (0.0..=cfg.max).contains(f),
            "{s} at {} s: idle fraction {f} outside [0, {}]",
            *t as f64 / 1e9,
            cfg.max
        );
        // Injected only during the overload (readings > cap seen from 302 s to 901 s,
        // + at most 1 ms + 30 ms, the latency at the smallest step, 10 %).
        if let Some(&(_, prev)) = last.get(s) {
            if *f > prev {
                assert!(
                    *t > 300 * S && *t <= 901 * S + 31_000_000,
                    "{s} raised at {t}"
                );
            }
        }
        peak = peak.max(*f);
        last.insert(s.clone(), (*t, *f));
    }
    // Each server has 4 × (1 − f) cores and draws 100 + 4 (1 − f) × 17 W. A change to f
    // lands 1 ms + 6 ms / (2 f) after its tick (30, 15, 10, 7.5 ms for 0.1 … 0.4). The
    // ticks at 302 and 303 s read 1344 W ((300, 301], (301, 302]): 0.1 at 302.031 s
    // (1289.6 W), 0.2 at 303.016 s (1235.2 W). The 304 s tick reads (302, 303] = 0.031 ×
    // 1344 + 0.969 × 1289.6 = 1291.3 W: 0.3 at 304.011 s (1180.8 W); the 305 s tick
    // (303, 304] = 0.016 × 1289.6 + 0.984 × 1235.2 = 1236.1 W: 0.4 at 305.0085 s (2.4
    // cores, 1126.4 W). The 306 s tick reads 0.011 × 1235.2 + 0.989 × 1180.8 = 1181.4 W
    // ≤ 1200 W: it stops at 0.4 (one step past what was needed, as the readings lag its
    // changes).
    close(peak, 0.4, 1e-9, "largest idle fraction");
    let col = column(r, "rack-a.power_w");
    close(
        row_ending_at(&col, 600 * S),
        1126.4,
        1e-6,
        "rack-a at 600 s",
    );
    // Not released by the end: forced idle leaves each of the 4 VMs 0.6 of a core while
    // a core-second per second arrives, so at 900 s each owes 0.1 × 0.985 + 0.2 × 0.995 +
    // 0.3 × 0.9975 (the spells at 0.9, 0.8 and 0.7 of a core) + 0.4 × 594.9915 =
    // 238.59335 core-s. After 900 s its work arrives at 0.3 core-s/s, but it keeps using
    // all 0.6 to catch up: 2.4 cores busy, 1126.4 W, inside the hold band (1080 W,
    // 1200 W], so the idle fraction stays at 0.4 and each VM still owes 238.59335 − 0.3 ×
    // 300 = 148.59335 core-s at 1200 s.
    assert_eq!(
        last.len(),
        8,
        "all 8 rack-a servers are throttled alike: {last:?}"
    );
    for (s, (_, f)) in &last {
        close(*f, 0.4, 1e-9, s);
    }
    close(
        row_ending_at(&col, 1200 * S),
        1126.4,
        1e-6,
        "rack-a at 1200 s",
    );
    for v in r.summary.vms.iter().filter(|v| v.host.starts_with("a-")) {
        close(v.backlog_at_end_core_s, 148.59335, 1e-6, &v.name);
    }
}

#[test]
fn idle_injection_release_lands_exactly_on_zero_in_four_steps() {
    // capping-idle.toml run on to 2000 s: each VM's 238.59335 core-s owed at 900 s (see
    // above) runs off at 0.6 − 0.3 = 0.3 core-s/s until 900 + 795.31 = 1695.31 s; then
    // each asks 0.3 of a core, 8 × (100 + 1.2 × 17) = 963.2 W. The 1697 s tick reads
    // (1695, 1696] = 0.31 × 1126.4 + 0.69 × 963.2 = 1014.0 W < 1080 W: from 0.4 with a
    // step of 0.1 the release is 0.3, 0.2, 0.1, 0 at 1697.011, 1698.016, 1699.031 and
    // 1700.001 s (1 ms + 6 ms / (2 f); ending needs no alignment), four events per
    // server, the last exactly 0.
    let mut sc = scenario("capping-idle.toml");
    sc.duration_ns = 2000 * S;
    sc.output.servers = false;
    sc.output.vms = false;
    let r = &run(&sc);
    let ev = idle_events(r);
    let a1: Vec<_> = ev
        .iter()
        .filter(|(t, s, _)| s == "a-1" && *t > 900 * S)
        .collect();
    let got: Vec<(f64, f64)> = a1.iter().map(|(t, _, f)| (*t as f64 / 1e9, *f)).collect();
    assert_eq!(
        a1.len(),
        4,
        "a-1's release should take 4 steps of 0.1, got {got:?} (floating-point residue \
         of 0.1 + 0.1 + 0.1 + 0.1 − 0.1 − 0.1 − 0.1 − 0.1 ≠ 0)"
    );
    assert_eq!(a1[0].0, 1_697_011_000_000, "{got:?}");
    assert_eq!(a1[3].0, 1_700_001_000_000);
    assert_eq!(a1[3].2, 0.0, "{got:?}");
}

#[test]
fn a_set_idle_latency_is_the_whole_latency() {
    // capping-idle.toml with `idle_latency = "10ms"`: every change lands 10 ms after its
    // tick, with no powerclamp alignment on top: the first at 302.01 s, not 302.031 s.
    let path = crate_path("scenarios/rack/capping-idle.toml");
    let text = fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "kind = \"idle\"",
        "kind = \"idle\"\nidle_latency = \"10ms\"",
        1,
    );
    let lib = Library::new(vec![]);
    let mut sc = capsim::scenario::load_str("idle-fixed-latency", &text, Path::new("."), &lib)
        .unwrap_or_else(|e| panic!("{e}"));
    let setup = sc.policy.as_ref().unwrap();
    assert_eq!(
        (setup.latencies.idle_ns, setup.latencies.idle_aligns),
        (10_000_000, false)
    );
    sc.duration_ns = 310 * S;
    sc.output.servers = false;
    sc.output.vms = false;
    let r = run(&sc);
    let times: Vec<u64> = idle_events(&r).iter().map(|(t, _, _)| *t).collect();
    assert_eq!(times.first(), Some(&302_010_000_000), "{times:?}");
    assert!(times.iter().all(|t| t % S == 10_000_000), "{times:?}");
}

// ---------------------------------------------------------------------------------------
// 5. Thread-count independence
// ---------------------------------------------------------------------------------------

#[test]
fn a_migration_run_is_byte_identical_with_one_and_two_threads() {
    // capping-migration.toml cut to 330 s (the policy's first migrations start at
    // 307.1 s and run past the end), to keep the debug-build run short.
    let base = scratch("threads");
    let text = fs::read_to_string(crate_path("scenarios/rack/capping-migration.toml")).unwrap();
    assert!(text.contains("duration = \"1200s\""));
    let path = base.join("capping-migration-330s.toml");
    fs::write(
        &path,
        text.replace("duration = \"1200s\"", "duration = \"330s\""),
    )
    .unwrap();
    let go = |threads: usize, out: &str| {
        let opts = RunOptions {
            scenario: Some(path.clone()),
            out: Some(base.join(out)),
            ..RunOptions::default()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (r, dir, _) = pool
            .install(|| run_command(&opts))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !r.summary.migrations.is_empty(),
            "the cut run still migrates"
        );
        read_dir_bytes(&dir)
    };
    let one = go(1, "one");
    let two = go(2, "two");
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for f in ["summary.json", "timeseries.csv", "events.csv"] {
        assert!(
            one.contains_key(f),
            "{f} missing: {:?}",
            one.keys().collect::<Vec<_>>()
        );
    }
    for (name, bytes) in &one {
        assert!(
            bytes == &two[name],
            "{name} differs between 1 and 2 threads"
        );
    }
    fs::remove_dir_all(&base).unwrap();
}

// ---------------------------------------------------------------------------------------
// 6. summary.json
// ---------------------------------------------------------------------------------------

#[test]
fn summary_json_has_the_policy_throttling_and_provisioning_figures() {
    let base = scratch("summary");
    let opts = RunOptions {
        scenario: Some(crate_path("scenarios/rack/capping-thunderbolt.toml")),
        out: Some(base.join("out")),
        ..RunOptions::default()
    };
    let (_, dir, _) = run_command(&opts).unwrap_or_else(|e| panic!("{e}"));
    let text = fs::read_to_string(dir.join("summary.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["policy"], "thunderbolt");
    // Provisioned power: the top of the tree, the row: 32 A × 230 V = 7360 W = 7.36 kW.
    // 16 servers / 7.36 kW = 2.1739 servers per kW; Σ peak 16 × 168 = 2688 W over 7360 W
    // = 0.36522.
    let spkw = j["servers_per_provisioned_kw"].as_f64().expect("a number");
    close(spkw, 16.0 / 7.36, 1e-9, "servers_per_provisioned_kw");
    close(
        spkw,
        2.173_913,
        1e-6,
        "servers_per_provisioned_kw (literal)",
    );
    let over = j["oversubscription"].as_f64().expect("a number");
    close(over, 2688.0 / 7360.0, 1e-9, "oversubscription");
    close(over, 0.365_217, 1e-6, "oversubscription (literal)");
    // Every VM has time_throttled_s: > 0 for the capped batch VMs, 0 for the others.
    let vms = j["vms"].as_array().expect("vms");
    assert_eq!(vms.len(), 40, "16 web + 16 batch + 8 quiet");
    for v in vms {
        let name = v["name"].as_str().unwrap();
        let t = v["time_throttled_s"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: no time_throttled_s"));
        if name.starts_with("batch-") {
            // From the hard cut at 302.016 s until at least 900 s.
            assert!(t >= 597.984 - 1e-9, "{name}: {t}");
        } else {
            assert_eq!(t, 0.0, "{name}");
        }
    }
    // And the per-device violation record the policies are judged by.
    let a = j["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "rack-a")
        .expect("rack-a");
    assert_eq!(a["cap_w"].as_f64(), Some(1200.0));
    assert!(a["violations"]["episodes"].as_u64().is_some());
    fs::remove_dir_all(&base).unwrap();
}
