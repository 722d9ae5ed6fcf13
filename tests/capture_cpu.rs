//! The CPU and migration capture sources, driven through the library against fakes: fake
//! `xentop` / `xl` executables replaying synthetic fixtures, a fake cgroup tree and
//! /proc/stat whose counters advance, and a fake QMP server on a unix socket.

use capsim::capture::cpu::{sources_from, CpuOptions};
use capsim::capture::record::{
    Clock, CpuRow, EventRow, MigrationRow, Record, Sink, Source, Stamp, Stop,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/capture_cpu");

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-cpu-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Replaces a file atomically, so a poller never reads it half written.
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The single source the options build.
fn one(opts: CpuOptions) -> Box<dyn Source> {
    let mut v = sources_from(&opts).unwrap();
    assert_eq!(v.len(), 1);
    v.pop().unwrap()
}

/// Runs `src` in its own thread until `done(records so far)` holds (or `max` passes, which
/// fails the test), then stops it and returns everything it sent.
fn drive(
    mut src: Box<dyn Source>,
    max: Duration,
    mut done: impl FnMut(&[(Stamp, Record)]) -> bool,
    mut between: impl FnMut(&[(Stamp, Record)]),
) -> Vec<(Stamp, Record)> {
    let (tx, rx) = mpsc::channel();
    let sink = Sink::new(Clock::start(), tx);
    let stop = Stop::new();
    let s2 = stop.clone();
    let h = std::thread::spawn(move || src.run(&sink, &s2));
    let mut got = Vec::new();
    let deadline = Instant::now() + max;
    while !done(&got) {
        if Instant::now() > deadline {
            stop.request();
            panic!("timed out; received {got:#?}");
        }
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(10)) {
            got.push(r);
            between(&got);
        }
    }
    stop.request();
    let t = Instant::now();
    h.join().unwrap().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "stop took {:?}",
        t.elapsed()
    );
    got.extend(rx.try_iter());
    got
}

fn cpu(r: &[(Stamp, Record)]) -> Vec<(Stamp, &CpuRow)> {
    r.iter()
        .filter_map(|(s, r)| match r {
            Record::Cpu(c) => Some((*s, c)),
            _ => None,
        })
        .collect()
}

