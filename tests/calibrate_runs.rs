//! Calibration from capture runs, end to end: the round trip (simulate a testbed with
//! known parameters, write it through the capture writer, calibrate, recover every
//! parameter within 5 %) and bad input (misaligned clocks, gaps, no idle period, no
//! migration), each giving a clear diagnosis.

use capsim::calibrate::model_out::HostInfo;
use capsim::calibrate::runs_fit::calibrate;
use capsim::calibrate::synthetic::{synthesize, write_run, Options, Synthetic};
use capsim::capture::record::{Flags, Record};
use capsim::scenario::config::Scenario;
use capsim::scenario::library::Library;
use std::path::{Path, PathBuf};

const SCENARIO: &str = "scenarios/calibration/testbed-i7-920.toml";

fn scenario_text() -> String {
    std::fs::read_to_string(SCENARIO).unwrap()
}

fn load(text: &str) -> Scenario {
    let dir = Path::new("scenarios/calibration");
    let lib = Library::new(Vec::new()).with_scenario_dir(dir);
    capsim::scenario::validate::load_str(SCENARIO, text, dir, &lib).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-cal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn synth(sc: &Scenario, seed: u64, shift: f64) -> Synthetic {
    let o = Options {
        seed,
        power_shift_s: shift,
        ..Default::default()
    };
    synthesize(sc, SCENARIO, &o).unwrap()
}

fn pct(got: f64, want: f64) -> f64 {
    100.0 * (got - want) / want
}

#[test]
fn round_trip_recovers_every_parameter_within_5_percent() {
    let sc = load(&scenario_text());
    // Three repetitions of the testbed run (noise seeds 1, 2, 3), as a calibration on a
    // real testbed would repeat its run: one 18 s transfer with 1 W of meter noise gives
    // the NIC term a standard error of about 2.6 %, three give about 1.5 %.
    let mut dirs = Vec::new();
    let mut truth = None;
    for seed in 1..=3 {
        let s = synth(&sc, seed, 0.0);
        let d = tmp(&format!("rt{seed}"));
        let counts = write_run(&d, &s).unwrap();
        // 130 s at 100 ms: 1300 power rows.
        assert_eq!(counts.rows_in("power.csv"), 1300);
        truth = Some(s.truth);
        dirs.push(d);
    }
    let t = truth.unwrap();
    let c = calibrate(&dirs).unwrap();
    assert!(c.runs.iter().all(|r| r.synthetic()));
    let p = &c.power;
    let m = c.migration_params();
    // Known from the models: i7-920-xen34 (idle 100 W, 17 W per core at P0, 3.5 W/Gbps;
    // [dom0] 17 us and 10 us per page, 10 % setup, 50 % clean-up) and xen34-precopy
    // (setup 1.5 s, source copy 1 s, dom0 clean-up 1 s, 94 % of 1 Gbps = 117.5 MB/s).
    assert_eq!((t.idle_w, t.core_w, t.nic_w_per_gbps), (100.0, 17.0, 3.5));
    let goodput = t.link_goodput_bps_bytes.unwrap();
    assert!((goodput - 117.5e6).abs() < 1.0);
    // Extra power while sending, from the true parameters: the sender's dom0 CPU at the
    // link's page rate × W per core, plus the NIC term: 117.5e6/4096 × 17e-6 × 17 W
    // + 3.5 W × 0.94 Gbit/s = 8.29 + 3.29 = 11.58 W.
    let pages = goodput / 4096.0;
    let extra = pages * t.sender_cpu_per_page_s.unwrap() * t.core_w
        + t.nic_w_per_gbps * goodput * 8.0 / 1e9;
    let rows: Vec<(&str, f64, f64)> = vec![
        ("idle power (W)", t.idle_w, p.idle_w()),
        ("power per busy core (W)", t.core_w, p.core_w()),
        (
            "NIC power (W per Gbit/s)",
            t.nic_w_per_gbps,
            p.nic_w_per_gbps(),
        ),
        ("setup time (s)", t.setup_s.unwrap(), m.setup_s.unwrap().v),
        (
            "dom0 CPU during setup (cores)",
            t.setup_cpu.unwrap(),
            m.setup_cpu.unwrap().v,
        ),
        (
            "effective transfer rate (MB/s)",
            goodput / 1e6,
            m.rate.unwrap().v / 1e6,
        ),
        (
            "sender CPU per page (us)",
            t.sender_cpu_per_page_s.unwrap() * 1e6,
            m.sender.unwrap().v * 1e6,
        ),
        (
            "receiver CPU per page (us)",
            t.receiver_cpu_per_page_s.unwrap() * 1e6,
            m.receiver.unwrap().v * 1e6,
        ),
        (
            "source copy linger (s)",
            t.cleanup_vm_s.unwrap(),
            m.cleanup_vm_s.unwrap().v,
        ),
        (
            "dom0 clean-up (s)",
            t.cleanup_dom0_s.unwrap(),
            m.cleanup_dom0_s.unwrap().v,
        ),
        (
            "dom0 CPU during clean-up (cores)",
            t.cleanup_dom0_cpu.unwrap(),
            m.cleanup_dom0_cpu.unwrap().v,
        ),
        (
            "extra power while sending (W)",
            extra,
            m.extra_power_w.unwrap().v,
        ),
    ];
    println!(
        "{:<36} {:>10} {:>10} {:>8}",
        "parameter", "true", "recovered", "error %"
    );
    for (n, want, got) in &rows {
        println!("{n:<36} {want:>10.4} {got:>10.4} {:>8.2}", pct(*got, *want));
    }
    for (n, want, got) in &rows {
        assert!(
            pct(*got, *want).abs() < 5.0,
            "{n}: true {want}, recovered {got}"
        );
    }
    // Clock offsets: the synthetic meter and CPU share one clock.
    assert!(
        p.offsets.iter().all(|o| o.shift_s.abs() < 0.011),
        "{:?}",
        p.offsets
    );
    // The model file loads and carries the estimates.
    let host = HostInfo::default().or_manifest(&c.runs[0].manifest);
    let text = capsim::calibrate::model_out::model_text(&c, &host, "2026-01-01").unwrap();
    let model = capsim::scenario::validate::server_model_from_text("rt", "rt.toml", &text).unwrap();
    assert_eq!(model.power.cores, 4);
    assert!(pct(model.power.nic_w_per_gbps, 3.5).abs() < 5.0);
    assert!(pct(model.dom0.sender_cpu_per_page_s.unwrap(), 17e-6).abs() < 5.0);
    assert!(text.contains("SYNTHETIC"));
    // The command writes the model and the report.
    let out = tmp("rt-model").with_extension("toml");
    let rep = tmp("rt-report");
    let msg = capsim::calibrate::runs_command(
        &dirs,
        &out,
        Some(&rep),
        capsim::output::dir::Existing::Refuse,
        HostInfo::default(),
    )
    .unwrap();
    assert!(msg.contains("power fit over"), "{msg}");
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("95 % interval"));
    assert!(rep.join("fit-0.png").exists());

    // Replay a fourth run (noise seed 4) with the calibrated model: the power error is
    // the meter noise (σ = 1 W), and the migration time (setup 1.5 s + 2 GiB at the
    // calibrated rate + 0.1 s resume + 1 s source copy = 20.9 s) matches within 1 %.
    let d4 = tmp("rt4");
    write_run(&d4, &synth(&sc, 4, 0.0)).unwrap();
    let r = capsim::calibrate::replay::replay(&d4, &out).unwrap();
    assert!(r.rmse_w > 0.9 && r.rmse_w < 1.1, "{}", r.rmse_w);
    assert!(r.bias_w.abs() < 0.1, "{}", r.bias_w);
    assert_eq!(r.migrations.len(), 1);
    let mt = &r.migrations[0];
    assert!((mt.measured_s - 20.9).abs() < 0.1, "{}", mt.measured_s);
    assert!(pct(mt.predicted_s.unwrap(), mt.measured_s).abs() < 1.0);
    let rout = tmp("rt4-replay");
    let (text, flagged) = capsim::calibrate::replay::replay_command(
        &d4,
        &out,
        Some(&rout),
        capsim::output::dir::Existing::Refuse,
    )
    .unwrap();
    assert!(text.contains("power: RMSE"), "{text}");
    assert!(
        !flagged,
        "a good model on its own testbed is plausible: {text}"
    );

    // One absurd sample (a torn line read as 1e158 W) makes the fit implausible: the
    // offset search moves it out of the compared overlap (the offset goes to about
    // -1.8 s, the RMSE to 5 W), but the sample is over 10× the trace's median (~100 W).
    // The command says so and exits 1 (flagged).
    let d5 = tmp("rt5");
    write_run(&d5, &synth(&sc, 4, 0.0)).unwrap();
    let power = std::fs::read_to_string(d5.join("power.csv")).unwrap();
    let mut lines: Vec<String> = power.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[20].split(',').map(String::from).collect();
    cells[3] = "1e158".into();
    lines[20] = cells.join(",");
    std::fs::write(d5.join("power.csv"), lines.join("\n") + "\n").unwrap();
    let (text, flagged) = capsim::calibrate::replay::replay_command(
        &d5,
        &out,
        Some(&tmp("rt5-replay")),
        capsim::output::dir::Existing::Refuse,
    )
    .unwrap();
    assert!(flagged, "{text}");
    assert!(
        text.contains("implausible fit: a measured sample of 1.000e158 W"),
        "{text}"
    );
    assert!(rout.join("replay.png").exists() && rout.join("replay.svg").exists());

    // A user's file in either output directory: refused without --force, kept with it.
    use capsim::output::dir::Existing;
    for dir in [&rep, &rout] {
        std::fs::write(dir.join("mine.txt"), "m").unwrap();
    }
    let calibrate =
        |e| capsim::calibrate::runs_command(&dirs, &out, Some(&rep), e, HostInfo::default());
    let replay = |e| capsim::calibrate::replay::replay_command(&d4, &out, Some(&rout), e);
    let err = calibrate(Existing::Refuse).unwrap_err();
    assert!(err.contains("mine.txt"), "{err}");
    let err = replay(Existing::Refuse).unwrap_err();
    assert!(err.contains("mine.txt"), "{err}");
    calibrate(Existing::WriteBeside).unwrap();
    replay(Existing::WriteBeside).unwrap();
    for dir in [&rep, &rout] {
        assert_eq!(std::fs::read_to_string(dir.join("mine.txt")).unwrap(), "m");
    }
    assert!(rep.join("report.html").exists() && rout.join("replay.txt").exists());
}

