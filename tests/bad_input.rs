//! Bad scenario input: every error names the file, line, column and field and says what
//! would be valid (DESIGN §4), and a failed `capsim run -o DIR` leaves no output directory
//! and no hidden `.DIR.partial-*` staging directory behind.
//!
//! Each case starts from one valid scenario (`BASE`, line numbers below) and breaks one
//! line. Errors are printed with `eprintln!` so `cargo test --test bad_input -- --nocapture`
//! shows what a user would see.

use capsim::app::{run_command, RunOptions};
use capsim::scenario::{load_str, ConfigError, Library};
use std::fs;
use std::path::{Path, PathBuf};

/// A valid scenario. Line numbers (1-based):
///  1 name = "bad"
///  2 duration = "60s"
///  3
///  4 [[pdus]]
///  5 name = "rack1"
///  6 voltage = "208V"
///  7 rating = "30A"
///  8 breaker = "ul489-le30a"
///  9
/// 10 [[servers]]
/// 11 name = "node"
/// 12 model = "generic-linear-260w"
/// 13 pdu = "rack1"
/// 14
/// 15 [[vms]]
/// 16 name = "vm"
/// 17 host = "node"
/// 18 vcpus = 8
/// 19 demand = { kind = "constant", level = "50%" }
const BASE: &str = r#"name = "bad"
duration = "60s"

[[pdus]]
name = "rack1"
voltage = "208V"
rating = "30A"
breaker = "ul489-le30a"

[[servers]]
name = "node"
model = "generic-linear-260w"
pdu = "rack1"

[[vms]]
name = "vm"
host = "node"
vcpus = 8
demand = { kind = "constant", level = "50%" }
"#;

/// BASE with the (unique) line `old` replaced by `new`.
fn with(old: &str, new: &str) -> String {
    assert_eq!(
        BASE.matches(old).count(),
        1,
        "`{old}` must occur once in BASE"
    );
    BASE.replace(old, new)
}

/// The text of line `line` from column `col` on (both 1-based; columns in characters).
fn from(text: &str, line: usize, col: usize) -> String {
    let l = text
        .lines()
        .nth(line - 1)
        .unwrap_or_else(|| panic!("no line {line}"));
    l.chars().skip(col - 1).collect()
}

fn load(name: &str, text: &str, dir: &Path) -> ConfigError {
    match load_str(name, text, dir, &Library::new(vec![])) {
        Ok(_) => panic!("`{name}` should be rejected:\n{text}"),
        Err(e) => {
            eprintln!("{e}");
            e
        }
    }
}

