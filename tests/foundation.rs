//! Acceptance tests of the foundation, through the whole simulator: energy accounting,
//! breaker trip times (thermal, with memory, and magnetic), what a trip cuts, determinism,
//! and the two shipped rack scenarios.
//!
//! Every expected value is worked out by hand in the comment beside its assertion, from
//! the model files (models/servers/*.toml, models/breakers/ul489-le30a.toml) and the
//! breaker model of DESIGN §3.

mod shared_data;

use capsim::app::{run_command, RunOptions};
use capsim::scenario::{load_file, load_str, Library, Scenario};
use capsim::sim::{run, RunResult};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn load(name: &str, text: &str) -> Scenario {
    match load_str(name, text, Path::new("."), &Library::new(vec![])) {
        Ok(s) => s,
        Err(e) => panic!("scenario `{name}` should load, got: {e}"),
    }
}

fn sim(name: &str, text: &str) -> RunResult {
    run(&load(name, text))
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

fn event_count(r: &RunResult, kind: &str, entity_prefix: &str) -> usize {
    r.event_rows()
        .iter()
        .filter(|e| e.kind == kind && e.entity.starts_with(entity_prefix))
        .count()
}

/// A unique, empty scratch directory under the system temp dir.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-foundation-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One 208 V single-phase rack `rack1` with a UL 489 ≤ 30 A breaker of `rating`, `n`
/// generic-linear-260w servers (linear 100 → 260 W, 8 cores) and one 8-vCPU VM per server
/// with `demand` (an inline TOML table). The breaker is `ul489-le30a-integral` (Model A:
/// these tests check its closed forms); the default `ul489-le30a` is two-body
/// (`one_rack_with`).
fn one_rack(name: &str, duration: &str, rating: &str, n: u32, demand: &str) -> String {
    one_rack_with(name, duration, rating, n, demand, "ul489-le30a-integral")
}

/// `one_rack` with the breaker preset `breaker`.
fn one_rack_with(
    name: &str,
    duration: &str,
    rating: &str,
    n: u32,
    demand: &str,
    breaker: &str,
) -> String {
    format!(
        r#"
name = "{name}"
duration = "{duration}"

[[pdus]]
name = "rack1"
voltage = "208V"
rating = "{rating}"
breaker = "{breaker}"

[[servers]]
name = "node"
count = {n}
model = "generic-linear-260w"
pdu = "rack1"

[[vms]]
name = "vm"
count = {n}
host = "node"
vcpus = 8
demand = {demand}
"#
    )
}

// ---------------------------------------------------------------------------------------
// 1. Energy of a server at known utilisation over a known time
// ---------------------------------------------------------------------------------------

#[test]
fn linear_server_at_half_load_for_an_hour_uses_648_kj() {
    let text = r#"
name = "energy-linear"
duration = "1h"

[[pdus]]
name = "feed"
voltage = "230V"

[[servers]]
name = "s1"
model = "generic-linear-260w"
pdu = "feed"

[[vms]]
name = "v1"
host = "s1"
vcpus = 8
demand = { kind = "constant", level = "50%" }
"#;
    let r = sim("energy-linear", text);
    // 8 vCPUs × 50% = 4 busy cores of 8: u = 0.5; linear 100 → 260 W:
    // P = 100 + (260 − 100) × 0.5 = 180 W; E = 180 W × 3600 s = 648,000 J.
    close(r.summary.energy_j, 648_000.0, 1e-6, "summary.energy_j");
    close(
        r.summary.servers[0].energy_j,
        648_000.0,
        1e-6,
        "servers[0].energy_j",
    );
    // The feeding device carries exactly the one server: same 648,000 J, mean 180 W.
    close(device(&r, "feed").energy_j, 648_000.0, 1e-6, "feed energy");
    close(device(&r, "feed").mean_w, 180.0, 1e-9, "feed mean_w");
    close(device(&r, "feed").peak_w, 180.0, 1e-9, "feed peak_w");
    // The VM used 4 cores for 3600 s = 14,400 core-seconds.
    close(r.summary.vms[0].cpu_core_s, 14_400.0, 1e-6, "v1 cpu_core_s");
    // Time series at the default 1 s interval: 3600 rows, each exactly 180 W.
    let col = r
        .timeseries
        .column("s1.power_w")
        .expect("s1.power_w column");
    assert_eq!(col.len(), 3600, "3600 s / 1 s = 3600 rows");
    for (t, p) in col {
        close(p, 180.0, 1e-9, &format!("s1.power_w at {t} s"));
    }
}

#[test]
fn specpower_server_at_55_percent_interpolates_the_table() {
    let text = r#"
name = "energy-specpower"
duration = "1h"

[[pdus]]
name = "feed"
voltage = "230V"

[[servers]]
name = "s1"
model = "hp-ml110-g4"
pdu = "feed"

[[vms]]
name = "v1"
host = "s1"
vcpus = 2
demand = { kind = "constant", level = "55%" }
"#;
    let r = sim("energy-specpower", text);
    // hp-ml110-g4: 2 cores, table 86, 89.4, 92.6, 96, 99.5, 102 (50%), 106 (60%), …
    // 2 vCPUs × 55% = 1.1 busy cores of 2: u = 0.55, halfway between the 50% and 60%
    // points: P = 102 + (106 − 102) × 0.5 = 104 W = (102 + 106) / 2.
    // E = 104 W × 3600 s = 374,400 J.
    let col = r.timeseries.column("s1.power_w").unwrap();
    close(col[0].1, 104.0, 1e-9, "s1 power");
    close(r.summary.energy_j, 374_400.0, 1e-6, "summary.energy_j");
    close(
        r.summary.servers[0].energy_j,
        374_400.0,
        1e-6,
        "servers[0].energy_j",
    );
}

#[test]
fn dom0_load_and_an_idle_server_add_up() {
    // Two generic-linear-260w servers for 10 min: one idle with dom0 at 200% (2 cores),
    // one with nothing at all.
    let text = r#"
name = "energy-dom0"
duration = "10min"

[[pdus]]
name = "feed"
voltage = "230V"

[[servers]]
name = "busy"
model = "generic-linear-260w"
pdu = "feed"
dom0_load = "200%"

[[servers]]
name = "idle"
model = "generic-linear-260w"
pdu = "feed"
"#;
    let r = sim("energy-dom0", text);
    // busy: 2 of 8 cores, u = 0.25: 100 + 160 × 0.25 = 140 W × 600 s = 84,000 J.
    // idle: 100 W × 600 s = 60,000 J. Total 144,000 J.
    close(r.summary.servers[0].energy_j, 84_000.0, 1e-6, "busy energy");
    close(r.summary.servers[1].energy_j, 60_000.0, 1e-6, "idle energy");
    close(r.summary.energy_j, 144_000.0, 1e-6, "total energy");
}

// ---------------------------------------------------------------------------------------
// 2. Breaker trip times
// ---------------------------------------------------------------------------------------

/// Trip time of a 30 A, 208 V UL 489 rack loaded with `n` servers each carrying one VM at
/// `level`.
fn trip_time(n: u32, level: &str) -> (RunResult, f64) {
    let demand = format!(r#"{{ kind = "constant", level = "{level}" }}"#);
    let r = sim("trip", &one_rack("trip", "30min", "30A", n, &demand));
    let d = device(&r, "rack1");
    assert_eq!(
        d.trips.len(),
        1,
        "exactly one trip expected, got {:?}",
        d.trips
    );
    let t = d.trips[0].time_s;
    (r, t)
}

#[test]
fn ul489_trips_at_110_percent_after_952_s() {
    // Rating power 208 V × 30 A = 6240 W; 110% = 6864 W = 33 servers × 208 W, and
    // 208 W = 100 + 160 u → u = 108 / 160 = 0.675: one 8-vCPU VM at 67.5% per server.
    // M = 6864 / 208 / 30 = 1.1; t = k / (M² − 1) = 200 / (1.21 − 1) = 200 / 0.21
    //   = 952.381 s.
    let (r, t) = trip_time(33, "67.5%");
    close(t, 200.0 / 0.21, 1e-3, "trip time at 110%");
    close(t, 952.381, 1e-3, "trip time at 110% (literal)");
    // It cut the whole 6864 W.
    close(
        device(&r, "rack1").trips[0].load_cut_w,
        6864.0,
        1e-6,
        "load cut",
    );
}

#[test]
fn ul489_trips_at_150_percent_after_160_s() {
    // 150% = 9360 W = 36 servers × 260 W (every core busy). M = 1.5:
    // t = 200 / (2.25 − 1) = 160 s.
    let (r, t) = trip_time(36, "100%");
    close(t, 160.0, 1e-3, "trip time at 150%");
    close(
        device(&r, "rack1").trips[0].load_cut_w,
        9360.0,
        1e-6,
        "load cut",
    );
    // The breaker_trip row of events.csv is at the same time.
    let rows = r.event_rows();
    let row = rows
        .iter()
        .find(|e| e.kind == "breaker_trip")
        .expect("a breaker_trip event");
    assert_eq!(row.entity, "rack1");
    close(
        row.time_ns as f64 * 1e-9,
        160.0,
        1e-3,
        "breaker_trip event time",
    );
}

#[test]
fn ul489_trips_at_200_percent_after_66_7_s() {
    // 200% = 12,480 W = 48 servers × 260 W. M = 2: t = 200 / (4 − 1) = 66.667 s.
    let (_, t) = trip_time(48, "100%");
    close(t, 200.0 / 3.0, 1e-3, "trip time at 200%");
    close(t, 66.667, 1e-3, "trip time at 200% (literal)");
}

#[test]
fn a_rack_at_its_rating_never_trips() {
    // 100% = 6240 W = 24 × 260 W: M = 1 = M_p, so the heat never rises (DESIGN §3: trips
    // only for M > M_p). 30 min at exactly the rating: no trip, H stays 0.
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let r = sim(
        "at-rating",
        &one_rack("at-rating", "30min", "30A", 24, demand),
    );
    let d = device(&r, "rack1");
    assert!(
        d.trips.is_empty(),
        "no trip at 100% of rating, got {:?}",
        d.trips
    );
    assert_eq!(d.max_heat, 0.0, "heat never rises at M = M_p");
    assert!(r.summary.vms.iter().all(|v| !v.lost));
}

#[test]
fn the_default_two_body_breaker_at_its_rating_warms_but_never_trips() {
    // The same 30 min at exactly the rating on `ul489-le30a` (two-body): x = M² = 1, so
    // each body relaxes towards its share and their sum towards 1 from below, never
    // reaching it. After 1800 s from cold: 0.62 (1 − e^(−1800/145)) + 0.38 (1 −
    // e^(−1800/1300)) = 0.619997 + 0.284840 = 0.904838.
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let text = one_rack_with("at-rating-2b", "30min", "30A", 24, demand, "ul489-le30a");
    let r = sim("at-rating-2b", &text);
    let d = device(&r, "rack1");
    assert!(
        d.trips.is_empty(),
        "no trip at 100% of rating, got {:?}",
        d.trips
    );
    let expect =
        0.62 * (1.0 - (-1800.0f64 / 145.0).exp()) + 0.38 * (1.0 - (-1800.0f64 / 1300.0).exp());
    close(d.max_heat, expect, 1e-9, "heat after 30 min at the rating");
    close(d.max_heat, 0.904838, 1e-6, "heat after 30 min (literal)");
}

#[test]
fn heat_decays_after_an_overload_and_a_second_overload_trips_sooner() {
    // 36 servers, each VM: 100% for 100 s, then 2.5% for 300 s, then 100% again.
    //   100%: 36 × 260 = 9360 W, M = 1.5, dH/dt = (M² − 1)/k = 1.25 / 200 = 0.00625 /s.
    //   2.5% of 8 vCPUs = 0.2 cores, u = 0.025: 100 + 160 × 0.025 = 104 W;
    //         36 × 104 = 3744 W = 18 A, M = 0.6, dH/dt = −(1 − 0.36) / 600 = −0.0010667 /s.
    // H(100 s) = 0.00625 × 100 = 0.625.
    // H(400 s) = 0.625 − 0.64 / 600 × 300 = 0.625 − 0.32 = 0.305.
    // Second overload: (1 − 0.305) / 0.00625 = 0.695 × 160 = 111.2 s → trip at 511.2 s,
    // sooner than the 160 s it takes from cold.
    let demand =
        r#"{ kind = "steps", steps = [["0s", "100%"], ["100s", "2.5%"], ["400s", "100%"]] }"#;
    let r = sim(
        "heat-memory",
        &one_rack("heat-memory", "20min", "30A", 36, demand),
    );
    let d = device(&r, "rack1");
    assert_eq!(d.trips.len(), 1, "{:?}", d.trips);
    close(d.trips[0].time_s, 511.2, 1e-3, "second overload trip time");
    assert!(
        d.trips[0].time_s - 400.0 < 160.0,
        "a warm breaker trips sooner than a cold one"
    );
}

#[test]
fn heat_resets_fully_after_a_long_enough_rest() {
    // As above but resting 600 s at M = 0.6: cooling 0.64 / 600 × 600 = 0.64 > 0.625, so H
    // reaches 0 (it cannot go negative) and the second overload trips as from cold:
    // 100 + 600 + 160 = 860 s.
    let demand =
        r#"{ kind = "steps", steps = [["0s", "100%"], ["100s", "2.5%"], ["700s", "100%"]] }"#;
    let r = sim(
        "heat-reset",
        &one_rack("heat-reset", "20min", "30A", 36, demand),
    );
    let d = device(&r, "rack1");
    assert_eq!(d.trips.len(), 1, "{:?}", d.trips);
    close(
        d.trips[0].time_s,
        860.0,
        1e-3,
        "trip time after a full reset",
    );
}

#[test]
fn magnetic_element_trips_in_20_ms_at_ten_times_rating() {
    // Rating 2 A at 208 V = 416 W. 17 servers at 260 W = 4420 W = 21.25 A:
    // M = 4420 / 416 = 10.625 ≥ M_inst = 10 → magnetic trip after t_inst = 20 ms (the
    // thermal element alone would take 200 / (10.625² − 1) = 200 / 111.89 = 1.787 s).
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let r = sim("magnetic", &one_rack("magnetic", "1min", "2A", 17, demand));
    let d = device(&r, "rack1");
    assert_eq!(d.trips.len(), 1, "{:?}", d.trips);
    close(d.trips[0].time_s, 0.020, 1e-6, "magnetic trip time");
    assert!(r.summary.vms.iter().all(|v| v.lost), "all 17 VMs are lost");
}

#[test]
fn magnetic_pickup_is_inclusive_at_exactly_ten_times_rating() {
    // 16 × 260 W = 4160 W = 20 A on a 2 A rating: M = 10 exactly (all sums are of whole
    // watts, exact in f64). DESIGN §3: trip after t_inst "when M ≥ M_inst" → 20 ms.
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let r = sim(
        "magnetic-10",
        &one_rack("magnetic-10", "1min", "2A", 16, demand),
    );
    let d = device(&r, "rack1");
    assert_eq!(d.trips.len(), 1, "{:?}", d.trips);
    close(
        d.trips[0].time_s,
        0.020,
        1e-6,
        "magnetic trip time at M = 10",
    );
}

#[test]
fn just_below_magnetic_pickup_the_thermal_element_decides() {
    // 15 × 260 W = 3900 W on 416 W: M = 9.375 < 10, so only the thermal element acts:
    // t = 200 / (9.375² − 1) = 200 / (87.890625 − 1) = 200 / 86.890625 = 2.301744 s.
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let r = sim(
        "thermal-9",
        &one_rack("thermal-9", "1min", "2A", 15, demand),
    );
    let d = device(&r, "rack1");
    assert_eq!(d.trips.len(), 1, "{:?}", d.trips);
    close(
        d.trips[0].time_s,
        2.301744,
        1e-3,
        "thermal trip time at M = 9.375",
    );
}

// ---------------------------------------------------------------------------------------
// 3. A trip cuts every server below it
// ---------------------------------------------------------------------------------------

#[test]
fn a_rack_trip_cuts_its_servers_and_loses_their_vms() {
    let demand = r#"{ kind = "constant", level = "100%" }"#;
    let r = sim("cut", &one_rack("cut", "5min", "30A", 36, demand));
    // 150% → trip at 160 s (see above). Every one of the 36 VMs is lost, with one
    // vm_lost row each, and every server is off.
    assert_eq!(r.summary.vms.len(), 36);
    assert!(r
        .summary
        .vms
        .iter()
        .all(|v| v.lost && v.completion_s.is_none()));
    assert_eq!(
        event_count(&r, "vm_lost", "vm-"),
        36,
        "one vm_lost row per VM"
    );
    assert_eq!(
        event_count(&r, "server_off", "node-"),
        36,
        "one server_off row per server"
    );
    for e in r.event_rows().iter().filter(|e| e.kind == "vm_lost") {
        close(e.time_ns as f64 * 1e-9, 160.0, 1e-3, "vm_lost time");
        assert!(e.detail.contains("reason=breaker_trip"), "{}", e.detail);
    }
    assert!(r.summary.servers.iter().all(|s| !s.powered_at_end));
    // Energy: 9360 W × 160 s = 1,497,600 J, then nothing.
    close(
        r.summary.energy_j,
        1_497_600.0,
        1e-3,
        "energy up to the trip",
    );
    // The rack's power after the trip is 0 W in every time-series row after 161 s.
    let col = r.timeseries.column("rack1.power_w").unwrap();
    for (t, p) in col.iter().filter(|(t, _)| *t >= 161.0) {
        assert_eq!(*p, 0.0, "rack1 power at {t} s");
    }
}

/// A row (`row1`, optionally with its own 30 A breaker) feeding two racks; the breakers
/// are `ul489-le30a-integral` (Model A), whose 160 s at 150 % these tests count on.
fn two_racks(row_breaker: bool, rack_breakers: bool, a: (u32, &str), b: (u32, &str)) -> String {
    let row = if row_breaker {
        "rating = \"30A\"\nbreaker = \"ul489-le30a-integral\""
    } else {
        ""
    };
    let rack = if rack_breakers {
        "rating = \"30A\"\nbreaker = \"ul489-le30a-integral\""
    } else {
        ""
    };
    format!(
        r#"
name = "tree"
duration = "5min"

[[pdus]]
name = "row1"
kind = "row"
voltage = "208V"
{row}

[[pdus]]
name = "rackA"
parent = "row1"
voltage = "208V"
{rack}

[[pdus]]
name = "rackB"
parent = "row1"
voltage = "208V"
{rack}

[[servers]]
name = "a"
count = {na}
model = "generic-linear-260w"
pdu = "rackA"

[[servers]]
name = "b"
count = {nb}
model = "generic-linear-260w"
pdu = "rackB"

[[vms]]
name = "va"
count = {na}
host = "a"
vcpus = 8
demand = {{ kind = "constant", level = "{la}" }}

[[vms]]
name = "vb"
count = {nb}
host = "b"
vcpus = 8
demand = {{ kind = "constant", level = "{lb}" }}
"#,
        na = a.0,
        la = a.1,
        nb = b.0,
        lb = b.1
    )
}

#[test]
fn only_the_overloaded_rack_trips_and_its_sibling_keeps_running() {
    // rackA: 36 × 260 W = 9360 W = 150% of 30 A → trips at 160 s.
    // rackB: 2 servers at 50%: 2 × 180 W = 360 W (M = 0.058), never trips.
    // row1 has no breaker.
    let r = sim("tree", &two_racks(false, true, (36, "100%"), (2, "50%")));
    let a = device(&r, "rackA");
    assert_eq!(a.trips.len(), 1);
    close(a.trips[0].time_s, 160.0, 1e-3, "rackA trip");
    assert!(device(&r, "rackB").trips.is_empty());
    assert!(device(&r, "row1").trips.is_empty());
    // rackA's 36 VMs lost, rackB's 2 not.
    for v in &r.summary.vms {
        assert_eq!(
            v.lost,
            v.name.starts_with("va-"),
            "vm {} lost = {}",
            v.name,
            v.lost
        );
    }
    assert_eq!(event_count(&r, "vm_lost", "va-"), 36);
    assert_eq!(event_count(&r, "vm_lost", "vb-"), 0);
    for s in &r.summary.servers {
        assert_eq!(
            s.powered_at_end,
            s.name.starts_with("b-"),
            "server {}",
            s.name
        );
    }
    // rackB's servers run all 300 s at 180 W: 54,000 J each; its VMs use 4 cores × 300 s
    // = 1200 core-s each.
    for s in r
        .summary
        .servers
        .iter()
        .filter(|s| s.name.starts_with("b-"))
    {
        close(s.energy_j, 54_000.0, 1e-6, &s.name);
    }
    for v in r.summary.vms.iter().filter(|v| v.name.starts_with("vb-")) {
        close(v.cpu_core_s, 1200.0, 1e-6, &v.name);
    }
    // rackA: 9360 W × 160 s = 1,497,600 J. rackB: 360 W × 300 s = 108,000 J.
    // row1 carries both: 1,605,600 J; that is also every server's energy.
    close(
        device(&r, "rackA").energy_j,
        1_497_600.0,
        1e-3,
        "rackA energy",
    );
    close(
        device(&r, "rackB").energy_j,
        108_000.0,
        1e-6,
        "rackB energy",
    );
    close(
        device(&r, "row1").energy_j,
        1_605_600.0,
        1e-3,
        "row1 energy",
    );
    close(r.summary.energy_j, 1_605_600.0, 1e-3, "total energy");
    // After the trip the row carries only rackB: 360 W.
    let row = r.timeseries.column("row1.power_w").unwrap();
    for (t, p) in row.iter().filter(|(t, _)| *t >= 161.0) {
        close(*p, 360.0, 1e-9, &format!("row1 power at {t} s"));
    }
}

#[test]
fn a_row_trip_cuts_both_racks_below_it() {
    // Racks without breakers: rackA 20 × 260 = 5200 W, rackB 16 × 260 = 4160 W.
    // row1 (30 A at 208 V = 6240 W) carries 9360 W = 150% → trips at 160 s and cuts both.
    let r = sim(
        "tree-row",
        &two_racks(true, false, (20, "100%"), (16, "100%")),
    );
    let row = device(&r, "row1");
    assert_eq!(row.trips.len(), 1);
    close(row.trips[0].time_s, 160.0, 1e-3, "row1 trip");
    close(row.trips[0].load_cut_w, 9360.0, 1e-6, "row1 load cut");
    assert!(r.summary.vms.iter().all(|v| v.lost), "all 36 VMs lost");
    assert_eq!(event_count(&r, "vm_lost", "v"), 36);
    assert!(r.summary.servers.iter().all(|s| !s.powered_at_end));
    // rackA: 5200 × 160 = 832,000 J; rackB: 4160 × 160 = 665,600 J; row 1,497,600 J.
    close(
        device(&r, "rackA").energy_j,
        832_000.0,
        1e-3,
        "rackA energy",
    );
    close(
        device(&r, "rackB").energy_j,
        665_600.0,
        1e-3,
        "rackB energy",
    );
    close(row.energy_j, 1_497_600.0, 1e-3, "row1 energy");
}

#[test]
fn a_row_trip_also_cuts_racks_that_have_their_own_breakers() {
    // As above, racks with 30 A breakers: rackA M = 5200/6240 = 0.83, rackB 0.67 — neither
    // trips itself, both go dark when row1 trips at 160 s.
    let r = sim(
        "tree-row2",
        &two_racks(true, true, (20, "100%"), (16, "100%")),
    );
    close(device(&r, "row1").trips[0].time_s, 160.0, 1e-3, "row1 trip");
    assert!(device(&r, "rackA").trips.is_empty());
    assert!(device(&r, "rackB").trips.is_empty());
    assert!(r.summary.vms.iter().all(|v| v.lost));
    assert_eq!(event_count(&r, "vm_lost", "v"), 36);
}

#[test]
fn a_vm_that_has_not_started_when_its_host_is_cut_is_lost_once() {
    // The 150% rack trips at 160 s; one extra 1-vCPU VM is scheduled to start at 200 s on
    // node-1, after its host lost power. It must be reported lost, with exactly one
    // vm_lost row (the log is per event, so one VM lost once is one row).
    let mut text = one_rack(
        "late",
        "5min",
        "30A",
        36,
        r#"{ kind = "constant", level = "100%" }"#,
    );
    text.push_str(
        r#"
[[vms]]
name = "late"
host = "node-1"
start = "200s"
demand = { kind = "constant", level = "10%" }
"#,
    );
    let r = sim("late", &text);
    let late = r.summary.vms.iter().find(|v| v.name == "late").unwrap();
    assert!(late.lost, "a VM whose host is dark is lost");
    let all = r.event_rows();
    let rows: Vec<_> = all
        .iter()
        .filter(|e| e.kind == "vm_lost" && e.entity == "late")
        .collect();
    for e in &rows {
        eprintln!(
            "vm_lost row for `late`: {} s {}",
            e.time_ns as f64 * 1e-9,
            e.detail
        );
    }
    assert_eq!(
        rows.len(),
        1,
        "one vm_lost row for one lost VM, got {}",
        rows.len()
    );
}

// ---------------------------------------------------------------------------------------
// 4. Determinism
// ---------------------------------------------------------------------------------------

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

#[test]
fn the_same_scenario_twice_gives_byte_identical_outputs() {
    let base = scratch("determinism");
    let run_to = |out: &str| {
        let opts = RunOptions {
            scenario: Some(crate_path("scenarios/rack/basic.toml")),
            out: Some(base.join(out)),
            ..RunOptions::default()
        };
        run_command(&opts).unwrap_or_else(|e| panic!("run failed: {e}"));
        read_dir_bytes(&base.join(out))
    };
    let a = run_to("a");
    let b = run_to("b");
    for f in [
        "summary.json",
        "timeseries.csv",
        "events.csv",
        "power.svg",
        "power.png",
    ] {
        assert!(
            a.contains_key(f),
            "output {f} missing; have {:?}",
            a.keys().collect::<Vec<_>>()
        );
        assert!(!a[f].is_empty(), "output {f} is empty");
    }
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same file set"
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between two runs of the same scenario"
        );
    }
    // Nothing else (no staging or old directories) was left beside the outputs.
    let mut names: Vec<String> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
    fs::remove_dir_all(&base).unwrap();
}

