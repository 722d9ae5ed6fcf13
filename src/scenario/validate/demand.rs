//! A VM's demand (`demand = { kind = … }`) and memory (`memory`, `dirty`), from a
//! scenario or a workload model: each error is in the file the field came from.

use super::Validator;
use crate::model::memory::{MemoryProfile, Sweep, PAGE_SIZE};
use crate::model::workload::{Demand, TraceEnd, PLANETLAB_INTERVAL_NS};
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::schema::workload::{AfterEnd, DemandEntry, DemandKind, DirtyEntry};
use crate::units::Bytes;

impl Validator<'_> {
    /// A demand at `path` in `src`.
    pub(super) fn demand(
        &self,
        src: &Source,
        d: &DemandEntry,
        path: &str,
    ) -> Result<Demand, ConfigError> {
        let f = |k: &str| format!("{path}.{k}");
        let level_ok = |v: f64, at: &str| -> Result<f64, ConfigError> {
            if v > 1.0 {
                Err(src.at(
                    at,
                    format!("{:.1}% is above 100% of the VM's vCPUs", v * 100.0),
                ))
            } else {
                Ok(v)
            }
        };
        match &d.kind {
            DemandKind::Constant(c) => Ok(Demand::Constant(level_ok(c.level.0, &f("level"))?)),
            DemandKind::Steps(s) => {
                let mut out: Vec<(u64, f64)> = Vec::new();
                for (k, (t, l)) in s.steps.iter().enumerate() {
                    let t = t.nanos();
                    if out.last().is_some_and(|&(p, _)| t <= p) {
                        return Err(src.at(
                            &format!("{path}.steps[{k}][0]"),
                            "step times must increase strictly",
                        ));
                    }
                    out.push((t, level_ok(l.0, &format!("{path}.steps[{k}][1]"))?));
                }
                if out.first().map(|s| s.0) != Some(0) {
                    return Err(src.at(&f("steps"), "the first step must be at \"0s\""));
                }
                Ok(Demand::Steps(out))
            }
            DemandKind::Trace(t) => {
                let interval_ns = t.interval.map_or(PLANETLAB_INTERVAL_NS, |i| i.nanos());
                if interval_ns == 0 {
                    return Err(src.at(&f("interval"), "must be longer than zero, e.g. \"5min\""));
                }
                let end = match t.after_end {
                    None => TraceEnd::default(),
                    Some(AfterEnd::Repeat) => TraceEnd::Repeat,
                    Some(AfterEnd::Hold) => TraceEnd::Hold,
                    Some(AfterEnd::Zero) => TraceEnd::Zero,
                };
                let file = self.base_dir.join(&t.file);
                let samples = crate::scenario::trace::read_planetlab(&file).map_err(|err| {
                    if err.line == 0 {
                        // Cannot read at all: point at the field in the scenario.
                        src.at(&f("file"), format!("{}: {}", file.display(), err.message))
                    } else {
                        err
                    }
                })?;
                Ok(Demand::Trace {
                    interval_ns,
                    samples: samples.into(),
                    end,
                })
            }
        }
    }
}

/// Pages holding `b` bytes, rounded up, at most `u32::MAX`.
fn pages_of(b: f64) -> u32 {
    ((b / PAGE_SIZE as f64).ceil() as u64).min(u32::MAX as u64) as u32
}

/// A VM's memory profile from its `memory` size (at `mem_path` in `msrc`) and its `dirty`
/// process (at `dirty_path` in `dsrc`, the scenario or a workload model).
pub(super) fn memory_profile(
    dsrc: &Source,
    mem: Option<Bytes>,
    dirty: Option<&DirtyEntry>,
    dirty_path: &str,
    mem_path: &str,
    msrc: &Source,
) -> Result<Option<MemoryProfile>, ConfigError> {
    let Some(mem) = mem else {
        if dirty.is_some() {
            return Err(dsrc.at(dirty_path, "a `dirty` process needs the VM's `memory` size"));
        }
        return Ok(None);
    };
    let pages = (mem.0 / PAGE_SIZE as f64).ceil() as u64;
    if pages == 0 || pages > u32::MAX as u64 {
        return Err(msrc.at(mem_path, "must be between 4KiB and 16TiB"));
    }
    let pages = pages as u32;
    let profile = match dirty {
        None => MemoryProfile::quiet(pages),
        Some(e) => MemoryProfile {
            pages,
            footprint_pages: pages_of(e.footprint.0),
            hot_pages: pages_of(e.hot_set.map_or(0.0, |b| b.0)),
            hot_start: pages_of(e.hot_offset.map_or(0.0, |b| b.0)),
            hot_rate: e.hot_rate.map_or(0.0, |r| r.0),
            cold_rate: e.cold_rate.map_or(0.0, |r| r.0),
            sweep: e.sweep.as_ref().map(|s| Sweep {
                start: pages_of(s.start.map_or(0.0, |b| b.0)),
                pages: pages_of(s.size.0),
                pages_per_s: s.speed.0 / 8.0 / PAGE_SIZE as f64,
            }),
        },
    };
    // A workload model's footprint that does not fit the VM: the VM's `memory` (in the
    // scenario) is what to change, not the model.
    if dsrc.name != msrc.name && profile.footprint_pages > profile.pages {
        return Err(msrc.at(
            mem_path,
            format!(
                "{} MiB is less than the {} MiB footprint of the workload's `dirty` process ({}); give the VM at least that much memory",
                mem.0 / (1 << 20) as f64,
                (profile.footprint_pages as u64 * PAGE_SIZE) >> 20,
                dsrc.name
            ),
        ));
    }
    profile.check().map_err(|m| {
        if dirty.is_some() {
            dsrc.at(dirty_path, m)
        } else {
            msrc.at(mem_path, m)
        }
    })?;
    Ok(Some(profile))
}