#[test]
fn misaligned_clocks_are_diagnosed() {
    let sc = load(&scenario_text());
    // The meter's stamps run 5 s late: beyond the ±3 s search.
    let s = synth(&sc, 1, 5.0);
    let d = tmp("shift5");
    write_run(&d, &s).unwrap();
    let e = calibrate(std::slice::from_ref(&d)).err().unwrap();
    assert!(
        e.contains("misaligned clocks") && e.contains("edge of the ±3 s search"),
        "{e}"
    );
    // A 1.2 s offset is inside the range: found to the meter's resolution (the power
    // stamps are 1.2 s late, so the shift onto the CPU clock is −1.2 s).
    let s = synth(&sc, 1, 1.2);
    let d = tmp("shift1");
    write_run(&d, &s).unwrap();
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    assert!(
        (c.power.offsets[0].shift_s + 1.2).abs() < 0.011,
        "{:?}",
        c.power.offsets
    );
    assert!(pct(c.power.core_w(), 17.0).abs() < 5.0);
}

#[test]
fn gaps_are_excluded_and_counted_and_too_few_rows_is_an_error() {
    let sc = load(&scenario_text());
    let mut s = synth(&sc, 1, 0.0);
    // Flag 50 power rows (5 s, t = 30-35 s) as a gap with missing values, and one CPU
    // row as a bad line.
    let mut n_power = 0;
    let mut bad_cpu = false;
    for (at, r) in &mut s.records {
        let t = at.mono_ns as f64 / 1e9;
        match r {
            Record::Power(p) if t > 30.0 && t <= 35.0 + 1e-9 => {
                p.power_w = None;
                p.flags.set(Flags::MISSING);
                p.flags.set(Flags::GAP);
                n_power += 1;
            }
            Record::Cpu(c) if !bad_cpu && t > 50.0 && c.domain == "vm2" => {
                c.flags.set(Flags::BAD_LINE);
                bad_cpu = true;
            }
            _ => {}
        }
    }
    assert_eq!(n_power, 50);
    let d = tmp("gaps");
    write_run(&d, &s).unwrap();
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    assert_eq!(c.runs[0].excluded.total(), 51);
    let lines = c.runs[0].excluded.lines();
    assert!(
        lines.contains(&"power.csv: 50 rows flagged missing".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"cpu.csv: 1 rows flagged bad_line".to_string()),
        "{lines:?}"
    );
    // The 50 intervals without power are not fitted, and the poll whose vm2 row is bad
    // is dropped whole: its two intervals become one of 0.2 s, too long (> 1.5 × 0.1 s),
    // dropped like the interval in which the source copy's domain vanishes.
    assert_eq!(c.power.unusable[0], 50);
    assert_eq!(c.cpu[0].dropped, 2);
    assert_eq!(c.power.fit.n, 1299 - 3 - 50);
    assert!(pct(c.power.core_w(), 17.0).abs() < 5.0);
    let host = HostInfo::default().or_manifest(&c.runs[0].manifest);
    let text = capsim::calibrate::model_out::model_text(&c, &host, "2026-01-01").unwrap();
    assert!(
        text.contains("excluded: power.csv: 50 rows flagged missing"),
        "{text}"
    );

    // Almost everything flagged: too few usable rows.
    let mut s = synth(&sc, 1, 0.0);
    for (at, r) in &mut s.records {
        if let Record::Power(p) = r {
            if at.mono_ns > 2_000_000_000 {
                p.flags.set(Flags::GAP);
            }
        }
    }
    let d = tmp("fewrows");
    write_run(&d, &s).unwrap();
    let e = calibrate(std::slice::from_ref(&d)).err().unwrap();
    assert!(
        e.contains("usable intervals") && e.contains("30 needed"),
        "{e}"
    );
}

