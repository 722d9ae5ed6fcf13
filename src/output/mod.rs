//! Writers: summary JSON, CSV, plots.

pub mod plot;
