//! The physical world: each model is small and owns its state. Power is piecewise
//! constant between events; energy is integrated when state changes, never by polling.

pub mod breaker;
pub mod cpu;
pub mod ids;
pub mod memory;
pub mod meter;
pub mod network;
pub mod pageset;
pub mod pdu;
pub mod power;
pub mod server;
pub mod vm;
pub mod workload;
