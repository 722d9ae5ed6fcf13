//! A migration algorithm's parameters, validated, in SI units. Presets live in
//! `models/migration/*.toml`; a scenario's `migrate` action may override any field.

/// The mechanism that moves memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Xen `xc_domain_save`: rounds over the dirty bitmap in PFN order.
    XenPrecopy,
    /// QEMU RAM migration: passes with a bandwidth × downtime-limit switch-over test.
    QemuPrecopy,
    /// Switch first, then fetch pages on demand (and optionally push them).
    Postcopy,
}

/// How a post-copy source sends pages nobody asked for yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Demand paging only (SnowFlock's memtap): untouched pages are never sent.
    None,
    /// Background push in page-number order.
    Linear,
    /// Background push restarting just after the last faulting page (pre-paging,
    /// Hines & Gopalan's "bubbling" with one pivot; QEMU's scan restart).
    Prepaging,
}

/// When a Xen pre-copy stops its live rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenStop {
    /// Xen 3.x: after a round whose sent + skipped pages < `stop_pages`.
    SentPlusSkipped,
    /// Xen 4.6+ (stream v2): when the dirty set about to be sent has < `stop_pages`
    /// pages, send it live once more, then stop.
    DirtyCount,
}

/// Every parameter of a migration, SI units.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Preset name (for outputs).
    pub preset: String,
    /// Mechanism.
    pub mechanism: Mechanism,
    /// Pages per batch (one event per batch; Xen: 1024).
    pub batch_pages: u32,
    /// Setup before the first page (connect, create the target domain, enable log-dirty), ns.
    pub setup_ns: u64,
    /// dom0 CPU on the source during setup, cores.
    pub setup_cpu: f64,
    /// Sender dom0 CPU per 4 KiB page, s.
    pub sender_cpu_per_page_s: f64,
    /// Receiver dom0 CPU per 4 KiB page, s.
    pub receiver_cpu_per_page_s: f64,
    /// Most CPU the sender (and the receiver) can use, cores (a single thread: 1).
    pub threads: f64,
    /// Payload share of the line rate (TCP/IP framing), (0, 1].
    pub efficiency: f64,
    /// Payload rate limit, bit/s.
    pub bandwidth_cap_bps: Option<f64>,
    /// Xen: live rounds at most (3.x: 29; 4.6+: 5).
    pub max_live_rounds: u32,
    /// Xen 3.x: stop once total pages sent exceed this × memory pages.
    pub max_factor: Option<f64>,
    /// Xen: the small-dirty-set threshold, pages.
    pub stop_pages: u32,
    /// Xen 3.x: skip pages re-dirtied in the current round.
    pub skip: bool,
    /// Xen: which stop rule.
    pub xen_stop: XenStop,
    /// QEMU: the downtime limit that sets the switch-over threshold, ns.
    pub downtime_limit_ns: u64,
    /// QEMU: auto-converge on.
    pub auto_converge: bool,
    /// QEMU: first throttle, fraction of the vCPU taken away.
    pub throttle_initial: f64,
    /// QEMU: throttle step.
    pub throttle_increment: f64,
    /// QEMU: largest throttle.
    pub throttle_max: f64,
    /// QEMU: dirtied / sent ratio over a period that counts towards a throttle step.
    pub throttle_trigger: f64,
    /// QEMU: length of a rate period, ns (≥ 1 s in QEMU).
    pub throttle_period_ns: u64,
    /// Pause before the final copy (suspend the domain), ns.
    pub suspend_ns: u64,
    /// After the last page: CPU state, restore and unpause on the destination, ns.
    pub resume_ns: u64,
    /// The source copy of the VM keeps running this long after switch-over, ns.
    pub cleanup_vm_ns: u64,
    /// Then dom0 on the source stays busy this long, ns.
    pub cleanup_dom0_ns: u64,
    /// dom0 CPU during that clean-up, cores.
    pub cleanup_dom0_cpu: f64,
    /// Post-copy: suspend → minimal state sent → running on the destination, ns.
    pub switch_ns: u64,
    /// Post-copy: vCPU stall per demand fault (round trip and handling), ns.
    pub fault_service_ns: u64,
    /// Post-copy: background push.
    pub push: Push,
    /// Post-copy: pages per push chunk (a fault waits behind half a chunk on average).
    pub push_chunk_pages: u32,
    /// Post-copy: source dom0 CPU per fault served, s.
    pub fault_cpu_s: f64,
    /// Post-copy: how often faults are accounted when nothing else happens, ns.
    pub tick_ns: u64,
    /// Power-aware: cap on the sender's CPU, cores.
    pub sender_cap: Option<f64>,
    /// Power-aware: cap on the migrating VM's CPU while it is copied, cores.
    pub vm_cap: Option<f64>,
    /// Power-aware: the migrating VM's scheduler weight while it is copied.
    pub vm_weight: Option<f64>,
    /// Power-aware: the source's p-state from migration start to end.
    pub pstate: Option<usize>,
}