fn drawn_k(text: &str, seed: Option<u64>, replicate: u32) -> (f64, f64) {
    let mut sc = load("draw-k", text);
    if let Some(s) = seed {
        sc.seed = s;
    }
    sc.replicate = replicate;
    let r = run(&sc);
    let d = device(&r, "rack1");
    (d.breaker_k_s.expect("a breaker has k"), d.trips[0].time_s)
}

fn draw_k_rack(extra_pdu_first: bool) -> String {
    let base = one_rack(
        "draw-k",
        "10min",
        "30A",
        36,
        r#"{ kind = "constant", level = "100%" }"#,
    )
    .replace(
        "breaker = \"ul489-le30a-integral\"",
        "breaker = \"ul489-le30a-integral\"\ndraw_k = true",
    );
    if extra_pdu_first {
        // Another device with its own draw, listed before rack1.
        base.replacen(
            "[[pdus]]",
            "[[pdus]]\nname = \"rack0\"\nvoltage = \"208V\"\nrating = \"30A\"\nbreaker = \"ul489-le30a\"\ndraw_k = true\n\n[[pdus]]",
            1,
        )
    } else {
        base
    }
}

#[test]
fn draw_k_depends_on_the_seed_and_nothing_else() {
    let text = draw_k_rack(false);
    let (k1, t1) = drawn_k(&text, Some(1), 0);
    let (k1b, t1b) = drawn_k(&text, Some(1), 0);
    let (k2, _) = drawn_k(&text, Some(2), 0);
    let (k1r, _) = drawn_k(&text, Some(1), 1);
    eprintln!("k(seed 1) = {k1} s, k(seed 2) = {k2} s, k(seed 1, replicate 1) = {k1r} s");
    assert_eq!(k1.to_bits(), k1b.to_bits(), "same seed, same k");
    assert_eq!(t1.to_bits(), t1b.to_bits(), "same seed, same trip time");
    assert_ne!(k1, k2, "a different seed draws a different k");
    assert_ne!(k1, k1r, "a different replicate draws a different k");
    // The preset's band is 60–360 s.
    for k in [k1, k2, k1r] {
        assert!(
            (60.0..=360.0).contains(&k),
            "k = {k} outside the 60–360 s band"
        );
    }
    // The trip follows the drawn k: at M = 1.5, t = k / 1.25.
    close(t1, k1 / 1.25, 1e-3, "trip time with the drawn k");
    // Without draw_k the nominal k = 200 s is used, whatever the seed.
    let nominal = one_rack(
        "nominal",
        "10min",
        "30A",
        36,
        r#"{ kind = "constant", level = "100%" }"#,
    );
    assert_eq!(drawn_k(&nominal, Some(1), 0).0, 200.0);
    assert_eq!(drawn_k(&nominal, Some(2), 0).0, 200.0);
}

