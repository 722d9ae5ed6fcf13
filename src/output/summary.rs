//! `summary.json`'s types, defined by the simulation that fills them (re-exported here
//! for the writers and for scripts that know them under this path).

pub use crate::sim::summary::*;
