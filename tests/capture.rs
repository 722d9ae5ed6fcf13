//! `capsim capture` without hardware: scripted WT210/WT310 emulators on pty pairs, a fake
//! powercap tree whose counter wraps, a fake `ipmitool`, replay, `--run`, `--mark`,
//! SIGINT/SIGTERM and kill -9.

#[path = "capture_support/emulator.rs"]
mod emulator;

use capsim::capture::meter::link::Port;
use capsim::capture::meter::{MeterConfig, MeterSource, Model};
use capsim::capture::rapl::RaplSource;
use capsim::capture::record::{Source, Stop};
use capsim::capture::replay::ReplaySource;
use capsim::capture::session::{capture, Config, Outcome};
use emulator::{Dialogue, Emulator, Sent};
use serde_json::Value;
use serialport::SerialPort;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pty pairs are not thread-safe to create: tests using them run one at a time.
static PTY: Mutex<()> = Mutex::new(());

fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("capture-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/capture")
        .join(name)
}

/// Rows of a CSV written by the capture (no quoted cells in these tests) as header → cell.
fn csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "{} ends mid-line", path.display());
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{}: `{l}`", path.display());
            header
                .iter()
                .cloned()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect()
}

fn events(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn opt(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().unwrap())
}

fn config(dir: &Path, sources: Vec<Box<dyn Source>>) -> Config {
    Config {
        out: dir.to_path_buf(),
        sources,
        run: None,
        keep_going: false,
        tail: Duration::ZERO,
        mark: false,
        duration: None,
        command_line: vec!["test".into()],
    }
}

/// Runs a capture in a thread; returns its stop flag and handle.
fn spawn_capture(cfg: Config) -> (Stop, std::thread::JoinHandle<Outcome>) {
    let stop = Stop::new();
    let s2 = stop.clone();
    let h = std::thread::spawn(move || capture(cfg, &s2, &|| None).unwrap());
    (stop, h)
}

/// Checks power.csv rows of `source` against what the emulator sent, one for one:
/// values exact, `missing` where the meter sent 9.91E+37, `bad_line` (with a
/// `source.bad_line` event holding the raw reply) for garbled replies, and `gap|reconnected`
/// on exactly the first row after the silence, whose power is `after_silence_w`.
fn check_meter(dir: &Path, source: &str, sent: &[Sent], after_silence_w: f64, with_wh: bool) {
    let rows: Vec<_> = csv(&dir.join("power.csv"))
        .into_iter()
        .filter(|r| r["source"] == source)
        .collect();
    let stream: Vec<&Sent> = sent.iter().filter(|s| s.stream).collect();
    assert_eq!(rows.len(), stream.len(), "one row per reply sent");
    let ev = events(dir);
    let mut gaps = 0;
    for (r, s) in rows.iter().zip(&stream) {
        let mut expect = Vec::new();
        if r["flags"].starts_with("gap") {
            gaps += 1;
            assert_eq!(s.p, Some(after_silence_w), "gap flag on the wrong row");
            expect.extend(["gap", "reconnected"]);
        }
        if let Some(raw) = &s.bad {
            expect.push("bad_line");
            assert!(
                ev.iter()
                    .any(|e| e["kind"] == "source.bad_line" && e["raw"] == raw.as_str()),
                "no source.bad_line event with raw {raw}"
            );
            expect.push("missing");
        } else {
            assert_eq!(opt(&r["power_w"]), s.p);
            assert_eq!(opt(&r["voltage_v"]), s.v);
            assert_eq!(opt(&r["current_a"]), s.i);
            if with_wh {
                assert_eq!(opt(&r["energy_raw_j"]), s.wh.map(|w| w * 3600.0));
            }
            if s.p.is_none() || s.v.is_none() || s.i.is_none() {
                expect.push("missing");
            }
        }
        assert_eq!(r["flags"], expect.join("|"), "row {r:?} for {s:?}");
    }
    assert_eq!(gaps, 1);
    assert!(ev.iter().any(|e| e["kind"] == "source.gap"));
    assert!(ev.iter().any(|e| e["kind"] == "source.reconnected"));
}