#[test]
fn adding_a_device_does_not_shift_another_devices_draw() {
    // DESIGN §3: one stream per component, so a device listed before rack1 with its own
    // draw leaves rack1's k unchanged.
    let (alone, _) = drawn_k(&draw_k_rack(false), Some(7), 0);
    let (with_other, _) = drawn_k(&draw_k_rack(true), Some(7), 0);
    assert_eq!(alone.to_bits(), with_other.to_bits());
}

#[test]
fn a_seed_given_on_the_command_line_changes_k_and_is_reported() {
    // Through run_command: --seed overrides the scenario's seed and summary.seed says so.
    let base = scratch("seed-override");
    let path = base.join("draw.toml");
    fs::write(&path, draw_k_rack(false)).unwrap();
    let go = |seed: Option<u64>, out: &str| {
        let opts = RunOptions {
            scenario: Some(path.clone()),
            out: Some(base.join(out)),
            seed,
            ..RunOptions::default()
        };
        run_command(&opts).unwrap_or_else(|e| panic!("{e}")).0
    };
    let a = go(None, "a"); // scenario seed: 1 (default)
    let b = go(Some(99), "b");
    assert_eq!(a.summary.seed, 1);
    assert_eq!(b.summary.seed, 99);
    assert_ne!(
        a.summary.devices[0].breaker_k_s,
        b.summary.devices[0].breaker_k_s
    );
    fs::remove_dir_all(&base).unwrap();
}

