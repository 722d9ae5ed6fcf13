//! Writers: summary JSON, CSV, plots, and the atomic output directory.

pub mod dir;
pub(crate) mod plot;
pub(crate) mod stats;
pub mod summary;
pub mod write;
