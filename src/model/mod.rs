//! The physical world: each model is small and owns its state. Power is piecewise
//! constant between events; energy is integrated when state changes, never by polling.

pub(crate) mod backlog;
pub(crate) mod breaker;
pub(crate) mod cpu;
pub(crate) mod idle;
pub mod ids;
pub(crate) mod memory;
pub mod meter;
pub mod network;
pub(crate) mod pageset;
pub(crate) mod pdu;
pub(crate) mod power;
pub(crate) mod server;
pub(crate) mod two_body;
pub(crate) mod vm;
pub mod workload;

/// A breaker's trip curve and thermal model, for changing a loaded scenario's breakers in
/// code (e.g. one device's thermal state for a sensitivity run).
pub use breaker::{Thermal, TripCurve};
/// The two-body thermal state's parameters (`Thermal::TwoBody`).
pub use two_body::TwoBody;