// ---------------------------------------------------------------------------------------
// 6. The shipped scenarios
// ---------------------------------------------------------------------------------------

#[test]
fn shipped_basic_rack_violates_its_cap_during_the_peak_and_never_trips() {
    let sc = load_file(
        &crate_path("scenarios/rack/basic.toml"),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    // Per server (ibm-x3550-m3: 12 cores; table 66, 107, 120, 131, 143, 156, 173, 191, 211,
    // 229, 247 W at 0 … 100%): 4 web VMs × 2 vCPUs, 2 batch VMs × 2 vCPUs, dom0 0.05 cores.
    // Batch: 90% of 2 vCPUs = 1.8 cores, work 50 min × 2 vCPUs = 6000 core-s. Per-server
    // demand never exceeds 12 cores (max 10.85, below), so nobody is slowed:
    // batch finishes at 6000 / 1.8 = 3333.333 s.
    //   0–1800 s:    web 25% → 4 × 0.5 + 3.6 + 0.05 = 5.65 cores, u = 0.470833:
    //                143 + (156 − 143) × 0.70833 = 152.2083 W; rack 24 × = 3653 W.
    //   1800–3333 s: web 90% → 4 × 1.8 + 3.6 + 0.05 = 10.85 cores, u = 0.904167:
    //                229 + 18 × 0.041667 = 229.75 W; rack 5514 W  (> cap 4992 W).
    //   3333–3600 s: batch done → 7.2 + 0.05 = 7.25 cores, u = 0.604167:
    //                173 + 18 × 0.041667 = 173.75 W; rack 4170 W.
    //   3600–7200 s: web 50% → 4 × 1.0 + 0.05 = 4.05 cores, u = 0.3375:
    //                131 + 12 × 0.375 = 135.5 W; rack 3252 W.
    let d = device(&r, "rack1");
    // Cap: 80% of 208 V × 30 A = 0.8 × 6240 = 4992 W.
    close(d.cap_w.unwrap(), 4992.0, 1e-9, "cap");
    assert!(
        d.trips.is_empty(),
        "never above the rating (peak 5514 W < 6240 W)"
    );
    // The breaker (ul489-le30a, two-body) warms below its rating but never reaches 1:
    // each body relaxes towards its share of x = M² (M = P / 6240 W), the fast one (62 %)
    // with τ 145 s, the slow one (38 %) with τ 1300 s. Both rise through 3653 W for
    // 1800 s and 5514 W for 1533.333 s and the sum peaks when the load falls at
    // 3333.333 s (then the fast body cools faster than the slow one warms):
    // 0.484116 + 0.235509 = 0.719626.
    let step = |h: (f64, f64), p: f64, dt: f64| {
        let x = (p / 6240.0f64).powi(2);
        (
            0.62 * x + (h.0 - 0.62 * x) * (-dt / 145.0).exp(),
            0.38 * x + (h.1 - 0.38 * x) * (-dt / 1300.0).exp(),
        )
    };
    let h = step(step((0.0, 0.0), 3653.0, 1800.0), 5514.0, 4600.0 / 3.0);
    close(d.max_heat, h.0 + h.1, 1e-9, "peak heat, M ≤ 0.88 < 1");
    close(d.max_heat, 0.719626, 1e-6, "peak heat (literal)");
    assert_eq!(d.min_time_to_trip_s, None);
    // One episode, from 1800 s to 3333.333 s: 1533.333 s over the cap.
    assert_eq!(d.violations.episodes, 1);
    close(
        d.violations.seconds_over_cap,
        1_533.333_333,
        1e-6,
        "seconds over cap",
    );
    // Energy over cap: (5514 − 4992) × 1533.333 = 522 × 1533.333 = 800,400 J.
    close(
        d.violations.energy_over_cap_j,
        800_400.0,
        1e-3,
        "energy over cap",
    );
    // Peak 5514 W: overshoot (5514 − 4992) / 4992 = 10.4567%.
    close(d.peak_w, 5514.0, 1e-6, "peak");
    close(
        d.violations.peak_overshoot_pct,
        522.0 / 4992.0 * 100.0,
        1e-9,
        "overshoot",
    );
    // Energy: 3653 × 1800 + 5514 × 1533.333 + 4170 × 266.667 + 3252 × 3600
    //   = 6,575,400 + 8,454,800 + 1,112,000 + 11,707,200 = 27,849,400 J.
    close(d.energy_j, 27_849_400.0, 0.01, "rack energy");
    close(r.summary.energy_j, 27_849_400.0, 0.01, "total energy");
    // Batch VMs: completion 3333.333 s, slowdown 1 (never contended); web VMs: open-ended,
    // demanded = delivered, slowdown 1. Nothing lost.
    assert_eq!(r.summary.vms.len(), 96 + 48);
    for v in &r.summary.vms {
        assert!(!v.lost, "{}", v.name);
        close(
            v.slowdown.unwrap(),
            1.0,
            1e-9,
            &format!("{} slowdown", v.name),
        );
        if v.name.starts_with("batch-") {
            close(v.completion_s.unwrap(), 3_333.333_333, 1e-6, &v.name);
        } else {
            assert_eq!(v.completion_s, None, "{}", v.name);
        }
    }
    // Placement is round-robin: 4 web VMs and 2 batch VMs per server.
    let on_node1: Vec<_> = r
        .summary
        .vms
        .iter()
        .filter(|v| v.host == "node-1")
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        on_node1,
        vec!["web-1", "web-25", "web-49", "web-73", "batch-1", "batch-25"]
    );
    // Time-series rows (10 s averages) inside each phase.
    let col = r.timeseries.column("rack1.power_w").unwrap();
    let at = |t: f64| col.iter().find(|(x, _)| (*x - t).abs() < 1e-9).unwrap().1;
    close(at(1000.0), 3653.0, 1e-6, "rack power at 1000 s");
    close(at(2000.0), 5514.0, 1e-6, "rack power at 2000 s");
    close(at(3500.0), 4170.0, 1e-6, "rack power at 3500 s");
    close(at(5000.0), 3252.0, 1e-6, "rack power at 5000 s");
    // The row 3330–3340 s straddles the batch completion at 3333.333 s:
    // (5514 × 3.333 + 4170 × 6.667) / 10 = (18,380 + 27,800) / 10 = 4618 W.
    close(at(3340.0), 4618.0, 1e-3, "rack power at 3340 s");
}

