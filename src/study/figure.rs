//! One figure per experiment in the study's style: power (W) against time on top,
//! per-domain CPU (% of a core) below, migration start, switch-over and end marked.

use super::measure::{Measure, Milestone, SOURCE};
use super::Outcome;
use crate::output::plot::{Figure, Marker, Panel, Series};

/// The figure for one experiment, over the migration ±10-15 s (the first minute for a
/// baseline).
pub fn figure(o: &Outcome) -> Figure {
    let r = &o.result;
    let m = Measure::new(r, o.exp.vm);
    let start = m.event(Milestone::Start);
    let end = m.event(Milestone::End);
    let (a, b) = if start.is_finite() {
        let e = if end.is_finite() { end } else { start + 30.0 };
        ((start - 10.0).max(0.0), e + 15.0)
    } else {
        (0.0, 60.0)
    };
    let col = |name: &str, scale: f64| -> Vec<(f64, f64)> {
        r.timeseries
            .column(name)
            .unwrap_or_default()
            .into_iter()
            .filter(|(t, _)| *t >= a && *t <= b)
            .map(|(t, v)| (t, v * scale))
            .collect()
    };
    let power = Panel {
        y_label: "power (W)".into(),
        series: ["source", "destination"]
            .iter()
            .map(|s| Series {
                label: format!("{s} host"),
                points: col(&format!("{s}.power_w"), 1.0),
            })
            .collect(),
        hlines: vec![],
        y_min: None,
        y_max: None,
        scatter: false,
    };
    let mut cpu_series = vec![
        Series {
            label: "dom0 (source)".into(),
            points: col(&format!("{SOURCE}.dom0.cpu_cores"), 100.0),
        },
        Series {
            label: "dom0 (destination)".into(),
            points: col("destination.dom0.cpu_cores", 100.0),
        },
    ];
    cpu_series.push(Series {
        label: "VM copy (source)".into(),
        points: col(&format!("{SOURCE}.vm_copies.cpu_cores"), 100.0),
    });
    for v in &r.summary.vms {
        cpu_series.push(Series {
            label: v.name.clone(),
            points: col(&format!("{}.cpu_cores", v.name), 100.0),
        });
    }
    let cpu = Panel {
        y_label: "CPU (% of a core)".into(),
        series: cpu_series,
        hlines: vec![],
        y_min: Some(0.0),
        y_max: None,
        scatter: false,
    };
    let mut markers = Vec::new();
    for (kind, label) in [
        (Milestone::Start, "migration start"),
        (Milestone::SwitchOver, "switch-over"),
        (Milestone::End, "end"),
    ] {
        let t = m.event(kind);
        if t.is_finite() {
            markers.push(Marker {
                label: label.into(),
                x: t,
            });
        }
    }
    Figure {
        title: title(o),
        panels: vec![power, cpu],
        markers,
        x_label: "time (s)".into(),
    }
}

/// A short title: algorithm, migrated program, group.
fn title(o: &Outcome) -> String {
    use super::{Group, Method};
    let group = match o.exp.group {
        Group::Unsaturated => "CPU-unsaturated group (gap, bzip2, twolf)",
        Group::Saturated => "CPU-saturated group (gap, bzip2, twolf, parser)",
    };
    match (o.exp.method, o.exp.vm) {
        (Method::Precopy, Some(vm)) => format!("Pre-copy of {vm}, {group}"),
        (Method::Postcopy, Some(vm)) => format!("Post-copy of {vm}, {group}"),
        _ => format!("No migration, {group}"),
    }
}
