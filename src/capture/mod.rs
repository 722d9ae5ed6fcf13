//! The capture tool: records a real testbed (power meters, per-domain CPU, migration
//! progress, events) into a run directory that `capsim calibrate` reads.
//!
//! Independent of the simulator. Every source runs in its own thread and sends stamped
//! records through a [`record::Sink`]; one writer owns the files.

pub mod cpu;
pub mod qmp;
pub mod record;
