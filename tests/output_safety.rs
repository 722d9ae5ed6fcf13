//! No command deletes or overwrites what it did not write: every command that writes an
//! output directory (`run`, `validate`, `replay`, `calibrate --report`, `report`) refuses
//! one that holds a user's files unless `--force`, and then keeps them; `-o .` works.
//! Driven through the binary, as a user would.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn capsim(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capsim"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-safety-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn scenario(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

/// The user's files of the example: `d/keep.txt` and an empty `d/sub/`.
fn users_dir(base: &Path) -> PathBuf {
    let d = base.join("d");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("keep.txt"), "x\n").unwrap();
    d
}

fn assert_users_files_kept(d: &Path) {
    assert_eq!(fs::read_to_string(d.join("keep.txt")).unwrap(), "x\n");
    assert!(d.join("sub").is_dir(), "the empty sub/ is kept");
}

#[test]
fn run_refuses_a_directory_with_a_users_files_and_force_keeps_them() {
    let base = scratch("run");
    let d = users_dir(&base);
    let sc = scenario("scenarios/rack/overload-trip.toml");
    let out = capsim(&base, &["run", &sc, "-o", "d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keep.txt") && err.contains("sub") && err.contains("--force"),
        "{err}"
    );
    assert!(!d.join("summary.json").exists(), "refused before writing");
    assert_users_files_kept(&d);
    // Twice with --force: the second run replaces the first's files, and only those.
    for _ in 0..2 {
        let out = capsim(&base, &["run", &sc, "-o", "d", "--force"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_users_files_kept(&d);
    assert!(d.join("summary.json").is_file());
    let names: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("staging")),
        "no staging left: {names:?}"
    );
}

#[test]
fn run_replaces_its_own_previous_outputs_without_force() {
    let base = scratch("rerun");
    let sc = scenario("scenarios/rack/overload-trip.toml");
    for _ in 0..2 {
        let out = capsim(&base, &["run", &sc, "-o", "o"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Nothing but the output directory beside it: the old copy was removed.
    let names: Vec<_> = fs::read_dir(&base).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn run_into_the_current_directory_works() {
    let base = scratch("dot");
    let sc = scenario("scenarios/rack/overload-trip.toml");
    for _ in 0..2 {
        let out = capsim(&base, &["run", &sc, "-o", "."]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(base.join("summary.json").is_file());
    // With a user's file there, `-o .` is refused like any other directory.
    fs::write(base.join("notes.md"), "mine").unwrap();
    let out = capsim(&base, &["run", &sc, "-o", "."]);
    assert!(!out.status.success());
    assert_eq!(fs::read_to_string(base.join("notes.md")).unwrap(), "mine");
}

#[test]
fn validate_refuses_a_directory_with_a_users_files() {
    let base = scratch("validate");
    let d = users_dir(&base);
    let out = capsim(&base, &["validate", "-o", "d"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keep.txt"));
    assert!(!d.join("validation.csv").exists());
    assert_users_files_kept(&d);
}

#[test]
fn report_refuses_a_report_directory_with_a_users_files() {
    let base = scratch("report");
    let sweep = scenario("scenarios/sweeps/smoke.toml");
    let out = capsim(&base, &["sweep", &sweep, "-o", "s", "-j", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(base.join("s/report/mine.txt"), "m").unwrap();
    let out = capsim(&base, &["report", "s"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mine.txt"));
    assert_eq!(
        fs::read_to_string(base.join("s/report/mine.txt")).unwrap(),
        "m"
    );
}

#[test]
fn a_run_whose_outputs_would_be_huge_is_refused_before_it_starts() {
    let base = scratch("large");
    // The basic rack for a day with a row every millisecond: 86,400,001 rows × (time,
    // 1 rack, 24 servers, 24 dom0s, 24 VM copies, 144 VMs = 218 columns) ≈ 1.9e10
    // values, far over the 5e8 limit.
    let text = fs::read_to_string(scenario("scenarios/rack/basic.toml"))
        .unwrap()
        .replace("duration = \"2h\"", "duration = \"1d\"")
        .replace("interval = \"10s\"", "interval = \"1ms\"");
    fs::write(base.join("big.toml"), text).unwrap();
    let out = capsim(&base, &["run", "big.toml", "-o", "o"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow-large") && err.contains("[output] interval"),
        "{err}"
    );
    assert!(
        !base.join("o").exists(),
        "refused before anything was written"
    );
}
