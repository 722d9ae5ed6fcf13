//! Sweeps: deterministic expansion with stable ids and seeds, identical `runs.csv`
//! whatever the thread count, resume after an interruption, and a failing run recorded
//! without stopping the others.

use capsim::sweep::{expand, run_sweep, SweepOptions};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A scratch directory with a small base scenario: one rack of 4 i7-920 hosts whose
/// VMs step from 30 % to 100 % demand, capped at 500 W.
fn setup(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-sweep-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    fs::write(
        d.join("base.toml"),
        r#"
name = "base"
seed = 3
duration = "120s"
[output]
interval = "10s"
[policy]
kind = "none"
[[pdus]]
name = "rack"
voltage = "230V"
rating = "10A"
breaker = "iec60898-c"
cap = "550W"
[[servers]]
name = "h"
count = 4
model = "i7-920-xen34"
pdu = "rack"
[[vms]]
name = "vm"
count = 16
host = "h"
memory = "256MiB"
demand = { kind = "steps", steps = [["0s", "30%"], ["40s", "100%"]] }
"#,
    )
    .unwrap();
    d
}

fn sweep_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("base = \"base.toml\"\nreplicates = 2\n{body}")).unwrap();
    p
}

const GRID: &str = r#"
[[grid]]
path = "policy.kind"
values = ["none", "group-dvfs", "idle"]
[[grid]]
path = "output.interval"
values = ["10s", "20s"]
"#;

#[test]
fn expansion_counts_ids_and_seeds_are_stable() {
    let d = setup("expand");
    let a = expand(&sweep_file(&d, "a.toml", GRID)).unwrap();
    // 3 × 2 points × 2 replicates.
    assert_eq!(a.runs.len(), 12);
    let ids: std::collections::BTreeSet<_> = a.runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 12, "ids are unique");
    // The same axes in the other order, plus an unrelated field: same ids and seeds
    // for the same assignments.
    let swapped = "name = \"other\"\n[[grid]]\npath = \"output.interval\"\nvalues = [\"10s\", \"20s\"]\n[[grid]]\npath = \"policy.kind\"\nvalues = [\"none\", \"group-dvfs\", \"idle\"]\n";
    let b = expand(&sweep_file(&d, "b.toml", swapped)).unwrap();
    let key = |s: &capsim::sweep::Sweep| -> BTreeMap<(String, u32), (String, u64)> {
        s.runs
            .iter()
            .map(|r| {
                let mut k: Vec<String> = r
                    .assignments
                    .iter()
                    .map(|a| format!("{}={}", a.path, capsim::sweep::expand::show(&a.value)))
                    .collect();
                k.sort();
                ((k.join(";"), r.replicate), (r.id.clone(), r.seed))
            })
            .collect()
    };
    assert_eq!(key(&a), key(&b));
    let _ = fs::remove_dir_all(&d);
}

fn grid() -> String {
    GRID.to_string()
}

