//! `[[actions]]`: a change at a time, one struct of fields per kind.

use crate::scenario::tagged::{part, tagged, Tagged};
use crate::units::Seconds;
use serde::Deserialize;

/// `[[actions]]`: [`At`] and the kind's own fields.
pub type ActionEntry = Tagged<At, ActionKindEntry>;

tagged! {
    /// A scheduled change (`kind = "…"`).
    pub enum ActionKindEntry { tag: "kind", what: "an action",
        /// Set a server's p-state.
        "set_pstate" => SetPstate(SetPstate),
        /// Force every core of a server idle a fraction of the time (idle injection).
        "set_idle" => SetIdle(SetIdle),
        /// Set or remove a VM's credit-scheduler cap.
        "set_vm_cap" => SetVmCap(SetVmCap),
        /// Set a VM's credit-scheduler weight.
        "set_vm_weight" => SetVmWeight(SetVmWeight),
        /// Live-migrate a VM.
        "migrate" => Migrate(Migrate),
    }
}

/// When an action happens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct At {
    /// Time since the start of the run (e.g. "15s").
    pub at: Seconds,
}

/// `set_pstate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPstate {
    /// Target server.
    pub server: String,
    /// P-state index, 0 = fastest.
    pub pstate: usize,
}

/// `set_idle`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetIdle {
    /// Target server.
    pub server: String,
    /// Fraction of time all its cores are forcibly idle ("40%"), below 100 %.
    pub fraction: crate::units::Percent,
}

/// `set_vm_cap`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVmCap {
    /// Target VM.
    pub vm: String,
    /// A percentage of one core ("50%"), or "none" to uncap.
    pub cap: String,
}

/// `set_vm_weight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVmWeight {
    /// Target VM.
    pub vm: String,
    /// New weight, > 0 (Xen's default is 256).
    pub weight: f64,
}

/// `migrate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Migrate {
    /// The VM to move (it needs a `memory` size).
    pub vm: String,
    /// Destination server.
    pub to: String,
    /// Migration preset from `models/migration/`.
    pub algorithm: String,
    /// The preset's fields to override (those of the preset's mechanism, see
    /// [`super::migration`]).
    pub overrides: Option<toml::Table>,
}

part!(At, SetPstate, SetIdle, SetVmCap, SetVmWeight, Migrate);