#[test]
fn shipped_preheated_trip_scenario_trips_preloaded_breakers_sooner_unless_model_a() {
    let sc = load_file(
        &crate_path("scenarios/rack/preheated-trip.toml"),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    let trip = |name: &str| {
        let d = device(&r, name);
        assert_eq!(d.trips.len(), 1, "{name}");
        close(d.trips[0].load_cut_w, 9360.0, 1e-6, name);
        d.trips[0].time_s
    };
    // τ = 231.74 s (models/breakers/ul489-le30a-first-order.toml); 150 %: x = 2.25.
    // Cold: τ·ln(2.25/1.25) = 231.74 × 0.5877867 = 136.2137 s.
    close(trip("rack-cold"), 136.2137, 1e-3, "cold first-order trip");
    // Preloaded 2 h at 36 × (100 + 160 × 0.25) = 5040 W: x₀ = (5040/6240)² = 0.6523669
    // (e^(−7200/231.74) = 3e-14 short of steady). After the step at 7200 s:
    // τ·ln((2.25 − 0.6523669)/1.25) = 231.74 × 0.2453797 = 56.8643 s → 7256.8643 s.
    close(
        trip("rack-hot"),
        7256.8643,
        1e-3,
        "preloaded first-order trip",
    );
    // Model A keeps no heat below pickup: 200/(2.25 − 1) = 160 s after the step.
    close(
        trip("rack-integral"),
        7360.0,
        1e-3,
        "Model A after the same preload",
    );
    // Two-body (ul489-le30a-two-body.toml), the roots worked in preheated-trip.toml:
    // cold 2.25·(1 − 0.62e^(−t/145) − 0.38e^(−t/1300)) = 1 at 151.914 s; preloaded
    // (fast 0.404467, slow 0.246925) 57.110 s after the step.
    close(
        trip("rack-two-body-cold"),
        151.914,
        1e-3,
        "cold two-body trip",
    );
    close(
        trip("rack-two-body-hot"),
        7257.110,
        1e-3,
        "preloaded two-body trip",
    );
}

#[test]
fn shipped_overload_trip_scenario_trips_at_151_9_s_and_loses_all_36_vms() {
    let sc = load_file(
        &crate_path("scenarios/rack/overload-trip.toml"),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    let d = device(&r, "rack1");
    // 36 × 260 W = 9360 W = 45 A = 150% of 30 A, x = 2.25, on the two-body ul489-le30a
    // from cold: the root of 2.25 (1 − 0.62 e^(−t/145) − 0.38 e^(−t/1300)) = 1, found here
    // by bisection on that formula: 151.914 s (worked in the scenario file).
    let f = |t: f64| 2.25 * (1.0 - 0.62 * (-t / 145.0).exp() - 0.38 * (-t / 1300.0).exp()) - 1.0;
    let (mut lo, mut hi) = (0.0, 1000.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    assert_eq!(d.trips.len(), 1);
    close(d.trips[0].time_s, hi, 1e-6, "trip time");
    close(d.trips[0].time_s, 151.914, 1e-3, "trip time (literal)");
    let t = d.trips[0].time_s;
    close(d.trips[0].load_cut_w, 9360.0, 1e-6, "load cut");
    assert_eq!(r.summary.vms.len(), 36);
    assert!(r.summary.vms.iter().all(|v| v.lost));
    assert_eq!(event_count(&r, "vm_lost", "vm-"), 36);
    // Above the 4992 W cap from 0 to the trip: one episode of t s, (9360 − 4992) × t
    // = 4368 × 151.914 = 663,560 J over the cap.
    assert_eq!(d.violations.episodes, 1);
    close(d.violations.seconds_over_cap, t, 1e-6, "seconds over cap");
    close(
        d.violations.energy_over_cap_j,
        4368.0 * t,
        0.01,
        "energy over cap",
    );
    // The built-in default (`capsim run` with no scenario) is basic.toml.
    let def = capsim::app::load(&RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(def.name, "rack-basic");
}

// ---------------------------------------------------------------------------------------
// Traces: PlanetLab demand (made-up files in its format; the real day when it is beside
// the checkout). The PlanetLab data's licence is not stated, so no excerpt is committed.
// ---------------------------------------------------------------------------------------

/// Where scenarios/rack/planetlab.toml reads its traces, relative to the scenario.
const PLANETLAB_DIR: &str = "../../../shared/data/planetlab-cloudsim/20110303/";

/// The PlanetLab example's eight trace files, the first four on g4-1 and the rest on g4-2.
const PLANETLAB_FILES: [&str; 8] = [
    "ait05_us_es_root",
    "ait05_us_es_uw_oneswarm",
    "chimay_infonet_fundp_ac_be_irisaple_HEAP",
    "chimay_infonet_fundp_ac_be_tum_i2p",
    "chronos_disy_inf_uni-konstanz_de_root",
    "chronos_disy_inf_uni-konstanz_de_nyu_d",
    "csplanetlab2_kaist_ac_kr_root",
    "csplanetlab2_kaist_ac_kr_princeton_codeen",
];

/// The PlanetLab example run on made-up traces in the PlanetLab format (one percent per
/// 5-minute line), written under the files' own names. Server g4-1 (HP ML110 G4, 2 cores,
/// SPECpower table 86, 89.4, 92.6, 96, 99.5, … W) hosts the first four 1-vCPU VMs:
/// - first 5 minutes: 35 + 25 + 5 + 5 % = 0.70 busy cores, u = 0.35, so
///   96 + (99.5 − 96) × 0.5 = 97.75 W (between the 30 % and 40 % points);
/// - next 5 minutes: 4 × 5 % = 0.20 cores, u = 0.10: the 10 % point, 89.4 W;
/// - then the two-line traces start again (a trace repeats by default): 97.75 W.
///
/// g4-2's four VMs read 20 % throughout (a one-line trace): 0.80 cores, u = 0.40, 99.5 W.
#[test]
fn planetlab_format_traces_drive_demand() {
    let dir = scratch("planetlab-format");
    let traces = [
        "35\n5\n", "25\n5\n", "5\n5\n", "5\n5\n", "20\n", "20\n", "20\n", "20\n",
    ];
    for (f, t) in PLANETLAB_FILES.iter().zip(traces) {
        fs::write(dir.join(f), t).unwrap();
    }
    let text = fs::read_to_string(crate_path("scenarios/rack/planetlab.toml")).unwrap();
    assert_eq!(text.matches(PLANETLAB_DIR).count(), 8);
    let text = text.replace(PLANETLAB_DIR, "");
    let sc = load_str("rack-planetlab", &text, &dir, &Library::new(vec![]))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    let g41 = r.timeseries.column("g4-1.power_w").unwrap();
    assert_eq!(g41[0].0, 300.0);
    close(g41[0].1, 97.75, 1e-9, "g4-1 over the first 5 minutes");
    close(g41[1].1, 89.4, 1e-9, "g4-1 over the second 5 minutes");
    close(g41[2].1, 97.75, 1e-9, "g4-1 once the traces repeat");
    let g42 = r.timeseries.column("g4-2.power_w").unwrap();
    assert!(g42.iter().all(|&(_, w)| (w - 99.5).abs() < 1e-9), "{g42:?}");
    // 288 five-minute rows for 24 h, and no VM ever lost (at most 0.7 of 2 cores busy).
    assert_eq!(r.timeseries.rows(), 288);
    assert!(r
        .summary
        .vms
        .iter()
        .all(|v| !v.lost && v.slowdown == Some(1.0)));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_shared_data_set_says_where_to_get_it() {
    // A trace under a shared/data/ folder that is not there: the error names the field and
    // points at README.md § Data (a plain clone has no ../shared).
    let dir = scratch("missing-shared");
    let text = fs::read_to_string(crate_path("scenarios/rack/planetlab.toml")).unwrap();
    let text = text.replace(
        PLANETLAB_DIR,
        "no-such/shared/data/planetlab-cloudsim/20110303/",
    );
    let e = load_str("rack-planetlab", &text, &dir, &Library::new(vec![])).unwrap_err();
    assert_eq!(e.field, "vms[0].demand.file", "{e}");
    assert!(
        e.message.contains("cannot read the trace") && e.message.contains("README.md § Data"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The PlanetLab example on the real day. Server g4-1 (HP ML110 G4, 2 cores, SPECpower
/// table 86, 89.4, 92.6, … W) hosts four 1-vCPU VMs; in the first 5-minute interval their
/// traces read 2, 24, 0 and 2 % (first lines of the files, read here), so busy = 0.28
/// cores, utilisation 0.14 and power 89.4 + (92.6 − 89.4) × 0.4 = 90.68 W (10 % and 20 %
/// points of the table).
#[test]
fn planetlab_traces_drive_demand_from_the_shared_data() {
    let Some(dir) = shared_data::full_data(
        "foundation::planetlab_traces_drive_demand_from_the_shared_data",
        "planetlab-cloudsim/20110303",
    ) else {
        return;
    };
    let path = crate_path("scenarios/rack/planetlab.toml");
    let sc = load_file(&path, &Library::new(vec![])).expect("planetlab scenario loads");
    let r = run(&sc);
    let first = |f: &str| -> f64 {
        let text = fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        text.lines().next().unwrap().trim().parse().unwrap()
    };
    let busy: f64 = PLANETLAB_FILES[..4].iter().map(|f| first(f) / 100.0).sum();
    close(busy, 0.28, 1e-12, "first-interval demand of g4-1 (cores)");
    let u = busy / 2.0;
    let expected = 89.4 + (92.6 - 89.4) * (u - 0.1) / 0.1;
    let g41 = r.timeseries.column("g4-1.power_w").unwrap();
    assert_eq!(g41[0].0, 300.0);
    close(
        g41[0].1,
        expected,
        1e-9,
        "g4-1 power over the first 5 minutes",
    );
    close(expected, 90.68, 1e-9, "hand value");
    // 288 five-minute rows for 24 h, and no VM ever lost.
    assert_eq!(r.timeseries.rows(), 288);
    assert!(r
        .summary
        .vms
        .iter()
        .all(|v| !v.lost && v.slowdown == Some(1.0)));
}
