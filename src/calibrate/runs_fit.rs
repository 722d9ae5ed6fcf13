//! Calibration from capture runs: read, align, fit power, estimate migration parameters.

use super::align::{cpu_series, meter_window, CpuSeries};
use super::clock::ClockLine;
use super::migration_fit::{estimate, pooled, Est, MigrationEstimate};
use super::phases::{migrations, Migration};
use super::power_fit::{fit, PowerFit, RunInput, Transfer};
use super::run::{read, Run};
use std::path::PathBuf;

/// Everything a calibration found.
pub struct Calibration {
    /// The runs, read.
    pub runs: Vec<Run>,
    /// The metered host's CPU series per run.
    pub cpu: Vec<CpuSeries>,
    /// Meter window per run, s.
    pub windows: Vec<f64>,
    /// The power fit.
    pub power: PowerFit,
    /// One entry per migration found.
    pub migrations: Vec<MigrationEstimate>,
    /// Things the user should know (no p-states recorded, unknown rates, …).
    pub notes: Vec<String>,
}

/// Pooled migration parameters (None: no migration gave it).
#[derive(Clone, Debug, Default)]
pub struct MigrationParams {
    /// Setup time, s.
    pub setup_s: Option<Est>,
    /// dom0 CPU during setup, cores above baseline.
    pub setup_cpu: Option<Est>,
    /// Effective payload rate, B/s.
    pub rate: Option<Est>,
    /// Sender CPU per page, s.
    pub sender: Option<Est>,
    /// Receiver CPU per page, s.
    pub receiver: Option<Est>,
    /// Transfer end → switch-over, s.
    pub handover_s: Option<Est>,
    /// Source copy linger, s.
    pub cleanup_vm_s: Option<Est>,
    /// dom0 clean-up duration, s.
    pub cleanup_dom0_s: Option<Est>,
    /// dom0 clean-up CPU, cores above baseline.
    pub cleanup_dom0_cpu: Option<Est>,
    /// Extra power while sending vs before, W.
    pub extra_power_w: Option<Est>,
    /// Extra power not explained by busy cores, W.
    pub non_cpu_power_w: Option<Est>,
}

impl Calibration {
    /// Parameters pooled over every migration.
    pub fn migration_params(&self) -> MigrationParams {
        let m = &self.migrations;
        MigrationParams {
            setup_s: pooled(m, |e| e.setup_s),
            setup_cpu: pooled(m, |e| e.setup_cpu),
            rate: pooled(m, |e| e.rate_bps_bytes),
            sender: pooled(m, |e| e.sender_cpu_per_page_s),
            receiver: pooled(m, |e| e.receiver_cpu_per_page_s),
            handover_s: pooled(m, |e| {
                let (a, b) = (e.phases.transfer_end?, e.phases.switch?);
                let se = e.setup_s.map_or(0.0, |s| s.se);
                (b >= a).then_some(Est { v: b - a, se })
            }),
            cleanup_vm_s: pooled(m, |e| e.cleanup_vm_s),
            cleanup_dom0_s: pooled(m, |e| e.cleanup_dom0_s),
            cleanup_dom0_cpu: pooled(m, |e| e.cleanup_dom0_cpu),
            extra_power_w: pooled(m, |e| e.extra_power_w),
            non_cpu_power_w: pooled(m, |e| e.non_cpu_power_w),
        }
    }
}

/// Transfer periods of a run's migrations, with the payload rate in Gbit/s when known:
/// `rate_bps` rows of migration.csv inside the transfer (their mean), else bytes/duration.
pub fn transfers(run: &Run, migs: &[Migration], notes: &mut Vec<String>) -> Vec<Transfer> {
    let mut out = Vec::new();
    for m in migs {
        let (Some(a), Some(b)) = (m.transfer_start, m.transfer_end) else {
            continue;
        };
        let qmp: Vec<f64> = run
            .migration
            .iter()
            .filter(|s| s.t_s > a && s.t_s <= b)
            .filter_map(|s| s.rate_bps)
            .collect();
        let gbps = if !qmp.is_empty() {
            Some(qmp.iter().sum::<f64>() / qmp.len() as f64 / 1e9)
        } else {
            m.rate_bps().map(|r| r / 1e9)
        };
        if gbps.is_none() {
            notes.push(format!(
                "{}: migration at {:.1} s: its rate is unknown (no rate_bps in migration.csv, no \
                 bytes_sent in its events); its transfer is left out of the power fit",
                run.name(),
                m.start
            ));
        }
        out.push(Transfer { t0: a, t1: b, gbps });
    }
    out
}

