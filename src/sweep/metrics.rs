//! The metric columns of `runs.csv`, each computed from a run's typed [`Summary`].

use crate::output::summary::{DeviceSummary, Summary};

/// A metric: its `runs.csv` column and how it is computed from the run's summary.
pub type Metric = (&'static str, fn(&Summary) -> f64);

/// The metric columns of `runs.csv`, in column order. Sums over devices count every
/// capped device (a rack and its row both over cap for one second are two
/// device-seconds). Units: energies J, times s, power W, percentages % of the cap.
pub const METRICS: [Metric; 17] = [
    ("energy_j", |s| value(s.energy_j)),
    ("seconds_over_cap", |s| {
        sum_devices(s, |d| d.violations.seconds_over_cap)
    }),
    ("episodes", |s| {
        sum_devices(s, |d| d.violations.episodes as f64)
    }),
    ("energy_over_cap_j", |s| {
        sum_devices(s, |d| d.violations.energy_over_cap_j)
    }),
    ("peak_overshoot_pct", |s| {
        // f64::max skips a missing (NaN) value.
        s.devices
            .iter()
            .map(|d| value(d.violations.peak_overshoot_pct))
            .fold(0.0, f64::max)
    }),
    ("trips", |s| {
        s.devices.iter().map(|d| d.trips.len() as f64).sum()
    }),
    ("load_cut_w", |s| {
        s.devices
            .iter()
            .flat_map(|d| &d.trips)
            .map(|t| value(t.load_cut_w))
            .sum()
    }),
    ("mean_slowdown", |s| {
        let slow = slowdowns(s);
        if slow.is_empty() {
            f64::NAN
        } else {
            slow.iter().sum::<f64>() / slow.len() as f64
        }
    }),
    ("p95_slowdown", |s| {
        let slow = slowdowns(s);
        if slow.is_empty() {
            f64::NAN
        } else {
            // The nearest-rank 95th percentile.
            slow[((slow.len() as f64 * 0.95).ceil() as usize).clamp(1, slow.len()) - 1]
        }
    }),
    ("time_throttled_s", |s| {
        s.vms.iter().map(|v| value(v.time_throttled_s)).sum()
    }),
    ("migrations", |s| s.migrations.len() as f64),
    ("lost_vms", |s| {
        s.vms.iter().filter(|v| v.lost).count() as f64
    }),
    ("servers_per_provisioned_kw", |s| {
        s.servers_per_provisioned_kw.map_or(f64::NAN, value)
    }),
    // The services' delay of work (summary.json's `work_delay`).
    ("mean_delay_s", |s| value(s.work_delay.mean_s)),
    ("p95_delay_s", |s| value(s.work_delay.p95_s)),
    ("p99_delay_s", |s| value(s.work_delay.p99_s)),
    ("backlog_vm_s", |s| value(s.work_delay.backlog_vm_s)),
];

/// One run's metric values, in [`METRICS`] order.
pub type Row = [f64; METRICS.len()];

/// Every metric of a run.
pub fn row(s: &Summary) -> Row {
    METRICS.map(|(_, f)| f(s))
}

/// `x` as `summary.json` holds it: a non-finite number is written as null there, and a
/// missing value is NaN in `runs.csv` (written as an empty field).
fn value(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        f64::NAN
    }
}

/// Sum over the devices of the power tree.
fn sum_devices(s: &Summary, f: impl Fn(&DeviceSummary) -> f64) -> f64 {
    s.devices.iter().map(|d| value(f(d))).sum()
}