#[test]
fn wt210_emulator_every_sample_in_power_csv() {
    let _g = PTY.lock().unwrap_or_else(|e| e.into_inner());
    let (master, slave) = serialport::TTYPort::pair().unwrap();
    let dialogue = Dialogue::parse(&std::fs::read_to_string(fixture("wt210.dialogue")).unwrap());
    let emu = Emulator::start(master, dialogue, true);
    let dir = tmpdir("wt210");
    let src = MeterSource::new(MeterConfig {
        model: Model::Wt210,
        port: Port::Serial {
            path: slave.name().unwrap(),
            baud: 9600,
        },
        rate_s: None,
    });
    let (stop, h) = spawn_capture(config(&dir, vec![Box::new(src)]));
    emu.wait_done(Duration::from_secs(15));
    stop.request();
    let out = h.join().unwrap();
    let sent = emu.stop();
    drop(slave);
    assert_eq!(out.exit_reason, "stop requested");
    // The script has 8 samples and a garbled reply; the last sample is repeated once the
    // script is exhausted, so at least 9 streamed replies.
    assert!(sent.iter().filter(|s| s.stream).count() >= 9);
    check_meter(&dir, "wt210", &sent, 99.75, false);
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    let s = &m["sources"][0];
    assert_eq!(s["id"], "wt210");
    assert_eq!(s["idn"], "YOKOGAWA,760401,SYN0000210,F1.00");
    assert_eq!(s["update_interval_s"], 0.1);
    // WH read at start (0.05 before the first update) and at the end (0.0512):
    // (0.0512 − 0.05) × 3600 = 4.32 J.
    let x = &s["energy_cross_check"];
    assert_eq!(x["wh_start"], 0.05);
    assert_eq!(x["wh_end"], 0.0512);
    assert!((x["meter_energy_j"].as_f64().unwrap() - 4.32).abs() < 1e-9);
    assert_eq!(s["gaps"], 1);
    assert_eq!(s["reconnects"], 1);
    assert_eq!(s["bad_lines"], 1);
    // Flagged rows: 9.91E+37 (missing), the garbled reply, the first after the gap.
    assert_eq!(m["files"][0]["flagged_rows"], 3);
}

#[test]
fn wt310_emulator_every_sample_in_power_csv() {
    let _g = PTY.lock().unwrap_or_else(|e| e.into_inner());
    let (master, slave) = serialport::TTYPort::pair().unwrap();
    let dialogue = Dialogue::parse(&std::fs::read_to_string(fixture("wt310.dialogue")).unwrap());
    let emu = Emulator::start(master, dialogue, false);
    let dir = tmpdir("wt310");
    let src = MeterSource::new(MeterConfig {
        model: Model::Wt310,
        port: Port::for_path(&slave.name().unwrap(), 9600),
        rate_s: None,
    });
    let (stop, h) = spawn_capture(config(&dir, vec![Box::new(src)]));
    emu.wait_done(Duration::from_secs(15));
    stop.request();
    h.join().unwrap();
    let sent = emu.stop();
    drop(slave);
    check_meter(&dir, "wt310", &sent, 57.25, true);
    let m = manifest(&dir);
    let s = &m["sources"][0];
    assert_eq!(s["idn"], "YOKOGAWA,WT310,SYN0000310,F1.03");
    // WH streamed as item 4: first row 1.25, last 1.2504 → (1.2504 − 1.25) × 3600 = 1.44 J.
    let x = &s["energy_cross_check"];
    assert_eq!(x["wh_start"], 1.25);
    assert_eq!(x["wh_end"], 1.2504);
    assert!((x["meter_energy_j"].as_f64().unwrap() - 1.44).abs() < 1e-9);
}

