//! Demand is work: what a VM cannot run when it arrives is owed and run later, through
//! the whole simulator. Every expected value is worked out by hand beside its assertion
//! from models/servers/i7-920-xen34.toml (100 W idle; 17 W per busy core at P0, 9.17 W
//! at P8; 2.6667 GHz at P0, 1.6 GHz at P8).

use capsim::scenario::{load_file, load_str, Library};
use capsim::sim::{run, RunResult};
use std::path::Path;

const S: u64 = 1_000_000_000;
/// Work done per core-second at P8 (f8 / f0).
const FF8: f64 = 1.6 / 2.6667;
/// At P6.
const FF6: f64 = 1.8667 / 2.6667;

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, expected {expected} ± {tol}"
    );
}

/// The mean of a 1 s time-series column over the row ending at `t_s`.
fn row(r: &RunResult, col: &str, t_s: f64) -> f64 {
    r.timeseries
        .column(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .iter()
        .find(|(t, _)| (t - t_s).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no row at {t_s} s"))
        .1
}

fn vm<'a>(r: &'a RunResult, name: &str) -> &'a capsim::output::summary::VmSummary {
    r.summary.vms.iter().find(|v| v.name == name).unwrap()
}

#[test]
fn a_slower_clock_leaves_a_backlog_that_drains_at_full_speed_afterwards() {
    // One VM, 4 vCPUs, work arriving at 3 core-s/s throughout; P8 from 100 s to 200 s.
    let text = r#"
        name = "pstate-backlog"
        duration = "400s"
        [output]
        interval = "1s"
        [[pdus]]
        name = "rack"
        voltage = "230V"
        [[servers]]
        name = "h"
        model = "i7-920-xen34"
        pdu = "rack"
        [[vms]]
        name = "svc"
        host = "h"
        vcpus = 4
        demand = { kind = "constant", level = "75%" }
        [[actions]]
        at = "100s"
        kind = "set_pstate"
        server = "h"
        pstate = 8
        [[actions]]
        at = "200s"
        kind = "set_pstate"
        server = "h"
        pstate = 0
    "#;
    let sc = load_str(
        "pstate-backlog",
        text,
        Path::new("."),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    // 0–100 s: 3 cores at P0, 100 + 3 × 17 = 151 W. 100–200 s at P8 it would need
    // 3 / FF8 = 5 cores; it gets all 4: 100 + 4 × 9.17 = 136.68 W, doing r = 4 × FF8 =
    // 2.4 core-s/s, so it owes (3 − r) × 100 s = 60 core-s at 200 s. At P0 it keeps all 4
    // cores busy, 100 + 4 × 17 = 168 W (17 W over the 151 W it drew keeping up), and
    // catches up at 4 − 3 = 1 core-s/s: for 60 s, until T = 260 s. Then 151 W again.
    let rate = 4.0 * FF8;
    let owed = (3.0 - rate) * 100.0;
    let t_end = 200.0 + owed / (4.0 - 3.0);
    close(row(&r, "h.power_w", 50.0), 151.0, 1e-9, "keeping up");
    close(
        row(&r, "h.power_w", 150.0),
        136.68,
        1e-9,
        "P8, all cores busy",
    );
    close(row(&r, "h.power_w", 230.0), 168.0, 1e-9, "draining at P0");
    close(row(&r, "h.power_w", 300.0), 151.0, 1e-9, "caught up");
    let v = vm(&r, "svc");
    close(
        v.time_with_backlog_s,
        t_end - 100.0,
        1e-6,
        "time with backlog",
    );
    close(v.work_arrived_core_s, 1200.0, 1e-9, "3 core-s/s × 400 s");
    close(v.work_done_core_s, 1200.0, 1e-9, "all of it done");
    close(
        v.backlog_at_end_core_s,
        0.0,
        1e-9,
        "nothing owed at the end",
    );
    close(
        v.time_throttled_s,
        100.0,
        1e-6,
        "behind its arrivals 100–200 s",
    );
    // FIFO delays: the unit arriving at t ∈ [100, t*] is done at 100 + 3(t − 100)/r, its
    // delay rising from 0 to D = 100 (1 − r/3) = 20 s at t* = 100 + 100 r/3 (the unit done
    // at 200 s); from t* to T the units are done at 200 + (3t − 3t*)/4, the delay falling
    // back to 0. Each piece is uniform on [0, D]: the 3 (T − 100) = 480 core-s delayed of
    // 1200 are uniform on [0, D], so with f0 = 1 − 480/1200 = 0.6 undelayed: mean
    // 0.4 × D/2 = 4 s, p95 = D (0.95 − f0)/(1 − f0) = 17.5 s, p99 = 19.5 s, p50 = 0.
    let d = 100.0 * (1.0 - rate / 3.0);
    let f0 = 1.0 - 3.0 * (t_end - 100.0) / 1200.0;
    let wd = &r.summary.work_delay;
    close(wd.max_s, d, 1e-6, "longest wait");
    close(v.max_delay_s, d, 1e-6, "the VM's longest wait");
    close(wd.delayed_fraction, 1.0 - f0, 1e-9, "delayed fraction");
    close(wd.mean_s, (1.0 - f0) * d / 2.0, 1e-6, "mean wait");
    close(wd.p50_s, 0.0, 0.0, "median wait");
    close(wd.p95_s, d * (0.95 - f0) / (1.0 - f0), 1e-6, "p95 wait");
    close(wd.p99_s, d * (0.99 - f0) / (1.0 - f0), 1e-6, "p99 wait");
    close(
        wd.backlog_vm_s,
        t_end - 100.0,
        1e-6,
        "VM-seconds with backlog",
    );
}

#[test]
fn shipped_dvfs_backlog_example_rebounds_above_the_uncapped_rack_while_it_drains() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rack/dvfs-backlog.toml");
    let sc = load_file(&p, &Library::new(vec![])).unwrap();
    let r = run(&sc);
    // The p-states the controller sets, worked in the scenario file (DVFS takes 1.02 ms
    // after each tick): P6 at 102.00102 s, P8 at 103.00102 s; after the drain one step up
    // per tick from 244.00102 s to P0 at 251.00102 s.
    let ps: Vec<(u64, String)> = r
        .event_rows()
        .into_iter()
        .filter(|e| e.kind == "policy_pstate")
        .map(|e| (e.time_ns, e.detail))
        .collect();
    let mut want = vec![
        (102_001_020_000, "pstate=6".to_string()),
        (103_001_020_000, "pstate=8".to_string()),
    ];
    for (i, p) in (0..8).rev().enumerate() {
        want.push(((244 + i as u64) * S + 1_020_000, format!("pstate={p}")));
    }
    assert_eq!(ps, want);
    // Owed at 200 s: (3 − 4 FF6) core-s/s for 1 s at P6, then (3 − 4 FF8) for 96.99898 s
    // at P8; drained at 2.4 − 1 = 4 FF8 − 1 core-s/s: the backlog lasts from 102.00102 s
    // to 200 + owed / (4 FF8 − 1) = 241.72 s.
    let owed = (3.0 - 4.0 * FF6) * 1.0 + (3.0 - 4.0 * FF8) * 96.99898;
    let drained = 200.0 + owed / (4.0 * FF8 - 1.0);
    close(owed, 58.402, 1e-3, "owed at 200 s");
    let v = vm(&r, "service-capped");
    close(
        v.time_with_backlog_s,
        drained - 102.00102,
        1e-6,
        "time with backlog",
    );
    // The rebound: at P8 with every core busy, 136.68 W, while the uncapped twin draws
    // 100 + 17 = 117 W for the same 1 core-s/s of arriving work.
    for t in [210.0, 220.0, 241.0] {
        close(row(&r, "rack-capped.power_w", t), 136.68, 1e-9, "draining");
        close(
            row(&r, "rack-free.power_w", t),
            117.0,
            1e-9,
            "uncapped twin",
        );
    }
    // After the drain and the release both racks draw 117 W again.
    close(
        row(&r, "rack-capped.power_w", 300.0),
        117.0,
        1e-9,
        "released",
    );
    // Nothing vanished: 1 × 100 + 3 × 100 + 1 × 400 = 800 core-s arrived and done on
    // both racks.
    for name in ["service-capped", "service-free"] {
        let v = vm(&r, name);
        close(v.work_arrived_core_s, 800.0, 1e-9, name);
        close(v.work_done_core_s, 800.0, 1e-6, name);
    }
    assert_eq!(vm(&r, "service-free").time_with_backlog_s, 0.0);
    // The longest wait: the unit arriving at 200 s (unit 400) is done when progress,
    // 100 + 3 × 2.00102 = 106.00306 core-s at 102.00102 s (no backlog yet), then + 4 FF6
    // for 1 s, then + 4 FF8 per s, reaches 400.
    let p103 = 106.00306 + 4.0 * FF6;
    let done = 103.00102 + (400.0 - p103) / (4.0 * FF8);
    close(v.max_delay_s, done - 200.0, 1e-6, "longest wait");
    close(v.max_delay_s, 24.33, 0.01, "longest wait, rounded");
}