/// The finished VMs' slowdowns, ascending (lost and unfinished VMs have none).
fn slowdowns(s: &Summary) -> Vec<f64> {
    let mut slow: Vec<f64> = s
        .vms
        .iter()
        .filter_map(|v| v.slowdown.filter(|x| x.is_finite()))
        .collect();
    slow.sort_by(f64::total_cmp);
    slow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::summary::*;

    fn device(v: ViolationSummary, loads_w: &[f64]) -> DeviceSummary {
        DeviceSummary {
            name: "d".into(),
            kind: "rack".into(),
            cap_w: Some(1000.0),
            rating_a: None,
            breaker: None,
            breaker_k_s: None,
            violations: v,
            trips: loads_w
                .iter()
                .map(|&load_cut_w| TripSummary {
                    time_s: 1.0,
                    load_cut_w,
                })
                .collect(),
            max_heat: 0.0,
            min_time_to_trip_s: None,
            energy_j: 0.0,
            peak_w: 0.0,
            mean_w: 0.0,
        }
    }

    fn vm(slowdown: Option<f64>, time_throttled_s: f64, lost: bool) -> VmSummary {
        VmSummary {
            name: "vm".into(),
            host: "h".into(),
            slowdown,
            downtime_s: 0.0,
            completion_s: None,
            baseline_s: None,
            lost,
            cpu_core_s: 0.0,
            time_throttled_s,
            work_arrived_core_s: 0.0,
            work_done_core_s: 0.0,
            backlog_at_end_core_s: 0.0,
            time_with_backlog_s: 0.0,
            mean_delay_s: 0.0,
            max_delay_s: 0.0,
            priority: 0,
        }
    }

    fn migration() -> MigrationSummary {
        MigrationSummary {
            vm: "vm".into(),
            from: "a".into(),
            to: "b".into(),
            algorithm: "xen34-precopy".into(),
            start_s: 0.0,
            end_s: None,
            switch_s: None,
            downtime_s: 0.0,
            bytes_sent: 0,
            pages_sent: 0,
            pages_resent: 0,
            faults: 0,
            rounds: 1,
            energy_j: 0.0,
            aborted: None,
        }
    }

    #[test]
    fn every_column_from_typed_fields() {
        let s = Summary {
            scenario: "s".into(),
            seed: 1,
            replicate: 0,
            duration_s: 60.0,
            energy_j: 3.6e6,
            policy: "none".into(),
            servers_per_provisioned_kw: None,
            oversubscription: None,
            devices: vec![
                device(
                    ViolationSummary {
                        episodes: 2,
                        seconds_over_cap: 10.5,
                        energy_over_cap_j: 100.0,
                        peak_overshoot_pct: 12.5,
                    },
                    &[1000.0, 500.0],
                ),
                // A non-finite figure is null in summary.json: missing, so the peak
                // is the other device's.
                device(
                    ViolationSummary {
                        episodes: 1,
                        seconds_over_cap: 4.5,
                        energy_over_cap_j: 50.0,
                        peak_overshoot_pct: f64::INFINITY,
                    },
                    &[],
                ),
            ],
            vms: vec![
                vm(Some(1.0), 1.0, false),
                vm(Some(2.0), 2.0, false),
                vm(None, 3.0, true),
                vm(Some(1.5), 4.0, false),
                vm(Some(4.0), 5.0, false),
            ],
            migrations: vec![migration(), migration(), migration()],
            servers: vec![],
            work_delay: WorkDelaySummary {
                mean_s: 0.5,
                p95_s: 2.0,
                p99_s: 3.0,
                backlog_vm_s: 40.0,
                ..Default::default()
            },
        };
        let got: Vec<(&str, f64)> = METRICS.iter().map(|(c, f)| (*c, f(&s))).collect();
        let want = [
            ("energy_j", 3.6e6),
            // 10.5 + 4.5 device-seconds.
            ("seconds_over_cap", 15.0),
            ("episodes", 3.0),
            ("energy_over_cap_j", 150.0),
            ("peak_overshoot_pct", 12.5),
            ("trips", 2.0),
            ("load_cut_w", 1500.0),
            // The lost VM has no slowdown: (1 + 1.5 + 2 + 4) / 4.
            ("mean_slowdown", 2.125),
            // Nearest rank ⌈0.95 · 4⌉ = 4th of [1, 1.5, 2, 4].
            ("p95_slowdown", 4.0),
            ("time_throttled_s", 15.0),
            ("migrations", 3.0),
            ("lost_vms", 1.0),
        ];
        assert_eq!(&got[..12], &want[..]);
        // No rated top-level device: no servers per provisioned kW.
        assert_eq!(got[12].0, "servers_per_provisioned_kw");
        assert!(got[12].1.is_nan());
        let delay = [
            ("mean_delay_s", 0.5),
            ("p95_delay_s", 2.0),
            ("p99_delay_s", 3.0),
            ("backlog_vm_s", 40.0),
        ];
        assert_eq!(&got[13..], &delay[..]);
    }

    #[test]
    fn no_finished_vm_means_no_slowdown() {
        let s: Summary = serde_json::from_str(
            r#"{"scenario": "s", "seed": 1, "replicate": 0, "duration_s": 1.0,
                "energy_j": 0.0, "policy": "none", "servers_per_provisioned_kw": 2.5,
                "oversubscription": null, "devices": [], "vms": [], "migrations": [],
                "servers": []}"#,
        )
        .unwrap();
        let col = |name: &str| METRICS.iter().find(|(c, _)| *c == name).unwrap().1(&s);
        assert!(col("mean_slowdown").is_nan() && col("p95_slowdown").is_nan());
        assert_eq!(col("servers_per_provisioned_kw"), 2.5);
        assert_eq!(col("peak_overshoot_pct"), 0.0);
    }
}
