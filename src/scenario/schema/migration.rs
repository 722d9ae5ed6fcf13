//! Migration presets (`models/migration/<name>.toml`) and a scenario's `overrides` of
//! them: the common fields plus those of the preset's mechanism, every one optional. An
//! override wins over the preset, the preset over the built-in default
//! (`migration::Params::default()`), which each field's comment repeats.

use crate::scenario::tagged::{part, parts, tagged, Tagged};
use crate::units::{Bitrate, Percent, Seconds};
use serde::Deserialize;

/// A preset: [`CommonFields`] and the mechanism's own (`mechanism = "…"`).
pub type PresetFile = Tagged<CommonFields, MechanismFields>;

tagged! {
    /// How memory moves (`mechanism = "…"`).
    pub enum MechanismFields { tag: "mechanism", what: "a mechanism",
        /// Xen `xc_domain_save`: rounds over the dirty bitmap in page order.
        "xen-precopy" => XenPrecopy(XenFields),
        /// QEMU RAM migration: passes until pending < bandwidth × downtime limit.
        "qemu-precopy" => QemuPrecopy(QemuFields),
        /// Switch first, then pages on demand (and optionally pushed).
        "postcopy" => Postcopy(PostcopyFields),
    }
}

/// Fields of every mechanism.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonFields {
    /// Free text.
    pub description: Option<String>,
    /// Setup before the first page (default "1s").
    pub setup: Option<Seconds>,
    /// dom0 CPU during setup, % of a core (default "10%").
    pub setup_cpu: Option<Percent>,
    /// Sender dom0 CPU per 4 KiB page (default "17us").
    pub sender_cpu_per_page: Option<Seconds>,
    /// Receiver dom0 CPU per 4 KiB page (default "10us").
    pub receiver_cpu_per_page: Option<Seconds>,
    /// Most CPU the sender or receiver can use, cores (default 1: one thread).
    pub threads: Option<f64>,
    /// Payload share of the line rate (default "94%": TCP over Ethernet).
    pub efficiency: Option<Percent>,
    /// Payload rate limit (default none).
    pub bandwidth_cap: Option<Bitrate>,
    /// The source copy of the VM keeps running after switch-over (default "1s").
    pub cleanup_vm: Option<Seconds>,
    /// Then dom0 on the source stays busy (default "1s").
    pub cleanup_dom0: Option<Seconds>,
    /// dom0 CPU during that clean-up, % of a core (default "50%").
    pub cleanup_dom0_cpu: Option<Percent>,
    /// Power-aware: cap on the sender's CPU, % of a core (default none).
    pub sender_cap: Option<Percent>,
    /// Power-aware: cap on the migrating VM's CPU while copied, % of a core (default none).
    pub vm_cap: Option<Percent>,
    /// Power-aware: the migrating VM's weight while copied (default unchanged).
    pub vm_weight: Option<f64>,
    /// Power-aware: source p-state during the migration (default unchanged).
    pub pstate: Option<usize>,
}

/// Fields of both pre-copy mechanisms.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrecopyFields {
    /// Pages per batch (default 1024, Xen's MAX_BATCH_SIZE).
    pub batch_pages: Option<u32>,
    /// Suspend before the final copy (default "30ms").
    pub suspend: Option<Seconds>,
    /// CPU state, restore and unpause on the destination (default "100ms").
    pub resume: Option<Seconds>,
}

/// When a Xen pre-copy stops its live rounds.
#[derive(Clone, Copy, Debug, Deserialize)]
pub enum StopRule {
    /// Xen 3.x: after a round whose sent + skipped pages < `stop_pages` (the default).
    #[serde(rename = "sent+skipped")]
    SentPlusSkipped,
    /// Xen 4.6+: when the dirty set about to be sent has < `stop_pages` pages.
    #[serde(rename = "dirty-count")]
    DirtyCount,
}

/// `xen-precopy`'s own fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XenRounds {
    /// Live rounds at most (default 29, DEF_MAX_ITERS).
    pub max_live_rounds: Option<u32>,
    /// Xen 3.x: total sent / memory at most (default none).
    pub max_factor: Option<f64>,
    /// Small-dirty-set threshold, pages (default 50).
    pub stop_pages: Option<u32>,
    /// Xen 3.x: skip pages re-dirtied in the current round (default false).
    pub skip: Option<bool>,
    /// Which [`StopRule`] (default `sent+skipped`, Xen 3.x).
    pub stop_rule: Option<StopRule>,
}

/// `qemu-precopy`'s own fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuPasses {
    /// Downtime limit (default "300ms").
    pub downtime_limit: Option<Seconds>,
    /// Auto-converge (default false).
    pub auto_converge: Option<bool>,
    /// First throttle (default "20%").
    pub throttle_initial: Option<Percent>,
    /// Throttle step (default "10%").
    pub throttle_increment: Option<Percent>,
    /// Largest throttle (default "99%").
    pub throttle_max: Option<Percent>,
    /// Dirtied/sent ratio that counts towards a step (default "50%").
    pub throttle_trigger: Option<Percent>,
    /// Rate period (default "1s").
    pub throttle_period: Option<Seconds>,
}

/// How a post-copy source sends pages nobody asked for yet.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushEntry {
    /// Demand paging only.
    None,
    /// Background push in page order (the default).
    Linear,
    /// Background push restarting after the last fault.
    Prepaging,
}

/// `postcopy`'s fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostcopyFields {
    /// Suspend → running on the destination (default "120ms").
    pub switch: Option<Seconds>,
    /// vCPU stall per demand fault (default "300us").
    pub fault_service: Option<Seconds>,
    /// Background push (default `linear`).
    pub push: Option<PushEntry>,
    /// Pages per push chunk (default 64).
    pub push_chunk_pages: Option<u32>,
    /// Source dom0 CPU per fault served (default "50us").
    pub fault_cpu: Option<Seconds>,
    /// Fault accounting interval when idle (default "10ms").
    pub tick: Option<Seconds>,
}

part!(
    CommonFields,
    PrecopyFields,
    XenRounds,
    QemuPasses,
    PostcopyFields
);

parts! {
    /// `xen-precopy`: pre-copy batches and Xen's rounds.
    pub struct XenFields {
        /// Batches, suspend and resume.
        pub precopy: PrecopyFields,
        /// Rounds and the stop rule.
        pub rounds: XenRounds,
    }
}

parts! {
    /// `qemu-precopy`: pre-copy batches and QEMU's passes.
    pub struct QemuFields {
        /// Batches, suspend and resume.
        pub precopy: PrecopyFields,
        /// Switch-over and auto-converge.
        pub passes: QemuPasses,
    }
}
