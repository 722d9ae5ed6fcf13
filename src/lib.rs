//! capsim: a discrete-event simulator of rack- and datacenter-level power capping.
//!
//! Layers (each depends only on those above it in this list):
//! - [`units`]: quantities written with units ("15s", "600MiB"), shared by every file format;
//! - [`engine`]: simulation time, the event queue, seeded random streams;
//! - [`model`]: servers, CPU scheduling, power, VMs, PDUs, breakers, meters;
//! - [`scenario`]: scenario files with units, the model library, validation;
//! - [`sim`]: the world, the closed event enum and the event loop;
//! - [`output`]: summary, CSV, plots.

pub mod actuation;
pub mod app;
pub mod calibrate;
pub mod capture;
pub mod engine;
pub mod migration;
pub mod model;
pub mod output;
pub mod policy;
pub mod scenario;
pub mod sim;
pub mod study;
pub mod sweep;
pub mod units;
