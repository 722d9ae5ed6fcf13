//! Every TOML example in README.md is valid as a user would use it: the "Scenario files"
//! example runs as it stands, and each fragment (a `[policy]` section, a migration, a
//! `[datacenter]` section, a sweep file) validates inside the smallest file it belongs
//! to. An example that stops working fails here, not in a user's hands.

use capsim::scenario::{load_str, Library};
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The README's ```toml blocks, in order, each with the line it starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("```toml\n") {
        let body = &rest[i + 8..];
        let end = body.find("```").expect("an unclosed ```toml block");
        let line = text[..offset + i].lines().count() + 2;
        out.push((line, body[..end].to_string()));
        offset += i + 8 + end + 3;
        rest = &text[offset..];
    }
    out
}

/// The block that begins with `start`.
fn block(blocks: &[(usize, String)], start: &str) -> (usize, String) {
    blocks
        .iter()
        .find(|(_, b)| b.starts_with(start))
        .unwrap_or_else(|| panic!("README.md has no ```toml block starting with {start:?}"))
        .clone()
}

fn check(what: &str, line: usize, text: &str) -> capsim::Scenario {
    let lib = Library::new(vec![]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/rack");
    load_str(&format!("README.md:{line} ({what})"), text, &dir, &lib)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_toml_example_in_the_readme_is_valid() {
    let text = readme();
    let blocks = toml_blocks(&text);
    assert_eq!(
        blocks.len(),
        6,
        "a TOML example was added or removed: cover it here"
    );

    // The full example runs as it stands.
    let (line, full) = block(&blocks, "name = \"my-rack\"");
    let sc = check("the Scenario files example", line, &full);
    let r = capsim::run(&sc);
    assert_eq!(r.summary.vms.len(), 48);

    // `[policy]` goes into that scenario.
    let (line, policy) = block(&blocks, "[policy]");
    check("the [policy] example", line, &format!("{full}\n{policy}"));

    // The migration example: a VM on `src` moved to `dst`.
    let (line, mig) = block(&blocks, "[[vms]]\nname = \"gap\"");
    let world = r#"name = "mig"
duration = "60s"
[[pdus]]
name = "rack"
kind = "rack"
voltage = "230V"
rating = "16A"
[[servers]]
name = "src"
model = "i7-920-xen34"
pdu = "rack"
[[servers]]
name = "dst"
model = "i7-920-xen34"
pdu = "rack"
"#;
    let sc = check("the migration example", line, &format!("{world}\n{mig}"));
    assert_eq!(capsim::run(&sc).summary.migrations.len(), 1);

    // `[datacenter]` needs only a name and a duration beside it.
    let (line, dc) = block(&blocks, "[datacenter]");
    check(
        "the [datacenter] example",
        line,
        &format!("name = \"dc\"\nduration = \"1h\"\n{dc}"),
    );

    // The sweep file, beside a copy of the base it names.
    let (line, sweep) = block(&blocks, "base = ");
    let tmp = std::env::temp_dir().join(format!("capsim-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("datacenter")).unwrap();
    std::fs::create_dir_all(tmp.join("sweeps")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("scenarios/datacenter/small.toml"),
        tmp.join("datacenter/small.toml"),
    )
    .unwrap();
    let file = tmp.join("sweeps/readme.toml");
    std::fs::write(&file, &sweep).unwrap();
    let sw = capsim::sweep::expand::expand(&file)
        .unwrap_or_else(|e| panic!("README.md:{line} (the sweep example): {e}"));
    // 4 policies × 5 ratios × 5 replicates, as the README says.
    assert_eq!(sw.runs.len(), 100);
    let first = capsim::sweep::load::load(&sw, &sw.runs[0], &[])
        .unwrap_or_else(|e| panic!("README.md:{line} (the sweep example's first run): {e}"));
    assert_eq!(first.replicate, sw.runs[0].replicate);
    std::fs::remove_dir_all(&tmp).unwrap();

    // The `[idle]` section, in place of the one in models/servers/i7-920-idle-states.toml.
    let (line, idle) = block(&blocks, "[idle]");
    let model =
        std::fs::read_to_string(root.join("models/servers/i7-920-idle-states.toml")).unwrap();
    let model = format!("{}{idle}", &model[..model.find("[idle]").unwrap()]);
    let lib = std::env::temp_dir().join(format!("capsim-readme-idle-{}", std::process::id()));
    std::fs::create_dir_all(lib.join("servers")).unwrap();
    std::fs::write(lib.join("servers/readme-idle.toml"), model).unwrap();
    let text = "name = \"idle\"\nduration = \"1s\"\n[[pdus]]\nname = \"r\"\nvoltage = \"230V\"\n\
                [[servers]]\nname = \"h\"\nmodel = \"readme-idle\"\npdu = \"r\"\n";
    load_str(
        "idle",
        text,
        Path::new("."),
        &Library::new(vec![lib.clone()]),
    )
    .unwrap_or_else(|e| panic!("README.md:{line} (the [idle] example): {e}"));
    std::fs::remove_dir_all(&lib).unwrap();
}
