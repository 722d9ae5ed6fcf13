//! Scale-out: deterministic shards of a sweep, merging shard outputs into the `runs.csv`
//! one machine would write, and Slurm job-array scripts.

use super::csv::records;
use super::expand::Sweep;
use super::identity::{Identity, IDENTITY_FILE};
use crate::scenario::input::read_input;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Shard `k` of `n` (0-based): a contiguous block of the runs in expansion order, so
/// each array task gets coarse work and the union is the whole sweep.
pub fn shard(sweep: &Sweep, k: usize, n: usize) -> Result<Sweep, String> {
    if n == 0 || k >= n {
        return Err(format!(
            "shard {k}/{n}: K must be below N (0-based), N at least 1"
        ));
    }
    let total = sweep.runs.len();
    let (lo, hi) = (k * total / n, (k + 1) * total / n);
    let mut s = sweep.clone();
    s.runs = sweep.runs[lo..hi].to_vec();
    Ok(s)
}

/// The order file every sweep output directory carries: all run ids, in expansion order.
pub const ORDER_FILE: &str = "sweep-order.txt";

/// Writes the whole sweep's run order and identity beside a (shard's) `runs.csv`.
pub fn write_order(full: &Sweep, out: &Path) -> Result<(), String> {
    let text: String = full.runs.iter().map(|r| format!("{}\n", r.id)).collect();
    let p = out.join(ORDER_FILE);
    crate::atomic::write_text(&p, &text)?;
    Identity::of(full).write(out)
}

/// A shard's `runs.csv` row, kept for the merge.
struct ShardRow {
    /// The row as written, without its newline.
    raw: String,
    /// Index of its shard directory.
    shard: usize,
    /// `FILE:LINE`, for errors.
    at: String,
}

/// Joins shard directories into `out`: `runs.csv` with rows in the sweep's order (byte
/// for byte what one machine would have written), every run's `runs/<id>/` copied, and
/// the order and identity files, so `capsim report out` reports what a one-machine
/// sweep does. Shards must be of one sweep (same identity, order and columns), and every
/// row well formed; `out` must not be one of them.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<PathBuf, String> {
    let first = dirs.first().ok_or("give at least one shard directory")?;
    refuse_inputs(dirs, out)?;
    let read = |p: PathBuf| read_input(&p, "sweep order");
    let identity = Identity::read(first)?;
    let order = read(first.join(ORDER_FILE))?;
    let known: HashSet<&str> = order.lines().collect();
    let mut header: Option<(String, PathBuf)> = None;
    let mut rows: HashMap<String, ShardRow> = HashMap::new();
    for (k, d) in dirs.iter().enumerate() {
        let theirs = Identity::read(d)?;
        if theirs != identity {
            return Err(format!(
                "{}: sweep `{}` with fingerprint {} ({} runs), but {} is sweep `{}` with \
                 fingerprint {} ({} runs): shards of different sweeps (or of an edited sweep \
                 or base) cannot be merged; rerun the stale shards",
                d.join(IDENTITY_FILE).display(),
                theirs.name,
                theirs.fingerprint,
                theirs.runs,
                first.join(IDENTITY_FILE).display(),
                identity.name,
                identity.fingerprint,
                identity.runs
            ));
        }
        if read(d.join(ORDER_FILE))? != order {
            return Err(format!(
                "{} belongs to a different sweep (its {ORDER_FILE} differs from {})",
                d.display(),
                first.join(ORDER_FILE).display()
            ));
        }
        for (id, row) in shard_rows(d, k, &known, &mut header)? {
            if let Some(other) = rows.get(&id) {
                if other.raw != row.raw {
                    return Err(format!(
                        "{}: run {id} is also at {}, with other results: give each shard once",
                        row.at, other.at
                    ));
                }
                continue;
            }
            rows.insert(id, row);
        }
    }
    let (header, _) = header.ok_or("no shard has a runs.csv header")?;
    let mut csv = header;
    csv.push('\n');
    let mut missing = Vec::new();
    for id in order.lines() {
        match rows.get(id) {
            Some(r) => {
                csv.push_str(&r.raw);
                csv.push('\n');
            }
            None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} runs are in no shard (first: {}); run the missing shards (or --resume them) first",
            missing.len(),
            missing[0]
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for id in order.lines() {
        let from = dirs[rows[id].shard].join("runs").join(id);
        copy_tree(&from, &out.join("runs").join(id))?;
    }
    crate::atomic::write_text(&out.join(ORDER_FILE), &order)?;
    identity.write(out)?;
    // Last, so a merge cut short leaves no complete-looking runs.csv.
    let p = out.join("runs.csv");
    crate::atomic::write_text(&p, &csv)?;
    Ok(p)
}