#[test]
fn a_run_without_an_idle_period_is_refused() {
    // vm1 busy from the start: never fewer than 1.05 busy cores.
    let text = scenario_text().replacen("start = \"15s\"", "start = \"0s\"", 1);
    let sc = load(&text);
    let d = tmp("noidle");
    write_run(&d, &synth(&sc, 1, 0.0)).unwrap();
    let e = calibrate(std::slice::from_ref(&d)).err().unwrap();
    assert!(e.contains("no idle period"), "{e}");
    assert!(e.contains("1.05 busy cores"), "{e}");
}

#[test]
fn a_run_without_migration_fits_power_only() {
    let text = scenario_text();
    let cut = text.find("[[actions]]").unwrap();
    let sc = load(&text[..cut]);
    let d = tmp("nomig");
    write_run(&d, &synth(&sc, 1, 0.0)).unwrap();
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    assert!(c.migrations.is_empty());
    assert!(!c.power.nic);
    assert!(c
        .notes
        .iter()
        .any(|n| n.contains("no migration in these runs")));
    assert!(pct(c.power.idle_w(), 100.0).abs() < 1.0);
    let host = HostInfo::default().or_manifest(&c.runs[0].manifest);
    let t = capsim::calibrate::model_out::model_text(&c, &host, "2026-01-01").unwrap();
    assert!(
        t.contains("no migration in these runs") && !t.contains("\n[dom0]"),
        "{t}"
    );
}

