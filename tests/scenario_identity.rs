//! Every shipped scenario validates to the same `Scenario` as recorded: the Debug text of
//! each is hashed and compared with tests/fixtures/scenario_debug.txt (recorded from main
//! before the kind-tagged schema), so a refactoring of the file formats or the validator
//! that changes a single value shows up here. `CAPSIM_BLESS=1` re-records the file after a
//! change that is meant to change a validated scenario. A scenario that reads a public data
//! set from ../shared is left out, saying so, when the set is absent.

mod shared_data;

use capsim::scenario::{load_file, Library};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// FNV-1a 64 over everything written, and the length in bytes (no allocation, so the
/// 34 MB Debug text of the 10,000-server datacenter costs no memory).
struct Fnv {
    hash: u64,
    len: usize,
}

impl Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for b in s.bytes() {
            self.hash ^= b as u64;
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.len += s.len();
        Ok(())
    }
}

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && !p.ends_with("sweeps") {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_scenario_validates_to_the_recorded_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/scenario_debug.txt");
    let mut files = Vec::new();
    scenario_files(&root.join("scenarios"), &mut files);
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().display().to_string();
        if !shared_data::scenario_data_present("scenario_identity::every_shipped_scenario", f) {
            skipped.push(rel);
            continue;
        }
        let sc = load_file(f, &Library::new(vec![])).unwrap_or_else(|e| panic!("{e}"));
        let mut h = Fnv {
            hash: 0xcbf2_9ce4_8422_2325,
            len: 0,
        };
        write!(h, "{sc:?}").unwrap();
        lines.push(format!("{rel} {} {:016x}", h.len, h.hash));
    }
    let text = std::fs::read_to_string(&fixture).unwrap();
    if std::env::var_os("CAPSIM_BLESS").is_some() {
        assert!(
            skipped.is_empty(),
            "re-recording needs the data of {skipped:?}"
        );
        let header: String = text
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&fixture, format!("{header}{}\n", lines.join("\n"))).unwrap();
        return;
    }
    let recorded: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    // 29 scenarios: calibration 1, datacenter 2, paper 10, rack 16.
    assert_eq!(recorded.len(), 29);
    // Without their data, the skipped scenarios' lines are not compared.
    let recorded: Vec<&str> = recorded
        .into_iter()
        .filter(|l| !skipped.iter().any(|s| l.starts_with(&format!("{s} "))))
        .collect();
    assert_eq!(recorded.len() + skipped.len(), 29);
    assert_eq!(
        lines, recorded,
        "a validated scenario changed (CAPSIM_BLESS=1 re-records)"
    );
}

/// Every `.toml` under `dir`, recursively, sorted.
fn tomls(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_model_and_calibrated_file_parses_under_its_kinds() {
    use capsim::scenario::error::Source;
    use capsim::scenario::schema::workload::WorkloadFile;
    use capsim::scenario::validate::{breaker_from_text, parse, server_model_from_text};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let name = |p: &Path| p.display().to_string();
    let mut n = 0;
    // Server models: the library's and the ones calibration writes.
    for p in tomls(&root.join("models/servers"))
        .into_iter()
        .chain(tomls(&root.join("calibration")))
    {
        server_model_from_text("m", &name(&p), &read(&p)).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    for p in tomls(&root.join("models/breakers")) {
        breaker_from_text("b", &name(&p), &read(&p)).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    for p in tomls(&root.join("models/migration")) {
        capsim::scenario::migration::preset_from_text(&name(&p), &read(&p))
            .unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    for p in tomls(&root.join("models/workloads")) {
        let (origin, text) = (name(&p), read(&p));
        let src = Source {
            name: &origin,
            text: &text,
        };
        parse::<WorkloadFile>(&src).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    // 10 servers + 15 calibrated, 11 breakers, 9 presets, 4 workloads.
    assert_eq!(n, 49);
}
