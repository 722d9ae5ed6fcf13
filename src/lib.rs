#![warn(missing_docs)]
//! capsim: a discrete-event simulator of rack- and datacenter-level power capping.
//!
//! The facade is enough to run a scenario from a program:
//!
//! ```no_run
//! let sc = capsim::load(std::path::Path::new("scenarios/rack/overload-trip.toml"))?;
//! let r: capsim::RunResult = capsim::run(&sc);
//! let s: &capsim::Summary = &r.summary;
//! println!("{} J, {} trips", s.energy_j, s.devices.iter().map(|d| d.trips.len()).sum::<usize>());
//! # Ok::<(), capsim::scenario::ConfigError>(())
//! ```
//!
//! Layers, each using only the ones above it (`.ci/structure` checks that no module
//! imports one that imports it back):
//! - [`units`]: quantities written with units ("15s", "600MiB"), shared by every format;
//!   [`atomic`]: the one way any command writes a file (temporary sibling, then rename);
//!   [`quote`]: input quoted in errors, clipped;
//! - [`engine`]: simulation time, the event queue, seeded random streams (no domain);
//! - [`model`]: typed ids, servers, CPU scheduling, power, VMs, memory and dirty pages,
//!   networks, PDUs, breakers, meters;
//! - [`migration`]: the live-migration algorithms over exact page state;
//! - [`actuation`]: the changes anyone can make to a running world;
//! - [`policy`]: capping controllers, which see only meter readings;
//! - [`scenario`]: scenario and model-library files, validated into a typed `Scenario`;
//! - [`sim`]: the world, the closed event enum, the event loop with one settle step per
//!   event, the run's typed log and summary;
//! - [`output`]: CSV, JSON and plots of a run;
//! - [`study`], [`sweep`]: the study reproduction, and batch sweeps with reports;
//! - [`capture`], [`calibrate`]: recording real testbeds and fitting models to them
//!   (`capture` uses only [`units`] and [`atomic`]);
//! - [`app`]: what each command line subcommand does (`main.rs` only parses arguments).

pub mod actuation;
pub mod app;
pub mod atomic;
pub mod calibrate;
pub mod capture;
pub mod engine;
pub mod migration;
pub mod model;
pub mod output;
pub mod policy;
pub mod quote;
pub mod scenario;
pub mod sim;
pub mod study;
pub mod sweep;
pub mod units;

pub use scenario::Scenario;
pub use sim::{run, RunResult, Summary};

/// Loads and validates a scenario file, with the built-in model library (and any
/// `models/` directory beside the file).
pub fn load(path: &std::path::Path) -> Result<Scenario, scenario::ConfigError> {
    scenario::load_file(path, &scenario::Library::new(Vec::new()))
}
