//! Utilisation traces: PlanetLab (one percent per line) and Bitbrains in OpenDC's CSV form.
//!
//! Every bad value is an error at its file, line and column (input quoted at most
//! [`QUOTE_CHARS`](super::input::QUOTE_CHARS) characters); files are read by
//! [`read_text`] (regular files only, size-limited).

use super::error::ConfigError;
use super::input::{clip, read_text};
use std::collections::HashMap;
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

/// Bitbrains samples are 5 minutes apart (ms).
const BITBRAINS_SAMPLE_MS: f64 = 300_000.0;
/// The longest Bitbrains fragment: one year (105,120 samples); the public traces hold
/// one month, and a longer fragment (`1e300`) would not fit in memory.
const MAX_FRAGMENT_MS: f64 = 365.0 * 86_400_000.0;
/// Samples over all the traces of one demand directory at most (Bitbrains VMs or
/// PlanetLab files): 64 M (256 MB of f32), a cap that keeps a few long traces from
/// exhausting memory (the public 1,250-VM Bitbrains month is 11 M; CloudSim's PlanetLab
/// day 20110303, 1,052 files of 288 samples, 0.3 M).
const MAX_TRACE_SAMPLES: usize = 64 << 20;

/// An error at 1-based `line`, `column` of `path`.
fn at(path: &Path, line: usize, column: usize, field: &str, message: String) -> ConfigError {
    ConfigError {
        file: path.display().to_string(),
        line,
        column,
        field: field.into(),
        message,
    }
}

/// Reads a trace, returning percents in [0, 100]. Blank lines are skipped; anything else
/// that is not a percentage in [0, 100] is an error naming the line.
pub fn read_planetlab(path: &Path) -> Result<Vec<f32>, ConfigError> {
    let text = read_text(path, "trace").map_err(|mut e| {
        e.message.push_str(missing_data_hint(path));
        e
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let column = line[..line.len() - line.trim_start().len()].chars().count() + 1;
        let bad = |msg: String| at(path, i + 1, column, "", msg);
        let v: f64 = t.parse().map_err(|_| bad(format!("`{}` is not a number: a PlanetLab trace has one CPU utilisation percent (0-100) per line", clip(t))))?;
        // `contains` is false for NaN, so NaN and ±inf are rejected here too.
        if !(0.0..=100.0).contains(&v) {
            return Err(bad(format!(
                "`{}` is not a percent in 0-100: a PlanetLab trace has one CPU utilisation percent per line",
                clip(t)
            )));
        }
        out.push(v as f32);
    }
    if out.is_empty() {
        return Err(at(
            path,
            0,
            0,
            "",
            "the trace has no samples (one percent per line, lines ending in \\n)".into(),
        ));
    }
    Ok(out)
}

/// Reads a directory's PlanetLab traces (`files`, in order), at most
/// 64 M samples in all (`MAX_TRACE_SAMPLES`).
pub fn read_planetlab_files(files: &[std::path::PathBuf]) -> Result<Vec<Vec<f32>>, ConfigError> {
    read_planetlab_files_within(files, MAX_TRACE_SAMPLES)
}

fn read_planetlab_files_within(
    files: &[std::path::PathBuf],
    max: usize,
) -> Result<Vec<Vec<f32>>, ConfigError> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let t = read_planetlab(f)?;
        total += t.len();
        if total > max {
            return Err(at(
                f,
                0,
                0,
                "",
                format!(
                    "the traces up to this one hold {total} samples, over the {max} a \
                     demand directory may hold in all (about 4 bytes each in memory); \
                     use fewer or shorter traces"
                ),
            ));
        }
        out.push(t);
    }
    Ok(out)
}

/// One CSV line of a Bitbrains file (`path`, 1-based `line`), its fields split at commas.
struct Row<'a> {
    path: &'a Path,
    line: usize,
    text: &'a str,
    fields: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn new(path: &'a Path, line: usize, text: &'a str) -> Self {
        Row {
            path,
            line,
            text,
            fields: text.split(',').collect(),
        }
    }

    /// 1-based column of field `k` (counted in characters; past the end if absent).
    fn column(&self, k: usize) -> usize {
        let before: usize = self
            .fields
            .iter()
            .take(k)
            .map(|f| f.chars().count() + 1)
            .sum();
        let lead = self
            .fields
            .get(k)
            .map_or(0, |f| f.len() - f.trim_start().len());
        before + lead + 1
    }

    fn err(&self, k: usize, field: &str, message: String) -> ConfigError {
        at(self.path, self.line, self.column(k), field, message)
    }

    /// Field `k` (named `name`, of a row laid out as `layout`) as a finite number.
    fn number(&self, k: usize, name: &str, layout: &str) -> Result<f64, ConfigError> {
        let Some(raw) = self.fields.get(k) else {
            return Err(self.err(
                k,
                name,
                format!("`{}` has no `{name}`: expected {layout}", clip(self.text)),
            ));
        };
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.err(
                k,
                name,
                format!(
                    "`{}` is not a finite number: expected {layout}",
                    clip(raw.trim())
                ),
            )),
        }
    }

    /// Field `k` as a VM id: an integer.
    fn id(&self, k: usize, layout: &str) -> Result<i64, ConfigError> {
        let v = self.number(k, "id", layout)?;
        if v.fract() != 0.0 || v.abs() > 2f64.powi(53) {
            return Err(self.err(k, "id", format!("{v} is not an integer VM id")));
        }
        Ok(v as i64)
    }
}