fn run_into(sweep: &Path, out: &Path, threads: usize, resume: bool) -> (String, usize) {
    let s = expand(sweep).unwrap();
    let opts = SweepOptions {
        out: out.to_path_buf(),
        resume,
        models: vec![],
        progress: capsim::sweep::Progress::Off,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let done = pool.install(|| run_sweep(&s, &s, &opts)).unwrap();
    (fs::read_to_string(done.csv).unwrap(), done.failed)
}

#[test]
fn one_and_two_threads_give_the_same_runs_csv_and_resume_loses_nothing() {
    let d = setup("threads");
    let sw = sweep_file(&d, "s.toml", &grid());
    let (one, f1) = run_into(&sw, &d.join("j1"), 1, false);
    let (two, f2) = run_into(&sw, &d.join("j2"), 2, false);
    assert_eq!((f1, f2), (0, 0));
    assert_eq!(one, two);
    assert_eq!(one.lines().count(), 13, "header + 12 runs");
    // An interrupted sweep: half the runs' results and runs.csv are missing. Resuming
    // reruns only those and writes the same runs.csv.
    let runs: Vec<_> = fs::read_dir(d.join("j2/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    for p in runs.iter().step_by(2) {
        fs::remove_dir_all(p).unwrap();
    }
    fs::remove_file(d.join("j2/runs.csv")).unwrap();
    let kept = runs
        .iter()
        .skip(1)
        .step_by(2)
        .next()
        .unwrap()
        .join("summary.json");
    let before = fs::metadata(&kept).unwrap().modified().unwrap();
    let (resumed, f3) = run_into(&sw, &d.join("j2"), 2, true);
    assert_eq!(f3, 0);
    assert_eq!(resumed, one);
    // A finished run was skipped, not redone.
    assert_eq!(fs::metadata(&kept).unwrap().modified().unwrap(), before);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_failing_run_is_recorded_and_the_others_complete() {
    let d = setup("fail");
    let body = grid().replace("\"idle\"", "\"no-such-policy\"");
    let sw = sweep_file(&d, "s.toml", &body);
    let (csv, failed) = run_into(&sw, &d.join("out"), 2, false);
    // 1 bad policy × 2 intervals × 2 replicates = 4 failures out of 12.
    assert_eq!(failed, 4);
    let bad: Vec<&str> = csv.lines().filter(|l| l.contains(",failed,")).collect();
    assert_eq!(bad.len(), 4);
    assert!(bad
        .iter()
        .all(|l| l.contains("no-such-policy") && l.contains("is not a policy")));
    assert_eq!(csv.lines().filter(|l| l.contains(",ok,")).count(), 8);
    // Each failure's error is also beside where its results would be.
    let errors = fs::read_dir(d.join("out/runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("error.txt").exists())
        .count();
    assert_eq!(errors, 4);
    let _ = fs::remove_dir_all(&d);
}

/// Runs `sweep` as `n` coarse shards into `DIR/{prefix}-K` (as array tasks would).
fn run_shards(sweep: &Path, d: &Path, prefix: &str, n: usize) -> Vec<PathBuf> {
    let full = expand(sweep).unwrap();
    let mut dirs = Vec::new();
    for k in 0..n {
        let part = capsim::sweep::shard::shard(&full, k, n).unwrap();
        let out = d.join(format!("{prefix}-{k}"));
        let opts = SweepOptions {
            out: out.clone(),
            resume: false,
            models: vec![],
            progress: capsim::sweep::Progress::Off,
        };
        run_sweep(&part, &full, &opts).unwrap();
        dirs.push(out);
    }
    dirs
}

#[test]
fn shards_merged_equal_the_whole() {
    let d = setup("shards");
    let sw = sweep_file(&d, "s.toml", &grid());
    let (whole, _) = run_into(&sw, &d.join("whole"), 2, false);
    // 12 runs in 3 coarse shards of 4, run separately (as three array tasks would).
    let mut dirs = run_shards(&sw, &d, "shard", 3);
    for s in &dirs {
        assert_eq!(
            fs::read_to_string(s.join("runs.csv"))
                .unwrap()
                .lines()
                .count(),
            5
        );
    }
    // Merging in any order gives the single machine's runs.csv, byte for byte.
    dirs.reverse();
    let merged = capsim::sweep::shard::merge(&dirs, &d.join("merged")).unwrap();
    assert_eq!(fs::read_to_string(merged).unwrap(), whole);
    // A missing shard is an error naming what is missing.
    let err = capsim::sweep::shard::merge(&dirs[..2], &d.join("partial")).unwrap_err();
    assert!(err.contains("4 runs are in no shard"), "{err}");
    let _ = fs::remove_dir_all(&d);
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        for e in fs::read_dir(&p).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn merge_onto_one_of_its_inputs_is_refused_and_the_input_is_intact() {
    let d = setup("onto");
    let sw = sweep_file(&d, "s.toml", &grid());
    let dirs = run_shards(&sw, &d, "shard", 3);
    let before = tree(&dirs[0]);
    // The shard itself, and the same directory spelled another way.
    for out in [dirs[0].clone(), d.join("shard-1/../shard-0/.")] {
        let err = capsim::sweep::shard::merge(&dirs, &out).unwrap_err();
        assert!(
            err.contains(&format!("-o {}:", out.display()))
                && err.contains(&dirs[0].display().to_string()),
            "{err}"
        );
    }
    // The command line: exit 2, the message on stderr, nothing written.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_capsim"))
        .arg("merge")
        .args(&dirs)
        .arg("-o")
        .arg(&dirs[0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("is the shard directory"), "{stderr}");
    assert_eq!(tree(&dirs[0]), before, "the input is untouched");
    assert!(before[Path::new("sweep-order.txt")].len() > 100);
    // A shard given twice is refused too.
    let twice = [dirs[0].clone(), dirs[1].clone(), d.join("shard-0")];
    let err = capsim::sweep::shard::merge(&twice, &d.join("m")).unwrap_err();
    assert!(err.contains("give each shard once"), "{err}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_cut_or_garbled_shard_row_is_refused_naming_its_file_and_line() {
    let d = setup("cut");
    let sw = sweep_file(&d, "s.toml", &grid());
    let dirs = run_shards(&sw, &d, "shard", 3);
    let csv = dirs[2].join("runs.csv");
    let text = fs::read_to_string(&csv).unwrap();
    let merge = || capsim::sweep::shard::merge(&dirs, &d.join("merged")).unwrap_err();
    // Cut mid-row (as a full disk or a kill during a copy leaves it): the last row, line 5.
    fs::write(&csv, &text[..text.len() - 7]).unwrap();
    let err = merge();
    assert!(
        err.starts_with(&format!("{}:5: ", csv.display())) && err.contains("cut short"),
        "{err}"
    );
    // A short row in the middle: line 3 loses its last fields.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let keep = lines[2].rfind(',').unwrap();
    let cut = lines[2][..keep].rfind(',').unwrap();
    lines[2].truncate(cut);
    fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let err = merge();
    assert!(
        err.starts_with(&format!("{}:3: ", csv.display())) && err.contains("the header has"),
        "{err}"
    );
    // A row of a run this sweep does not have.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = format!("0123456789ab{}", &lines[4][12..]);
    fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let err = merge();
    assert!(
        err.starts_with(&format!("{}:5: ", csv.display()))
            && err.contains("run id `0123456789ab` is not in this sweep"),
        "{err}"
    );
    assert!(!d.join("merged").join("runs.csv").exists());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn shards_of_different_sweeps_are_refused() {
    let d = setup("mixed");
    let sw = sweep_file(&d, "s.toml", &grid());
    let dirs = run_shards(&sw, &d, "a", 3);
    // The same axes over an edited base: the same run ids and order, other results.
    let base = fs::read_to_string(d.join("base.toml"))
        .unwrap()
        .replace("duration = \"120s\"", "duration = \"100s\"");
    fs::write(d.join("base.toml"), base).unwrap();
    let other = run_shards(&sw, &d, "b", 3);
    assert_eq!(
        fs::read(dirs[1].join("sweep-order.txt")).unwrap(),
        fs::read(other[1].join("sweep-order.txt")).unwrap()
    );
    let mixed = [dirs[0].clone(), other[1].clone(), dirs[2].clone()];
    let err = capsim::sweep::shard::merge(&mixed, &d.join("merged")).unwrap_err();
    assert!(
        err.starts_with(&format!(
            "{}:",
            other[1].join("sweep-identity.txt").display()
        )) && err.contains("shards of different sweeps"),
        "{err}"
    );
    // A shard without an identity (an older capsim's) is refused, naming the file.
    fs::remove_file(dirs[1].join("sweep-identity.txt")).unwrap();
    let err = capsim::sweep::shard::merge(&dirs, &d.join("merged")).unwrap_err();
    assert!(
        err.contains("sweep-identity.txt") && err.contains("--resume"),
        "{err}"
    );
    assert!(!d.join("merged").exists());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_merged_sweep_reports_what_one_machine_reports() {
    let d = setup("merged-report");
    let sw = sweep_file(&d, "s.toml", &grid());
    run_into(&sw, &d.join("local"), 2, false);
    let dirs = run_shards(&sw, &d, "shard", 3);
    let merged = d.join("merged");
    capsim::sweep::shard::merge(&dirs, &merged).unwrap();
    let local = capsim::sweep::report::report(&d.join("local")).unwrap();
    let from_shards = capsim::sweep::report::report(&merged).unwrap();
    assert_eq!((&local.warnings, &from_shards.warnings), (&vec![], &vec![]));
    // Byte for byte, the directory names (local, merged) notwithstanding: the title is
    // the sweep's name from its identity file.
    let html = fs::read_to_string(&local.path).unwrap();
    assert_eq!(html, fs::read_to_string(&from_shards.path).unwrap());
    assert!(html.contains("<h1>Sweep report: s</h1>"));
    // The merged directory has every run's directory, as the local one does.
    let runs = |dir: &Path| tree(&dir.join("runs"));
    assert_eq!(runs(&merged), runs(&d.join("local")));
    // A run without its summary.json is a warning, not a silently thinner plot.
    let first = first_run_id(&merged);
    fs::remove_file(merged.join("runs").join(&first).join("summary.json")).unwrap();
    let thin = capsim::sweep::report::report(&merged).unwrap();
    assert_eq!(thin.warnings.len(), 1, "{:?}", thin.warnings);
    assert!(
        thin.warnings[0].starts_with("1 of 12 completed runs have no readable summary.json")
            && thin.warnings[0].contains(&first),
        "{:?}",
        thin.warnings
    );
    let _ = fs::remove_dir_all(&d);
}

/// The first run id in `dir/runs.csv`.
fn first_run_id(dir: &Path) -> String {
    let csv = fs::read_to_string(dir.join("runs.csv")).unwrap();
    csv.lines().nth(1).unwrap()[..12].to_string()
}

#[test]
fn resume_removes_orphaned_partial_directories_and_counts_the_skipped_runs() {
    let d = setup("orphans");
    let sw = sweep_file(&d, "s.toml", &grid());
    let out = d.join("out");
    let exe = env!("CARGO_BIN_EXE_capsim");
    let sweep = |resume: bool| {
        let mut c = std::process::Command::new(exe);
        c.args(["sweep", sw.to_str().unwrap(), "-j", "2", "-o"])
            .arg(&out);
        if resume {
            c.arg("--resume");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    sweep(false);
    // One run lost; a staging directory of a killed process (PID 999999999 is above
    // Linux's pid_max, so never alive); one of a live process (this test); and a hidden
    // directory capsim did not write.
    let first = first_run_id(&out);
    fs::remove_dir_all(out.join("runs").join(&first)).unwrap();
    assert!(!Path::new("/proc/999999999").exists());
    let dead = out.join("runs").join(format!(".{first}.partial-999999999"));
    let live = out
        .join("runs")
        .join(format!(".{first}.partial-{}", std::process::id()));
    let foreign = out.join("runs").join(".keep");
    for p in [&dead, &live, &foreign] {
        fs::create_dir_all(p).unwrap();
        fs::write(p.join("summary.json"), "{").unwrap();
    }
    let line = sweep(true);
    assert!(
        line.starts_with(
            "12 runs, 0 failed, 11 skipped as already done, 1 orphaned partial directories"
        ),
        "{line}"
    );
    assert!(
        !dead.exists(),
        "the dead process's staging directory is removed"
    );
    assert!(
        live.exists() && foreign.exists(),
        "the others are left alone"
    );
    assert!(out.join("runs").join(&first).join("summary.json").exists());
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn the_report_is_self_contained_with_tables_and_three_plots() {
    let d = setup("report");
    // A numeric axis gives the violations-against-x plot too. It must be a field of
    // every kind swept (a `policy.gain` over kinds without a gain is now an error, where
    // it used to give identical runs): the migration policies' `max_in_flight`.
    let body = grid()
        .replace(
            "[\"none\", \"group-dvfs\", \"idle\"]",
            "[\"migration\", \"headroom\", \"power-aware-migration\"]",
        )
        .replace("output.interval", "policy.max_in_flight")
        .replace("[\"10s\", \"20s\"]", "[1, 2]");
    let sw = sweep_file(&d, "s.toml", &body);
    run_into(&sw, &d.join("out"), 2, false);
    let written = capsim::sweep::report::report(&d.join("out")).unwrap();
    assert_eq!(written.warnings, Vec::<String>::new());
    let html_path = written.path;
    let html = fs::read_to_string(html_path).unwrap();
    // One table row per point (3 policies × 2 limits) plus the header row.
    assert_eq!(html.matches("<tr>").count(), 7);
    // Three inlined SVG plots and nothing fetched from elsewhere.
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(html.contains("± "));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn the_built_in_default_sweep_expands_from_the_binary() {
    // Runs from any directory: the sweep and its base come from the binary, not the disk.
    let sw = capsim::sweep::expand_embedded(capsim::app::DEFAULT_SWEEP).unwrap();
    assert!(sw.embedded);
    assert_eq!(
        sw.base_path,
        Path::new("scenarios/datacenter/small.toml"),
        "`../datacenter/small.toml` relative to scenarios/sweeps/"
    );
    // 4 policies × 5 ratios × 5 replicates.
    assert_eq!(sw.runs.len(), 100);
    // The same runs (ids and seeds) as the file on disk.
    let disk = expand(Path::new(capsim::app::DEFAULT_SWEEP)).unwrap();
    assert_eq!(sw.runs, disk.runs);
    let err = capsim::sweep::expand_embedded("scenarios/sweeps/nope.toml").unwrap_err();
    assert!(
        err.to_string()
            .contains("no such sweep is built into capsim"),
        "{err}"
    );
}

#[test]
fn a_sweep_killed_with_sigkill_and_resumed_writes_the_same_runs_csv() {
    let d = setup("kill");
    // Longer runs so the kill lands mid-sweep: 12 runs of 30 simulated minutes.
    let base = fs::read_to_string(d.join("base.toml"))
        .unwrap()
        .replace("duration = \"120s\"", "duration = \"30min\"");
    fs::write(d.join("base.toml"), base).unwrap();
    let sw = sweep_file(&d, "s.toml", GRID);
    let (whole, _) = run_into(&sw, &d.join("whole"), 2, false);
    let out = d.join("killed");
    let exe = env!("CARGO_BIN_EXE_capsim");
    let mut child = std::process::Command::new(exe)
        .args(["sweep", sw.to_str().unwrap(), "-j", "1", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let finished = |out: &Path| -> usize {
        fs::read_dir(out.join("runs")).map_or(0, |rd| {
            rd.flatten()
                .filter(|e| e.path().join("summary.json").exists())
                .count()
        })
    };
    let t0 = std::time::Instant::now();
    while finished(&out) < 2 && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done_at_kill = finished(&out);
    // The kill really interrupted the sweep: some runs done, not all, no runs.csv.
    assert!(
        (2..12).contains(&done_at_kill),
        "{done_at_kill} of 12 runs finished when killed"
    );
    assert!(!out.join("runs.csv").exists());
    let status = std::process::Command::new(exe)
        .args(["sweep", sw.to_str().unwrap(), "-j", "2", "--resume", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read_to_string(out.join("runs.csv")).unwrap(), whole);
    // The killed process's staging directories are gone.
    let partial = fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .count();
    assert_eq!(partial, 0);
    let _ = fs::remove_dir_all(&d);
}

/// The error each failed run recorded beside its results, one per failed run.
fn run_errors(out: &Path) -> Vec<String> {
    let mut errors: Vec<String> = fs::read_dir(out.join("runs"))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("error.txt")).ok())
        .collect();
    errors.sort();
    errors
}

#[test]
fn an_invalid_swept_value_is_reported_at_its_axis_in_the_sweep_file() {
    let d = setup("axis");
    // Line 5 of the sweep file is `values = ["100%", "ninety"]` ("base" and
    // "replicates" come first): `"ninety"` starts at column 19. (The policy is made one
    // that has a `cap` band: the base's `none` takes no `cap`.)
    let sw = sweep_file(
        &d,
        "s.toml",
        "[[grid]]\npath = \"policy.cap\"\nvalues = [\"100%\", \"ninety\"]\n\
         [[grid]]\npath = \"policy.kind\"\nvalues = [\"group-dvfs\"]\n",
    );
    let (csv, failed) = run_into(&sw, &d.join("out"), 2, false);
    // "ninety" × 2 replicates.
    assert_eq!(failed, 2);
    assert_eq!(csv.lines().filter(|l| l.contains(",ok,")).count(), 2);
    let errors = run_errors(&d.join("out"));
    assert_eq!(errors.len(), 2);
    let prefix = format!("{}:5:19: axis policy.cap = \"ninety\": ", sw.display());
    for e in &errors {
        // The rest is the validator's own message.
        let rest = e.strip_prefix(&prefix).unwrap_or_else(|| panic!("{e}"));
        assert!(rest.contains("`ninety` is not a percentage"), "{e}");
    }
    // A value of the wrong type: line 5 `values = [0.5, "high"]`, `"high"` at column 16.
    let sw = sweep_file(
        &d,
        "t.toml",
        "[[grid]]\npath = \"policy.gain\"\nvalues = [0.5, \"high\"]\n\
         [[grid]]\npath = \"policy.kind\"\nvalues = [\"dvfs\"]\n",
    );
    let (_, failed) = run_into(&sw, &d.join("typed"), 2, false);
    assert_eq!(failed, 2);
    let prefix = format!("{}:5:16: axis policy.gain = \"high\": ", sw.display());
    for e in run_errors(&d.join("typed")) {
        let rest = e.strip_prefix(&prefix).unwrap_or_else(|| panic!("{e}"));
        assert!(rest.contains("invalid type: string \"high\""), "{e}");
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn an_error_elsewhere_in_the_base_points_at_the_base_file_as_written() {
    let d = setup("base-error");
    // No `name` or `seed` (the sweep writes both in front) and no `period` under
    // [policy] (the sweep writes it after the header): each shifts the text the
    // validator reads, not the position reported.
    let base = "duration = \"120s\"\n\
                [policy]\n\
                kind = \"none\"\n\
                [[pdus]]\n\
                name = \"rack\"\n\
                voltage = \"230V\"\n\
                rating = \"10Q\"\n\
                [[servers]]\n\
                name = \"h\"\n\
                count = 1\n\
                model = \"i7-920-xen34\"\n\
                pdu = \"rack\"\n";
    fs::write(d.join("base.toml"), base).unwrap();
    let sw = sweep_file(
        &d,
        "s.toml",
        "[[grid]]\npath = \"policy.kind\"\nvalues = [\"none\", \"idle\"]\n\
         [[grid]]\npath = \"policy.period\"\nvalues = [\"2s\"]\n",
    );
    let (_, failed) = run_into(&sw, &d.join("out"), 2, false);
    assert_eq!(failed, 4);
    // Line 7 is `rating = "10Q"`; the value starts at column 10.
    let prefix = format!(
        "{}:7:10: field `pdus[0].rating`: ",
        d.join("base.toml").display()
    );
    let errors = run_errors(&d.join("out"));
    assert_eq!(errors.len(), 4);
    for e in errors {
        assert!(e.starts_with(&prefix) && e.contains("`10Q`"), "{e}");
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_path_that_cannot_be_set_is_an_error_naming_the_axis() {
    let d = setup("paths");
    // Line 4 of each sweep file is `path = "…"`: the string starts at column 8.
    let err = |name: &str, path: &str| {
        let sw = sweep_file(
            &d,
            name,
            &format!("[[grid]]\npath = \"{path}\"\nvalues = [1]\n"),
        );
        (
            sw.display().to_string(),
            expand(&sw).unwrap_err().to_string(),
        )
    };
    let (file, e) = err("a.toml", "pdus.cap");
    assert_eq!(
        e,
        format!("{file}:4:8: axis pdus.cap: `pdus` is an array of tables ([[pdus]]); a path cannot go into one")
    );
    let (file, e) = err("b.toml", "policy.kind.x");
    assert_eq!(
        e,
        format!("{file}:4:8: axis policy.kind.x: `policy.kind` is a string, not a table, so it has no field `x`")
    );
    let (file, e) = err("c.toml", "policy");
    assert_eq!(
        e,
        format!(
            "{file}:4:8: axis policy: `policy` is a table; the path must name a value inside it"
        )
    );
    let (file, e) = err("d.toml", "seed.x");
    assert_eq!(
        e,
        format!("{file}:4:8: axis seed.x: the sweep sets `seed` for every run, so nothing inside it can be swept")
    );
    let _ = fs::remove_dir_all(&d);
}

/// The golden sweep (tests/data/sweep-metrics/sweep.toml says how its `runs.csv` was
/// recorded).
fn golden() -> (PathBuf, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sweep-metrics");
    let csv = fs::read_to_string(dir.join("runs.csv")).unwrap();
    (dir.join("sweep.toml"), csv)
}

#[test]
fn every_metric_column_equals_the_string_keyed_computation_it_replaced() {
    let d = setup("golden");
    let (sweep, want) = golden();
    let (csv, failed) = run_into(&sweep, &d.join("out"), 2, false);
    assert_eq!(failed, 0);
    assert_eq!(csv, want);
    // Resuming from every run's summary.json (runs.csv gone, one summary torn) gives
    // the same bytes; the torn run is redone, the others are not.
    fs::remove_file(d.join("out/runs.csv")).unwrap();
    let runs = expand(&sweep).unwrap().runs;
    let torn = d.join("out/runs").join(&runs[0].id).join("summary.json");
    fs::write(&torn, "{\"scenario\": ").unwrap();
    let kept = d.join("out/runs").join(&runs[1].id).join("summary.json");
    let before = fs::metadata(&kept).unwrap().modified().unwrap();
    let (resumed, failed) = run_into(&sweep, &d.join("out"), 2, true);
    assert_eq!(failed, 0);
    assert_eq!(resumed, want);
    assert!(fs::read_to_string(&torn).unwrap().len() > 1000);
    assert_eq!(fs::metadata(&kept).unwrap().modified().unwrap(), before);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn replicates_past_the_run_limit_are_an_error_at_the_field() {
    // A million replicates aborted while the run list was built; the limit is 100,000
    // runs. Line 2 `replicates = 1000000`, value at column 14.
    let d = setup("replicates");
    let p = d.join("big.toml");
    fs::write(&p, "base = \"base.toml\"\nreplicates = 1000000\n").unwrap();
    let e = expand(&p).unwrap_err();
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (2, 14, "replicates"),
        "{e}"
    );
    assert!(e.message.contains("100000 runs"), "{e}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_sweep_or_base_that_is_not_a_regular_file_is_refused() {
    // /dev/zero never ends: reading it as a sweep (or its base) would not return.
    let e = expand(Path::new("/dev/zero")).unwrap_err();
    assert!(e.message.contains("not a regular file"), "{e}");
    let d = setup("zero-base");
    let p = d.join("z.toml");
    fs::write(&p, "base = \"/dev/zero\"\nreplicates = 1\n").unwrap();
    let e = expand(&p).unwrap_err();
    assert!(
        e.file.ends_with("z.toml") && e.message.contains("not a regular file"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&d);
}
