//! Measurements on one run's outputs, as one would make them on a capture: window
//! means of the time series, steps in the power trace, times of logged events.

use crate::sim::{LogEvent, RunResult};

/// A moment of the migrated VM's migration, from the simulator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Milestone {
    /// The migration starts (setup begins).
    Start,
    /// Pages start moving.
    TransferStart,
    /// The last page needed is at the destination.
    TransferEnd,
    /// The VM runs at the destination.
    SwitchOver,
    /// The source copy of the VM is gone.
    SourceGone,
    /// dom0's clean-up is over.
    End,
}

impl Milestone {
    fn matches(self, e: &LogEvent) -> bool {
        matches!(
            (self, e),
            (Milestone::Start, LogEvent::MigrationStart { .. })
                | (Milestone::TransferStart, LogEvent::TransferStart { .. })
                | (Milestone::TransferEnd, LogEvent::TransferEnd { .. })
                | (Milestone::SwitchOver, LogEvent::SwitchOver { .. })
                | (Milestone::SourceGone, LogEvent::SourceVmGone { .. })
                | (Milestone::End, LogEvent::MigrationEnd { .. })
        )
    }
}

/// The source server's name in `scenarios/paper/`.
pub const SOURCE: &str = "source";

/// Measurements of one experiment.
pub struct Measure<'a> {
    r: &'a RunResult,
    vm: Option<&'a str>,
    time: Vec<f64>,
}

impl<'a> Measure<'a> {
    /// Measures `r`, whose migrated VM (if any) is `vm`.
    pub fn new(r: &'a RunResult, vm: Option<&'a str>) -> Self {
        let time = r
            .timeseries
            .column("time_s")
            .map(|c| c.into_iter().map(|(t, _)| t).collect())
            .unwrap_or_default();
        Measure { r, vm, time }
    }

    /// Time of the migrated VM's first `milestone`, s (NaN if none).
    pub fn event(&self, milestone: Milestone) -> f64 {
        let Some(name) = self.vm else { return f64::NAN };
        let Some((vm, _)) = self
            .r
            .names
            .vms
            .enumerate()
            .find(|(_, n)| n.as_str() == name)
        else {
            return f64::NAN;
        };
        self.r
            .log
            .iter()
            .find(|e| e.event.vm() == Some(vm) && milestone.matches(&e.event))
            .map_or(f64::NAN, |e| e.time_ns as f64 / 1e9)
    }

    fn column(&self, name: &str) -> Vec<f64> {
        self.r
            .timeseries
            .column(name)
            .map(|c| c.into_iter().map(|(_, v)| v).collect())
            .unwrap_or_default()
    }

    /// Mean of a column over rows whose whole interval lies in [a, b] (rows are averages
    /// over the interval ending at their time), NaN if none.
    pub fn mean(&self, name: &str, a: f64, b: f64) -> f64 {
        let col = self.column(name);
        let mut sum = 0.0;
        let mut n = 0usize;
        let mut prev = 0.0;
        for (i, &t) in self.time.iter().enumerate() {
            if prev >= a - 1e-9 && t <= b + 1e-9 {
                if let Some(v) = col.get(i) {
                    sum += v;
                    n += 1;
                }
            }
            prev = t;
        }
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    }

    fn power(&self) -> String {
        format!("{SOURCE}.power_w")
    }

    /// Mean source power over the 5 s before the migration starts, W.
    pub fn power_before_w(&self) -> f64 {
        let s = self.event(Milestone::Start);
        self.mean(&self.power(), s - 5.0, s)
    }

    /// Start of the migration to the moment the source copy of the VM is gone (when
    /// `xm migrate` returns), s.
    pub fn migration_time_s(&self) -> f64 {
        self.event(Milestone::SourceGone) - self.event(Milestone::Start)
    }

    /// The sending window, trimmed by 0.2 s at both ends to skip the transitions.
    fn sending(&self) -> (f64, f64) {
        (
            self.event(Milestone::TransferStart) + 0.2,
            self.event(Milestone::TransferEnd) - 0.2,
        )
    }