/// Reads and calibrates from run directories.
pub fn calibrate(dirs: &[PathBuf]) -> Result<Calibration, String> {
    if dirs.is_empty() {
        return Err("no run directories given".into());
    }
    let runs: Vec<Run> = dirs.iter().map(|d| read(d)).collect::<Result<_, _>>()?;
    let mut notes = Vec::new();
    let mut cpu = Vec::new();
    let mut windows = Vec::new();
    let mut migs = Vec::new();
    let mut trans = Vec::new();
    // P-states: one per-core column per clock seen in freq.csv, fastest first. Runs
    // with and without clocks cannot be mixed: the latter's intervals have no state.
    let mut levels: Vec<u64> = runs.iter().flat_map(|r| r.clocks_mhz()).collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    levels.dedup();
    if !levels.is_empty() {
        if let Some(r) = runs.iter().find(|r| r.freq.is_empty()) {
            return Err(format!(
                "{}: no freq.csv clocks, while other runs record them (`capture --cpufreq`); \
                 calibrate runs with clocks and runs without them separately",
                r.name()
            ));
        }
    }
    let clocks: Vec<ClockLine> = runs.iter().map(|r| ClockLine::new(&r.freq)).collect();
    for r in &runs {
        let c = cpu_series(&r.cpu, "").ok_or_else(|| {
            format!(
                "{}: cpu.csv has fewer than two usable polls of the metered host (rows whose source has no `@HOST`)",
                r.dir.join("cpu.csv").display()
            )
        })?;
        if c.source == "host" {
            notes.push(format!(
                "{}: busy cores from /proc/stat's host rows (no per-domain rows); dom0 CPU and the migration CPU costs are unavailable",
                r.name()
            ));
        }
        let w = meter_window(&r.power, r.meter_window_s()).ok_or_else(|| {
            format!(
                "{}: fewer than two usable power samples",
                r.dir.join("power.csv").display()
            )
        })?;
        if r.meter_window_s().is_none() {
            notes.push(format!(
                "{}: the manifest gives no meter update interval; using the median sample spacing, {:.3} s",
                r.name(),
                w
            ));
        }
        let m = migrations(&r.events, &r.migration, &r.net);
        trans.push(transfers(r, &m, &mut notes));
        migs.push(m);
        cpu.push(c);
        windows.push(w);
    }
    let inputs: Vec<RunInput> = runs
        .iter()
        .enumerate()
        .map(|(k, r)| RunInput {
            power: &r.power,
            window_s: windows[k],
            cpu: &cpu[k],
            transfers: trans[k].clone(),
            clock: &clocks[k],
            levels: &levels,
        })
        .collect();
    let names: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
    let power = fit(&inputs, &names)?;
    notes.push(match levels.as_slice() {
        [] => "p-states: the runs record none, so one p-state is fitted (the one the host ran at)"
            .into(),
        [mhz] => format!("p-states: every run ran at {mhz} MHz (freq.csv); one p-state is fitted"),
        many => format!(
            "p-states: {} clocks in freq.csv ({} MHz), one per-core power each; intervals \
             spanning a clock change are left out",
            many.len(),
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let mut ests = Vec::new();
    for (k, ms) in migs.iter().enumerate() {
        let dst = cpu_dest(&runs[k]);
        for (i, m) in ms.iter().enumerate() {
            if m.failed {
                notes.push(format!(
                    "{}: migration at {:.1} s failed; not used",
                    runs[k].name(),
                    m.start
                ));
                continue;
            }
            let next = ms.get(i + 1).map(|n| n.start);
            ests.push(estimate(k, m, &cpu[k], dst.as_ref(), &power, next));
        }
    }
    if ests.is_empty() {
        notes
            .push("no migration in these runs: the migration parameters are not calibrated".into());
    }
    Ok(Calibration {
        runs,
        cpu,
        windows,
        power,
        migrations: ests,
        notes,
    })
}

/// The destination's CPU series: the first other host recorded in the run.
fn cpu_dest(r: &Run) -> Option<CpuSeries> {
    let h = r.cpu.iter().find(|s| !s.host.is_empty())?.host.clone();
    cpu_series(&r.cpu, &h)
}
