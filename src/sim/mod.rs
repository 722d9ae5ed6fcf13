//! The simulation: the world, the closed event enum and the event loop.

pub mod control;
pub mod event;
pub mod migrate;
pub mod record;
pub mod run;
pub mod world;

pub use run::{run, RunResult};
