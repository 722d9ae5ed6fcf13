//! The public data sets under `../shared/data` beside the checkout, which a plain clone
//! lacks. A test that needs a whole data set asks [`full_data`]: it runs when the set is
//! there and says it was skipped when not. Every model is also tested on a committed
//! excerpt (tests/data/) or on made-up files, so `cargo test` tests everything without it.

use std::io::Write;
use std::path::PathBuf;

/// Where to get each data set (the sources its README under shared/data names).
fn source(set: &str) -> &'static str {
    match set {
        "planetlab-cloudsim" => {
            "github.com/Cloudslab/cloudsim, modules/cloudsim-examples/src/main/resources/workload/planetlab/"
        }
        "specpower-ssj2008" => {
            "github.com/green-coding-solutions/cloud-energy data/spec_data.csv (SPEC's published results)"
        }
        "bitbrains-small-opendc" => {
            "github.com/atlarge-research/opendc, workloadTraces/bitbrains-small"
        }
        _ => "README.md § Data",
    }
}

/// `../shared/data/<rel>` (relative to the crate) when it exists, else `None`. Either way
/// one line goes to stderr through the stream itself, past the test harness's capture, so
/// `cargo test` shows it and .ci/run counts `full-data test …: ran` / `: SKIPPED`.
pub fn full_data(test: &str, rel: &str) -> Option<PathBuf> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")).join(rel);
    let line = if path.exists() {
        format!("full-data test {test}: ran on ../shared/data/{rel}\n")
    } else {
        let set = rel.split('/').next().unwrap_or(rel);
        format!(
            "full-data test {test}: SKIPPED, ../shared/data/{rel} is missing \
             (get {set} from {}; see README.md § Data)\n",
            source(set)
        )
    };
    // One write, so lines from parallel tests do not interleave.
    let _ = std::io::stderr().write_all(line.as_bytes());
    path.exists().then_some(path)
}

/// The committed excerpt `tests/data/<rel>`.
#[allow(dead_code)] // not every test target reads an excerpt
pub fn excerpt(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(rel)
}

/// For a scenario file that reads a data set under `shared/data/` (like
/// scenarios/rack/planetlab.toml): whether that set is present, said on stderr as by
/// [`full_data`] for `test` on `scenario`. True for a scenario that reads none.
#[allow(dead_code)] // only the scenario tests load shipped scenarios
pub fn scenario_data_present(test: &str, scenario: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(scenario).unwrap();
    let Some(at) = text.find("shared/data/") else {
        return true;
    };
    let rest = &text[at + "shared/data/".len()..];
    let set = rest.split(['/', '"']).next().unwrap_or(rest);
    let name = scenario.file_name().unwrap().to_string_lossy();
    full_data(&format!("{test} ({name})"), set).is_some()
}
