//! Writers: summary JSON, CSV, plots, and the atomic output directory.

pub mod dir;
pub mod plot;
pub mod stats;
pub mod summary;
pub mod write;
