//! Every command that reads a file a user names (or a file inside a directory a user
//! names) refuses what is not a regular file: `/dev/zero` would be read forever and a
//! FIFO blocks until someone writes to it. Each command here gets a symlink to a FIFO where
//! it expects a file and must fail within seconds, naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-special-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A FIFO at `dir/fifo` (nobody ever writes to it).
fn fifo(dir: &Path) -> PathBuf {
    let p = dir.join("fifo");
    let ok = Command::new("mkfifo").arg(&p).status().unwrap().success();
    assert!(ok, "mkfifo {}", p.display());
    p
}

/// Runs capsim with `args` in `cwd`; it must exit non-zero within 20 s, its stderr naming
/// `file` as not a regular file.
fn refused(cwd: &Path, args: &[&str], file: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("capsim {args:?} still running after 20 s: it is reading a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "capsim {args:?} exited 0");
    assert!(
        err.contains(file) && err.contains("not a regular file"),
        "capsim {args:?}: {err}"
    );
}

#[test]
fn every_reader_refuses_a_fifo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = scratch();
    let f = fifo(&d);
    let link = |at: &Path| std::os::unix::fs::symlink(&f, at).unwrap();

    // A capture run directory whose power.csv is a FIFO (calibrate and replay read it).
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    let src = root.join("calibration/runs/synthetic-i7-920-migration-1");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "power.csv" {
            std::fs::copy(e.path(), run.join(e.file_name())).unwrap();
        }
    }
    link(&run.join("power.csv"));
    refused(&d, &["calibrate", "run", "-o", "m.toml"], "run/power.csv");
    assert!(!d.join("m.toml").exists());
    // The model replay reads, the recording capture replays, a SPECpower table.
    let good = root.join("calibration/runs/synthetic-i7-920-migration-2");
    let good = good.to_str().unwrap();
    refused(&d, &["replay", good, "--model", "fifo", "-o", "r"], "fifo");
    refused(
        &d,
        &[
            "capture",
            "--replay",
            "fifo",
            "--duration",
            "1s",
            "--out",
            "c",
        ],
        "fifo",
    );
    refused(
        &d,
        &[
            "calibrate",
            "--specpower",
            "fifo",
            "--server",
            "x",
            "-o",
            "s.toml",
        ],
        "fifo",
    );
    // A model library (`--models DIR`) whose server model is a FIFO.
    std::fs::create_dir_all(d.join("lib/servers")).unwrap();
    link(&d.join("lib/servers/ibm-x3550-m3.toml"));
    let basic = root.join("scenarios/rack/basic.toml");
    let basic = basic.to_str().unwrap();
    refused(
        &d,
        &["run", basic, "--models", "lib", "-o", "o"],
        "lib/servers/ibm-x3550-m3.toml",
    );
    assert!(!d.join("o").exists());
    // A sweep directory whose runs.csv is a FIFO: report and merge read it.
    let sweep = d.join("sweep");
    std::fs::create_dir(&sweep).unwrap();
    link(&sweep.join("runs.csv"));
    refused(&d, &["report", "sweep"], "sweep/runs.csv");
    // A real shard (the first of three of the smoke sweep) with its runs.csv a FIFO.
    let smoke = root.join("scenarios/sweeps/smoke.toml");
    let ok = Command::new(env!("CARGO_BIN_EXE_capsim"))
        .args([
            "sweep",
            smoke.to_str().unwrap(),
            "--shard",
            "0/3",
            "-o",
            "s0",
        ])
        .current_dir(&d)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "the smoke sweep's first shard");
    std::fs::remove_file(d.join("s0/runs.csv")).unwrap();
    link(&d.join("s0/runs.csv"));
    refused(&d, &["merge", "s0", "-o", "m"], "s0/runs.csv");
    assert!(!d.join("m").exists());
    let _ = std::fs::remove_dir_all(&d);
}
