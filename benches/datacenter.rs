//! `cargo bench --bench datacenter`: the datacenter-scale target. 10,000 servers (250
//! racks of 40), 80,000 VMs, 24 simulated hours, 5-minute demand steps, a 1-second
//! control period per rack PDU and last-resort page-level migration
//! (`scenarios/datacenter/dc-10k.toml`). One run on one core; prints wall time,
//! events/s, peak RSS and migrations, and a JSON object on the last line.
//!
//! Targets: ≤ 120 s of wall time and ≤ 4 GiB of peak memory.

use capsim::scenario::{load_file, Library};
use capsim::sim::run;
use std::path::Path;
use std::time::Instant;

mod support;
use support::peak_rss_mib;

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/datacenter/dc-10k.toml");
    let t0 = Instant::now();
    let sc = load_file(&path, &Library::new(vec![])).unwrap_or_else(|e| panic!("{e}"));
    let load_s = t0.elapsed().as_secs_f64();
    println!(
        "loaded {}: {} servers, {} VMs, {} devices in {load_s:.2} s",
        sc.name,
        sc.servers.len(),
        sc.vms.len(),
        sc.devices.len()
    );
    let t1 = Instant::now();
    let r = run(&sc);
    let wall_s = t1.elapsed().as_secs_f64();
    let rss = peak_rss_mib();
    let migrations = r.summary.migrations.len();
    let done = r
        .summary
        .migrations
        .iter()
        .filter(|m| m.end_s.is_some() && m.aborted.is_none())
        .count();
    let pages: u64 = r.summary.migrations.iter().map(|m| m.pages_sent).sum();
    let events_per_s = r.events_processed as f64 / wall_s;
    let over: f64 = r
        .summary
        .devices
        .iter()
        .map(|d| d.violations.seconds_over_cap)
        .sum();
    println!(
        "simulated {:.0} s in {wall_s:.1} s of wall time (target <= 120 s): {} events, {events_per_s:.0} events/s",
        r.summary.duration_s, r.events_processed
    );
    println!("peak RSS {rss:.0} MiB (target <= 4096 MiB)");
    println!("{migrations} migrations started, {done} completed, {pages} pages sent; {over:.0} device-seconds over cap");
    let json = serde_json::json!({
        "bench": "datacenter",
        "servers": sc.servers.len(),
        "vms": sc.vms.len(),
        "simulated_s": r.summary.duration_s,
        "load_s": load_s,
        "wall_s": wall_s,
        "wall_target_s": 120.0,
        "events": r.events_processed,
        "events_per_s": events_per_s,
        "peak_rss_mib": rss,
        "peak_rss_target_mib": 4096.0,
        "migrations": migrations,
        "migrations_completed": done,
        "pages_sent": pages,
        "meets_targets": wall_s <= 120.0 && rss <= 4096.0,
    });
    println!("{json}");
}
