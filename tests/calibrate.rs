//! Calibration from published SPECpower_ssj2008 results: the written models reproduce
//! the published tables, the line fits match hand calculations, the committed fits in
//! calibration/specpower/ are what the tool writes today, and bad input is diagnosed.
//!
//! The tests read the committed excerpt tests/data/specpower-ssj2008/specpower_curves.csv
//! (9 results, cut verbatim from the full file; its README says which lines); with the full
//! data beside the checkout, one more test checks the excerpt against it and repeats the
//! table check there.

mod shared_data;

use capsim::calibrate::specpower::{self, Kind};
use capsim::calibrate::specpower_command;
use capsim::scenario::validate::server_model_from_text;
use shared_data::{excerpt, full_data};
use std::fs;
use std::path::{Path, PathBuf};

/// Line numbers of the full file kept in the excerpt, in order: excerpt line k + 1 is
/// full-file line `CUT[k]` (tests/data/specpower-ssj2008/README.md).
const CUT: [usize; 10] = [1, 2, 3, 145, 283, 294, 382, 463, 501, 537];

/// The seven classic servers: model file stem, its line in the full CSV (cited in each
/// model file) and in the excerpt.
const CLASSIC: [(&str, usize, usize); 7] = [
    ("hp-ml110-g3", 382, 7),
    ("hp-ml110-g4", 294, 6),
    ("hp-ml110-g5", 145, 4),
    ("ibm-x3250-m3-x3480", 501, 9),
    ("ibm-x3250-m3", 463, 8),
    ("ibm-x3550-m3-x5675", 283, 5),
    ("ibm-x3550-m3", 537, 10),
];

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-cal-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn csv_path() -> PathBuf {
    excerpt("specpower-ssj2008/specpower_curves.csv")
}

