//! Batch sweeps: a base scenario, grid and zipped axes over dotted field paths, and
//! replicates, expanded deterministically into runs with stable ids and derived seeds,
//! run in parallel with per-run atomic results (so a resumed sweep skips finished runs),
//! and summarised one row per run in `runs.csv`.

pub mod base;
pub mod csv;
pub mod expand;
pub mod identity;
pub mod load;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod run;
pub mod shard;
pub mod splice;
pub mod target;

pub use expand::{expand, expand_embedded, Run, Sweep};
pub use progress::Progress;
pub use run::{run_sweep, Finished, SweepOptions};
