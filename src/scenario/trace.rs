//! Utilisation traces in the PlanetLab format: one integer or decimal percent per line.

use super::error::ConfigError;
use std::path::Path;

/// What to add to "cannot read" for a missing `path` under `shared/data/`: the public
/// data sets live beside the checkout, not in it (README.md § Data says where to get them).
pub fn missing_data_hint(path: &Path) -> &'static str {
    let p = path.to_string_lossy().replace('\\', "/");
    if !path.exists() && p.contains("shared/data/") {
        " (this reads a public data set from ../shared/data beside the checkout, which a \
         plain clone lacks: see README.md § Data for where to get it)"
    } else {
        ""
    }
}

/// Reads a trace, returning percents in [0, 100]. Blank lines are skipped; anything else
/// that is not a percentage in [0, 100] is an error naming the line.
pub fn read_planetlab(path: &Path) -> Result<Vec<f32>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the trace: {e}{}", missing_data_hint(path)),
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let bad = |msg: String| ConfigError {
            file: file.clone(),
            line: i + 1,
            column: line.find(t).unwrap_or(0) + 1,
            field: String::new(),
            message: msg,
        };
        let v: f64 = t.parse().map_err(|_| bad(format!("`{t}` is not a number: a PlanetLab trace has one CPU utilisation percent (0-100) per line")))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(bad(format!("{v} is outside 0-100 (percent)")));
        }
        out.push(v as f32);
    }
    if out.is_empty() {
        return Err(ConfigError {
            file,
            line: 0,
            column: 0,
            field: String::new(),
            message: "the trace has no samples".into(),
        });
    }
    Ok(out)
}

/// Reads Bitbrains VMs in OpenDC's CSV form: `tasks.csv` (`id,submission_time,duration,
/// cpu_count,cpu_capacity,mem_capacity`, capacity in MHz) and a fragments file
/// (`id,duration,cpu_usage`: runs of equal 5-minute samples, duration in ms, usage in
/// MHz). Returns one percent trace per VM with at least one fragment, in task order, one
/// sample per 5 minutes; usage above the provisioned capacity (a few Bitbrains samples)
/// is clamped to 100 %.
pub fn read_bitbrains(tasks: &Path, fragments: &Path) -> Result<Vec<Vec<f32>>, ConfigError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| ConfigError {
            file: p.display().to_string(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })
    };
    let bad = |p: &Path, line: usize, msg: String| ConfigError {
        file: p.display().to_string(),
        line,
        column: 1,
        field: String::new(),
        message: msg,
    };
    let mut order: Vec<i64> = Vec::new();
    let mut capacity: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    for (i, line) in read(tasks)?.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let parse = |k: usize| f.get(k).and_then(|x| x.trim().parse::<f64>().ok());
        let (Some(id), Some(cap)) = (parse(0), parse(4)) else {
            return Err(bad(
                tasks,
                i + 1,
                format!("`{line}`: expected id,submission_time,duration,cpu_count,cpu_capacity,mem_capacity"),
            ));
        };
        if cap <= 0.0 {
            return Err(bad(
                tasks,
                i + 1,
                format!("cpu_capacity {cap} MHz must be positive"),
            ));
        }
        order.push(id as i64);
        capacity.insert(id as i64, cap);
    }
    let mut traces: std::collections::HashMap<i64, Vec<f32>> = std::collections::HashMap::new();
    for (i, line) in read(fragments)?.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let parse = |k: usize| f.get(k).and_then(|x| x.trim().parse::<f64>().ok());
        let (Some(id), Some(dur), Some(usage)) = (parse(0), parse(1), parse(2)) else {
            return Err(bad(
                fragments,
                i + 1,
                format!("`{line}`: expected id,duration,cpu_usage"),
            ));
        };
        let id = id as i64;
        let cap = *capacity
            .get(&id)
            .ok_or_else(|| bad(fragments, i + 1, format!("VM {id} is not in tasks.csv")))?;
        let n = (dur / 300_000.0).round().max(1.0) as usize;
        let pct = (usage / cap * 100.0).clamp(0.0, 100.0) as f32;
        traces
            .entry(id)
            .or_default()
            .extend(std::iter::repeat_n(pct, n));
    }
    Ok(order.iter().filter_map(|id| traces.remove(id)).collect())
}
