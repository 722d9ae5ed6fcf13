//! Turns file text into a validated [`Scenario`]: parse, resolve names and models, check
//! ranges, one section at a time (one file each). Every error names the file, line,
//! column and field and says what is valid; errors are raised by field path and located
//! in the text only when reported.

mod actions;
mod datacenter;
mod demand;
mod meters;
mod models;
mod policy;
mod power_tree;
mod servers;
mod vms;

pub(crate) use vms::DEFAULT_VM_WAKEUPS_PER_S;

pub use super::parse::parse;
pub use models::{breaker_from_text, server_model_from_text};

use super::config::*;
use super::error::{ConfigError, Source};
use super::library::Library;
use super::schema::ScenarioFile;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads and validates a scenario file. Model names are looked up in `lib` (plus the
/// `models/` directory nearest the file).
pub fn load_file(path: &Path, lib: &Library) -> Result<Scenario, ConfigError> {
    let text = super::input::read_text(path, "scenario")?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let lib = lib.clone().with_scenario_dir(&dir);
    load_str(&path.display().to_string(), &text, &dir, &lib)
}

/// Validates scenario `text` (named `name` in errors); relative trace paths are resolved
/// against `base_dir`.
pub fn load_str(
    name: &str,
    text: &str,
    base_dir: &Path,
    lib: &Library,
) -> Result<Scenario, ConfigError> {
    let src = Source { name, text };
    let file: ScenarioFile = parse(&src)?;
    Validator {
        src: &src,
        lib,
        base_dir: base_dir.to_path_buf(),
        server_models: HashMap::new(),
        breakers: HashMap::new(),
    }
    .scenario(file)
}

/// What validation needs throughout: the file, the library, and the models read so far.
struct Validator<'a> {
    src: &'a Source<'a>,
    lib: &'a Library,
    base_dir: PathBuf,
    server_models: HashMap<String, Arc<ServerModel>>,
    breakers: HashMap<String, BreakerPreset>,
}

/// The world built so far, section by section, with its names.
#[derive(Default)]
struct World {
    devices: Vec<DeviceConfig>,
    device_ix: HashMap<String, usize>,
    servers: Vec<ServerConfig>,
    server_ix: HashMap<String, usize>,
    /// `[[servers]]` entries with `count`: their servers.
    groups: HashMap<String, Vec<usize>>,
    vms: Vec<VmConfig>,
    vm_ix: HashMap<String, usize>,
    /// Every name taken, with what took it.
    names: HashMap<String, &'static str>,
}

impl World {
    /// Registers a name, failing if it is taken.
    fn claim(&mut self, name: &str, what: &'static str) -> Result<(), String> {
        match self.names.insert(name.to_string(), what) {
            Some(prev) => Err(format!(
                "the name `{name}` is already used by a {prev}; names must be unique"
            )),
            None => Ok(()),
        }
    }
}

/// Servers in a scenario at most. Measured: `dc-10k` with `rows = 100` (100,000 servers,
/// 800,000 VMs, 10 simulated minutes, no migration) peaks at 1.7 GiB RSS in 80 s; a
/// million servers aborted while building.
pub const MAX_SERVERS: usize = 100_000;
/// VMs in a scenario at most, a little above the 800,000 measured with [`MAX_SERVERS`].
pub const MAX_VMS: usize = 1_000_000;

/// Default seed of every random stream when a file gives none.
const DEFAULT_SEED: u64 = 1;

impl Validator<'_> {
    /// An error about the value at `path` in the scenario file.
    fn err(&self, path: &str, msg: impl Into<String>) -> ConfigError {
        self.src.at(path, msg)
    }

    fn scenario(mut self, f: ScenarioFile) -> Result<Scenario, ConfigError> {
        let duration_ns = f.duration.nanos();
        if duration_ns == 0 {
            return Err(self.err("duration", "must be longer than zero, e.g. \"1h\""));
        }
        let output = self.output(&f.output)?;
        let mut w = World::default();
        self.pdus(&f.pdus, &mut w)?;
        self.servers(&f.servers, &mut w)?;
        self.vms(&f.vms, &mut w)?;
        if let Some(dc) = &f.datacenter {
            self.datacenter(dc, &mut w)?;
        }
        let meters = self.meters(&f.meters, &mut w)?;
        let actions = self.actions(&f.actions, &w)?;
        let policy = f.policy.as_ref().map(|p| self.policy(p)).transpose()?;
        Ok(Scenario {
            policy,
            name: f.name,
            description: f.description,
            seed: f.seed.unwrap_or(DEFAULT_SEED),
            replicate: 0,
            duration_ns,
            output,
            devices: w.devices,
            servers: w.servers,
            vms: w.vms,
            meters,
            actions,
        })
    }

    /// `[output]` over `OutputConfig::default()`.
    fn output(&self, o: &super::schema::OutputSection) -> Result<OutputConfig, ConfigError> {
        let mut out = OutputConfig::default();
        if let Some(i) = o.interval {
            out.interval_ns = i.nanos();
        }
        if out.interval_ns == 0 {
            return Err(self.err("output.interval", "must be longer than zero, e.g. \"1s\""));
        }
        out.servers = o.servers.unwrap_or(out.servers);
        out.vms = o.vms.unwrap_or(out.vms);
        Ok(out)
    }

    /// "no server model `x` in the model library …; available: …" at `path`.
    fn missing(&self, path: &str, kind: &str, name: &str) -> ConfigError {
        self.err(
            path,
            format!(
                "no {} model `{name}` in the model library (models/{kind}/{name}.toml); available: {}",
                kind.trim_end_matches('s'),
                self.lib.names(kind).join(", ")
            ),
        )
    }

    /// The server model `name` (named at `path`), read once.
    fn server_model(&mut self, name: &str, path: &str) -> Result<Arc<ServerModel>, ConfigError> {
        if let Some(m) = self.server_models.get(name) {
            return Ok(m.clone());
        }
        let mt = self
            .lib
            .find("servers", name)?
            .ok_or_else(|| self.missing(path, "servers", name))?;
        let m = Arc::new(server_model_from_text(name, &mt.origin, &mt.text)?);
        self.server_models.insert(name.to_string(), m.clone());
        Ok(m)
    }

    /// The breaker preset `name` (named at `path`), read once.
    fn breaker(&mut self, name: &str, path: &str) -> Result<BreakerPreset, ConfigError> {
        if let Some(b) = self.breakers.get(name) {
            return Ok(b.clone());
        }
        let mt = self
            .lib
            .find("breakers", name)?
            .ok_or_else(|| self.missing(path, "breakers", name))?;
        let b = breaker_from_text(name, &mt.origin, &mt.text)?;
        self.breakers.insert(name.to_string(), b.clone());
        Ok(b)
    }
}

/// Names for a "known: …" list, sorted, each once.
fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut v: Vec<&String> = names.collect();
    if v.is_empty() {
        return "none".into();
    }
    v.sort();
    v.dedup();
    // At most 20 names: a generated datacenter has 100,000.
    const SHOWN: usize = 20;
    let more = v.len().saturating_sub(SHOWN);
    let shown = v
        .iter()
        .take(SHOWN)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        format!("{shown} and {more} more")
    } else {
        shown
    }
}
