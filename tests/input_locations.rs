//! Bad input located precisely and bounded: table headers with comments, multi-line
//! arrays, CR-only and non-UTF-8 files, megabyte-long values, absurd quantities and
//! counts, and trace directories or files that hold nothing (or never end). Each is an
//! error naming the file, line, column and field, never a panic, an abort or a hang.
//!
//! Line numbers in comments are 1-based; columns count characters.

use capsim::scenario::{load_file, load_str, ConfigError, Library};
use std::fs;
use std::path::{Path, PathBuf};

/// A valid scenario (as in tests/bad_input.rs). Lines:
///  1 name = "loc"
///  2 duration = "60s"
///  3 [[pdus]]
///  4 name = "rack1"
///  5 voltage = "208V"
///  6 rating = "30A"
///  7 [[servers]]
///  8 name = "node"
///  9 model = "generic-linear-260w"
/// 10 pdu = "rack1"
/// 11 [[vms]]
/// 12 name = "vm"
/// 13 host = "node"
/// 14 vcpus = 8
/// 15 demand = { kind = "constant", level = "50%" }
const BASE: &str = r#"name = "loc"
duration = "60s"
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
demand = { kind = "constant", level = "50%" }
"#;

/// BASE with the (unique) text `old` replaced by `new`.
fn with(old: &str, new: &str) -> String {
    assert_eq!(BASE.matches(old).count(), 1, "`{old}` must occur once");
    BASE.replace(old, new)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capsim-input-loc-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The error `text` gives (scenario named `s.toml`, relative paths under `dir`).
fn err_in(text: &str, dir: &Path) -> ConfigError {
    match load_str("s.toml", text, dir, &Library::new(vec![])) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => {
            eprintln!("{e}");
            e
        }
    }
}

fn err(text: &str) -> ConfigError {
    err_in(text, Path::new("."))
}

/// (line, column, field) of an error.
fn at(e: &ConfigError) -> (usize, usize, &str) {
    (e.line, e.column, e.field.as_str())
}

#[test]
fn a_table_headers_comment_stays_out_of_the_field_path() {
    // Line 16 `[policy] # how to cap`, line 18 `gain = = 2`: a syntax error at column 8
    // (the second `=`), in field `policy.gain` (before: `policy] # how to cap.gain`).
    let text = format!("{BASE}[policy] # how to cap\nkind = \"none\"\ngain = = 2\n");
    let e = err(&text);
    assert_eq!(at(&e), (18, 8, "policy.gain"), "{e}");
}

#[test]
fn a_multi_line_arrays_lines_are_not_table_headers() {
    // Line 16 `[output]`, 17 `interval = "10s"`, 18 `levels = [`, 19 `  ["a", "b"],`,
    // 20 `  ["c" "d"],`: the syntax error (no comma) is at column 8 of line 20, inside
    // `output.levels` (before: the table was `"a", "b"],`).
    let arrays =
        "[output]\ninterval = \"10s\"\nlevels = [\n  [\"a\", \"b\"],\n  [\"c\" \"d\"],\n]\n";
    let e = err(&format!("{BASE}{arrays}"));
    assert_eq!(at(&e), (20, 8, "output.levels"), "{e}");
    // After the array closes, line 21 `]`, line 22 `x = = 1`: field `output.x`.
    let after = "[output]\ninterval = \"10s\"\nlevels = [\n  [\"a\", \"b\"],\n  [\"c\", \"d\"],\n]\nx = = 1\n";
    let e = err(&format!("{BASE}{after}"));
    assert_eq!(at(&e), (22, 5, "output.x"), "{e}");
}

#[test]
fn a_cr_only_file_has_a_message() {
    // Bare carriage returns are not TOML line ends: the first (1:11) is the error.
    let e = err("name = \"x\"\rduration = \"60s\"\r");
    assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
    assert!(e.line >= 1 && e.column >= 1, "{e}");
    // toml gave an empty message for this one; the first CR is at 1:1.
    let e = err("\r\r\r");
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(e.message.contains("carriage return"), "{e:?}");
}