/// Refuses an output directory that is one of the inputs (merging would copy files onto
/// themselves), and an input given twice. Paths are compared canonicalized; an output
/// that does not exist yet is its canonicalized parent joined with its name.
fn refuse_inputs(dirs: &[PathBuf], out: &Path) -> Result<(), String> {
    let out_canon = std::fs::canonicalize(out).ok().or_else(|| {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(out.file_name()?))
    });
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    for d in dirs {
        let c = std::fs::canonicalize(d)
            .map_err(|e| format!("{}: {e} (give the shard output directories)", d.display()))?;
        if out_canon.as_ref() == Some(&c) {
            return Err(format!(
                "-o {}: that is the shard directory {} itself; merge into another directory \
                 (e.g. the shards' parent), so no input is overwritten",
                out.display(),
                d.display()
            ));
        }
        if let Some(other) = seen.insert(c, d) {
            return Err(format!(
                "{}: the same directory as {}: give each shard once",
                d.display(),
                other.display()
            ));
        }
    }
    Ok(())
}

/// The rows of shard `k`'s `runs.csv`, by run id, after checking the file: the same
/// header as the other shards, and every row ended by a newline, with the header's
/// number of fields, a run id of this sweep, status `ok` or `failed`, and numbers
/// where numbers go. Errors name `FILE:LINE`.
fn shard_rows(
    dir: &Path,
    k: usize,
    known: &HashSet<&str>,
    header: &mut Option<(String, PathBuf)>,
) -> Result<Vec<(String, ShardRow)>, String> {
    let path = dir.join("runs.csv");
    let text = read_input(&path, "shard's runs.csv")?;
    let recs = records(&text);
    let at = |line: usize| format!("{}:{line}", path.display());
    let head = recs
        .first()
        .filter(|h| h.terminated)
        .ok_or_else(|| format!("{}: no header line", at(1)))?;
    match header {
        None => *header = Some((head.raw.to_string(), path.clone())),
        Some((h, p)) if h != head.raw => {
            return Err(format!(
                "{}: columns differ from {}'s header",
                at(1),
                p.display()
            ))
        }
        _ => {}
    }
    let col = |name: &str| {
        head.fields
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no `{name}` column", at(1)))
    };
    let (rep, seed, status, error) = (
        col("replicate")?,
        col("seed")?,
        col("status")?,
        col("error")?,
    );
    let mut out = Vec::new();
    for r in &recs[1..] {
        let bad = |what: String| Err(format!("{}: {what}", at(r.line)));
        if !r.terminated {
            return bad("the row has no newline at its end: the file is cut short".into());
        }
        if r.fields.len() != head.fields.len() {
            return bad(format!(
                "{} fields, but the header has {}: the row is cut or garbled",
                r.fields.len(),
                head.fields.len()
            ));
        }
        let id = &r.fields[0];
        if !known.contains(id.as_str()) {
            return bad(format!("run id `{id}` is not in this sweep's {ORDER_FILE}"));
        }
        if r.fields[rep].parse::<u32>().is_err() || r.fields[seed].parse::<u64>().is_err() {
            return bad("replicate and seed must be whole numbers".into());
        }
        let st = r.fields[status].as_str();
        if st != "ok" && st != "failed" {
            return bad(format!("status `{st}`: expected ok or failed"));
        }
        for (c, v) in r.fields.iter().enumerate().skip(error + 1) {
            if !v.is_empty() && v.parse::<f64>().is_err() {
                return bad(format!("{} = `{v}` is not a number", head.fields[c]));
            }
        }
        let row = ShardRow {
            raw: r.raw.to_string(),
            shard: k,
            at: at(r.line),
        };
        out.push((id.clone(), row));
    }
    Ok(out)
}

/// Copies the files of `from` (a run's directory, recursively) into `to`, each written
/// atomically; hidden names (temporaries) are skipped, but not the list of what capsim
/// wrote there (`output::dir::MANIFEST`), so the copy is capsim's output too.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let ctx = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let entries = std::fs::read_dir(from).map_err(|e| {
        format!(
            "{}: {e} (its shard's runs.csv lists this run; rerun the shard with --resume)",
            from.display()
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| ctx(from, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') && name != crate::output::dir::MANIFEST {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| ctx(&src, e))?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            crate::atomic::copy_file(&src, &dst).map_err(|e| ctx(&dst, e))?;
        }
    }
    Ok(())
}

/// What `capsim slurm` asks of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmOptions {
    /// Array tasks (coarse shards), ≥ 1.
    pub tasks: usize,
    /// CPUs per array task; each task runs its shard on this many threads.
    pub cpus_per_task: usize,
    /// Wall-time limit per task in Slurm's notation (`30:00`, `2:00:00`), or the
    /// partition's default.
    pub time: Option<String>,
}