#[test]
fn the_cli_makes_calibrates_and_replays_a_synthetic_run() {
    let bin = env!("CARGO_BIN_EXE_capsim");
    let run = tmp("cli-run");
    let out = std::process::Command::new(bin)
        .args([
            "capture",
            "--simulate",
            SCENARIO,
            "--host",
            "source",
            "--meter-rate",
            "250ms",
        ])
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 130 s at 250 ms: 520 power rows.
    assert!(String::from_utf8_lossy(&out.stdout).contains("SYNTHETIC"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"][0]["rows"], 520);
    assert!(manifest["synthetic"]["doc"]
        .as_str()
        .unwrap()
        .contains("SYNTHETIC"));
    // A second capture into the same directory is refused.
    let again = std::process::Command::new(bin)
        .args(["capture", "--simulate", SCENARIO, "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a capture"));

    let model = tmp("cli-model").with_extension("toml");
    let out = std::process::Command::new(bin)
        .arg("calibrate")
        .arg(&run)
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(
        text.contains("kind = \"cores\"") && text.contains("[dom0]"),
        "{text}"
    );

    let rdir = tmp("cli-replay");
    let out = std::process::Command::new(bin)
        .arg("replay")
        .arg(&run)
        .arg("--model")
        .arg(&model)
        .arg("-o")
        .arg(&rdir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migration of vm1"));
    assert!(rdir.join("replay.svg").exists());

    // No run directories and no --specpower: a clear error, exit status 2.
    let out = std::process::Command::new(bin)
        .args(["calibrate", "-o"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give run directories"));
    // A directory that is not a run.
    let out = std::process::Command::new(bin)
        .arg("calibrate")
        .arg(std::env::temp_dir())
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json: cannot read"));
}

#[test]
fn coarse_one_second_polls_still_recover_the_migration_costs() {
    // xentop reports whole seconds: with 1 s polls the 1.5 s setup and the 1 s clean-up
    // are shorter than two polls, yet the phase regression (exact overlaps) recovers them.
    let sc = load(&scenario_text());
    let o = Options {
        interval_s: 1.0,
        ..Default::default()
    };
    let d = tmp("poll1s");
    write_run(&d, &synthesize(&sc, SCENARIO, &o).unwrap()).unwrap();
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    let m = c.migration_params();
    for (n, want, got) in [
        ("setup CPU", 0.10, m.setup_cpu.unwrap().v),
        ("sender", 17e-6, m.sender.unwrap().v),
        ("receiver", 10e-6, m.receiver.unwrap().v),
        ("clean-up", 1.0, m.cleanup_dom0_s.unwrap().v),
        ("clean-up CPU", 0.5, m.cleanup_dom0_cpu.unwrap().v),
        ("per core", 17.0, c.power.core_w()),
    ] {
        assert!(pct(got, want).abs() < 5.0, "{n}: {got} vs {want}");
    }
}

#[test]
fn a_xen_run_without_byte_counts_gets_its_rate_from_net_csv() {
    // A real `xl migrate` capture has no byte count in its events: take a synthetic run,
    // strip `bytes_sent`, and give it the dom0 NIC counter `--netdev` records instead.
    let sc = load(&scenario_text());
    let with_bytes = tmp("net-ref");
    write_run(&with_bytes, &synth(&sc, 1, 0.0)).unwrap();
    let reference = calibrate(std::slice::from_ref(&with_bytes)).unwrap();
    let mig = &reference.migrations[0];
    let (a, b) = (
        mig.phases.transfer_start.unwrap(),
        mig.phases.transfer_end.unwrap(),
    );
    let bytes = mig.phases.bytes.unwrap();

    let d = tmp("net");
    write_run(&d, &synth(&sc, 1, 0.0)).unwrap();
    let ev = std::fs::read_to_string(d.join("events.jsonl")).unwrap();
    let stripped: String = ev
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(f) = v["fields"].as_object_mut() {
                f.remove("bytes_sent");
                f.remove("pages_sent");
            }
            format!("{v}\n")
        })
        .collect();
    assert!(!stripped.contains("bytes_sent"));
    std::fs::write(d.join("events.jsonl"), stripped).unwrap();
    // eth0 every 100 ms: 5e6 B of other traffic before, the payload spread evenly over
    // the transfer, then flat. The samples bracketing [a, b] see exactly `bytes` more.
    let mut net = String::from("t_mono_ns,t_utc,source,interface,rx_b,tx_b,flags\n");
    for k in 0..=1300u64 {
        let t = k as f64 * 0.1;
        let sent = 5e6 + bytes * ((t - a) / (b - a)).clamp(0.0, 1.0);
        net.push_str(&format!(
            "{},2026-01-01T00:00:00Z,netdev,eth0,0,{},\n",
            k * 100_000_000,
            sent.round() as u64
        ));
    }
    std::fs::write(d.join("net.csv"), net).unwrap();
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    let got = c.migrations[0].phases.bytes.unwrap();
    // Rounding to whole bytes at both ends: within 1 B.
    assert!((got - bytes).abs() <= 1.0, "{got} vs {bytes}");
    let (r0, r1) = (
        reference.migration_params().rate.unwrap().v,
        c.migration_params().rate.unwrap().v,
    );
    assert!(pct(r1, r0).abs() < 0.01, "{r1} vs {r0}");
    assert!(c.power.nic, "the NIC term is fitted again");
}

#[test]
fn per_core_power_is_fitted_per_p_state_from_freq_csv() {
    // The testbed run with the source host at P4 (16 × 133.33 MHz = 2133 MHz) from 37.5 s
    // to 67.5 s: the 2-, 3- and 4-core steps are partly at P4, the rest at P0 (2667 MHz).
    // The generator writes the clocks to freq.csv as `capture --cpufreq` would. True
    // per-core power (models/servers/i7-920-xen34.toml): 17 W at P0, 12.9 W at P4.
    let text = scenario_text()
        + "\n[[actions]]\nat = \"37.5s\"\nkind = \"set_pstate\"\nserver = \"source\"\npstate = 4\n\
           \n[[actions]]\nat = \"67.5s\"\nkind = \"set_pstate\"\nserver = \"source\"\npstate = 0\n";
    let sc = load(&text);
    let d = tmp("pstates");
    write_run(&d, &synth(&sc, 1, 0.0)).unwrap();
    let freq = std::fs::read_to_string(d.join("freq.csv")).unwrap();
    assert!(
        freq.contains(",2133300000"),
        "P4 rows (2.1333 GHz in the model file)"
    );
    let c = calibrate(std::slice::from_ref(&d)).unwrap();
    assert_eq!(c.power.clocks_mhz, [2667, 2133]);
    assert!(
        pct(c.power.idle_w(), 100.0).abs() < 1.0,
        "{}",
        c.power.idle_w()
    );
    assert!(
        pct(c.power.core_w_at(0), 17.0).abs() < 5.0,
        "{}",
        c.power.core_w_at(0)
    );
    assert!(
        pct(c.power.core_w_at(1), 12.9).abs() < 5.0,
        "{}",
        c.power.core_w_at(1)
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("2 clocks in freq.csv (2667, 2133 MHz)")),
        "{:?}",
        c.notes
    );
    // The model has both states, fastest first, and replays the run to the noise (1 W).
    let host = HostInfo::default().or_manifest(&c.runs[0].manifest);
    let t = capsim::calibrate::model_out::model_text(&c, &host, "2026-01-01").unwrap();
    let m = capsim::scenario::validate::server_model_from_text("ps", "ps.toml", &t).unwrap();
    assert_eq!(m.power.pstates.len(), 2);
    assert_eq!(m.power.pstates[1].frequency_hz, 2.133e9);
    let out = tmp("pstates-model").with_extension("toml");
    std::fs::write(&out, &t).unwrap();
    let r = capsim::calibrate::replay::replay(&d, &out).unwrap();
    assert!(r.rmse_w < 1.2, "replay RMSE {} W", r.rmse_w);
    // A model with P0 only cannot replay the P4 intervals: said, not guessed.
    let Err(e) =
        capsim::calibrate::replay::replay(&d, Path::new("calibration/synthetic-i7-920.toml"))
    else {
        panic!("replayed 2133 MHz intervals with a 2667 MHz-only model")
    };
    assert!(
        e.contains("2133 MHz (freq.csv) is none of the model's p-states"),
        "{e}"
    );
}

#[test]
fn runs_with_and_without_clocks_are_not_mixed() {
    let sc = load(&scenario_text());
    let a = tmp("freq-a");
    write_run(&a, &synth(&sc, 1, 0.0)).unwrap();
    let mut f = String::from("t_mono_ns,t_utc,source,cpu,freq_hz,flags\n");
    for k in 0..140u64 {
        f.push_str(&format!(
            "{},2026-01-01T00:00:00Z,cpufreq,cpu0,2667000000,\n",
            k * 1_000_000_000
        ));
    }
    std::fs::write(a.join("freq.csv"), f).unwrap();
    // One run at a single recorded clock: one state at that clock, noted.
    let c = calibrate(std::slice::from_ref(&a)).unwrap();
    assert_eq!(c.power.clocks_mhz, [2667]);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("every run ran at 2667 MHz")),
        "{:?}",
        c.notes
    );
    let b = tmp("freq-b");
    write_run(&b, &synth(&sc, 2, 0.0)).unwrap();
    let Err(e) = calibrate(&[a, b]) else {
        panic!("a run with clocks and one without were calibrated together")
    };
    assert!(
        e.contains("no freq.csv clocks, while other runs record them"),
        "{e}"
    );
}