/// A unique, empty scratch directory under the system temp dir.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-bad-input-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` (plus `extra` files) to a scratch directory, runs `capsim run FILE -o
/// DIR/out` through the library, and checks that it fails and leaves nothing behind but
/// the input files. Returns the error message.
fn run_fails(tag: &str, text: &str, extra: &[(&str, &str)]) -> String {
    let dir = scratch(tag);
    let path = dir.join("scenario.toml");
    fs::write(&path, text).unwrap();
    for (name, body) in extra {
        fs::write(dir.join(name), body).unwrap();
    }
    let out = dir.join("out");
    let opts = RunOptions {
        scenario: Some(path.clone()),
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    let err = match run_command(&opts) {
        Ok(_) => panic!("`{tag}` should fail to run"),
        Err(e) => e,
    };
    eprintln!("capsim run {}: error: {err}", path.display());
    assert!(!out.exists(), "no output directory after a failed run");
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected: Vec<String> = std::iter::once("scenario.toml".to_string())
        .chain(extra.iter().map(|(n, _)| n.to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        left, expected,
        "only the inputs remain (no .out.partial-* staging directory)"
    );
    fs::remove_dir_all(&dir).unwrap();
    err
}

#[test]
fn the_base_scenario_is_valid() {
    // Guard: every case below breaks exactly one thing in an otherwise valid file.
    load_str("base.toml", BASE, Path::new("."), &Library::new(vec![]))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn wrong_unit() {
    let text = with(r#"rating = "30A""#, r#"rating = "30V""#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(e.file, "s.toml");
    // Line 7 `rating = "30V"`: the value starts at column 10 (`rating = ` is 9 chars).
    assert_eq!((e.line, e.column), (7, 10), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""30V""#));
    assert_eq!(e.field, "pdus[0].rating");
    assert!(
        e.message.contains("`V`") && e.message.contains("\"1A\""),
        "says what is valid: {}",
        e.message
    );
    let msg = run_fails("wrong-unit", &text, &[]);
    assert!(
        msg.contains("scenario.toml:7:10") && msg.contains("rating"),
        "{msg}"
    );
}

#[test]
fn number_without_unit() {
    let text = with(r#"duration = "60s""#, "duration = 60");
    let e = load("s.toml", &text, Path::new("."));
    // Line 2 `duration = 60`: the value starts at column 12.
    assert_eq!((e.line, e.column), (2, 12), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("60"));
    assert_eq!(e.field, "duration");
    // Suggests the fix: a string with a unit, e.g. "60s".
    assert!(
        e.message.contains("no unit") && e.message.contains("\"60s\""),
        "{}",
        e.message
    );
    let msg = run_fails("no-unit", &text, &[]);
    assert!(msg.contains("scenario.toml:2:12"), "{msg}");
}

#[test]
fn unknown_field() {
    let text = with(r#"rating = "30A""#, r#"ratting = "30A""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 7 `ratting = "30A"`: the unknown key itself is at column 1.
    assert_eq!((e.line, e.column), (7, 1), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("ratting"));
    assert_eq!(e.field, "pdus[0].ratting");
    // Lists the valid fields, among them `rating`.
    assert!(
        e.message.contains("ratting") && e.message.contains("`rating`"),
        "{}",
        e.message
    );
    run_fails("unknown-field", &text, &[]);
}

#[test]
fn missing_model_lists_the_available_ones() {
    let text = with(
        r#"model = "generic-linear-260w""#,
        r#"model = "no-such-server""#,
    );
    let e = load("s.toml", &text, Path::new("."));
    // Line 12 `model = "no-such-server"`: the value starts at column 9.
    assert_eq!((e.line, e.column), (12, 9), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""no-such-server""#));
    assert_eq!(e.field, "servers[0].model");
    // Every server model shipped in models/servers/ is offered.
    for m in [
        "generic-linear-260w",
        "hp-ml110-g4",
        "ibm-x3550-m3",
        "i7-920-xen34",
    ] {
        assert!(
            e.message.contains(m),
            "available models should include {m}: {}",
            e.message
        );
    }
    let msg = run_fails("missing-model", &text, &[]);
    assert!(
        msg.contains("scenario.toml:12:9") && msg.contains("servers[0].model"),
        "{msg}"
    );
}

#[test]
fn negative_rating() {
    let text = with(r#"rating = "30A""#, r#"rating = "-30A""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 7, the value at column 10.
    assert_eq!((e.line, e.column), (7, 10), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""-30A""#));
    assert_eq!(e.field, "pdus[0].rating");
    assert!(e.message.contains("negative"), "{}", e.message);
    run_fails("negative-rating", &text, &[]);
}

#[test]
fn zero_rating() {
    // Not negative, but no breaker can be rated 0 A.
    let text = with(r#"rating = "30A""#, r#"rating = "0A""#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (7, 10), "{e}");
    assert_eq!(e.field, "pdus[0].rating");
    assert!(
        e.message.contains("positive") && e.message.contains("\"30A\""),
        "{}",
        e.message
    );
}

#[test]
fn unknown_pdu_reference() {
    let text = with(r#"pdu = "rack1""#, r#"pdu = "rack2""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 13 `pdu = "rack2"`: the value starts at column 7.
    assert_eq!((e.line, e.column), (13, 7), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""rack2""#));
    assert_eq!(e.field, "servers[0].pdu");
    // Names the known devices.
    assert!(
        e.message.contains("rack2") && e.message.contains("rack1"),
        "{}",
        e.message
    );
    run_fails("unknown-pdu", &text, &[]);
}

#[test]
fn unknown_vm_host() {
    let text = with(r#"host = "node""#, r#"host = "nodes""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 17 `host = "nodes"`: the value starts at column 8.
    assert_eq!((e.line, e.column), (17, 8), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""nodes""#));
    assert_eq!(e.field, "vms[0].host");
    assert!(
        e.message.contains("nodes") && e.message.contains("known: node"),
        "{}",
        e.message
    );
    run_fails("unknown-host", &text, &[]);
}

#[test]
fn unknown_vm_host_lists_each_known_name_once() {
    // BASE has one server `node` (no `count`), so the valid hosts are exactly: node.
    let text = with(r#"host = "node""#, r#"host = "nodes""#);
    let e = load("s.toml", &text, Path::new("."));
    let known = e
        .message
        .split("known: ")
        .nth(1)
        .expect("a list of known names");
    assert_eq!(known, "node", "each name once: {}", e.message);
}

#[test]
fn bad_trace_line_names_the_trace_file_and_line() {
    let text = with(
        r#"demand = { kind = "constant", level = "50%" }"#,
        r#"demand = { kind = "trace", file = "cpu.trace", interval = "10s" }"#,
    );
    // Line 3 of the trace is `  abc`: the bad token starts at column 3.
    let trace = "10\n20\n  abc\n40\n";
    let dir = scratch("trace-load");
    fs::write(dir.join("cpu.trace"), trace).unwrap();
    let e = load("s.toml", &text, &dir);
    assert!(
        e.file.ends_with("cpu.trace"),
        "the error is in the trace file: {}",
        e.file
    );
    assert_eq!((e.line, e.column), (3, 3), "{e}");
    assert!(from(trace, e.line, e.column).starts_with("abc"));
    assert!(
        e.message.contains("abc") && e.message.contains("0-100"),
        "{}",
        e.message
    );
    fs::remove_dir_all(&dir).unwrap();
    let msg = run_fails("bad-trace", &text, &[("cpu.trace", trace)]);
    assert!(msg.contains("cpu.trace:3:3"), "{msg}");
}

#[test]
fn missing_trace_file_points_at_the_scenario_field() {
    let text = with(
        r#"demand = { kind = "constant", level = "50%" }"#,
        r#"demand = { kind = "trace", file = "absent.trace" }"#,
    );
    let dir = scratch("trace-missing");
    let e = load("s.toml", &text, &dir);
    // Line 19 `demand = { kind = "trace", file = "absent.trace" }`: the file value is at
    // column 35 (`demand = { kind = "trace", file = ` is 34 characters).
    assert_eq!(e.file, "s.toml");
    assert_eq!((e.line, e.column), (19, 35), "{e}");
    assert!(from(&text, e.line, e.column).starts_with(r#""absent.trace""#));
    assert_eq!(e.field, "vms[0].demand.file");
    assert!(e.message.contains("absent.trace"), "{}", e.message);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pstate_out_of_range() {
    // generic-linear-260w has one p-state (index 0).
    let text = with(r#"pdu = "rack1""#, "pdu = \"rack1\"\npstate = 1");
    let e = load("s.toml", &text, Path::new("."));
    // Line 14 `pstate = 1`: the value is at column 10.
    assert_eq!((e.line, e.column), (14, 10), "{e}");
    assert!(from(&text, e.line, e.column).starts_with('1'));
    assert_eq!(e.field, "servers[0].pstate");
    assert!(
        e.message.contains("0..=0"),
        "says the valid range: {}",
        e.message
    );
    let msg = run_fails("pstate", &text, &[]);
    assert!(msg.contains("scenario.toml:14:10"), "{msg}");
}

#[test]
fn demand_above_100_percent() {
    let text = with(r#"level = "50%""#, r#"level = "150%""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 19 `demand = { kind = "constant", level = "150%" }`: the value "150%" is at
    // column 39 (`demand = { kind = "constant", level = ` is 38 characters).
    assert_eq!(e.line, 19, "{e}");
    assert_eq!(e.column, 39, "the column should point at \"150%\": {e}");
    assert!(e.field.starts_with("vms[0].demand"), "field {:?}", e.field);
    assert!(e.message.contains("100%"), "{}", e.message);
}

#[test]
fn zero_voltage() {
    let text = with(r#"voltage = "208V""#, r#"voltage = "0V""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 6 `voltage = "0V"`: the value is at column 11.
    assert_eq!(e.field, "pdus[0].voltage");
    assert!(
        e.message.contains("positive") && e.message.contains("\"208V\""),
        "{}",
        e.message
    );
    assert_eq!(
        (e.line, e.column),
        (6, 11),
        "the error should point at the value: {e}"
    );
}

#[test]
fn zero_duration() {
    let text = with(r#"duration = "60s""#, r#"duration = "0s""#);
    let e = load("s.toml", &text, Path::new("."));
    // Line 2 `duration = "0s"`: the value is at column 12.
    assert_eq!(e.field, "duration");
    assert_eq!(
        (e.line, e.column),
        (2, 12),
        "the error should point at the value: {e}"
    );
    assert!(
        e.message.contains("\"1h\"") || e.message.contains("longer than zero"),
        "{}",
        e.message
    );
}

#[test]
fn a_second_run_that_fails_keeps_the_first_runs_outputs() {
    // A good run into DIR/out, then a bad scenario into the same -o: the first run's
    // outputs stay exactly as they were and no staging directory is left.
    let dir = scratch("keep-previous");
    let good = dir.join("good.toml");
    fs::write(&good, BASE).unwrap();
    let out = dir.join("out");
    let opts = RunOptions {
        scenario: Some(good),
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    run_command(&opts).unwrap_or_else(|e| panic!("{e}"));
    let before = fs::read(out.join("summary.json")).unwrap();
    let bad = dir.join("bad.toml");
    fs::write(&bad, with(r#"rating = "30A""#, r#"rating = "30V""#)).unwrap();
    let opts = RunOptions {
        scenario: Some(bad),
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    let e = run_command(&opts).err().expect("the bad scenario fails");
    eprintln!("{e}");
    assert_eq!(fs::read(out.join("summary.json")).unwrap(), before);
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["bad.toml", "good.toml", "out"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_path_that_is_an_existing_file_leaves_no_hidden_files() {
    // `-o DIR` where DIR is an existing regular file. Whatever capsim does (refuse, or
    // replace the file with the output directory), it must leave no hidden
    // `.out.partial-*` / `.out.old-*` entry beside it.
    let dir = scratch("out-is-file");
    let good = dir.join("good.toml");
    fs::write(&good, BASE).unwrap();
    let out = dir.join("out");
    fs::write(&out, "not a directory").unwrap();
    let opts = RunOptions {
        scenario: Some(good),
        out: Some(out.clone()),
        ..RunOptions::default()
    };
    let res = run_command(&opts);
    eprintln!(
        "run with -o at an existing file: {:?}",
        res.as_ref().map(|r| r.1.clone())
    );
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        left,
        vec!["good.toml", "out"],
        "no hidden staging or old entries"
    );
}

// ---------------------------------------------------------------------------------------
// Kind-tagged sections: a field the kind does not take is an error naming the field, the
// kind and the kind's fields, at the field's key; an unknown kind lists the valid ones.
// BASE has 19 lines, so a section appended after it starts on line 20.
// ---------------------------------------------------------------------------------------

/// BASE with `extra` appended (its first line is line 20).
fn plus(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn a_policy_field_its_kind_does_not_take_is_named_with_the_kinds_fields() {
    // Lines 20 `[policy]`, 21 `kind = "group-dvfs"`, 22 `gain = 0.5`: the key at 22:1.
    let text = plus("[policy]\nkind = \"group-dvfs\"\ngain = 0.5\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (22, 1), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("gain"));
    assert_eq!(e.field, "policy.gain");
    // group-dvfs takes the common timing fields, the bands, its bucket width and its DVFS
    // latency.
    assert_eq!(
        e.message,
        "`group-dvfs` has no field `gain`; its fields are: period, pdu_meter, bmc, cpu_counters, cap, target, uncap, bucket, dvfs_latency"
    );
    assert_eq!(
        e.to_string(),
        "s.toml:22:1: field `policy.gain`: `group-dvfs` has no field `gain`; its fields are: period, pdu_meter, bmc, cpu_counters, cap, target, uncap, bucket, dvfs_latency"
    );
    // The same field is valid for `dvfs`.
    load_str(
        "s.toml",
        &plus("[policy]\nkind = \"dvfs\"\ngain = 0.5\n"),
        Path::new("."),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let msg = run_fails("policy-field", &text, &[]);
    assert!(msg.contains("scenario.toml:22:1"), "{msg}");
}

#[test]
fn an_unknown_policy_lists_every_policy() {
    // Line 21 `kind = "dvfs-group"`: the value starts at column 8.
    let text = plus("[policy]\nkind = \"dvfs-group\"\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (21, 8, "policy.kind"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`dvfs-group` is not a policy; valid: none, dvfs, group-dvfs, thunderbolt, idle, migration, headroom, power-aware-migration, dvfs+migration"
    );
}

#[test]
fn a_bad_value_inside_a_kind_is_located_at_the_value() {
    // serde's own tagged enums would report this at the whole `[policy]` table. Line 22
    // `dvfs_latency = "10V"`: the value starts at column 16 (`dvfs_latency = ` is 15).
    let text = plus("[policy]\nkind = \"group-dvfs\"\ndvfs_latency = \"10V\"\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (22, 16), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("\"10V\""));
    assert_eq!(e.field, "policy.dvfs_latency");
    assert!(e.message.contains("`V`"), "{}", e.message);
}

#[test]
fn a_migration_policy_checks_vm_choice_and_its_overrides_against_the_preset() {
    // Line 22 `vm_choice = "random"`: the value at column 13 (`vm_choice = ` is 12).
    let text = plus("[policy]\nkind = \"migration\"\nvm_choice = \"random\"\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (22, 13, "policy.vm_choice"),
        "{e}"
    );
    assert!(
        e.message
            .contains("`largest-cpu`, `smallest-memory`, `best-ratio`"),
        "{}",
        e.message
    );
    // A post-copy preset has no rounds. Line 23 `overrides = { max_live_rounds = 3 }`:
    // the key at column 15 (`overrides = { ` is 14).
    let text = plus(
        "[policy]\nkind = \"migration\"\nalgorithm = \"postcopy-snowflock\"\noverrides = { max_live_rounds = 3 }\n",
    );
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (23, 15), "{e}");
    assert_eq!(e.field, "policy.overrides.max_live_rounds");
    assert!(
        e.message.starts_with(
            "`postcopy` has no field `max_live_rounds`; its fields are: description, setup,"
        ) && e
            .message
            .ends_with("switch, fault_service, push, push_chunk_pages, fault_cpu, tick"),
        "{}",
        e.message
    );
}

#[test]
fn an_unknown_device_level_lists_the_levels() {
    // Line 6 `kind = "rak"`: the value at column 8.
    let text = with(r#"name = "rack1""#, "name = \"rack1\"\nkind = \"rak\"");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (6, 8, "pdus[0].kind"),
        "{e}"
    );
    assert!(
        e.message
            .contains("`outlet_group`, `rack`, `row`, `datacenter`"),
        "{}",
        e.message
    );
}

#[test]
fn a_demand_field_its_kind_does_not_take_and_an_unknown_demand_kind() {
    // Line 19 `demand = { kind = "constant", level = "50%", file = "x" }`: `file` at
    // column 46 (`demand = { ` 11 + `kind = "constant", ` 19 + `level = "50%", ` 15).
    let text = with(r#"level = "50%" }"#, r#"level = "50%", file = "x" }"#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (19, 46), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("file"));
    assert_eq!(e.field, "vms[0].demand.file");
    assert_eq!(
        e.message,
        "`constant` has no field `file`; its fields are: level"
    );
    // Line 19 `demand = { kind = "const", … }`: the value at column 19.
    let text = with(r#"kind = "constant""#, r#"kind = "const""#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (19, 19, "vms[0].demand.kind"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`const` is not a demand kind; valid: constant, steps, trace"
    );
}

#[test]
fn an_unknown_after_end_lists_the_valid_ones() {
    // Line 19: `demand = { ` 11 + `kind = "trace", ` 16 + `file = "cpu.trace", ` 20 +
    // `after_end = ` 12 = 59 characters, so the value starts at column 60.
    let text = with(
        r#"demand = { kind = "constant", level = "50%" }"#,
        r#"demand = { kind = "trace", file = "cpu.trace", after_end = "loop" }"#,
    );
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (19, 60), "{e}");
    assert_eq!(e.field, "vms[0].demand.after_end");
    assert!(
        e.message.contains("`repeat`, `hold`, `zero`"),
        "{}",
        e.message
    );
}

#[test]
fn an_action_field_its_kind_does_not_take_and_an_unknown_action() {
    // Lines 20 `[[actions]]`, 21 `at`, 22 `kind`, 23 `vm`, 24 `weight`, 25 `pstate = 1`.
    let text =
        plus("[[actions]]\nat = \"1s\"\nkind = \"set_vm_weight\"\nvm = \"vm\"\nweight = 2.0\npstate = 1\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (25, 1, "actions[0].pstate"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`set_vm_weight` has no field `pstate`; its fields are: at, vm, weight"
    );
    // Line 22 `kind = "set_weight"`: the value at column 8.
    let text = plus("[[actions]]\nat = \"1s\"\nkind = \"set_weight\"\nvm = \"vm\"\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (22, 8, "actions[0].kind"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`set_weight` is not an action; valid: set_pstate, set_idle, set_vm_cap, set_vm_weight, migrate"
    );
    // A field the kind needs is missing: named, at its table (`[[actions]]`, 20:1).
    let text = plus("[[actions]]\nat = \"1s\"\nkind = \"set_pstate\"\nserver = \"node\"\n");
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (20, 1, "actions[0].pstate"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "missing field `pstate`, which `set_pstate` needs"
    );
}

/// BASE with a 1 GiB VM and a `migrate` action whose last line is `overrides` (line 28).
fn migrating(overrides: &str) -> String {
    // Lines 18 vcpus, 19 memory, 20 demand; 21 blank, 22 `[[actions]]`, 23 at, 24 kind,
    // 25 vm, 26 to, 27 algorithm, 28 overrides.
    let text = with("vcpus = 8", "vcpus = 8\nmemory = \"1GiB\"");
    format!(
        "{text}\n[[actions]]\nat = \"1s\"\nkind = \"migrate\"\nvm = \"vm\"\nto = \"node\"\nalgorithm = \"xen34-precopy\"\noverrides = {{ {overrides} }}\n"
    )
}

#[test]
fn a_migrate_override_is_checked_against_the_presets_mechanism() {
    // Line 28 `overrides = { push = "none" }`: the key at column 15.
    let text = migrating(r#"push = "none""#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (28, 15), "{e}");
    assert!(from(&text, e.line, e.column).starts_with("push"));
    assert_eq!(e.field, "actions[0].overrides.push");
    // Xen pre-copy's fields: the common ones, the pre-copy batches and Xen's rounds.
    assert!(
        e.message
            .starts_with("`xen-precopy` has no field `push`; its fields are: description, setup,")
            && e.message.ends_with("batch_pages, suspend, resume, max_live_rounds, max_factor, stop_pages, skip, stop_rule"),
        "{}",
        e.message
    );
    // A field it takes, with a value the merged parameters reject: at that value.
    // `overrides = { efficiency = ` is 27 characters, so "0%" starts at column 28.
    let text = migrating(r#"efficiency = "0%""#);
    let e = load("s.toml", &text, Path::new("."));
    assert_eq!((e.line, e.column), (28, 28), "{e}");
    assert_eq!(e.field, "actions[0].overrides.efficiency");
    assert!(e.message.contains("(0%, 100%]"), "{}", e.message);
    // And a valid override loads.
    load_str(
        "s.toml",
        &migrating("max_live_rounds = 3"),
        Path::new("."),
        &Library::new(vec![]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// A model library in a scratch directory with one file at `rel`.
fn library_with(tag: &str, rel: &str, body: &str) -> (PathBuf, Library) {
    let dir = scratch(tag);
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, body).unwrap();
    (dir.clone(), Library::new(vec![dir]))
}

#[test]
fn a_preset_field_of_another_mechanism_push_and_stop_rule_are_checked() {
    // models/migration/bad.toml line 3 `stop_pages = 10`: a post-copy has no rounds.
    let (dir, lib) = library_with(
        "preset",
        "migration/bad.toml",
        "description = \"x\"\nmechanism = \"postcopy\"\nstop_pages = 10\n",
    );
    let text = migrating("")
        .replace("xen34-precopy", "bad")
        .replace("overrides = {  }\n", "");
    let e = load_str("s.toml", &text, Path::new("."), &lib).expect_err("rejected");
    eprintln!("{e}");
    assert!(e.file.ends_with("bad.toml"), "{e}");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (3, 1, "stop_pages"),
        "{e}"
    );
    assert!(
        e.message
            .starts_with("`postcopy` has no field `stop_pages`; its fields are:"),
        "{}",
        e.message
    );
    fs::remove_dir_all(&dir).unwrap();
    let preset = |text: &str| {
        capsim::scenario::migration::preset_from_text("p.toml", text).expect_err("rejected")
    };
    // Line 1 `mechanism = "precopy"`: the value at column 13.
    let e = preset("mechanism = \"precopy\"\n");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (1, 13, "mechanism"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`precopy` is not a mechanism; valid: xen-precopy, qemu-precopy, postcopy"
    );
    // Line 2 `push = "eager"`: the value at column 8.
    let e = preset("mechanism = \"postcopy\"\npush = \"eager\"\n");
    assert_eq!((e.line, e.column, e.field.as_str()), (2, 8, "push"), "{e}");
    assert!(
        e.message.contains("`none`, `linear`, `prepaging`"),
        "{}",
        e.message
    );
    // Line 2 `stop_rule = "sent"`: the value at column 13.
    let e = preset("mechanism = \"xen-precopy\"\nstop_rule = \"sent\"\n");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (2, 13, "stop_rule"),
        "{e}"
    );
    assert!(
        e.message.contains("`sent+skipped`") && e.message.contains("`dirty-count`"),
        "{}",
        e.message
    );
}

#[test]
fn a_power_field_its_kind_does_not_take_and_an_unknown_power_kind() {
    let model =
        |power: &str| format!("cores = 4\nmemory = \"4GiB\"\nnic = \"1Gbps\"\n[power]\n{power}");
    // Lines 4 `[power]`, 5 kind, 6 idle, 7 max, 8 `table = ["1W"]`: the key at 8:1.
    let text = model("kind = \"linear\"\nidle = \"100W\"\nmax = \"200W\"\ntable = [\"1W\"]\n");
    let e = capsim::scenario::validate::server_model_from_text("m", "m.toml", &text)
        .expect_err("rejected");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (8, 1, "power.table"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`linear` has no field `table`; its fields are: nic_per_gbps, idle, max"
    );
    // Line 5 `kind = "cubic"`: the value at column 8.
    let text = model("kind = \"cubic\"\n");
    let e = capsim::scenario::validate::server_model_from_text("m", "m.toml", &text)
        .expect_err("rejected");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (5, 8, "power.kind"),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`cubic` is not a power kind; valid: linear, specpower, cores"
    );
    // A missing field of the kind names itself and points at its table (`[power]`, 4:1).
    let text = model("kind = \"linear\"\nidle = \"100W\"\n");
    let e = capsim::scenario::validate::server_model_from_text("m", "m.toml", &text)
        .expect_err("rejected");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (4, 1, "power.max"),
        "{e}"
    );
}
