//! Every command in README.md's ```sh blocks that needs no hardware and no cluster runs
//! as written, from a scratch directory laid out like a checkout (`scenarios/`,
//! `calibration/`, `models/` and, when present, `../shared` linked in), and does what its
//! comment says. Placeholders a user fills in get stand-ins: `SCENARIO.toml` the basic
//! rack, `DIR` a fresh directory (in the sweep block, the built-in sweep's output, so
//! `--resume` has runs to skip), `my-models/` an empty folder, `/shared/cp` a local
//! folder. A command that reads `../shared/data` runs only when the data is there (and
//! says so, like every full-data test). A command this test does not know fails it.

mod shared_data;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One shell command of the README.
#[derive(Debug)]
struct Cmd {
    /// README line it starts on (1-based).
    line: usize,
    /// README line of its block's ```sh fence.
    block: usize,
    /// Its words, after quote removal and brace expansion.
    words: Vec<String>,
    /// Its trailing `# comment`, if any.
    comment: String,
}

/// The README's ```sh blocks' commands, in order (`\` continues a line).
fn commands(text: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut block = None;
    // A continued command: its first line, its words so far, its comments so far.
    let mut pending: Option<(usize, String, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let Some(fence) = block else {
            block = (raw == "```sh").then_some(i + 1);
            continue;
        };
        if raw.starts_with("```") {
            assert!(pending.is_none(), "README.md:{}: a `\\` before ```", i + 1);
            block = None;
            continue;
        }
        let (line, mut code, mut comment) =
            pending
                .take()
                .unwrap_or((i + 1, String::new(), String::new()));
        let (part, note) = split_comment(raw);
        comment.push_str(note.trim());
        if let Some(cont) = part.trim_end().strip_suffix('\\') {
            code.push_str(cont);
            pending = Some((line, code, comment));
            continue;
        }
        code.push_str(&part);
        if code.trim().is_empty() {
            continue;
        }
        let words = words(&code).into_iter().flat_map(braces).collect();
        out.push(Cmd {
            line,
            block: fence,
            words,
            comment,
        });
    }
    out
}

/// `code # comment` split at the first `#` outside quotes that starts a word.
fn split_comment(line: &str) -> (String, String) {
    let mut quoted = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted && prev.is_whitespace() => {
                return (line[..i].to_string(), line[i + 1..].to_string());
            }
            _ => {}
        }
        prev = c;
    }
    (line.to_string(), String::new())
}

/// Whitespace-separated words, `"…"` quotes removed (the README uses no other quoting).
fn words(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in code.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "an unclosed quote in {code:?}");
    if any {
        out.push(cur);
    }
    out
}

/// The shell's brace expansion of one word (`a-{1,2}` → `a-1 a-2`).
fn braces(w: String) -> Vec<String> {
    let (Some(open), Some(close)) = (w.find('{'), w.find('}')) else {
        return vec![w];
    };
    w[open + 1..close]
        .split(',')
        .map(|alt| format!("{}{alt}{}", &w[..open], &w[close + 1..]))
        .collect()
}

/// What to do with a command: run `capsim` with these arguments, or skip it and why.
enum Plan {
    Run(Vec<String>),
    Skip(&'static str),
}

fn plan(c: &Cmd) -> Plan {
    let w: Vec<&str> = c.words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["cargo", "test"] => Plan::Skip("the test command: this is it"),
        [p] if p.ends_with("/submit.sh") => {
            Plan::Skip("submits to a Slurm cluster (.ci/slurm runs it on a one-node cluster)")
        }
        _ if w.contains(&"--wt210") => Plan::Skip("needs a WT210 power meter on a serial port"),
        ["cargo", "run", "--release", "--", rest @ ..] | ["capsim", rest @ ..] => {
            Plan::Run(rest.iter().map(|s| s.to_string()).collect())
        }
        _ => panic!(
            "README.md:{}: a command this test does not know: {:?}; cover it here",
            c.line, c.words
        ),
    }
}

/// The placeholders' stand-ins; `sweep_block` for the commands of the Sweeps block.
fn substitute(args: &[String], sweep_block: bool) -> Vec<String> {
    args.iter()
        .map(|a| match a.as_str() {
            "SCENARIO.toml" => "scenarios/rack/basic.toml".into(),
            // The sweep block's DIR is the built-in sweep's output: `--resume` skips its
            // runs (the built-in sweep is this file) and `report DIR` rebuilds its report.
            "DIR" if sweep_block => "outputs/capping-policies".into(),
            "DIR" => "my-dir".into(),
            _ => a.replace("/shared/cp", "cp"),
        })
        .collect()
}