/// `s` as one shell word (single-quoted), so paths with spaces or `$` survive.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Writes `sweep.sbatch` (an array of `opts.tasks` coarse shards), `merge.sbatch` (the
/// merge, then the report) and
/// `submit.sh` (submits both, the merge after the whole array succeeded) into `out`.
pub fn slurm_scripts(
    sweep_file: &Path,
    name: &str,
    opts: &SlurmOptions,
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    let tasks = opts.tasks;
    if tasks == 0 {
        return Err("--tasks must be at least 1".into());
    }
    if opts.cpus_per_task == 0 {
        return Err("--cpus-per-task must be at least 1".into());
    }
    if let Some(t) = &opts.time {
        if t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
        {
            return Err(format!(
                "--time {t:?}: use Slurm's notation, e.g. 30:00, 2:00:00 or 1-00:00:00"
            ));
        }
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let sweep = sh_quote(&abs(sweep_file).display().to_string());
    let dir_raw = abs(out);
    let dir = sh_quote(&dir_raw.display().to_string());
    let exe = sh_quote(
        &std::env::current_exe()
            .map_err(|e| e.to_string())?
            .display()
            .to_string(),
    );
    let time = opts
        .time
        .as_ref()
        .map_or(String::new(), |t| format!("#SBATCH --time={t}\n"));
    // #SBATCH lines are not parsed by a shell: Slurm takes the rest of the line as is,
    // so the log path is written unquoted (and must not contain spaces there).
    let log_dir = dir_raw.display();
    let array = format!(
        "#!/bin/bash\n\
         #SBATCH --job-name=capsim-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={cpus}\n\
         {time}\
         #SBATCH --output={log_dir}/slurm-%A_%a.out\n\
         # One coarse shard per array task; --resume makes a re-submitted task skip finished runs.\n\
         set -euo pipefail\n\
         exec {exe} sweep {sweep} --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\" --resume -j \"${{SLURM_CPUS_PER_TASK:-1}}\" -o {dir}/shard-$SLURM_ARRAY_TASK_ID\n",
        last = tasks - 1,
        cpus = opts.cpus_per_task,
    );
    let shards: Vec<String> = (0..tasks)
        .map(|k| sh_quote(&format!("{}/shard-{k}", dir_raw.display())))
        .collect();
    let merge = format!(
        "#!/bin/bash\n\
         #SBATCH --job-name=capsim-{name}-merge\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --output={log_dir}/slurm-merge-%j.out\n\
         set -euo pipefail\n\
         {exe} merge {shards} -o {dir}\n\
         exec {exe} report {dir}\n",
        shards = shards.join(" "),
    );
    let submit = format!(
        "#!/bin/bash\n\
         # Submit the array, then the merge once every array task has succeeded.\n\
         set -euo pipefail\n\
         cd {dir}\n\
         array=$(sbatch --parsable sweep.sbatch)\n\
         sbatch --dependency=afterok:${{array%%;*}} --kill-on-invalid-dep=yes merge.sbatch\n",
    );
    if log_dir.to_string().contains(char::is_whitespace) {
        return Err(format!(
            "{log_dir}: Slurm's #SBATCH --output cannot take a path with spaces; choose -o elsewhere"
        ));
    }
    let dir = dir_raw;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (f, text) in [
        ("sweep.sbatch", array),
        ("merge.sbatch", merge),
        ("submit.sh", submit),
    ] {
        let p = dir.join(f);
        crate::atomic::write_text(&p, &text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
        }
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_paths_and_ask_for_cpus_and_time() {
        assert_eq!(sh_quote("a b"), "'a b'");
        // it's → 'it'\''s'
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        let out = std::env::temp_dir().join(format!("capsim-slurm-{}", std::process::id()));
        let opts = SlurmOptions {
            tasks: 4,
            cpus_per_task: 2,
            time: Some("30:00".into()),
        };
        let files = slurm_scripts(Path::new("my sweeps/s.toml"), "s", &opts, &out).unwrap();
        let array = std::fs::read_to_string(&files[0]).unwrap();
        assert!(array.contains("#SBATCH --array=0-3\n"));
        assert!(array.contains("#SBATCH --cpus-per-task=2\n"));
        assert!(array.contains("#SBATCH --time=30:00\n"));
        assert!(array.contains("my sweeps/s.toml' --shard \"$SLURM_ARRAY_TASK_ID/4\""));
        let merge = std::fs::read_to_string(&files[1]).unwrap();
        assert_eq!(merge.matches("/shard-").count(), 4);
        assert!(
            merge.contains("' report '"),
            "the merge job writes the report: {merge}"
        );
        let bad = SlurmOptions {
            time: Some("1 hour".into()),
            ..opts.clone()
        };
        assert!(slurm_scripts(Path::new("s.toml"), "s", &bad, &out)
            .unwrap_err()
            .contains("Slurm's notation"));
        let spaced = out.join("with space");
        assert!(slurm_scripts(Path::new("s.toml"), "s", &opts, &spaced)
            .unwrap_err()
            .contains("cannot take a path with spaces"));
        let _ = std::fs::remove_dir_all(&out);
    }
}