fn write_counter(path: &Path, v: u64) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{v}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn fake_powercap(root: &Path, pkg_uj: u64) {
    for (dir, name, e) in [
        ("intel-rapl:0", "package-0", pkg_uj),
        ("intel-rapl:0:0", "core", 0),
    ] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), "1000000\n").unwrap();
        write_counter(&d.join("energy_uj"), e);
    }
}

#[test]
fn rapl_power_across_a_wraparound() {
    let root = tmpdir("rapl-tree");
    // Range 1 J; the package counter starts near the top so it wraps within ~0.2 s.
    fake_powercap(&root, 900_000);
    let dir = tmpdir("rapl");
    let src = RaplSource::new(&root, Duration::from_millis(50)).unwrap();
    let (stop, h) = spawn_capture(config(&dir, vec![Box::new(src)]));
    // 120 000 µJ every 40 ms (3 W) on the package, 50 000 µJ (1.25 W) on the core.
    let (mut pkg, mut core) = (900_000u64, 0u64);
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(40));
        pkg = (pkg + 120_000) % 1_000_000;
        core = (core + 50_000) % 1_000_000;
        write_counter(&root.join("intel-rapl:0/energy_uj"), pkg);
        write_counter(&root.join("intel-rapl:0:0/energy_uj"), core);
    }
    stop.request();
    h.join().unwrap();
    let rows = csv(&dir.join("power.csv"));
    let pk: Vec<_> = rows
        .iter()
        .filter(|r| r["source"] == "rapl:package-0")
        .collect();
    assert!(rows.iter().any(|r| r["source"] == "rapl:package-0/core"));
    assert!(pk.len() >= 10);
    assert_eq!(
        pk[0]["flags"], "missing",
        "no previous counter for the first row"
    );
    let mut wraps = 0;
    for w in pk.windows(2) {
        let prev = (opt(&w[0]["energy_raw_j"]).unwrap() * 1e6).round();
        let cur = (opt(&w[1]["energy_raw_j"]).unwrap() * 1e6).round();
        let dt = (w[1]["t_mono_ns"].parse::<u64>().unwrap()
            - w[0]["t_mono_ns"].parse::<u64>().unwrap()) as f64
            * 1e-9;
        // By hand across a wrap, e.g. prev 0.9 J, cur 0.14 J, range 1 J:
        // (1 − 0.9) + 0.14 = 0.24 J, over 0.08 s = 3 W.
        let delta_uj = if cur < prev {
            wraps += 1;
            assert_eq!(w[1]["flags"], "wrapped");
            (1_000_000.0 - prev) + cur
        } else {
            assert_eq!(w[1]["flags"], "");
            cur - prev
        };
        let p = opt(&w[1]["power_w"]).unwrap();
        assert!(
            (p - delta_uj * 1e-6 / dt).abs() < 1e-6 * p.max(1.0),
            "power {p} vs {delta_uj} µJ over {dt} s"
        );
    }
    // 25 × 120 000 µJ = 3 J of counting over a 1 J range: at least 2 wraps seen.
    assert!(wraps >= 2, "wraps {wraps}");
    let m = manifest(&dir);
    assert_eq!(
        m["sources"][0]["zones"][0]["max_energy_range_uj"],
        1_000_000
    );
}

#[test]
fn replay_yokotool_file_at_ten_times_speed() {
    let dir = tmpdir("replay");
    let src = ReplaySource::new(&fixture("yokotool.csv"), 10.0).unwrap();
    let t = Instant::now();
    let out = capture(config(&dir, vec![Box::new(src)]), &Stop::new(), &|| None).unwrap();
    assert_eq!(out.exit_reason, "all sources ended");
    let rows = csv(&dir.join("power.csv"));
    let got: Vec<(Option<f64>, &str)> = rows
        .iter()
        .map(|r| (opt(&r["power_w"]), r["flags"].as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(101.5), ""),
            (Some(102.0), ""),
            (None, "missing"),
            (None, "bad_line|missing"),
            (Some(99.75), ""),
        ]
    );
    // 0.4 s recorded at 10× → the last row ≥ 40 ms after the first.
    let t0: u64 = rows[0]["t_mono_ns"].parse().unwrap();
    let t4: u64 = rows[4]["t_mono_ns"].parse().unwrap();
    assert!(t4 - t0 >= 40_000_000, "{}", t4 - t0);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(events(&dir)
        .iter()
        .any(|e| e["kind"] == "source.bad_line" && e["raw"] == "not a sample line"));
}