/// A scratch directory laid out like a checkout, with `../shared` when the repository has it.
fn scratch() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::env::temp_dir().join(format!("capsim-readme-commands-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let work = base.join("work");
    std::fs::create_dir_all(work.join("my-models")).unwrap();
    for d in ["scenarios", "calibration", "models"] {
        std::os::unix::fs::symlink(root.join(d), work.join(d)).unwrap();
    }
    let shared = root.join("../shared");
    if shared.exists() {
        std::os::unix::fs::symlink(shared.canonicalize().unwrap(), base.join("shared")).unwrap();
    }
    work
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the command's README comment (or its shape) promises, checked in `work`.
fn check_claims(c: &Cmd, args: &[String], out: &Output, work: &Path) {
    let stdout = text(&out.stdout);
    let at = format!(
        "README.md:{} (capsim {}  # {})",
        c.line,
        args.join(" "),
        c.comment
    );
    let exists = |p: &str| assert!(work.join(p).exists(), "{at}: {p} was not written");
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["run"] => exists("outputs/rack-basic/summary.json"),
        ["run", "scenarios/rack/overload-trip.toml"] => {
            // "a rack at 150 % trips after 151.9 s" (the two-body root, 151.913958 s)
            let ev = std::fs::read_to_string(work.join("outputs/rack-overload-trip/events.csv"))
                .unwrap();
            assert!(
                ev.lines()
                    .any(|l| l.starts_with("151.913958") && l.contains(",breaker_trip,rack1,")),
                "{at}: no trip of rack1 at 151.9 s in events.csv:\n{ev}"
            );
        }
        ["run", _, "-o", dir, ..] => exists(&format!("{dir}/summary.json")),
        ["sweep"] => {
            // "ends by printing the report's path"
            let last = stdout.lines().last().unwrap_or("");
            assert_eq!(last, "report: outputs/capping-policies/report.html", "{at}");
            exists("outputs/capping-policies/report.html");
            let runs =
                std::fs::read_to_string(work.join("outputs/capping-policies/runs.csv")).unwrap();
            assert_eq!(runs.lines().count(), 101, "{at}: 100 runs and a header");
        }
        ["sweep", _, .., "--resume"] => assert!(
            stdout.contains("100 runs, 0 failed, 100 skipped as already done"),
            "{at}: --resume did not skip the built-in sweep's 100 runs:\n{stdout}"
        ),
        ["report", dir] => exists(&format!("{dir}/report.html")),
        ["slurm", .., "-o", dir] => {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(work.join(dir).join("submit.sh")).unwrap();
            assert!(
                meta.permissions().mode() & 0o111 != 0,
                "{at}: submit.sh not executable"
            );
        }
        ["validate"] => exists("outputs/paper/validation.csv"),
        ["calibrate", "--specpower", .., "-o", model] => exists(model),
        ["calibrate", .., "--report", dir] => {
            // "report.html, fit-N.svg/png", and the model
            exists(&format!("{dir}/report.html"));
            for ext in ["svg", "png"] {
                exists(&format!("{dir}/fit-1.{ext}"));
            }
            exists("my-host.toml");
        }
        ["replay", run, ..] => {
            let name = Path::new(run).file_name().unwrap().to_string_lossy();
            exists(&format!("outputs/replay/{name}"));
        }
        ["capture", "--simulate", .., "--out", dir] => {
            // "a SYNTHETIC run": its manifest says so
            let m = std::fs::read_to_string(work.join(dir).join("manifest.json")).unwrap();
            assert!(m.contains("\"description\": \"SYNTHETIC run"), "{at}: {m}");
        }
        _ => panic!("{at}: no check for this command; add one for what its comment says"),
    }
}

#[test]
fn every_readme_command_without_hardware_or_a_cluster_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cmds = commands(&readme);
    assert_eq!(
        cmds.len(),
        16,
        "a README command was added or removed: cover it here ({cmds:#?})"
    );
    let work = scratch();
    let sweep_block = cmds
        .iter()
        .find(|c| c.words.ends_with(&["--resume".to_string()]))
        .map(|c| c.block)
        .expect("the README's --resume sweep");
    let mut done: Vec<Vec<String>> = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for c in &cmds {
        let args = match plan(c) {
            Plan::Skip(why) => {
                eprintln!("README.md:{}: skipped: {why}", c.line);
                skipped += 1;
                continue;
            }
            Plan::Run(args) => substitute(&args, c.block == sweep_block),
        };
        // The README gives the main job twice (the start and the Sweeps section).
        if done.contains(&args) {
            eprintln!("README.md:{}: ran above: {}", c.line, args.join(" "));
            continue;
        }
        if let Some(rel) = args.iter().find_map(|a| a.strip_prefix("../shared/data/")) {
            let test = format!("readme_commands::line_{}", c.line);
            if shared_data::full_data(&test, rel).is_none() {
                skipped += 1;
                continue;
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_capsim"))
            .args(&args)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md:{}: capsim {} failed ({}):\n{}\n{}",
            c.line,
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        check_claims(c, &args, &out, &work);
        done.push(args);
        ran += 1;
    }
    eprintln!("README commands: {ran} ran, {skipped} skipped");
    assert!(ran >= 11, "only {ran} README commands ran");
    let _ = std::fs::remove_dir_all(work.parent().unwrap());
}