/// Writes the SPECpower model of each classic server from `csv` (its line there given by
/// `line`) and checks it against the published points of that line, within 1 %; `tag`
/// names the scratch directory.
fn models_reproduce_the_published_tables(
    csv: &Path,
    tag: &str,
    line: impl Fn(usize, usize) -> usize,
) {
    let d = scratch(tag);
    let all = specpower::read(csv).unwrap();
    for (stem, full, here) in CLASSIC {
        let at = line(full, here);
        let out = d.join(format!("{stem}.toml"));
        specpower_command(csv, "", Some(at), Kind::SpecPower, &out).unwrap();
        let text = fs::read_to_string(&out).unwrap();
        let m = server_model_from_text(stem, &out.display().to_string(), &text).unwrap();
        let r = &all.iter().find(|r| r.line == at).unwrap();
        // The full-file line is what the model library cites for this server.
        let cited = fs::read_to_string(format!("models/servers/{stem}.toml")).unwrap();
        assert!(
            cited.contains(&format!("specpower_curves.csv line {full} ")),
            "{stem}"
        );
        for k in 0..=10 {
            // SPEC's target load k·10 % of the cores busy, at P0, no network.
            let u = k as f64 / 10.0;
            let p = m.power.power_w(u * m.power.cores as f64, 0, 0.0);
            let published = r.power_w[k];
            assert!(
                (p - published).abs() <= 0.01 * published,
                "{stem} at {}%: model {p} W, published {published} W",
                k * 10
            );
        }
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_specpower_model_reproduces_the_published_table_within_1_percent() {
    // Nine results in the excerpt (its README); the seven classic ones are checked.
    assert_eq!(specpower::read(&csv_path()).unwrap().len(), 9);
    models_reproduce_the_published_tables(&csv_path(), "table", |_, here| here);
}

#[test]
fn the_excerpt_is_cut_verbatim_from_the_full_data() {
    let Some(full) = full_data(
        "calibrate::the_excerpt_is_cut_verbatim_from_the_full_data",
        "specpower-ssj2008/specpower_curves.csv",
    ) else {
        return;
    };
    let all = specpower::read(&full).unwrap();
    assert_eq!(all.len(), 619, "the data set's README: 619 results");
    // No record spans lines (the reader's count would show it): line k is record k − 1.
    assert_eq!(all.last().unwrap().line, 620);
    let text = fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = fs::read_to_string(csv_path()).unwrap();
    let cut: Vec<&str> = cut.lines().collect();
    assert_eq!(cut.len(), CUT.len());
    for (k, &n) in CUT.iter().enumerate() {
        assert_eq!(
            cut[k],
            lines[n - 1],
            "excerpt line {} vs full line {n}",
            k + 1
        );
    }
    for (_, full_line, here) in CLASSIC {
        assert_eq!(CUT[here - 1], full_line);
    }
    // And the table check on the full file, at the cited lines.
    models_reproduce_the_published_tables(&full, "table-full", |full, _| full);
}

#[test]
fn the_line_fit_matches_a_hand_calculation() {
    // Eleven points on P = 50 + 100·u except +2 W at u = 0.5: the bump sits at the mean
    // load (0.5), so the least-squares slope stays 100 W and the intercept rises by 2/11 W.
    let d = scratch("hand");
    let csv = d.join("curves.csv");
    let mut text = String::from(
        "hw_vendor,hw_model,cpu_name,cpu_mhz,cpus_enabled,hw_threads,mem_gb,form_factor,publication,test_sponsor,idle_w",
    );
    for k in 1..=10 {
        text.push_str(&format!(",w_{}", k * 10));
    }
    for k in 1..=10 {
        text.push_str(&format!(",actual_load_{}", k * 10));
    }
    text.push('\n');
    let mut row = String::from(
        "Acme,Box 1,Widget CPU,2000,\"4 cores, 1 chip, 4 cores/chip\",4 (1 / core),8,1U,\"Jan 1, 2020\",Acme,50",
    );
    for k in 1..=10 {
        let u = k as f64 / 10.0;
        let bump = if k == 5 { 2.0 } else { 0.0 };
        row.push_str(&format!(",{}", 50.0 + 100.0 * u + bump));
    }
    for k in 1..=10 {
        row.push_str(&format!(",{}", k * 10));
    }
    text.push_str(&row);
    text.push('\n');
    fs::write(&csv, &text).unwrap();
    let all = specpower::read(&csv).unwrap();
    assert_eq!(all[0].line, 2);
    assert_eq!(all[0].cores, 4);
    let fit = specpower::fit_line(&all[0]).unwrap();
    assert!((fit.coef[0] - (50.0 + 2.0 / 11.0)).abs() < 1e-9, "{fit:?}");
    assert!((fit.coef[1] - 100.0).abs() < 1e-9, "{fit:?}");
    // Residuals: +2 − 2/11 at 50 %, −2/11 elsewhere (10 points).
    // SSR = (20/11)² + 10·(2/11)² = 400/121 + 40/121 = 440/121; RMSE = √(440/121/11).
    assert!((fit.rmse - (440.0f64 / 121.0 / 11.0).sqrt()).abs() < 1e-9);
    // The cores model: the same line, 100 W / 4 cores = 25 W per busy core.
    let out = d.join("m.toml");
    specpower_command(&csv, "acme box", None, Kind::Cores, &out).unwrap();
    let text = fs::read_to_string(&out).unwrap();
    let m = server_model_from_text("m", "m.toml", &text).unwrap();
    // Two busy cores of four: 50.1818 + 2 × 25 = 100.1818 W.
    let p = m.power.power_w(2.0, 0, 0.0);
    assert!((p - (50.0 + 2.0 / 11.0 + 50.0)).abs() < 1e-3, "{p}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn committed_fits_are_what_the_tool_writes_today() {
    let d = scratch("committed");
    for (stem, _, line) in CLASSIC {
        for (kind, suffix) in [(Kind::Linear, "linear"), (Kind::Cores, "cores")] {
            let out = d.join(format!("{stem}-{suffix}.toml"));
            specpower_command(&csv_path(), "", Some(line), kind, &out).unwrap();
            let fresh = fs::read_to_string(&out).unwrap();
            let path = format!("calibration/specpower/{stem}-{suffix}.toml");
            let committed = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{path}: {e} (regenerate: see calibration/README.md)"));
            // The first line carries the date of calibration; the rest must be equal.
            let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
            assert_eq!(body(&committed), body(&fresh), "{path} is stale");
        }
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn bad_input_is_diagnosed() {
    let d = scratch("bad");
    let e = specpower_command(
        &csv_path(),
        "x3550 M3",
        None,
        Kind::SpecPower,
        &d.join("m.toml"),
    )
    .unwrap_err();
    assert!(
        // Lines 5 and 10 of the excerpt (283 and 537 of the full file) are the X5675
        // and X5670 results of the IBM System x3550 M3.
        e.contains("2 SPECpower results match") && e.contains("line 5:") && e.contains("line 10:"),
        "{e}"
    );
    let e = specpower_command(
        &csv_path(),
        "no such box",
        None,
        Kind::SpecPower,
        &d.join("m.toml"),
    )
    .unwrap_err();
    assert!(
        e.contains("no SPECpower result matches `no such box`"),
        "{e}"
    );
    assert!(!d.join("m.toml").exists(), "nothing written on error");
    // A file without the expected columns, and a cell that is not a number.
    fs::write(d.join("a.csv"), "hw_vendor,hw_model\nA,B\n").unwrap();
    let e = specpower::read(&d.join("a.csv")).unwrap_err();
    assert!(e.contains("line 1: no column `cpu_name`"), "{e}");
    let good = fs::read_to_string(csv_path()).unwrap();
    let mut lines: Vec<String> = good.lines().take(3).map(str::to_string).collect();
    lines[2] = lines[2].replacen(",231,", ",lots,", 1); // Huawei RH2288 V2: w_90
    fs::write(d.join("b.csv"), lines.join("\n")).unwrap();
    let e = specpower::read(&d.join("b.csv")).unwrap_err();
    assert!(
        e.contains("line 3, column") && e.contains("`lots` is not a number"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&d);
}

/// A one-result curves file: the header, then the hand-calculation row (idle 50 W,
/// 50 + 100·u at loads 10 … 100 %) with `(column, value)` cells replaced (1-based).
fn one_result(edits: &[(usize, &str)]) -> String {
    let mut header: Vec<String> = "hw_vendor,hw_model,cpu_name,cpu_mhz,cpus_enabled,hw_threads,mem_gb,form_factor,publication,test_sponsor,idle_w"
        .split(',')
        .map(str::to_string)
        .collect();
    header.extend((1..=10).map(|k| format!("w_{}", k * 10)));
    header.extend((1..=10).map(|k| format!("actual_load_{}", k * 10)));
    let mut row: Vec<String> = [
        "Acme",
        "Box 1",
        "Widget CPU",
        "2000",
        "\"4 cores, 1 chip, 4 cores/chip\"",
        "4 (1 / core)",
        "8",
        "1U",
        "\"Jan 1, 2020\"",
        "Acme",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    row.extend((1..=10).map(|k| format!("{}", 50 + 10 * k)));
    row.extend((1..=10).map(|k| format!("{}", 10 * k)));
    for &(col, v) in edits {
        row[col - 1] = v.to_string();
    }
    format!("{}\n{}\n", header.join(","), row.join(","))
}

#[test]
fn every_bad_cell_names_the_file_line_column_and_field() {
    let d = scratch("cells");
    // Columns: 4 cpu_mhz, 7 mem_gb, 11 idle_w, 12-21 w_10…w_100, 22-31 actual_load_*.
    // NaN and inf were "observation N is not a finite number" with no place; 0 MHz and
    // a negative power were written and then failed to load ("internal: …").
    let cases: [(usize, &str, &str); 7] = [
        (11, "NaN", "idle_w"),
        (16, "inf", "w_50"),
        (21, "-5", "w_100"),
        (24, "1e400", "actual_load_30"),
        (4, "0", "cpu_mhz"),
        (7, "NaN", "mem_gb"),
        (31, "1000", "actual_load_100"),
    ];
    for (col, v, field) in cases {
        let csv = d.join(format!("c{col}.csv"));
        fs::write(&csv, one_result(&[(col, v)])).unwrap();
        let e =
            specpower_command(&csv, "acme", None, Kind::SpecPower, &d.join("m.toml")).unwrap_err();
        let place = format!("c{col}.csv: line 2, column {col} (`{field}`): `{v}`");
        assert!(e.contains(&place), "{place}: {e}");
        assert!(!e.contains("internal"), "{e}");
    }
    assert!(!d.join("m.toml").exists(), "nothing written on error");
    // /dev/zero never ends: refused before reading.
    let e = specpower::read(Path::new("/dev/zero")).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_fitted_line_no_model_can_hold_is_an_error_before_writing() {
    let d = scratch("fit");
    // Power falling from 150 W idle to 50 W at full load (w_k = 150 − 10k): the line's
    // slope is −100 W, so `max` < `idle`; before, the file was checked only after it
    // was written ("internal: the written model does not load").
    let falling: Vec<(usize, String)> = (1..=10)
        .map(|k| (11 + k, format!("{}", 150 - 10 * k)))
        .collect();
    let mut edits: Vec<(usize, &str)> = falling.iter().map(|(c, v)| (*c, v.as_str())).collect();
    edits.push((11, "150"));
    let csv = d.join("falling.csv");
    fs::write(&csv, one_result(&edits)).unwrap();
    for kind in [Kind::Linear, Kind::Cores] {
        let e = specpower_command(&csv, "acme", None, kind, &d.join("m.toml")).unwrap_err();
        assert!(
            e.contains("falling.csv: line 2") && e.contains("slope -100.00"),
            "{e}"
        );
        assert!(!e.contains("internal"), "{e}");
    }
    // The table as published still loads: it need not rise.
    specpower_command(&csv, "acme", None, Kind::SpecPower, &d.join("m.toml")).unwrap();
    let _ = fs::remove_dir_all(&d);
}