#[test]
fn invalid_utf8_in_a_scenario_is_located() {
    let dir = scratch("utf8");
    let path = dir.join("s.toml");
    // Line 2 `name = "x<0xFF>"`: the bad byte is the 10th character (byte 19 of the
    // file: 10 bytes of line 1 with its CR LF, 9 of line 2 before it).
    fs::write(&path, b"seed = 1\r\nname = \"x\xff\"\n").unwrap();
    let e = load_file(&path, &Library::new(vec![])).unwrap_err();
    assert_eq!((e.line, e.column), (2, 10), "{e}");
    assert!(
        e.message.contains("UTF-8") && e.message.contains("byte 19"),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_quote_at_most_a_few_hundred_characters_of_input() {
    let long = "x".repeat(1 << 20);
    // A 1 MB model name, unit value, unknown key and syntax-error line: each error,
    // printed, stays under 3,000 characters (it echoed up to 1.1 MB).
    let cases = [
        with("generic-linear-260w", &long),
        with("\"208V\"", &format!("\"1{long}V\"")),
        with("vcpus = 8", &format!("{long} = 8")),
        with("vcpus = 8", &format!("vcpus = 8{long}")),
    ];
    for (k, text) in cases.iter().enumerate() {
        let shown = err(text).to_string();
        assert!(shown.chars().count() < 3_000, "{} characters", shown.len());
        // The first three quote the value or key (the syntax error quotes nothing).
        assert!(k == 3 || shown.contains('…'), "clipped: {shown}");
    }
}

#[test]
fn a_workload_footprint_larger_than_the_vm_is_an_error_at_the_vms_memory() {
    // spec2000/parser writes a 35 MiB footprint; a 16 MiB VM cannot hold it. The error
    // is at line 16 `memory = "16MiB"` of the scenario, value at column 10 (before: in
    // the built-in workload file).
    let text = with(
        "demand = { kind = \"constant\", level = \"50%\" }",
        "demand = { kind = \"constant\", level = \"50%\" }\nmemory = \"16MiB\"\nworkload = \"spec2000/parser\"",
    );
    let e = err(&text);
    assert_eq!(e.file, "s.toml", "{e}");
    assert_eq!(at(&e), (16, 10, "vms[0].memory"), "{e}");
    assert!(e.message.contains("35 MiB"), "{e}");
}

#[test]
fn absurd_quantities_are_errors_at_their_values() {
    // Line 2 `duration = "1e20s"`: 1e29 ns overflows u64 (it saturated); value at 12.
    let e = err(&with("\"60s\"", "\"1e20s\""));
    assert_eq!(at(&e), (2, 12, "duration"), "{e}");
    // Line 5 `voltage = "1e308V"`: above 1 MV (caps became infinite); value at 11.
    let e = err(&with("\"208V\"", "\"1e308V\""));
    assert_eq!(at(&e), (5, 11, "pdus[0].voltage"), "{e}");
    assert!(e.message.contains("1 MV"), "{e}");
    // Line 6 `rating = "1e308kA"`: 1e311 A is not finite; value at column 10.
    let e = err(&with("\"30A\"", "\"1e308kA\""));
    assert_eq!(at(&e), (6, 10, "pdus[0].rating"), "{e}");
}

/// A generated datacenter (lines 3-11) with `extra` lines after it.
fn dc(extra: &str) -> String {
    format!(
        "name = \"dc\"\nduration = \"1h\"\n[datacenter]\nrows = 1\nracks_per_row = 2\nservers_per_rack = 2\n\
         servers = [{{ model = \"ibm-x3550-m3\", share = \"100%\" }}]\noversubscription = 1.5\n\
         rack = {{ voltage = \"208V\", cap = \"80%\" }}\nvms_per_server = 2\n{extra}"
    )
}

#[test]
fn oversubscription_ratios_below_one_in_a_million_are_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(load_str("dc", &dc(""), dir, &Library::new(vec![])).is_ok());
    // Line 8 `oversubscription = 1e-320`: each cap peak / 1e-320 = inf; value at 20.
    let e = err_in(&dc("").replace("= 1.5", "= 1e-320"), dir);
    assert_eq!(at(&e), (8, 20, "datacenter.oversubscription"), "{e}");
    // Line 9 `rack = { voltage = "1e308V", … }`: the voltage's value at column 20.
    let e = err_in(&dc("").replace("\"208V\"", "\"1e308V\""), dir);
    assert_eq!(at(&e), (9, 20, "datacenter.rack.voltage"), "{e}");
    // Line 11 `row = { oversubscription = 0.0 }` divided each row's rating by zero.
    let e = err_in(&dc("row = { oversubscription = 0.0 }\n"), dir);
    assert_eq!(at(&e), (11, 28, "datacenter.row.oversubscription"), "{e}");
}

#[test]
fn counts_past_the_documented_limits_are_errors_naming_the_field() {
    // 1,000,000 servers aborted while building; the limit is 100,000. Line 11 is
    // `count = 1000000` after line 10 (the server's `pdu`), value at column 9.
    let e = err(&with("pdu = \"rack1\"", "pdu = \"rack1\"\ncount = 1000000"));
    assert_eq!(at(&e), (11, 9, "servers[0].count"), "{e}");
    assert!(e.message.contains("100000"), "{e}");
    // VMs: the limit is 1,000,000; line 16 `count = 2000000` (after `demand`).
    let e = err(&format!("{BASE}count = 2000000\n"));
    assert_eq!(at(&e), (16, 9, "vms[0].count"), "{e}");
    // A datacenter of 1000 × 100 × 20 = 2,000,000 servers, at `rows` (line 4, col 8).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let big = dc("").replace("rows = 1\n", "rows = 1000\n");
    let big = big.replace("racks_per_row = 2", "racks_per_row = 100");
    let big = big.replace("servers_per_rack = 2", "servers_per_rack = 20");
    let e = err_in(&big, dir);
    assert_eq!(at(&e), (4, 8, "datacenter.rows"), "{e}");
    // `vms_per_server = inf` asked for usize::MAX VMs (capacity overflow), line 10.
    let e = err_in(
        &dc("").replace("vms_per_server = 2", "vms_per_server = inf"),
        dir,
    );
    assert_eq!(at(&e), (10, 18, "datacenter.vms_per_server"), "{e}");
}

#[test]
fn a_bitbrains_directory_with_no_trace_is_an_error_naming_the_file() {
    // tasks.csv lists a VM, fragments.csv is header-only: before, the generator's
    // round-robin over zero traces divided by zero.
    let dir = scratch("bitbrains");
    let traces = dir.join("traces");
    fs::create_dir_all(&traces).unwrap();
    let tasks =
        "id,submission_time,duration,cpu_count,cpu_capacity,mem_capacity\n1,0,1,1,2000,1024\n";
    fs::write(traces.join("tasks.csv"), tasks).unwrap();
    fs::write(traces.join("fragments.csv"), "id,duration,cpu_usage\n").unwrap();
    let text = dc("demand = \"traces\"\n");
    let e = err_in(&text, &dir);
    assert!(e.file.ends_with("fragments.csv"), "{e}");
    assert!(e.message.contains("no trace"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_trace_that_is_not_a_regular_file_is_refused_at_the_scenario_field() {
    // A symlink to /dev/zero was read forever. Line 15 becomes
    // `demand = { kind = "trace", file = "zero.trace" }`: the file value at column 35.
    let dir = scratch("zero");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.trace")).unwrap();
    let text = with(
        "demand = { kind = \"constant\", level = \"50%\" }",
        "demand = { kind = \"trace\", file = \"zero.trace\" }",
    );
    let e = err_in(&text, &dir);
    assert_eq!(at(&e), (15, 35, "vms[0].demand.file"), "{e}");
    assert!(e.message.contains("not a regular file"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_list_of_known_names_shows_twenty_and_a_count() {
    // 30 servers `node-1` … `node-30` plus the group `node`: 31 names; an unknown host
    // lists the first 20 (sorted) and "and 11 more" (a datacenter has 100,000).
    let text = with("pdu = \"rack1\"", "pdu = \"rack1\"\ncount = 30")
        .replace("host = \"node\"", "host = \"nodes\"");
    let e = err(&text);
    assert_eq!(e.field, "vms[0].host", "{e}");
    assert!(e.message.ends_with("and 11 more"), "{e}");
    assert_eq!(e.message.matches(", ").count(), 19, "20 names: {e}");
}