/// Xen's pages per batch (`MAX_BATCH_SIZE` in `tools/libxc/xg_save_restore.h`).
pub const XEN_BATCH_PAGES: u32 = 1024;

/// The built-in parameters, what a preset and its overrides are laid over: a Xen 3.x
/// pre-copy (rounds, stop rule and batch from `xc_domain_save`), QEMU's defaults
/// (`migration/options.c`) and post-copy priors for the fields other mechanisms read.
/// Times are ns, CPU in cores, CPU per page in s.
impl Default for Params {
    fn default() -> Self {
        Params {
            preset: String::new(),
            mechanism: Mechanism::XenPrecopy,
            batch_pages: XEN_BATCH_PAGES,
            // Connect, create the target domain, enable log-dirty: ~1 s.
            setup_ns: 1_000_000_000,
            setup_cpu: 0.1,
            // The study's ~100 MB/s with dom0 at about half a core (DESIGN §3).
            sender_cpu_per_page_s: 17e-6,
            receiver_cpu_per_page_s: 10e-6,
            // xc_save is single-threaded.
            threads: 1.0,
            // TCP/IP over Ethernet: 940 of 1000 Mbit/s of payload.
            efficiency: 0.94,
            bandwidth_cap_bps: None,
            // DEF_MAX_ITERS.
            max_live_rounds: 29,
            max_factor: None,
            // sent + skipped < 50 ends the live rounds.
            stop_pages: 50,
            skip: false,
            xen_stop: XenStop::SentPlusSkipped,
            // DEFAULT_MIGRATE_SET_DOWNTIME: 300 ms.
            downtime_limit_ns: 300_000_000,
            auto_converge: false,
            // cpu-throttle-initial 20 %, -increment 10 %, CPU_THROTTLE_PCT_MAX 99 %,
            // throttle-trigger-threshold 50 %, over 1 s periods.
            throttle_initial: 0.2,
            throttle_increment: 0.1,
            throttle_max: 0.99,
            throttle_trigger: 0.5,
            throttle_period_ns: 1_000_000_000,
            suspend_ns: 30_000_000,
            resume_ns: 100_000_000,
            // The study: the source copy runs ~1 s after switch-over, then dom0 ~1 s more
            // at about half a core.
            cleanup_vm_ns: 1_000_000_000,
            cleanup_dom0_ns: 1_000_000_000,
            cleanup_dom0_cpu: 0.5,
            // The study's post-copy: power fell ~0.12 s after the start.
            switch_ns: 120_000_000,
            // A demand fault's round trip and handling: 0.2-0.5 ms (DESIGN §3).
            fault_service_ns: 300_000,
            push: Push::Linear,
            push_chunk_pages: 64,
            fault_cpu_s: 50e-6,
            tick_ns: 10_000_000,
            sender_cap: None,
            vm_cap: None,
            vm_weight: None,
            pstate: None,
        }
    }
}
