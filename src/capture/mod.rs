//! The capture tool: records a real testbed (power meters, per-domain CPU, migration
//! progress, events) into a run directory that `capsim calibrate` reads.
//!
//! Independent of the simulator. Every source runs in its own thread and sends stamped
//! records through a [`record::Sink`]; one writer owns the files.
//!
//! - [`record`]: the rows, flags, clock and the [`Source`] trait;
//! - [`writer`]: the run directory's CSV/JSONL files (flushed per line, synced each second);
//! - [`session`]: one capture from start to the closed manifest;
//! - [`cli`]: `capsim capture` options and signals;
//! - sources: [`meter`] (WT210, WT310/WT330), [`rapl`], `ipmi`, [`replay`], [`cpu`]
//!   (xentop, xl, cgroup v2, /proc/stat, cpufreq, /proc/net/dev), `qmp` (QEMU migration
//!   progress, configured with the CPU options);
//! - `source_kit`: the plumbing every source shares (the event builder, the stop-aware
//!   sleep, the ticker, polled files, bad-line reports);
//! - `wrap`: `--run` and `--mark`.

pub mod cli;
pub mod cpu;
mod ipmi;
pub mod meter;
mod qmp;
pub mod rapl;
pub mod record;
pub mod replay;
pub mod session;
mod source_kit;
mod wrap;
pub mod writer;

pub use record::Source;
