//! Every shipped scenario loads (the model names it uses exist, every field is valid),
//! and every one that is cheap enough runs to its end. One that reads a public data set
//! from ../shared (scenarios/rack/planetlab.toml) is skipped, saying so, when it is absent;
//! tests/foundation.rs runs that scenario on made-up traces.

mod shared_data;

use capsim::scenario::{load_file, Library};
use capsim::sim::run;
use std::path::{Path, PathBuf};

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            scenario_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_scenario_loads_and_the_small_ones_run() {
    let mut files = Vec::new();
    scenario_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &mut files,
    );
    // rack/: basic, overload-trip, planetlab and 10 capping examples (13); paper/ (10);
    // datacenter/ (2); sweeps/ (2): 27 at least.
    assert!(files.len() >= 27, "{} scenario files", files.len());
    for f in &files {
        if !shared_data::scenario_data_present("scenarios::every_shipped_scenario_loads", f) {
            continue;
        }
        // Sweep files expand into scenarios (their base must load too).
        if f.parent().is_some_and(|d| d.ends_with("sweeps")) {
            let s = capsim::sweep::expand(f).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.runs.is_empty(), "{}", f.display());
            load_file(&s.base_path, &Library::new(vec![])).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        let sc = load_file(f, &Library::new(vec![])).unwrap_or_else(|e| panic!("{e}"));
        // The 10,000-server day is the benchmark, not a test.
        if sc.servers.len() <= 100 {
            let r = run(&sc);
            assert!(r.events_processed > 0, "{}", f.display());
        }
    }
}