/// Data rows of a CSV text (the header line skipped, blank lines dropped).
fn rows<'a>(path: &'a Path, text: &'a str) -> impl Iterator<Item = Row<'a>> {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(i, l)| Row::new(path, i + 1, l))
}

/// Reads Bitbrains VMs in OpenDC's CSV form: `tasks.csv` (`id,submission_time,duration,
/// cpu_count,cpu_capacity,mem_capacity`, capacity in MHz) and a fragments file
/// (`id,duration,cpu_usage`: runs of equal 5-minute samples, duration in ms, usage in
/// MHz). Returns one percent trace per VM with at least one fragment, in task order, one
/// sample per 5 minutes; usage above the provisioned capacity (a few Bitbrains samples)
/// is clamped to 100 %. No trace at all is an error (demand would have nothing to draw
/// from).
pub fn read_bitbrains(tasks: &Path, fragments: &Path) -> Result<Vec<Vec<f32>>, ConfigError> {
    read_bitbrains_within(tasks, fragments, MAX_TRACE_SAMPLES)
}

/// [`read_bitbrains`] with at most `max_samples` samples in all.
fn read_bitbrains_within(
    tasks: &Path,
    fragments: &Path,
    max_samples: usize,
) -> Result<Vec<Vec<f32>>, ConfigError> {
    const TASKS: &str = "id,submission_time,duration,cpu_count,cpu_capacity,mem_capacity";
    const FRAGMENTS: &str = "id,duration,cpu_usage";
    let mut order: Vec<i64> = Vec::new();
    let mut capacity: HashMap<i64, f64> = HashMap::new();
    let text = read_text(tasks, "Bitbrains tasks file")?;
    for row in rows(tasks, &text) {
        let id = row.id(0, TASKS)?;
        let cap = row.number(4, "cpu_capacity", TASKS)?;
        if cap <= 0.0 {
            return Err(row.err(4, "cpu_capacity", format!("{cap} MHz must be positive")));
        }
        order.push(id);
        capacity.insert(id, cap);
    }
    let mut traces: HashMap<i64, Vec<f32>> = HashMap::new();
    let mut total = 0usize;
    let text = read_text(fragments, "Bitbrains fragments file")?;
    for row in rows(fragments, &text) {
        let id = row.id(0, FRAGMENTS)?;
        let dur = row.number(1, "duration", FRAGMENTS)?;
        let usage = row.number(2, "cpu_usage", FRAGMENTS)?;
        let cap = *capacity
            .get(&id)
            .ok_or_else(|| row.err(0, "id", format!("VM {id} is not in tasks.csv")))?;
        if !(0.0..=MAX_FRAGMENT_MS).contains(&dur) {
            return Err(row.err(
                1,
                "duration",
                format!("{dur} ms is not a fragment length: give 0 to {MAX_FRAGMENT_MS} ms (one year) of 5-minute samples"),
            ));
        }
        if usage < 0.0 {
            return Err(row.err(
                2,
                "cpu_usage",
                format!("{usage} MHz: CPU usage cannot be negative"),
            ));
        }
        let n = (dur / BITBRAINS_SAMPLE_MS).round().max(1.0) as usize;
        total += n;
        if total > max_samples {
            return Err(row.err(
                1,
                "duration",
                format!("the fragments add up to over {max_samples} 5-minute samples, more than a trace set may hold"),
            ));
        }
        let pct = (usage / cap * 100.0).clamp(0.0, 100.0) as f32;
        traces
            .entry(id)
            .or_default()
            .extend(std::iter::repeat_n(pct, n));
    }
    let out: Vec<Vec<f32>> = order.iter().filter_map(|id| traces.remove(id)).collect();
    if out.is_empty() {
        return Err(at(
            fragments,
            0,
            0,
            "",
            format!(
                "no trace: none of the {} VMs of {} has a fragment here (expected a header line, then {FRAGMENTS} rows, lines ending in \\n)",
                order.len(),
                tasks.display()
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory holding `files` (name, text).
    fn dir_with(tag: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("capsim-trace-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(name), text).unwrap();
        }
        d
    }

    const TASKS: &str = "id,submission_time,duration,cpu_count,cpu_capacity,mem_capacity\n\
                         7,0,600000,1,2000,1024\n";

    /// The error for a fragments file holding `fragments`.
    fn bitbrains_err(tag: &str, fragments: &str) -> ConfigError {
        bitbrains_err_within(tag, fragments, MAX_TRACE_SAMPLES)
    }

    fn bitbrains_err_within(tag: &str, fragments: &str, max: usize) -> ConfigError {
        let d = dir_with(tag, &[("tasks.csv", TASKS), ("fragments.csv", fragments)]);
        let e =
            read_bitbrains_within(&d.join("tasks.csv"), &d.join("fragments.csv"), max).unwrap_err();
        std::fs::remove_dir_all(&d).unwrap();
        e
    }

    #[test]
    fn bitbrains_fragments_with_no_trace_are_an_error_naming_the_file() {
        // Empty, header only, and CR-only (one "line" without \n, taken as the header):
        // before, an empty trace set reached the generator's `i % 0`.
        for (tag, text) in [
            ("empty", ""),
            ("header", "id,duration,cpu_usage\n"),
            ("cr", "id,duration,cpu_usage\r7,300000,10\r"),
        ] {
            let e = bitbrains_err(tag, text);
            assert!(e.file.ends_with("fragments.csv"), "{tag}: {e}");
            assert!(
                e.message.contains("no trace") && e.message.contains("tasks.csv"),
                "{tag}: {e}"
            );
        }
    }

    #[test]
    fn bitbrains_durations_that_do_not_fit_are_errors_at_the_field() {
        // `1e300` and `inf` overflowed the sample count; 2^64 asked for 6e13 samples.
        // Line 2 is `7,<duration>,10`: the duration starts at column 3.
        for dur in ["1e300", "inf", "18446744073709551616", "-300000", "NaN"] {
            let e = bitbrains_err("dur", &format!("id,duration,cpu_usage\n7,{dur},10\n"));
            assert_eq!(
                (e.line, e.column, e.field.as_str()),
                (2, 3, "duration"),
                "{e}"
            );
        }
        // Fragments together past the sample budget (here 10, to keep the test small):
        // 4 samples (20 min) per row, so the 3rd row (line 4) makes 12 > 10.
        let many = "7,1200000,10\n".repeat(5);
        let e = bitbrains_err_within("budget", &format!("id,duration,cpu_usage\n{many}"), 10);
        assert_eq!((e.line, e.column), (4, 3), "{e}");
        assert!(e.message.contains("over 10 5-minute samples"), "{e}");
    }

    #[test]
    fn bitbrains_cpu_usage_must_be_a_finite_non_negative_number() {
        // NaN usage made every slowdown null; `1e400` overflows to inf. Line 2 is
        // `7,300000,<usage>`: usage starts at column 10.
        for usage in ["NaN", "inf", "-1", "1e400", "ten"] {
            let e = bitbrains_err(
                "usage",
                &format!("id,duration,cpu_usage\n7,300000,{usage}\n"),
            );
            assert_eq!(
                (e.line, e.column, e.field.as_str()),
                (2, 10, "cpu_usage"),
                "{e}"
            );
        }
        // A missing field is located just past the line's end (column 10 of `7,300000`).
        let e = bitbrains_err("short", "id,duration,cpu_usage\n7,300000\n");
        assert_eq!(
            (e.line, e.column, e.field.as_str()),
            (2, 10, "cpu_usage"),
            "{e}"
        );
    }

    #[test]
    fn planetlab_values_must_be_percents_and_quotes_are_clipped() {
        for v in ["NaN", "inf", "-inf", "-1", "1e400", "100.5"] {
            let d = dir_with("pl", &[("t", &format!("10\n  {v}\n"))]);
            let e = read_planetlab(&d.join("t")).unwrap_err();
            // Line 2, after two spaces.
            assert_eq!((e.line, e.column), (2, 3), "{v}: {e}");
            assert!(e.message.contains("0-100"), "{e}");
            std::fs::remove_dir_all(d).unwrap();
        }
        // A 1 MB line is quoted in 200 characters and an ellipsis.
        let d = dir_with("pl-long", &[("t", &"x".repeat(1 << 20))]);
        let e = read_planetlab(&d.join("t")).unwrap_err();
        assert!(
            e.message.contains(&format!("`{}…`", "x".repeat(200))),
            "{}",
            e.message.len()
        );
        assert!(e.message.len() < 400, "{} bytes", e.message.len());
        std::fs::remove_dir_all(d).unwrap();
        // CR-only line ends: one blank line, so no samples.
        let d = dir_with("pl-cr", &[("t", "\r\r\r")]);
        let e = read_planetlab(&d.join("t")).unwrap_err();
        assert!(e.message.contains("no samples"), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_planetlab_directory_has_a_total_sample_budget() {
        // Three files of 2, 3 and 4 samples: 2 + 3 = 5 fit a budget of 5, the third
        // brings 9 and is named.
        let d = dir_with(
            "pl-budget",
            &[("a", "1\n2\n"), ("b", "1\n2\n3\n"), ("c", "1\n2\n3\n4\n")],
        );
        let files: Vec<_> = ["a", "b", "c"].iter().map(|f| d.join(f)).collect();
        assert_eq!(
            read_planetlab_files_within(&files[..2], 5).unwrap().len(),
            2
        );
        let e = read_planetlab_files_within(&files, 5).unwrap_err();
        assert!(e.file.ends_with("/c"), "{e}");
        assert!(e.message.contains("9 samples, over the 5"), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }
}
