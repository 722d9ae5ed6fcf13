//! Deterministic mutation testing of every input capsim reads (issue 13 item 6): the
//! example scenarios, the sweep files, a Bitbrains trace directory, a PlanetLab trace,
//! the SPECpower curves and a synthetic capture run, each mutated (lines deleted,
//! duplicated or swapped; a number replaced by NaN, inf, -1, 1e300, 2^64, 0 or nothing;
//! random bytes inserted, invalid UTF-8 among them; CR-only line ends; the file cut at a
//! random byte; a quoted string made 10,000 characters long) and read.
//!
//! Properties: no panic; every scenario or trace error names its file and a line > 0,
//! unless it is about the file as a whole; every message is at most about 2,000
//! characters. Each case has its own seed (printed with its mutation on failure, and the
//! mutated input saved), the count is fixed (smaller in debug builds) and a wall-clock
//! budget stops a kind's loop early (at least a minimum of cases must have run).
//!
//! To replay with another base seed: `CAPSIM_FUZZ_SEED=0x… cargo test --release --test
//! fuzz_inputs`.

use capsim::scenario::{load_file, load_str, ConfigError, Library};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The base seed; every case's seed derives from it, the kind and the case index.
fn base_seed() -> u64 {
    match std::env::var("CAPSIM_FUZZ_SEED") {
        Ok(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .expect("CAPSIM_FUZZ_SEED is a hex number"),
        Err(_) => 0x00c0_ffee_cab5_1a7e,
    }
}

/// `release` cases in a release build, `debug` in a debug one.
fn count(release: usize, debug: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// Wall-clock budget per kind: the test stops the loop past it.
fn budget() -> Duration {
    Duration::from_secs(if cfg!(debug_assertions) { 90 } else { 15 })
}

/// SplitMix64: tiny, good enough, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The seed of case `i` of `kind`.
fn case_seed(kind: &str, i: usize) -> u64 {
    let mut h = base_seed();
    for b in kind.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    Rng(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).next()
}

/// Replacements for a number.
const NUMBERS: [&str; 8] = [
    "NaN",
    "inf",
    "-1",
    "1e300",
    "18446744073709551616",
    "0",
    "",
    "nan",
];

/// Byte ranges of each line, its `\n` included.
fn lines(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < b.len() {
        out.push((start, b.len()));
    }
    out
}

/// 1-based line of byte `at`.
fn line_of(b: &[u8], at: usize) -> usize {
    b[..at.min(b.len())].iter().filter(|&&c| c == b'\n').count() + 1
}

/// Byte ranges of the numbers in `b`: runs of digits and dots starting with a digit not
/// preceded by a letter, digit or `_` (so `x3550` in a model name is not one).
fn numbers(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let prev_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if b[i].is_ascii_digit() && !prev_word {
            let s = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the contents of double-quoted strings (quotes paired within a line).
fn quoted(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in lines(b) {
        let q: Vec<usize> = (s..e).filter(|&i| b[i] == b'"').collect();
        for p in q.chunks_exact(2) {
            out.push((p[0] + 1, p[1]));
        }
    }
    out
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// `input` with one mutation drawn from `rng`, and what was done.
fn mutate(input: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = input.to_vec();
    let ls = lines(&b);
    let k = rng.below(12);
    let desc = match k {
        0 | 1 if !ls.is_empty() => {
            let n = rng.below(ls.len());
            let (s, e) = ls[n];
            b.drain(s..e);
            format!("delete line {}", n + 1)
        }
        2 if !ls.is_empty() => {
            let n = rng.below(ls.len());
            let (s, e) = ls[n];
            let mut line = b[s..e].to_vec();
            if line.last() != Some(&b'\n') {
                line.insert(0, b'\n');
            }
            b.splice(e..e, line);
            format!("duplicate line {}", n + 1)
        }
        3 if ls.len() >= 2 => {
            let x = rng.below(ls.len());
            let y = rng.below(ls.len());
            let (x, y) = (x.min(y), x.max(y));
            let mut out = Vec::new();
            for (n, &(s, e)) in ls.iter().enumerate() {
                let (s, e) = match n {
                    n if n == x => ls[y],
                    n if n == y => ls[x],
                    _ => (s, e),
                };
                out.extend_from_slice(&b[s..e]);
                if out.last() != Some(&b'\n') && n + 1 < ls.len() {
                    out.push(b'\n');
                }
            }
            b = out;
            format!("swap lines {} and {}", x + 1, y + 1)
        }
        4..=7 => {
            let nums = numbers(&b);
            if nums.is_empty() {
                return mutate_bytes(b, rng);
            }
            let (s, e) = nums[rng.below(nums.len())];
            let with = NUMBERS[rng.below(NUMBERS.len())];
            let was = show(&b[s..e]);
            let line = line_of(&b, s);
            b.splice(s..e, with.bytes());
            format!("replace number `{was}` on line {line} (byte {s}) with `{with}`")
        }
        9 => {
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                match (b[i], b.get(i + 1)) {
                    (b'\r', Some(b'\n')) => {
                        out.push(b'\r');
                        i += 2;
                    }
                    (b'\n', _) => {
                        out.push(b'\r');
                        i += 1;
                    }
                    (c, _) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            b = out;
            "CR-only line ends".to_string()
        }
        10 => {
            let at = rng.below(b.len().max(1));
            b.truncate(at);
            format!("truncate at byte {at} (line {})", line_of(input, at))
        }
        11 => {
            let long: String = (0..10_000)
                .map(|i| (b'a' + (i % 26) as u8) as char)
                .collect();
            let q = quoted(&b);
            let spans = if q.is_empty() { numbers(&b) } else { q };
            if spans.is_empty() {
                return mutate_bytes(b, rng);
            }
            let (s, e) = spans[rng.below(spans.len())];
            let was = show(&b[s..e]);
            let line = line_of(&b, s);
            b.splice(s..e, long.bytes());
            format!("replace `{was}` on line {line} (byte {s}) with a 10,000-character string")
        }
        _ => return mutate_bytes(b, rng),
    };
    (b, desc)
}

/// `b` with 1 to 8 random bytes inserted at a random offset (often invalid UTF-8).
fn mutate_bytes(mut b: Vec<u8>, rng: &mut Rng) -> (Vec<u8>, String) {
    let at = rng.below(b.len() + 1);
    let n = 1 + rng.below(8);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    let line = line_of(&b, at);
    b.splice(at..at, bytes.iter().copied());
    (
        b,
        format!("insert bytes {bytes:02x?} at byte {at} (line {line})"),
    )
}

/// What a failing case reports: enough to reproduce it.
struct Case<'a> {
    kind: &'a str,
    index: usize,
    seed: u64,
    input: String,
    mutation: String,
}

impl Case<'_> {
    fn fail(&self, mutated: &[u8], what: &str) -> ! {
        let dir = scratch(&format!("failed-{}-{}", self.kind, self.index));
        let saved = dir.join("mutated");
        let _ = std::fs::write(&saved, mutated);
        panic!(
            "{} case {} (seed {:#018x}, base seed {:#x}) on {}: {}: {what}\n(mutated input saved to {})",
            self.kind,
            self.index,
            self.seed,
            base_seed(),
            self.input,
            self.mutation,
            saved.display()
        )
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

/// Runs `f`, turning a panic into the case's failure.
fn guarded<T>(case: &Case, mutated: &[u8], f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => case.fail(mutated, &format!("panicked: {}", panic_text(p))),
    }
}

/// Messages about a file as a whole, the only errors allowed line 0.
const WHOLE_FILE: [&str; 10] = [
    "not a regular file",
    // Bitbrains: no VM of tasks.csv has a row in fragments.csv.
    "no trace: none of the",
    "a directory",
    "is empty",
    "MiB",
    "invalid UTF-8",
    "cannot read",
    "has no samples",
    "no such file",
    "No such file",
];

/// Most characters an error may show: the message's 2,000, plus file and field.
const MAX_SHOWN: usize = 2_600;

/// Whether `e` names its file, a line (unless about the whole file) and is short.
fn config_error_problem(e: &ConfigError) -> Option<String> {
    let shown = e.to_string();
    if e.file.is_empty() {
        return Some(format!("error names no file: {shown}"));
    }
    // As shown (Display clips the message to 2,000 characters; the raw `message` may
    // hold more, e.g. a sweep axis's whole path).
    if shown.chars().count() > MAX_SHOWN {
        return Some(format!(
            "error is {} characters: {}…",
            shown.chars().count(),
            shown.chars().take(300).collect::<String>()
        ));
    }
    // A top-level field that is missing is nowhere in the file: no line to point at.
    let missing_top = e.message.starts_with("missing field") && !e.field.contains(['.', '[']);
    if e.line == 0 && !missing_top && !WHOLE_FILE.iter().any(|w| e.message.contains(w)) {
        return Some(format!("error has no line: {shown}"));
    }
    None
}

/// Whether a String error is short and non-empty.
fn string_error_problem(e: &str) -> Option<String> {
    if e.trim().is_empty() {
        return Some("empty error message".into());
    }
    if e.chars().count() > MAX_SHOWN {
        return Some(format!(
            "error is {} characters: {}…",
            e.chars().count(),
            e.chars().take(300).collect::<String>()
        ));
    }
    None
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-fuzz-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Counts per kind, printed at the end of each test.
#[derive(Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    rejected: usize,
    simulated: usize,
}

impl Tally {
    fn report(&self, kind: &str, t0: Instant) {
        eprintln!(
            "fuzz {kind}: {} cases ({} accepted, {} rejected, {} simulated) in {:.2} s",
            self.cases,
            self.accepted,
            self.rejected,
            self.simulated,
            t0.elapsed().as_secs_f64()
        );
    }
}

/// Runs up to `n` cases of `kind` within the budget (at least `min` must run); `case`
/// gets the case and its rng.
fn cases(kind: &str, n: usize, min: usize, mut case: impl FnMut(usize, u64, &mut Rng, &mut Tally)) {
    let t0 = Instant::now();
    let mut tally = Tally::default();
    for i in 0..n {
        if t0.elapsed() > budget() {
            eprintln!("fuzz {kind}: wall-clock budget reached after {i} cases");
            break;
        }
        let seed = case_seed(kind, i);
        let mut rng = Rng(seed);
        case(i, seed, &mut rng, &mut tally);
        tally.cases += 1;
    }
    tally.report(kind, t0);
    assert!(
        tally.cases >= min,
        "fuzz {kind}: only {} cases ran within {:?} (at least {min} expected)",
        tally.cases,
        budget()
    );
}

fn lib() -> Library {
    Library::new(vec![])
}

/// Loads mutated scenario bytes as if from `orig` (relative paths from its directory):
/// text through `load_str`, invalid UTF-8 through `load_file` on a scratch copy.
fn load_bytes(
    orig: &Path,
    mutated: &[u8],
    scratch_dir: &Path,
) -> Result<capsim::scenario::Scenario, ConfigError> {
    let dir = orig.parent().unwrap();
    match std::str::from_utf8(mutated) {
        Ok(text) => load_str(
            &orig.display().to_string(),
            text,
            dir,
            &lib().with_scenario_dir(dir),
        ),
        Err(_) => {
            let p = scratch_dir.join(orig.file_name().unwrap());
            std::fs::write(&p, mutated).unwrap();
            load_file(&p, &lib())
        }
    }
}

/// Checks a scenario load's outcome; runs an accepted rack scenario for at most 2
/// simulated minutes.
fn check_scenario(
    case: &Case,
    mutated: &[u8],
    r: Result<capsim::scenario::Scenario, ConfigError>,
    simulate: bool,
    tally: &mut Tally,
) {
    match r {
        Ok(mut sc) => {
            tally.accepted += 1;
            if simulate {
                sc.duration_ns = sc.duration_ns.min(120_000_000_000);
                guarded(case, mutated, || capsim::sim::run(&sc));
                tally.simulated += 1;
            }
        }
        Err(e) => {
            tally.rejected += 1;
            if let Some(p) = config_error_problem(&e) {
                case.fail(mutated, &p);
            }
        }
    }
}

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn mutated_example_scenarios() {
    let mut files = toml_files("scenarios/rack");
    files.extend(toml_files("scenarios/paper"));
    let texts: Vec<(PathBuf, Vec<u8>)> = files
        .into_iter()
        .map(|p| {
            let t = std::fs::read(&p).unwrap();
            (p, t)
        })
        .collect();
    let tmp = scratch("scenarios");
    cases("scenario", count(6_000, 300), 150, |i, seed, rng, tally| {
        let (path, text) = &texts[i % texts.len()];
        let (m, mutation) = mutate(text, rng);
        let case = Case {
            kind: "scenario",
            index: i,
            seed,
            input: path.display().to_string(),
            mutation,
        };
        let r = guarded(&case, &m, || load_bytes(path, &m, &tmp));
        let rack = path.parent().unwrap().ends_with("rack");
        check_scenario(&case, &m, r, rack, tally);
    });
}

#[test]
fn mutated_datacenter_scenario() {
    let path = Path::new(ROOT).join("scenarios/datacenter/small.toml");
    let text = std::fs::read(&path).unwrap();
    let tmp = scratch("datacenter");
    cases("datacenter", count(150, 10), 5, |i, seed, rng, tally| {
        let (m, mutation) = mutate(&text, rng);
        let case = Case {
            kind: "datacenter",
            index: i,
            seed,
            input: path.display().to_string(),
            mutation,
        };
        let r = guarded(&case, &m, || load_bytes(&path, &m, &tmp));
        check_scenario(&case, &m, r, false, tally);
    });
}

#[test]
fn mutated_sweep_files() {
    let base = Path::new(ROOT).join("scenarios/datacenter/small.toml");
    let texts: Vec<(PathBuf, Vec<u8>)> = toml_files("scenarios/sweeps")
        .into_iter()
        .map(|p| {
            // The base by absolute path, so the mutated copy can live in a scratch dir.
            let t = std::fs::read_to_string(&p).unwrap().replace(
                "\"../datacenter/small.toml\"",
                &format!("{:?}", base.display().to_string()),
            );
            (p, t.into_bytes())
        })
        .collect();
    let tmp = scratch("sweeps");
    cases("sweep", count(1_000, 50), 25, |i, seed, rng, tally| {
        let (path, text) = &texts[i % texts.len()];
        let (m, mutation) = mutate(text, rng);
        let case = Case {
            kind: "sweep",
            index: i,
            seed,
            input: path.display().to_string(),
            mutation,
        };
        let p = tmp.join(path.file_name().unwrap());
        std::fs::write(&p, &m).unwrap();
        match guarded(&case, &m, || capsim::sweep::expand(&p)) {
            Ok(sw) => {
                tally.accepted += 1;
                // Generating the datacenter costs: one run in four is loaded.
                if i % 4 == 0 {
                    if let Some(run) = sw.runs.first() {
                        let r = guarded(&case, &m, || capsim::sweep::load::load(&sw, run, &[]));
                        check_scenario(&case, &m, r, false, &mut Tally::default());
                    }
                }
            }
            Err(e) => {
                tally.rejected += 1;
                if let Some(p) = config_error_problem(&e) {
                    case.fail(&m, &p);
                }
            }
        }
    });
}

/// A small generated datacenter (as tests/datacenter.rs) whose demand is `extra`.
fn small_datacenter(extra: &str) -> String {
    format!(
        r#"
name = "dc"
duration = "1h"
[output]
interval = "5min"
servers = false
vms = false
[datacenter]
rows = 1
racks_per_row = 2
servers_per_rack = 4
servers = [{{ model = "ibm-x3550-m3", share = "100%" }}]
oversubscription = 1.5
rack = {{ voltage = "208V", cap = "80%" }}
vms_per_server = 4
vm_sizes = [{{ vcpus = 1, memory = "1GiB", share = "50%" }}, {{ vcpus = 2, memory = "2GiB", share = "50%" }}]
priorities = [{{ priority = 0, share = "25%" }}, {{ priority = 1, share = "75%" }}]
{extra}
"#
    )
}

#[test]
fn mutated_bitbrains_directory() {
    let src = Path::new(ROOT).join("tests/data/bitbrains-small-opendc");
    let names = ["fragments.csv", "tasks.csv"];
    let orig: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(src.join(n)).unwrap())
        .collect();
    let dir = scratch("bitbrains");
    let text = small_datacenter(&format!("demand = {:?}", dir.display().to_string()));
    cases("bitbrains", count(600, 30), 15, |i, seed, rng, tally| {
        // fragments.csv two times in three.
        let which = usize::from(i % 3 == 2);
        for (n, o) in names.iter().zip(&orig) {
            std::fs::write(dir.join(n), o).unwrap();
        }
        let (m, mutation) = mutate(&orig[which], rng);
        std::fs::write(dir.join(names[which]), &m).unwrap();
        let case = Case {
            kind: "bitbrains",
            index: i,
            seed,
            input: src.join(names[which]).display().to_string(),
            mutation,
        };
        let r = guarded(&case, &m, || {
            load_str("dc.toml", &text, Path::new(ROOT), &lib())
        });
        check_scenario(&case, &m, r, false, tally);
    });
}

/// A rack scenario whose one VM follows the PlanetLab trace at `trace`.
fn planetlab_rack(trace: &Path) -> String {
    format!(
        r#"name = "pl"
duration = "1h"
[[pdus]]
name = "rack1"
voltage = "208V"
rating = "30A"
[[servers]]
name = "node"
model = "generic-linear-260w"
pdu = "rack1"
[[vms]]
name = "vm"
host = "node"
vcpus = 8
demand = {{ kind = "trace", file = {:?} }}
"#,
        trace.display().to_string()
    )
}

#[test]
fn mutated_planetlab_trace() {
    // One day of 5-minute samples, integers and decimals, as PlanetLab's files.
    let orig: Vec<u8> = (0..288u32)
        .map(|k| match k % 3 {
            0 => format!("{}\n", (k * 37) % 101),
            1 => format!("{}.{}\n", (k * 13) % 100, k % 10),
            _ => format!("{}\n", k % 7),
        })
        .collect::<String>()
        .into_bytes();
    let dir = scratch("planetlab");
    let trace = dir.join("host_vm");
    let text = planetlab_rack(&trace);
    cases("planetlab", count(2_000, 100), 50, |i, seed, rng, tally| {
        let (m, mutation) = mutate(&orig, rng);
        std::fs::write(&trace, &m).unwrap();
        let case = Case {
            kind: "planetlab",
            index: i,
            seed,
            input: "a 288-line PlanetLab trace".into(),
            mutation,
        };
        if let Err(e) = guarded(&case, &m, || {
            capsim::scenario::trace::read_planetlab(&trace)
        }) {
            if let Some(p) = config_error_problem(&e) {
                case.fail(&m, &p);
            }
        }
        let r = guarded(&case, &m, || load_str("pl.toml", &text, &dir, &lib()));
        // Simulated one case in four (the trace read by the run).
        check_scenario(&case, &m, r, i % 4 == 0, tally);
    });
}

#[test]
fn mutated_specpower_curves() {
    use capsim::calibrate::specpower::{model_text, read, Kind};
    let src = Path::new(ROOT).join("tests/data/specpower-ssj2008/specpower_curves.csv");
    let orig = std::fs::read(&src).unwrap();
    let dir = scratch("specpower");
    let p = dir.join("specpower_curves.csv");
    let file = p.display().to_string();
    cases("specpower", count(2_000, 100), 50, |i, seed, rng, tally| {
        let (m, mutation) = mutate(&orig, rng);
        std::fs::write(&p, &m).unwrap();
        let case = Case {
            kind: "specpower",
            index: i,
            seed,
            input: src.display().to_string(),
            mutation,
        };
        match guarded(&case, &m, || read(&p)) {
            Ok(all) => {
                tally.accepted += 1;
                // What `capsim calibrate specpower` writes from a result loads back.
                for r in all.iter().take(3) {
                    for kind in [Kind::SpecPower, Kind::Linear] {
                        let t = guarded(&case, &m, || model_text(r, kind, &file, "2026-01-01"));
                        if let Ok(t) = t {
                            let back = guarded(&case, &m, || {
                                capsim::scenario::validate::server_model_from_text(
                                    "fuzz",
                                    "fuzz.toml",
                                    &t,
                                )
                            });
                            if let Err(e) = back {
                                case.fail(
                                    &m,
                                    &format!("model from line {} does not load back: {e}", r.line),
                                );
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tally.rejected += 1;
                if let Some(pr) = string_error_problem(&e) {
                    case.fail(&m, &pr);
                }
                if !e.starts_with(&file) {
                    case.fail(&m, &format!("error does not start with the file: {e}"));
                }
                let located = e.contains(": line ")
                    || WHOLE_FILE.iter().any(|w| e.contains(w))
                    || e.contains("(line ");
                if !located {
                    case.fail(&m, &format!("error names no line: {e}"));
                }
            }
        }
    });
}

#[test]
fn mutated_capture_run() {
    use capsim::calibrate::synthetic::{synthesize, write_run, Options};
    const SCENARIO: &str = "scenarios/calibration/testbed-i7-920.toml";
    let sdir = Path::new(ROOT).join("scenarios/calibration");
    let text = std::fs::read_to_string(Path::new(ROOT).join(SCENARIO)).unwrap();
    let sc = load_str(SCENARIO, &text, &sdir, &lib().with_scenario_dir(&sdir)).unwrap();
    let s = synthesize(
        &sc,
        SCENARIO,
        &Options {
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let root = scratch("capture");
    let good = root.join("good");
    write_run(&good, &s).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let orig: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(good.join(f)).unwrap())
        .collect();
    let model = Path::new(ROOT).join("calibration/synthetic-i7-920.toml");
    let run = root.join("run");
    std::fs::create_dir_all(&run).unwrap();
    for e in std::fs::read_dir(&good).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), run.join(e.file_name())).unwrap();
    }
    cases("capture", count(80, 6), 3, |i, seed, rng, tally| {
        for (f, o) in files.iter().zip(&orig) {
            std::fs::write(run.join(f), o).unwrap();
        }
        let which = rng.below(files.len());
        let (m, mutation) = mutate(&orig[which], rng);
        std::fs::write(run.join(&files[which]), &m).unwrap();
        let case = Case {
            kind: "capture",
            index: i,
            seed,
            input: format!("synthetic capture run, {}", files[which]),
            mutation,
        };
        let r = if i % 2 == 0 {
            guarded(&case, &m, || {
                capsim::calibrate::replay::replay(&run, &model).map(|_| ())
            })
        } else {
            guarded(&case, &m, || {
                capsim::calibrate::runs_fit::calibrate(std::slice::from_ref(&run)).map(|_| ())
            })
        };
        match r {
            Ok(()) => tally.accepted += 1,
            Err(e) => {
                tally.rejected += 1;
                if let Some(p) = string_error_problem(&e) {
                    case.fail(&m, &p);
                }
                // Located: `<run>/<file>.csv:<line>: …`, or a diagnosis naming the run
                // (`<run>: poor fit …`).
                if !e.contains(&run.display().to_string()) {
                    case.fail(&m, &format!("error names no file of the run: {e}"));
                }
            }
        }
    });
}

#[test]
fn the_mutator_is_deterministic_and_mutates() {
    let text = b"a = 1\nb = \"x\"\nc = 2.5\n";
    for i in 0..50 {
        let (a, da) = mutate(text, &mut Rng(case_seed("t", i)));
        let (b, db) = mutate(text, &mut Rng(case_seed("t", i)));
        assert_eq!((a.clone(), da.clone()), (b, db));
        // A CR-only rewrite, a swap of equal lines or an empty replacement of nothing
        // aside, each mutation changes the text.
        if a == text && !da.starts_with("swap") {
            panic!("{da} left the text unchanged");
        }
    }
}
