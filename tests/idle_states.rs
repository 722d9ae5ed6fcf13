//! Idle states through the whole simulator: idle injection reaches package states that the
//! same utilisation spread evenly does not. Expected values are worked by hand in
//! scenarios/rack/idle-injection.toml from models/servers/i7-920-idle-states.toml.

use capsim::scenario::{load_file, load_str, Library};
use capsim::sim::{run, RunResult};
use std::path::Path;

fn row(r: &RunResult, col: &str, t_s: f64) -> f64 {
    r.timeseries
        .column(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .iter()
        .find(|(t, _)| (t - t_s).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no row at {t_s} s"))
        .1
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9,
        "{what}: got {actual}, expected {expected}"
    );
}

#[test]
fn idle_injection_draws_less_than_the_same_utilisation_spread_evenly() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rack/idle-injection.toml");
    let r = run(&load_file(&p, &Library::new(vec![])).unwrap_or_else(|e| panic!("{e}")));
    // Before 100 s: 100 + 4 × 17 + 10 = 178 W each.
    close(row(&r, "forced.power_w", 50.0), 178.0, "forced, before");
    close(row(&r, "spread.power_w", 50.0), 178.0, "spread, before");
    // 40 % forced idle: 100 + 2.4 × 17 + 0.6 × 10 = 146.8 W.
    close(row(&r, "forced.power_w", 150.0), 146.8, "forced idle 40 %");
    // Caps of 60 %: 100 + 2.4 × 17 + 0.9744 × 10 + 0.0256 × 4 = 150.6464 W.
    close(row(&r, "spread.power_w", 150.0), 150.6464, "spread at 60 %");
    // The same CPU on both: 2.4 cores × 100 s after 100 s, 4 × 100 s before.
    let cpu = |prefix: &str| -> f64 {
        r.summary
            .vms
            .iter()
            .filter(|v| v.name.starts_with(prefix))
            .map(|v| v.cpu_core_s)
            .sum()
    };
    close(cpu("f-"), 640.0, "forced CPU");
    close(cpu("s-"), 640.0, "spread CPU");
}

#[test]
fn idle_injection_lowers_a_measured_specpower_curve_without_taking_cpu() {
    // The forced server on models/servers/ibm-x3550-m3.toml (SPECpower table, 12 cores in
    // two packages, [idle] with package_active 10 W per package): its four 1-vCPU VMs at
    // 100 % keep 4 cores busy and, never sleeping, wake nothing.
    // Before 100 s: u = 4/12 between the 30 % (131 W) and 40 % (143 W) points:
    // 131 + 12/3 = 135 W, and the idle states add nothing (no forced idle, no dom0 task:
    // the table's own load).
    // 40 % forced idle leaves 7.2 cores, more than the 4 the VMs use: CPU unchanged. Per
    // package (6 cores, 2 busy), without wake-ups every gap reaches C6/PC6 (0 W), so only
    // the package's active time costs: the reference is active 1 − (1 − 2/6)^6 of the
    // time, 10 × (1 − 64/729) W; with forced idle the cores are busy 2/3.6 of the free
    // 60 %, so 0.6 × 10 × (1 − (1 − 2/3.6)^6) W = 0.6 × 10 × (1 − 4096/531441) W, and the
    // injected 6 ms periods are in PC6 (0 W). Two packages:
    // 135 + 2 × (6 × (1 − 4096/531441) − 10 × (1 − 64/729)) = 128.6633... W.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rack/idle-injection.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("model = \"i7-920-idle-states\"", "model = \"ibm-x3550-m3\"");
    let sc = load_str("x3550", &text, p.parent().unwrap(), &Library::new(vec![]))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    close(row(&r, "forced.power_w", 50.0), 135.0, "x3550 before");
    let forced = 6.0 * (1.0 - 4096.0 / 531441.0);
    let reference = 10.0 * (1.0 - 64.0 / 729.0);
    let expected = 135.0 + 2.0 * (forced - reference);
    close(
        row(&r, "forced.power_w", 150.0),
        expected,
        "x3550 forced idle 40 %",
    );
    let cpu: f64 = r
        .summary
        .vms
        .iter()
        .filter(|v| v.name.starts_with("f-"))
        .map(|v| v.cpu_core_s)
        .sum();
    close(cpu, 800.0, "x3550 forced CPU: 4 cores × 200 s");
}

#[test]
fn a_model_without_idle_states_is_unchanged_by_wake_ups() {
    // The same world on models/servers/i7-920-xen34.toml (no [idle]): 2.4 busy cores
    // both ways, 100 + 2.4 × 17 = 140.8 W, whatever the wake-ups.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rack/idle-injection.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("model = \"i7-920-idle-states\"", "model = \"i7-920-xen34\"");
    let sc = load_str("no-idle", &text, p.parent().unwrap(), &Library::new(vec![]))
        .unwrap_or_else(|e| panic!("{e}"));
    let r = run(&sc);
    close(row(&r, "forced.power_w", 150.0), 140.8, "forced");
    close(row(&r, "spread.power_w", 150.0), 140.8, "spread");
}

#[test]
fn a_bad_idle_table_is_an_error_naming_the_model() {
    let d = std::env::temp_dir().join(format!("capsim-idle-{}", std::process::id()));
    let lib = d.join("servers");
    std::fs::create_dir_all(&lib).unwrap();
    let model = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/servers/i7-920-idle-states.toml"),
    )
    .unwrap()
    .replace(
        "target_residency = \"800us\", power = \"0W\" },\n]\npackage",
        "target_residency = \"800us\", power = \"1W\" },\n]\npackage",
    );
    std::fs::write(lib.join("bad-idle.toml"), model).unwrap();
    let text = "name = \"x\"\nduration = \"1s\"\n[[pdus]]\nname = \"r\"\nvoltage = \"230V\"\n\
                [[servers]]\nname = \"h\"\nmodel = \"bad-idle\"\npdu = \"r\"\n";
    let err = load_str("x", text, Path::new("."), &Library::new(vec![d.clone()]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad-idle") && err.contains("C6") && err.contains("0 W"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