fn events(r: &[(Stamp, Record)]) -> Vec<&EventRow> {
    r.iter()
        .filter_map(|(_, r)| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn migration(r: &[(Stamp, Record)]) -> Vec<&MigrationRow> {
    r.iter()
        .filter_map(|(_, r)| match r {
            Record::Migration(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn kinds(r: &[(Stamp, Record)]) -> Vec<String> {
    events(r).iter().map(|e| e.kind.clone()).collect()
}

#[test]
fn xentop_batches_restart_and_both_layouts() {
    let dir = scratch("xentop");
    let fake = dir.join("xentop");
    // Run N replays xentop_runN.txt; `%%` ends an iteration (pause). The second run stays
    // alive like a real xentop until it is killed.
    script(
        &fake,
        &format!(
            "n=$(cat '{d}/runs' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{d}/runs'\n\
             echo \"args: $*\" >&2\n\
             while IFS= read -r line; do\n\
               if [ \"$line\" = '%%' ]; then sleep 0.15; else printf '%s\\n' \"$line\"; fi\n\
             done < '{FIX}/xentop_run'$n'.txt'\n\
             if [ $n -ge 2 ]; then exec sleep 5; fi\n",
            d = dir.display()
        ),
    );
    let src = one(CpuOptions {
        xentop: true,
        xentop_cmd: fake,
        ..Default::default()
    });
    assert_eq!(src.describe()["args"], serde_json::json!(["-b", "-d", "1"]));
    let got = drive(src, Duration::from_secs(10), |r| cpu(r).len() >= 8, |_| {});
    let rows = cpu(&got);
    // (domain, cpu_ns, vcpus, state, flags)
    type Seen<'a> = (&'a str, Option<u64>, Option<u32>, &'a str, String);
    let vals: Vec<Seen> = rows
        .iter()
        .map(|(_, c)| {
            (
                c.domain.as_str(),
                c.cpu_ns,
                c.vcpus,
                c.state.as_str(),
                c.flags.cell(),
            )
        })
        .collect();
    // CPU(sec) whole seconds × 1e9: 100 s → 100_000_000_000 ns, and so on.
    assert_eq!(
        vals,
        [
            (
                "Domain-0",
                Some(100_000_000_000),
                Some(4),
                "-----r",
                "".into()
            ),
            ("vm1", Some(20_000_000_000), Some(2), "--b---", "".into()),
            (
                "Domain-0",
                Some(101_000_000_000),
                Some(4),
                "-----r",
                "".into()
            ),
            ("vm1", Some(21_000_000_000), Some(2), "--b---", "".into()),
            // After the restart (older 17-column layout): flagged.
            (
                "Domain-0",
                Some(103_000_000_000),
                Some(4),
                "-----r",
                "gap|reconnected".into()
            ),
            (
                "vm1",
                Some(23_000_000_000),
                Some(2),
                "--b---",
                "gap|reconnected".into()
            ),
            // Only the first batch after the restart is flagged.
            (
                "Domain-0",
                Some(104_000_000_000),
                Some(4),
                "-----r",
                "".into()
            ),
            ("vm1", Some(24_000_000_000), Some(2), "--b---", "".into()),
        ]
    );
    assert!(rows
        .iter()
        .all(|(_, c)| c.source == "xentop" && c.domid.is_none()));
    // A batch shares one stamp (its header's); the next batch is ≥ 0.15 s later.
    assert_eq!(rows[0].0, rows[1].0);
    assert_eq!(rows[2].0, rows[3].0);
    assert!(rows[2].0.mono_ns >= rows[0].0.mono_ns + 140_000_000);
    let ev = events(&got);
    let k = kinds(&got);
    let pos = |kind: &str| k.iter().position(|x| x == kind).unwrap();
    assert!(pos("source.bad_line") < pos("source.gap"));
    assert!(pos("source.gap") < pos("source.reconnected"));
    let bad = ev.iter().find(|e| e.kind == "source.bad_line").unwrap();
    assert_eq!(bad.raw.as_deref(), Some("       vm1 garbage"));
    let gap = ev.iter().find(|e| e.kind == "source.gap").unwrap();
    assert_eq!(gap.fields["status"], 0);
    let stderr: Vec<_> = ev.iter().filter(|e| e.kind == "source.stderr").collect();
    assert_eq!(stderr[0].raw.as_deref(), Some("args: -b -d 1"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn xentop_missing_program_is_an_error() {
    let mut src = one(CpuOptions {
        xentop: true,
        xentop_cmd: "/nonexistent/xentop".into(),
        ..Default::default()
    });
    let (tx, _rx) = mpsc::channel();
    let e = src
        .run(&Sink::new(Clock::start(), tx), &Stop::new())
        .unwrap_err();
    assert!(e.contains("/nonexistent/xentop"), "{e}");
}

#[test]
fn xl_list_rows_gap_and_migration_phases() {
    let dir = scratch("xl");
    let fake = dir.join("xl");
    // Call N prints xl_list_M.txt per the table; call 3 fails like an unreachable xenstore.
    script(
        &fake,
        &format!(
            "[ \"$1\" = list ] || exit 2\n\
             n=$(cat '{d}/calls' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{d}/calls'\n\
             case $n in 1) m=1;; 2) m=2;; 3) echo 'libxl: cannot connect' >&2; exit 1;; 4) m=3;; *) m=4;; esac\n\
             cat '{FIX}/xl_list_'$m'.txt'\n",
            d = dir.display()
        ),
    );
    let src = one(CpuOptions {
        xl: true,
        xl_cmd: fake,
        xen_interval: "50ms".parse().unwrap(),
        migrate_vm: vec!["vm1".into()],
        ..Default::default()
    });
    let got = drive(
        src,
        Duration::from_secs(10),
        |r| kinds(r).iter().any(|k| k == "migration.end"),
        |_| {},
    );
    let rows: Vec<(String, Option<u32>, Option<u64>, String)> = cpu(&got)
        .iter()
        .map(|(_, c)| (c.domain.clone(), c.domid, c.cpu_ns, c.flags.cell()))
        .collect();
    // Time(s) with one decimal × 1e9: 500.3 s → 500_300_000_000 ns.
    let row = |d: &str, id, ns, f: &str| (d.to_string(), Some(id), Some(ns), f.to_string());
    assert_eq!(
        rows[..7],
        [
            row("Domain-0", 0, 500_000_000_000, ""),
            row("Domain-0", 0, 500_300_000_000, ""),
            row("vm1--incoming", 7, 0, ""),
            // After the failed call: flagged gap.
            row("Domain-0", 0, 501_200_000_000, "gap"),
            row("vm1--incoming", 7, 100_000_000, "gap"),
            row("Domain-0", 0, 501_900_000_000, ""),
            row("vm1", 7, 400_000_000, ""),
        ]
    );
    let ev = events(&got);
    let seq: Vec<(&str, Option<&str>)> = ev
        .iter()
        .map(|e| (e.kind.as_str(), e.vm.as_deref()))
        .collect();
    assert_eq!(
        seq,
        [
            ("migration.incoming_seen", Some("vm1")),
            ("source.gap", None),
            ("source.reconnected", None),
            ("migration.incoming_gone", Some("vm1")),
            ("migration.switch", Some("vm1")),
            ("migration.end", Some("vm1")),
        ]
    );
    assert_eq!(ev[0].fields["domid"], 7);
    assert_eq!(ev[1].fields["status"], 1);
    assert_eq!(ev[1].raw.as_deref(), Some("libxl: cannot connect"));
    assert_eq!(ev[4].fields["side"], "target");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cgroup_discovery_counters_and_explicit_paths() {
    let dir = scratch("cgroup");
    let slice = dir.join("machine.slice");
    let vm1 = slice.join(r"machine-qemu\x2d1\x2dvm1.scope");
    std::fs::create_dir_all(vm1.join("libvirt/vcpu0")).unwrap();
    std::fs::create_dir_all(vm1.join("libvirt/vcpu1")).unwrap();
    std::fs::create_dir_all(vm1.join("libvirt/emulator")).unwrap();
    std::fs::create_dir_all(slice.join("other.slice")).unwrap();
    let stat = |usec: u64| {
        format!(
            "usage_usec {usec}\nuser_usec {}\nsystem_usec {}\nnr_periods 0\n",
            usec / 2,
            usec / 2
        )
    };
    put(&vm1.join("cpu.stat"), &stat(1_000_000));
    let web = slice.join(r"machine-qemu\x2d2\x2dweb\x2d01.scope");
    let src = one(CpuOptions {
        cgroup: Some(dir.clone()),
        cpu_interval: "30ms".parse().unwrap(),
        ..Default::default()
    });
    let vm1_ns = |r: &[(Stamp, Record)], ns| {
        cpu(r)
            .iter()
            .any(|(_, c)| c.domain == "vm1" && c.cpu_ns == Some(ns))
    };
    let mut step = 0;
    let got = drive(
        src,
        Duration::from_secs(10),
        |r| kinds(r).iter().any(|k| k == "cpu.domain_gone"),
        |r| {
            if step == 0 && vm1_ns(r, 1_000_000_000) {
                // The counter advances and a second VM starts.
                put(&vm1.join("cpu.stat"), &stat(1_500_000));
                // Built aside and renamed in, so no poll sees a scope without cpu.stat.
                let staged = dir.join("staged.scope");
                std::fs::create_dir_all(&staged).unwrap();
                put(&staged.join("cpu.stat"), &stat(42));
                std::fs::rename(&staged, &web).unwrap();
                step = 1;
            } else if step == 1
                && vm1_ns(r, 1_500_000_000)
                && cpu(r).iter().any(|(_, c)| c.domain == "web-01")
            {
                // Renamed out first: the VM vanishes at once, never half-deleted.
                std::fs::rename(&web, dir.join("gone")).unwrap();
                step = 2;
            }
        },
    );
    let rows = cpu(&got);
    // usage_usec × 1000: 1_000_000 µs → 1e9 ns; 42 µs → 42_000 ns. vcpus counts vcpu0/1.
    let v1 = rows.iter().find(|(_, c)| c.domain == "vm1").unwrap().1;
    assert_eq!(
        (v1.domid, v1.cpu_ns, v1.vcpus, v1.source.as_str()),
        (Some(1), Some(1_000_000_000), Some(2), "cgroup")
    );
    let w = rows.iter().find(|(_, c)| c.domain == "web-01").unwrap().1;
    assert_eq!((w.domid, w.cpu_ns, w.vcpus), (Some(2), Some(42_000), None));
    // Counters never go backwards in the rows of one VM.
    let series: Vec<u64> = rows
        .iter()
        .filter(|(_, c)| c.domain == "vm1")
        .map(|(_, c)| c.cpu_ns.unwrap())
        .collect();
    assert!(series.windows(2).all(|w| w[0] <= w[1]), "{series:?}");
    assert!(rows.iter().all(|(_, c)| c.flags.cell().is_empty()));
    let ev: Vec<(String, Option<String>)> = events(&got)
        .iter()
        .map(|e| (e.kind.clone(), e.vm.clone()))
        .collect();
    let s = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
    assert_eq!(
        ev,
        [
            s("cpu.domain_seen", "vm1"),
            s("cpu.domain_seen", "web-01"),
            s("cpu.domain_gone", "web-01"),
        ]
    );

    // Explicit NAME=PATH: a group that is not there yet gives missing rows and one gap
    // event; once it exists, the next row is flagged gap.
    let late = dir.join("late");
    let src = one(CpuOptions {
        cgroup: Some(dir.clone()),
        cgroup_vm: vec!["vmx=late".into()],
        cpu_interval: "30ms".parse().unwrap(),
        ..Default::default()
    });
    let mut made = false;
    let got = drive(
        src,
        Duration::from_secs(10),
        |r| cpu(r).iter().any(|(_, c)| c.cpu_ns.is_some()),
        |r| {
            if !made && cpu(r).len() >= 2 {
                std::fs::create_dir_all(&late).unwrap();
                put(&late.join("cpu.stat"), &stat(7));
                made = true;
            }
        },
    );
    let rows = cpu(&got);
    assert!(rows.len() >= 3);
    assert!(rows[..rows.len() - 1]
        .iter()
        .all(|(_, c)| c.cpu_ns.is_none() && c.flags.cell() == "missing" && c.domain == "vmx"));
    let last = rows.last().unwrap().1;
    // 7 µs → 7000 ns.
    assert_eq!(
        (last.cpu_ns, last.flags.cell()),
        (Some(7000), "gap".to_string())
    );
    assert_eq!(kinds(&got), ["source.gap"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn procstat_host_and_per_cpu_rows() {
    let dir = scratch("procstat");
    let path = dir.join("stat");
    put(
        &path,
        "cpu  100 20 30 1000 50 5 6 7 0 0\ncpu0 60 10 20 500 25 3 4 4 0 0\ncpu1 40 10 10 500 25 2 2 3 0 0\nintr 1 2 3\nctxt 10\n",
    );
    let src = one(CpuOptions {
        procstat: Some(path.clone()),
        procstat_per_cpu: true,
        user_hz: Some(100),
        cpu_interval: "30ms".parse().unwrap(),
        ..Default::default()
    });
    let host = |r: &[(Stamp, Record)]| -> Vec<CpuRow> {
        cpu(r)
            .into_iter()
            .filter(|(_, c)| c.domain == "host")
            .map(|(_, c)| c.clone())
            .collect()
    };
    let step = std::cell::Cell::new(0);
    let got = drive(
        src,
        Duration::from_secs(10),
        |r| step.get() == 4 && host(r).last().is_some_and(|c| c.flags.has("gap")),
        |r| {
            let h = host(r);
            let Some(last) = h.last() else { return };
            if step.get() == 0 {
                // Advance: user +10, idle +100 on the total line.
                put(&path, "cpu  110 20 30 1100 50 5 6 7 0 0\ncpu0 65 10 20 550 25 3 4 4 0 0\ncpu1 45 10 10 550 25 2 2 3 0 0\n");
                step.set(1);
            } else if step.get() == 1 && last.cpu_ns == Some(1_780_000_000) {
                put(
                    &path,
                    "cpu  120 20 30 1200 50 5 6 7 0 0\ncpu0 70 10 20 600 25 3 4 4 0 0\ncpu1 1 x\n",
                );
                step.set(2);
            } else if step.get() == 2 && last.flags.has("bad_line") {
                std::fs::remove_file(&path).unwrap();
                step.set(3);
            } else if step.get() == 3 && kinds(r).iter().any(|k| k == "source.gap") {
                put(&path, "cpu  130 20 30 1300 50 5 6 7 0 0\ncpu0 70 10 20 600 25 3 4 4 0 0\ncpu1 60 10 10 700 25 2 2 3 0 0\n");
                step.set(4);
            }
        },
    );
    let h = host(&got);
    // busy = user+nice+system+irq+softirq+steal = 100+20+30+5+6+7 = 168 ticks → 1.68 s at
    // 100 Hz; idle = 1000+50 = 1050 ticks → 10.5 s; two cpuN lines.
    assert_eq!(
        (h[0].cpu_ns, h[0].idle_ns, h[0].vcpus, h[0].flags.cell()),
        (
            Some(1_680_000_000),
            Some(10_500_000_000),
            Some(2),
            String::new()
        )
    );
    // Per-CPU: cpu0 busy 60+10+20+3+4+4 = 101 ticks → 1.01 s, idle 525 → 5.25 s.
    let c0 = cpu(&got)
        .into_iter()
        .find(|(_, c)| c.domain == "cpu0")
        .unwrap()
        .1;
    assert_eq!(
        (c0.cpu_ns, c0.idle_ns, c0.vcpus),
        (Some(1_010_000_000), Some(5_250_000_000), Some(1))
    );
    // Second content: busy 178 → 1.78 s, idle 1150 → 11.5 s.
    assert!(h
        .iter()
        .any(|c| c.cpu_ns == Some(1_780_000_000) && c.idle_ns == Some(11_500_000_000)));
    // Third content has a bad cpu1 line: host row kept (busy 188 → 1.88 s), flagged, and
    // vcpus counts only the parsed cpuN line.
    let bad = h.iter().find(|c| c.flags.has("bad_line")).unwrap();
    assert_eq!((bad.cpu_ns, bad.vcpus), (Some(1_880_000_000), Some(1)));
    // After the file came back: busy 198 → 1.98 s, flagged gap.
    let last = h.last().unwrap();
    assert_eq!(
        (last.cpu_ns, last.flags.cell()),
        (Some(1_980_000_000), "gap".into())
    );
    let k = kinds(&got);
    assert!(k.iter().any(|k| k == "source.bad_line"));
    assert_eq!(k.iter().filter(|k| *k == "source.gap").count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scripted QMP server: answers `query-migrate` with `replies` in order, sending the
/// `before` lines (events, garbage) first; `None` closes the connection.
fn qmp_session(
    stream: std::os::unix::net::UnixStream,
    script: &mut dyn FnMut(u32) -> Option<(Vec<String>, String)>,
) -> u32 {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    writeln!(w, r#"{{"QMP": {{"version": {{"qemu": {{"micro": 0, "minor": 2, "major": 8}}, "package": ""}}, "capabilities": ["oob"]}}}}"#).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["execute"], "qmp_capabilities");
    writeln!(w, "{}", serde_json::json!({"return": {}, "id": v["id"]})).unwrap();
    let mut n = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return n;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["execute"], "query-migrate");
        n += 1;
        let Some((before, reply)) = script(n) else {
            return n;
        };
        for b in before {
            writeln!(w, "{b}").unwrap();
        }
        writeln!(w, r#"{{"return": {reply}, "id": {}}}"#, v["id"]).unwrap();
    }
}

#[test]
fn qmp_progress_events_and_reconnection() {
    let dir = scratch("qmp");
    let sock = dir.join("vm1.qmp");
    let listener = UnixListener::bind(&sock).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let ev = |name: &str, data: &str| {
            format!(
                r#"{{"timestamp": {{"seconds": 1700000000, "microseconds": 250}}, "event": "{name}", "data": {data}}}"#
            )
        };
        // First connection: setup → active (falling remaining, rising dirty-sync-count) →
        // an incomplete reply → a garbage line before a reply → the socket closes.
        let (s, _) = listener.accept().unwrap();
        qmp_session(s, &mut |n| {
            let ram = |tr: u64, rem: u64, it: u64| {
                format!(
                    r#"{{"transferred": {tr}, "remaining": {rem}, "total": 10000, "dirty-sync-count": {it}, "dirty-pages-rate": 120, "mbps": 800.5, "duplicate": 3}}"#
                )
            };
            match n {
                1 => Some((vec![], r#"{"status": "setup"}"#.into())),
                2 => Some((
                    vec![ev("MIGRATION", r#"{"status": "active"}"#)],
                    format!(
                        r#"{{"status": "active", "total-time": 100, "expected-downtime": 300, "ram": {}}}"#,
                        ram(1000, 9000, 1)
                    ),
                )),
                3 => Some((
                    vec![ev("MIGRATION_PASS", r#"{"pass": 2}"#)],
                    format!(
                        r#"{{"status": "active", "total-time": 200, "expected-downtime": 250, "ram": {}}}"#,
                        ram(5000, 5000, 2)
                    ),
                )),
                4 => Some((vec![], r#"{"status": "active", "total-time": 300}"#.into())),
                5 => Some((
                    vec!["this is not json".into()],
                    format!(
                        r#"{{"status": "active", "total-time": 400, "ram": {}}}"#,
                        ram(9000, 1000, 3)
                    ),
                )),
                _ => None,
            }
        });
        // Second connection: completed (with downtime), repeated: one row only.
        let (s, _) = listener.accept().unwrap();
        let done_tx = done_tx.clone();
        qmp_session(s, &mut |n| {
            if n == 4 {
                let _ = done_tx.send(());
            }
            let before = if n == 1 {
                vec![ev("MIGRATION", r#"{"status": "completed"}"#)]
            } else {
                vec![]
            };
            Some((
                before,
                r#"{"status": "completed", "total-time": 450, "downtime": 25, "ram": {"transferred": 10200, "remaining": 0, "total": 10000, "dirty-sync-count": 4, "mbps": 0}}"#.into(),
            ))
        });
    });
    let src = one(CpuOptions {
        qmp: vec![format!("vm1={}", sock.display())],
        qmp_interval: "30ms".parse().unwrap(),
        ..Default::default()
    });
    let id = format!("qmp:{}", sock.display());
    assert_eq!(src.id(), id);
    let got = drive(
        src,
        Duration::from_secs(10),
        |_| done_rx.try_recv().is_ok(),
        |_| {},
    );
    server.join().unwrap();
    let rows = migration(&got);
    // (status, elapsed_s, remaining_b, iteration, downtime_s, flags)
    type Seen<'a> = (
        &'a str,
        Option<f64>,
        Option<u64>,
        Option<u64>,
        Option<f64>,
        String,
    );
    let view: Vec<Seen> = rows
        .iter()
        .map(|m| {
            (
                m.status.as_str(),
                m.elapsed_s,
                m.remaining_b,
                m.iteration,
                m.downtime_s,
                m.flags.cell(),
            )
        })
        .collect();
    // total-time ms / 1000: 100 → 0.1 s …; downtime 25 ms → 0.025 s.
    assert_eq!(
        view,
        [
            ("setup", None, None, None, None, "".into()),
            ("active", Some(0.1), Some(9000), Some(1), None, "".into()),
            ("active", Some(0.2), Some(5000), Some(2), None, "".into()),
            ("active", Some(0.3), None, None, None, "missing".into()),
            (
                "active",
                Some(0.4),
                Some(1000),
                Some(3),
                None,
                "bad_line".into()
            ),
            (
                "completed",
                Some(0.45),
                Some(0),
                Some(4),
                Some(0.025),
                "gap|reconnected".into()
            ),
        ]
    );
    assert!(rows.iter().all(|m| m.vm == "vm1" && m.source == id));
    // expected-downtime 300 ms → 0.3 s; mbps 800.5 → 8.005e8 bit/s; dirty rate 120 pages/s.
    assert_eq!(rows[1].expected_downtime_s, Some(0.3));
    assert_eq!(rows[1].rate_bps, Some(800.5e6));
    assert_eq!(rows[1].dirty_pages_per_s, Some(120.0));
    assert_eq!(
        (rows[1].transferred_b, rows[1].total_b),
        (Some(1000), Some(10000))
    );
    let ev = events(&got);
    let seq: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        seq,
        [
            "qmp.migration",
            "migration.status",
            "qmp.migration_pass",
            "source.bad_line",
            "source.gap",
            "source.reconnected",
            "qmp.migration",
            "migration.status",
        ]
    );
    assert_eq!(ev[0].fields["status"], "active");
    // 1_700_000_000 s + 250 µs = 1_700_000_000_000_250_000 ns.
    assert_eq!(ev[0].fields["qemu_wall_ns"], 1_700_000_000_000_250_000i64);
    assert_eq!(
        (&ev[1].fields["from"], &ev[1].fields["status"]),
        (&"setup".into(), &"active".into())
    );
    assert_eq!(ev[2].fields["pass"], 2);
    assert_eq!(ev[3].raw.as_deref(), Some("this is not json"));
    assert_eq!(
        (&ev[7].fields["from"], &ev[7].fields["status"]),
        (&"active".into(), &"completed".into())
    );
    assert!(ev.iter().all(|e| e.vm.as_deref() == Some("vm1")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn qmp_waits_for_a_socket_that_appears_later() {
    // The target QEMU starts only when the migration does: no socket is not fatal.
    let dir = scratch("qmp-late");
    let sock = dir.join("late.qmp");
    let src = one(CpuOptions {
        qmp: vec![format!("vm2={}", sock.display())],
        qmp_interval: "20ms".parse().unwrap(),
        ..Default::default()
    });
    let sock2 = sock.clone();
    let server = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let l = UnixListener::bind(&sock2).unwrap();
        let (s, _) = l.accept().unwrap();
        qmp_session(s, &mut |_| Some((vec![], r#"{"status": "none"}"#.into())))
    });
    let got = drive(
        src,
        Duration::from_secs(10),
        |r| !migration(r).is_empty(),
        |_| {},
    );
    let polls = server.join().unwrap();
    assert!(polls >= 1);
    assert_eq!(kinds(&got)[..2], ["source.gap", "source.reconnected"]);
    let m = migration(&got)[0];
    // The first connection is not a re-connection: no flags.
    assert_eq!((m.status.as_str(), m.flags.cell()), ("none", String::new()));
    let _ = std::fs::remove_dir_all(&dir);
}