#[test]
fn replay_of_a_capsim_power_csv_keeps_sources_and_flags() {
    let dir = tmpdir("replay-capsim");
    let f = dir.join("in.csv");
    std::fs::write(
        &f,
        "t_mono_ns,t_utc,source,power_w,voltage_v,current_a,energy_raw_j,flags\n\
         1000000,2026-01-01T00:00:00.001Z,wt210,100.5,230,0.44,,\n\
         11000000,2026-01-01T00:00:00.011Z,wt210,,230,0.44,,missing|gap\n",
    )
    .unwrap();
    let out_dir = dir.join("run");
    let src = ReplaySource::new(&f, 1.0).unwrap();
    capture(config(&out_dir, vec![Box::new(src)]), &Stop::new(), &|| {
        None
    })
    .unwrap();
    let rows = csv(&out_dir.join("power.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["source"], "replay:wt210");
    assert_eq!(rows[0]["power_w"], "100.5");
    assert_eq!(rows[1]["flags"], "missing|gap");
}

fn capsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capsim"))
}

#[test]
fn ipmi_fake_tool_on_path() {
    let bin = tmpdir("ipmi-bin");
    let tool = bin.join("ipmitool");
    // Call n answers 200 + n W, except call 3 which fails with an error text.
    std::fs::write(
        &tool,
        r#"#!/bin/sh
[ "$*" = "-I lanplus dcmi power reading" ] || { echo "unexpected args: $*" >&2; exit 2; }
c="$(dirname "$0")/count"; n=$(($(cat "$c" 2>/dev/null || echo 0) + 1)); echo $n > "$c"
if [ $n -eq 3 ]; then echo "Error: DCMI power reading failed" >&2; exit 1; fi
printf '\n    Instantaneous power reading:                 %d Watts\n' $((200 + n))
printf '    Power reading state is:                   activated\n\n'
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmpdir("ipmi").join("run");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let st = capsim()
        .args(["capture", "--ipmi", "--ipmi-args", "-I lanplus"])
        .args(["--ipmi-interval", "100ms", "--duration", "900ms", "--out"])
        .arg(&dir)
        .env("PATH", path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let rows = csv(&dir.join("power.csv"));
    assert!(rows.len() >= 5, "{} rows", rows.len());
    for (k, r) in rows.iter().enumerate() {
        let n = k as u64 + 1;
        if n == 3 {
            assert_eq!(r["power_w"], "");
            assert_eq!(r["flags"], "bad_line|missing");
        } else {
            assert_eq!(opt(&r["power_w"]), Some((200 + n) as f64));
            assert_eq!(r["flags"], "");
        }
    }
    let ev = events(&dir);
    assert!(ev.iter().any(|e| e["kind"] == "source.bad_line"
        && e["raw"]
            .as_str()
            .unwrap()
            .contains("DCMI power reading failed")));
    assert_eq!(
        manifest(&dir)["sources"][0]["power_reading_state"],
        "activated"
    );
}

#[test]
fn run_command_stderr_lines_become_events() {
    let dir = tmpdir("run").join("run");
    let started = Instant::now();
    let out = capsim()
        .args(["capture", "--tail", "200ms", "--out"])
        .arg(&dir)
        .args([
            "--run",
            "echo 'Migration progress: 10%' >&2; sleep 0.2; echo 'migration sender: Migration completed' >&2; exit 3",
        ])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        out.success(),
        "the capture succeeds whatever the command's status"
    );
    let ev = events(&dir);
    let kinds: Vec<&str> = ev.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "capture.start",
            "run.start",
            "run.stderr",
            "run.stderr",
            "run.end",
            "capture.end"
        ]
    );
    assert_eq!(ev[2]["raw"], "Migration progress: 10%");
    assert_eq!(ev[3]["raw"], "migration sender: Migration completed");
    assert_eq!(ev[4]["fields"]["exit_code"], 3);
    // The second line cannot arrive before 0.2 s after the start (the command sleeps
    // between the lines; the first line's arrival stamp may lag on a loaded machine); the
    // capture went on 0.2 s (--tail) after the end.
    let t = |k: usize| ev[k]["t_mono_ns"].as_u64().unwrap();
    assert!(t(2) <= t(3));
    assert!(t(3) - t(1) >= 200_000_000);
    assert!(t(5) - t(4) >= 200_000_000);
    let m = manifest(&dir);
    assert_eq!(m["exit_reason"], "command ended");
    assert_eq!(m["run"]["result"]["exit_code"], 3);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn marks_from_stdin() {
    use std::io::Write;
    let dir = tmpdir("mark").join("run");
    let mut child = capsim()
        .args(["capture", "--mark", "--duration", "800ms", "--out"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"idle baseline\n\n  migrate vm1  \n")
        .unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let marks: Vec<Value> = events(&dir)
        .into_iter()
        .filter(|e| e["kind"] == "mark")
        .collect();
    assert_eq!(marks.len(), 2, "the empty line is no mark");
    assert_eq!(marks[0]["fields"]["label"], "idle baseline");
    assert_eq!(marks[1]["fields"]["label"], "migrate vm1");
    assert_eq!(marks[1]["raw"], "  migrate vm1  ");
}

/// Starts the binary on a static fake powercap tree and waits until it writes rows.
fn start_rapl_capture(name: &str) -> (std::process::Child, PathBuf) {
    let root = tmpdir(&format!("{name}-tree"));
    fake_powercap(&root, 5_000);
    let dir = tmpdir(name).join("run");
    let child = capsim()
        .args(["capture", "--rapl"])
        .arg(&root)
        .args(["--rapl-interval", "10ms", "--out"])
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read_to_string(dir.join("power.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n > 10 {
            break;
        }
        assert!(Instant::now() < end, "capture wrote no rows");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, dir)
}

fn signal_closes_manifest(sig: libc::c_int, name: &str) {
    let (mut child, dir) = start_rapl_capture(name);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(
        m["exit_reason"],
        if sig == libc::SIGINT {
            "signal SIGINT"
        } else {
            "signal SIGTERM"
        }
    );
    assert!(m["end_utc"].is_string());
    // The counts in the manifest are the rows on disk: everything was flushed.
    let rows = csv(&dir.join("power.csv")).len() as u64;
    assert_eq!(m["files"][0]["rows"], rows);
    assert_eq!(m["files"][5]["name"], "events.jsonl");
    assert_eq!(m["files"][5]["rows"], events(&dir).len() as u64);
    assert_eq!(events(&dir).last().unwrap()["kind"], "capture.end");
}

#[test]
fn sigint_flushes_and_closes_the_manifest() {
    signal_closes_manifest(libc::SIGINT, "sigint");
}

#[test]
fn sigterm_flushes_and_closes_the_manifest() {
    signal_closes_manifest(libc::SIGTERM, "sigterm");
}

#[test]
fn kill_9_leaves_parseable_files() {
    let (mut child, dir) = start_rapl_capture("kill9");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let m = manifest(&dir);
    assert_eq!(m["status"], "running");
    // Whole lines only: every row has every cell, every event line is JSON.
    assert!(csv(&dir.join("power.csv")).len() >= 10);
    csv(&dir.join("cpu.csv"));
    csv(&dir.join("migration.csv"));
    assert_eq!(events(&dir)[0]["kind"], "capture.start");
}

#[test]
fn capture_without_sources_is_an_error() {
    let dir = tmpdir("nothing").join("run");
    let out = capsim()
        .args(["capture", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to record"));
}

#[test]
fn cpu_sources_from_the_command_line_land_in_cpu_csv_beside_power() {
    // The whole `capsim capture` path with a meter (replay) and a CPU source (/proc/stat
    // from a fake file): both files get rows, the manifest names both sources.
    let dir = tmpdir("cpu-cli");
    let stat = dir.join("stat");
    // user nice system idle iowait irq softirq steal: busy = 100+0+50+0+0+0 = 150 ticks,
    // idle = 800+50 = 850 ticks; at USER_HZ 100 that is 1.5e9 ns and 8.5e9 ns.
    std::fs::write(
        &stat,
        "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\n",
    )
    .unwrap();
    let power = dir.join("power.csv");
    std::fs::write(
        &power,
        "T,P,V,I\n1000.0,150.5,230.1,0.70\n1000.1,151.0,230.0,0.71\n",
    )
    .unwrap();
    let run = dir.join("run");
    let st = capsim()
        .args(["capture", "--replay"])
        .arg(&power)
        .arg("--procstat")
        .arg(&stat)
        .args([
            "--user-hz",
            "100",
            "--cpu-interval",
            "100ms",
            "--duration",
            "600ms",
            "--out",
        ])
        .arg(&run)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let cpu = csv(&run.join("cpu.csv"));
    assert!(cpu.len() >= 3, "{} cpu rows", cpu.len());
    for r in &cpu {
        assert_eq!(r["source"], "procstat");
        assert_eq!(r["domain"], "host");
        assert_eq!(r["cpu_ns"], "1500000000");
        assert_eq!(r["idle_ns"], "8500000000");
        assert_eq!(r["vcpus"], "2");
    }
    let p = csv(&run.join("power.csv"));
    assert_eq!(p.len(), 2);
    assert_eq!(opt(&p[0]["power_w"]), Some(150.5));
    let m = manifest(&run);
    assert_eq!(m["status"], "complete");
    let ids: Vec<&str> = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"procstat") && ids.contains(&"replay"),
        "{ids:?}"
    );
}

#[test]
fn fake_xl_and_xentop_on_path_with_a_wrapped_migration() {
    // A receiving Xen host as the capture sees it: `xl` and `xentop` are fake executables
    // first on PATH (the child's environment), `--run` wraps `xl migrate`, and `xl list`
    // shows vm1--incoming appear and become vm1 (fixtures of tests/capture_cpu.rs).
    let dir = tmpdir("xen-path");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fix = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/capture_cpu");
    let xl = format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         list) n=$(cat '{d}/calls' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{d}/calls'\n\
               m=$n; [ $m -gt 4 ] && m=4; cat '{f}/xl_list_'$m'.txt';;\n\
         migrate) echo 'migration target: Ready to receive domain.' >&2; sleep 0.4\n\
                  echo 'Migration successful.' >&2;;\n\
         *) exit 2;;\n\
         esac\n",
        d = dir.display(),
        f = fix.display()
    );
    let xentop = format!(
        "#!/bin/sh\n\
         while IFS= read -r line; do\n\
           if [ \"$line\" = '%%' ]; then sleep 0.1; else printf '%s\\n' \"$line\"; fi\n\
         done < '{f}/xentop_run1.txt'\n\
         exec sleep 30\n",
        f = fix.display()
    );
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in [("xl", xl), ("xentop", xentop)] {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = dir.join("run");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let st = capsim()
        .args([
            "capture",
            "--xl",
            "--xl-interval",
            "50ms",
            "--migrate-vm",
            "vm1",
            "--xentop",
        ])
        .args(["--run", "xl migrate vm1 host2", "--tail", "400ms", "--out"])
        .arg(&run)
        .env("PATH", path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let cpu = csv(&run.join("cpu.csv"));
    // xl: Domain-0 at 500.0 s on the first call → 500000000000 ns.
    assert!(cpu.iter().any(|r| r["source"] == "xl"
        && r["domain"] == "Domain-0"
        && r["cpu_ns"] == "500000000000"));
    assert!(cpu
        .iter()
        .any(|r| r["source"] == "xl" && r["domain"] == "vm1"));
    // xentop: vm1 at 20 s of CPU in its first batch.
    assert!(cpu
        .iter()
        .any(|r| r["source"] == "xentop" && r["domain"] == "vm1" && r["cpu_ns"] == "20000000000"));
    let kinds: Vec<String> = events(&run)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(pos("migration.incoming_seen") < pos("migration.switch"));
    assert!(pos("migration.switch") <= pos("migration.end"));
    assert!(pos("run.start") < pos("run.end"));
    assert_eq!(kinds.iter().filter(|k| *k == "run.stderr").count(), 2);
    assert_eq!(manifest(&run)["status"], "complete");
}

#[test]
fn network_counters_land_in_net_csv() {
    // /proc/net/dev as a fake file: eth0 has sent 987654321 B and received 123456789 B.
    let dir = tmpdir("netdev");
    let dev = dir.join("dev");
    std::fs::write(
        &dev,
        "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0: 123456789 1000    0    0    0     0          0         0 987654321    2000    0    0    0     0       0          0\n",
    )
    .unwrap();
    let run = dir.join("run");
    let st = capsim()
        .args(["capture", "--netdev"])
        .arg(&dev)
        .args(["--net-iface", "eth0", "--net-iface", "eth9"])
        .args(["--cpu-interval", "100ms", "--duration", "500ms", "--out"])
        .arg(&run)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let rows = csv(&run.join("net.csv"));
    assert!(rows.len() >= 3, "{} rows", rows.len());
    for r in &rows {
        assert_eq!(r["interface"], "eth0", "lo and absent eth9 are not rows");
        assert_eq!(r["rx_b"], "123456789");
        assert_eq!(r["tx_b"], "987654321");
        assert_eq!(r["flags"], "");
    }
    // The absent interface is said once.
    let missing: Vec<Value> = events(&run)
        .into_iter()
        .filter(|e| e["kind"] == "source.missing_interface")
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["fields"]["interface"], "eth9");
    let m = manifest(&run);
    let files: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(files.contains(&"net.csv"), "{files:?}");
}

#[test]
fn cpu_clocks_land_in_freq_csv() {
    // A fake /sys/devices/system/cpu with two CPUs at 2.667 GHz; cpu1's file is then
    // rewritten to 1.6 GHz (a p-state change) while the capture runs.
    let dir = tmpdir("cpufreq");
    let root = dir.join("cpu");
    for n in 0..2 {
        let d = root.join(format!("cpu{n}/cpufreq"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("scaling_cur_freq"), "2667000\n").unwrap();
    }
    let run = dir.join("run");
    let mut child = capsim()
        .args(["capture", "--cpufreq"])
        .arg(&root)
        .args(["--cpu-interval", "100ms", "--duration", "1200ms", "--out"])
        .arg(&run)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(root.join("cpu1/cpufreq/scaling_cur_freq"), "1600000\n").unwrap();
    assert!(child.wait().unwrap().success());
    let rows = csv(&run.join("freq.csv"));
    let of = |cpu: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["cpu"] == cpu)
            .map(|r| r["freq_hz"].clone())
            .collect()
    };
    let (c0, c1) = (of("cpu0"), of("cpu1"));
    assert!(
        c0.len() >= 8 && c0.iter().all(|f| f == "2667000000"),
        "{c0:?}"
    );
    // cpu1 starts at 2.667 GHz and ends at 1.6 GHz, never anything else.
    assert_eq!(c1.first().map(String::as_str), Some("2667000000"));
    assert_eq!(c1.last().map(String::as_str), Some("1600000000"));
    assert!(c1.iter().all(|f| f == "2667000000" || f == "1600000000"));
}