    /// Mean source dom0 CPU while pages are sent, cores.
    pub fn dom0_while_sending(&self) -> f64 {
        let (a, b) = self.sending();
        self.mean(&format!("{SOURCE}.dom0.cpu_cores"), a, b)
    }

    /// Mean source power while pages are sent minus before the migration, W.
    pub fn extra_power_while_sending_w(&self) -> f64 {
        let (a, b) = self.sending();
        self.mean(&self.power(), a, b) - self.power_before_w()
    }

    /// Mean source power 1-6 s after the migration ended minus before it started, W.
    pub fn power_after_minus_before_w(&self) -> f64 {
        let e = self.event(Milestone::End);
        self.mean(&self.power(), e + 1.0, e + 6.0) - self.power_before_w()
    }

    /// The time between the two largest falls of source power in the 3.5 s after
    /// switch-over (each of at least 2 W), s; NaN if there are not two.
    pub fn two_step_gap_s(&self) -> f64 {
        let sw = self.event(Milestone::SwitchOver);
        let p = self.column(&self.power());
        let mut drops: Vec<(f64, f64)> = Vec::new();
        for i in 1..p.len().min(self.time.len()) {
            let t = self.time[i];
            if t > sw + 0.02 && t <= sw + 3.5 {
                let d = p[i - 1] - p[i];
                if d > 2.0 {
                    drops.push((d, t));
                }
            }
        }
        drops.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.total_cmp(&b.1)));
        let Some(&(_, t1)) = drops.first() else {
            return f64::NAN;
        };
        // The second step: the largest fall at least 0.2 s away from the first.
        drops
            .iter()
            .find(|(_, t)| (t - t1).abs() > 0.2)
            .map_or(f64::NAN, |&(_, t2)| (t2 - t1).abs())
    }

    /// Mean CPU of the VMs other than the migrated one while pages are sent minus before
    /// the migration, per VM, cores.
    pub fn others_cpu_change(&self) -> f64 {
        let (a, b) = self.sending();
        let s = self.event(Milestone::Start);
        let others: Vec<&String> = self
            .r
            .summary
            .vms
            .iter()
            .map(|v| &v.name)
            .filter(|n| Some(n.as_str()) != self.vm)
            .collect();
        if others.is_empty() {
            return f64::NAN;
        }
        let change: f64 = others
            .iter()
            .map(|n| {
                let c = format!("{n}.cpu_cores");
                self.mean(&c, a, b) - self.mean(&c, s - 5.0, s)
            })
            .sum();
        change / others.len() as f64
    }

    /// Post-copy: from the start to the first 10 ms average of source power below half
    /// way between before and the level 1-3 s after the start, s.
    pub fn time_to_power_fall_s(&self) -> f64 {
        let s = self.event(Milestone::Start);
        let before = self.power_before_w();
        let after = self.mean(&self.power(), s + 1.0, s + 3.0);
        let threshold = before - 0.5 * (before - after);
        let p = self.column(&self.power());
        self.time
            .iter()
            .zip(&p)
            .find(|(&t, &v)| t > s && v < threshold)
            .map_or(f64::NAN, |(&t, _)| t - s)
    }

    /// Mean source dom0 CPU from 0.5 s to 5 s after the switch-over, cores.
    pub fn dom0_after_switch(&self) -> f64 {
        let sw = self.event(Milestone::SwitchOver);
        self.mean(&format!("{SOURCE}.dom0.cpu_cores"), sw + 0.5, sw + 5.0)
    }

    /// The migrated VM's completion time, s (NaN if it did not finish).
    pub fn migrated_completion_s(&self) -> f64 {
        self.r
            .summary
            .vms
            .iter()
            .find(|v| Some(v.name.as_str()) == self.vm)
            .and_then(|v| v.completion_s)
            .unwrap_or(f64::NAN)
    }
}
