//! The simulation: the world, the closed event enum, the event loop with its one settle
//! step per event, live migrations, the capping controller and the run's results.
//!
//! Module layers (each uses only those listed before it): [`event`], [`log`], `dirty`,
//! `sensors`, `world` → `state` (core state and accounting) → `migration` (phases,
//! transfer, writes and faults, energy) → `settle` → `actuate` → `control` → `handlers`
//! → [`summary`], [`record`] → `run` (the loop).

mod actuate;
mod control;
mod dirty;
pub mod event;
mod handlers;
pub mod log;
pub mod migration;
pub mod record;
pub mod run;
mod sensors;
mod settle;
mod state;
pub mod summary;
pub(crate) mod world;

pub use log::{EventRow, LogEvent, LogRecord};
pub use run::{run, run_streaming, MigrationOutcome, RunResult};
pub use summary::Summary;
