//! A sweep's identity, recorded in every output directory (`sweep-identity.txt`) so
//! `capsim merge` joins only shards of the same sweep, and `capsim report` titles a
//! report with the sweep's name wherever its directory is.

use super::expand::{show, Sweep};
use crate::engine::rng::stream_seed;
use std::fmt::Write as _;
use std::path::Path;

/// The identity file every sweep output directory carries.
pub const IDENTITY_FILE: &str = "sweep-identity.txt";

/// What the identity file records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The sweep's name.
    pub name: String,
    /// Runs in the whole sweep.
    pub runs: usize,
    /// A 64-bit hash of the expanded sweep: its name, swept paths, base scenario text and every
    /// run's id, replicate, seed and values, so an edited sweep or base differs.
    pub fingerprint: String,
}

impl Identity {
    /// The identity of a whole (not sharded) sweep.
    pub fn of(full: &Sweep) -> Identity {
        let mut canon = String::new();
        let _ = writeln!(canon, "name\t{}", full.name);
        let _ = writeln!(canon, "paths\t{}", full.paths.join("\t"));
        let _ = writeln!(canon, "base\t{}\t{}", full.base.text.len(), full.base.text);
        for r in &full.runs {
            let _ = write!(canon, "run\t{}\t{}\t{}", r.id, r.replicate, r.seed);
            for a in &r.assignments {
                let _ = write!(canon, "\t{}", show(&a.value));
            }
            canon.push('\n');
        }
        // 64 bits (FNV-1a mixed by SplitMix, as run ids): against mixing up sweeps by
        // accident, not against forgery.
        let fingerprint = format!("{:016x}", stream_seed(0, 0, &canon));
        Identity {
            name: full.name.replace(['\n', '\r'], " "),
            runs: full.runs.len(),
            fingerprint,
        }
    }

    /// The file's text.
    pub fn text(&self) -> String {
        format!(
            "name = {}\nruns = {}\nfingerprint = {}\n",
            self.name, self.runs, self.fingerprint
        )
    }

    /// Writes `out/sweep-identity.txt`.
    pub fn write(&self, out: &Path) -> Result<(), String> {
        crate::atomic::write_text(&out.join(IDENTITY_FILE), &self.text())
    }

    /// Reads `dir/sweep-identity.txt`; the error names the file and what is expected.
    pub fn read(dir: &Path) -> Result<Identity, String> {
        let p = dir.join(IDENTITY_FILE);
        let text = crate::scenario::input::read_input(&p, "sweep identity").map_err(|e| {
            format!(
                "{e} (every sweep directory written by this capsim has one; rerun the \
                 sweep or shard with --resume to write it, finished runs are reused)"
            )
        })?;
        let mut fields = std::collections::HashMap::new();
        for (i, l) in text.lines().enumerate() {
            let (k, v) = l.split_once(" = ").ok_or_else(|| {
                format!(
                    "{}:{}: expected `key = value` (name, runs, fingerprint)",
                    p.display(),
                    i + 1
                )
            })?;
            fields.insert(k, v);
        }
        let get = |k: &str| {
            fields
                .get(k)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("{}: no `{k} = ...` line", p.display()))
        };
        Ok(Identity {
            name: get("name")?,
            runs: get("runs")?
                .parse()
                .map_err(|_| format!("{}: `runs` is not a number", p.display()))?,
            fingerprint: get("fingerprint")?,
        })
    }
}
