//! Per-domain CPU and migration-progress sources of `capsim capture`.
//!
//! | source id | what it reads | rows |
//! |---|---|---|
//! | `xentop` | a long-running `xentop -b -d SECONDS` child | one [`CpuRow`](crate::capture::record::CpuRow) per domain per batch |
//! | `xl` | `xl list`, run every interval | one [`CpuRow`](crate::capture::record::CpuRow) per domain per poll, plus migration events |
//! | `cgroup` | cgroup v2 `cpu.stat` of each VM | one [`CpuRow`](crate::capture::record::CpuRow) per VM per poll |
//! | `procstat` | `/proc/stat` | a `host` [`CpuRow`](crate::capture::record::CpuRow) (and `cpuN` rows on request) |
//! | `cpufreq` | `/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq` | a [`FreqRow`](crate::capture::record::FreqRow) per CPU: the core clock |
//! | `netdev` | `/proc/net/dev` | a [`NetRow`](crate::capture::record::NetRow) per interface: cumulative rx/tx bytes |
//! | `qmp:<socket>` | QEMU QMP `query-migrate` | a [`MigrationRow`](crate::capture::record::MigrationRow) per reply (see `capture::qmp`) |
//!
//! Counters are stored raw (`cpu_ns` is cumulative); rates are derived offline. Rows are
//! stamped when the sample is received (end of the interval it describes).
//!
//! # Event kinds
//!
//! Every source:
//! - `source.gap` — the tool stopped answering (child exited, command failed, file
//!   unreadable, socket closed); fields `reason`, sometimes `status`. The next rows carry
//!   the `gap` flag (and `reconnected` where a process or socket was reopened).
//! - `source.reconnected` — the tool answers again after a `source.gap`.
//! - `source.bad_line` — a line could not be parsed; `raw` holds it, `error` says why. The
//!   line yields no row (or, for QMP, the next row carries `bad_line`).
//! - `source.stderr` — a line the child tool wrote on stderr (`raw`).
//!
//! `xl` (name-based migration phases, see `xl_migration`): `migration.incoming_seen`,
//! `migration.incoming_gone`, `migration.migratedaway_seen`, `migration.migratedaway_gone`,
//! `migration.switch`, `migration.end`, `migration.failed`.
//!
//! `cgroup`: `cpu.domain_seen`, `cpu.domain_gone` when auto-discovered VM scopes come and go.
//!
//! QMP: `migration.status` (status change between two replies), `qmp.<event>` for each
//! asynchronous QMP event (`qmp.migration`, `qmp.migration_pass`, `qmp.stop`, …),
//! `qmp.error` for an error reply.

mod cgroup;
mod cpufreq;
mod netdev;
mod procstat;
mod run;
mod xentop;
mod xl;
mod xl_migration;

use crate::capture::record::Source;
use crate::units::Seconds;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line options choosing the CPU and migration sources.
#[derive(clap::Args, Debug, Clone)]
pub struct CpuOptions {
    /// Record Xen per-domain CPU from a long-running `xentop -b` (whole-second resolution).
    #[arg(long)]
    pub xentop: bool,
    /// The xentop program (name on PATH or a path).
    #[arg(long, value_name = "PROGRAM", default_value = "xentop")]
    pub xentop_cmd: PathBuf,
    /// Pass `-f` so xentop prints full domain names (newer Xen only); names are otherwise
    /// truncated to 10 characters.
    #[arg(long)]
    pub xentop_full_names: bool,
    /// Record Xen per-domain CPU by polling `xl list` (0.1 s resolution), and migration
    /// phases from the `<vm>--incoming` / `<vm>--migratedaway` domain names.
    #[arg(long)]
    pub xl: bool,
    /// The xl program (name on PATH or a path).
    #[arg(long, value_name = "PROGRAM", default_value = "xl")]
    pub xl_cmd: PathBuf,
    /// Xen polling interval, a duration with a unit ("1s"). xentop takes whole seconds, so
    /// its `-d` is this rounded up, at least 1 s.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub xen_interval: Seconds,
    /// `xl list` polling interval, a duration with a unit ("500ms"); defaults to
    /// `--xen-interval`.
    #[arg(long, value_name = "DURATION")]
    pub xl_interval: Option<Seconds>,
    /// A VM whose migration phases to report from `xl list` (repeatable); without it,
    /// every `*--incoming` / `*--migratedaway` domain is reported.
    #[arg(long, value_name = "NAME")]
    pub migrate_vm: Vec<String>,
    /// Record cgroup v2 `cpu.stat` per VM under ROOT (default /sys/fs/cgroup); VMs are the
    /// `machine.slice/*.scope` groups unless `--cgroup-vm` names them.
    #[arg(long, value_name = "ROOT", num_args = 0..=1, default_missing_value = "/sys/fs/cgroup")]
    pub cgroup: Option<PathBuf>,
    /// A VM's cgroup as NAME=PATH, PATH absolute or relative to the cgroup root
    /// (repeatable; turns auto-discovery off and implies `--cgroup`).
    #[arg(long, value_name = "NAME=PATH")]
    pub cgroup_vm: Vec<String>,
    /// Record the host's CPU time from PATH (default /proc/stat) as domain `host`.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "/proc/stat")]
    pub procstat: Option<PathBuf>,
    /// Also write one row per CPU (`cpu0`, `cpu1`, …) from /proc/stat.
    #[arg(long)]
    pub procstat_per_cpu: bool,
    /// /proc/stat ticks per second (USER_HZ); default from `getconf CLK_TCK`, else 100.
    #[arg(long, value_name = "HZ")]
    pub user_hz: Option<u64>,
    /// cgroup and /proc/stat polling interval, a duration with a unit ("100ms").
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub cpu_interval: Seconds,
    /// Record every CPU's clock (the p-state) from cpufreq under ROOT (default
    /// /sys/devices/system/cpu) into freq.csv, every `--cpu-interval`.
    #[arg(long, value_name = "ROOT", num_args = 0..=1, default_missing_value = "/sys/devices/system/cpu")]
    pub cpufreq: Option<PathBuf>,
    /// Record network byte counters from PATH (default /proc/net/dev) into net.csv: the
    /// bytes a migration put on the wire, which `xl migrate` does not report.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "/proc/net/dev")]
    pub netdev: Option<PathBuf>,
    /// An interface to record (repeatable; default every interface but `lo`); implies
    /// `--netdev`. Polled every `--cpu-interval`.
    #[arg(long, value_name = "IFACE")]
    pub net_iface: Vec<String>,
    /// Poll QEMU `query-migrate` for VM NAME on the QMP unix socket SOCKET (repeatable).
    #[arg(long, value_name = "NAME=SOCKET")]
    pub qmp: Vec<String>,
    /// QMP polling interval, a duration with a unit ("100ms").
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub qmp_interval: Seconds,
    /// Turn on QEMU's migration capability `events` after connecting, so MIGRATION and
    /// MIGRATION_PASS events arrive (changes the VM's migration settings; off by default).
    #[arg(long)]
    pub qmp_events: bool,
}

impl Default for CpuOptions {
    /// The same values as the command line with no CPU flags: no source selected.
    fn default() -> Self {
        CpuOptions {
            xentop: false,
            xentop_cmd: "xentop".into(),
            xentop_full_names: false,
            xl: false,
            xl_cmd: "xl".into(),
            xen_interval: Seconds(1.0),
            xl_interval: None,
            migrate_vm: Vec::new(),
            cgroup: None,
            cgroup_vm: Vec::new(),
            procstat: None,
            procstat_per_cpu: false,
            cpufreq: None,
            netdev: None,
            net_iface: Vec::new(),
            user_hz: None,
            cpu_interval: Seconds(0.1),
            qmp: Vec::new(),
            qmp_interval: Seconds(0.1),
            qmp_events: false,
        }
    }
}

/// The default cgroup v2 mount point.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Builds the sources the options select (none when no CPU flag is given). Errors name
/// the flag and what would be valid.
pub fn sources_from(opts: &CpuOptions) -> Result<Vec<Box<dyn Source>>, String> {
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    let xen = interval("--xen-interval", opts.xen_interval)?;
    if opts.xentop {
        out.push(Box::new(xentop::XentopSource::new(
            opts.xentop_cmd.clone(),
            xen,
            opts.xentop_full_names,
        )));
    }
    let xl_iv = match opts.xl_interval {
        Some(s) => interval("--xl-interval", s)?,
        None => xen,
    };
    for vm in &opts.migrate_vm {
        if vm.trim().is_empty() {
            return Err("--migrate-vm needs a VM name, e.g. --migrate-vm vm1".into());
        }
    }
    if !opts.migrate_vm.is_empty() && !opts.xl {
        return Err("--migrate-vm watches `xl list`; add --xl".into());
    }
    if opts.xl {
        out.push(Box::new(xl::XlSource::new(
            opts.xl_cmd.clone(),
            xl_iv,
            opts.migrate_vm.clone(),
        )));
    }
    let cpu_iv = interval("--cpu-interval", opts.cpu_interval)?;
    if opts.cgroup.is_some() || !opts.cgroup_vm.is_empty() {
        let root = opts
            .cgroup
            .clone()
            .unwrap_or_else(|| PathBuf::from(CGROUP_ROOT));
        let mut vms = Vec::new();
        for spec in &opts.cgroup_vm {
            let (name, path) = name_eq("--cgroup-vm", spec, "vm1=machine.slice/vm1.scope")?;
            let path = PathBuf::from(path);
            let path = if path.is_absolute() {
                path
            } else {
                root.join(path)
            };
            vms.push((name, path));
        }
        out.push(Box::new(cgroup::CgroupSource::new(root, vms, cpu_iv)));
    }
    if let Some(root) = &opts.cpufreq {
        out.push(Box::new(cpufreq::CpuFreqSource::new(root.clone(), cpu_iv)));
    }
    if opts.netdev.is_some() || !opts.net_iface.is_empty() {
        if opts
            .net_iface
            .iter()
            .any(|i| i.trim().is_empty() || i.contains(':'))
        {
            return Err("--net-iface needs an interface name, e.g. --net-iface eth0".into());
        }
        let path = opts
            .netdev
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc/net/dev"));
        out.push(Box::new(netdev::NetDevSource::new(
            path,
            opts.net_iface.clone(),
            cpu_iv,
        )));
    }
    if let Some(path) = &opts.procstat {
        let hz = match opts.user_hz {
            Some(0) => return Err("--user-hz must be a positive tick rate, e.g. 100".into()),
            Some(h) => h,
            None => procstat::user_hz(),
        };
        out.push(Box::new(procstat::ProcStatSource::new(
            path.clone(),
            hz,
            opts.procstat_per_cpu,
            cpu_iv,
        )));
    } else if opts.procstat_per_cpu || opts.user_hz.is_some() {
        return Err("--procstat-per-cpu and --user-hz apply to /proc/stat; add --procstat".into());
    }
    let qmp_iv = interval("--qmp-interval", opts.qmp_interval)?;
    for spec in &opts.qmp {
        let (name, sock) = name_eq("--qmp", spec, "vm1=/run/qemu/vm1.qmp")?;
        out.push(Box::new(crate::capture::qmp::QmpSource::new(
            name,
            PathBuf::from(sock),
            qmp_iv,
            opts.qmp_events,
        )));
    }
    if opts.qmp.is_empty() && opts.qmp_events {
        return Err("--qmp-events applies to QMP sockets; add --qmp NAME=SOCKET".into());
    }
    Ok(out)
}

/// A positive polling interval from a command-line duration.
fn interval(flag: &str, s: Seconds) -> Result<Duration, String> {
    if s.get() > 0.0 && s.get() <= 86_400.0 {
        Ok(Duration::from_nanos(s.nanos()))
    } else {
        Err(format!(
            "{flag} must be a duration above zero and at most a day, e.g. \"100ms\" or \"1s\""
        ))
    }
}

/// Splits `NAME=VALUE`, both non-empty.
fn name_eq(flag: &str, spec: &str, example: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!(
            "{flag} `{spec}`: expected NAME=PATH, e.g. {flag} {example}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cpu: CpuOptions,
    }

    fn parse(args: &[&str]) -> Result<CpuOptions, clap::Error> {
        let mut v = vec!["capsim"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| c.cpu)
    }

    #[test]
    fn defaults_match_the_command_line() {
        let cli = parse(&[]).unwrap();
        assert_eq!(format!("{cli:?}"), format!("{:?}", CpuOptions::default()));
        assert!(sources_from(&cli).unwrap().is_empty());
    }

    #[test]
    fn optional_paths_and_intervals() {
        let o = parse(&["--cgroup", "--procstat", "--cpu-interval", "250ms"]).unwrap();
        assert_eq!(o.cgroup, Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(o.procstat, Some(PathBuf::from("/proc/stat")));
        // 250 ms = 0.25 s.
        assert_eq!(o.cpu_interval, Seconds(0.25));
        let o = parse(&["--procstat", "/tmp/stat", "--user-hz", "250"]).unwrap();
        assert_eq!(o.procstat, Some(PathBuf::from("/tmp/stat")));
        let s = sources_from(&o).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].id(), "procstat");
        assert_eq!(s[0].describe()["user_hz"], 250);
        assert!(parse(&["--cpu-interval", "100"]).is_err(), "no unit");
    }

    #[test]
    fn bad_options_are_clear_errors() {
        let e = |args: &[&str]| match sources_from(&parse(args).unwrap()) {
            Err(e) => e,
            Ok(_) => panic!("{args:?} should fail"),
        };
        assert!(e(&["--qmp", "vm1"]).contains("NAME=PATH"));
        assert!(e(&["--qmp", "=/x"]).contains("NAME=PATH"));
        assert!(e(&["--cgroup-vm", "vm1="]).contains("--cgroup-vm"));
        assert!(e(&["--xl", "--xen-interval", "0s"]).contains("--xen-interval"));
        assert!(e(&["--migrate-vm", "vm1"]).contains("--xl"));
        assert!(e(&["--procstat", "--user-hz", "0"]).contains("--user-hz"));
        assert!(e(&["--user-hz", "100"]).contains("--procstat"));
        assert!(e(&["--qmp-events"]).contains("--qmp"));
    }

    #[test]
    fn every_source_is_built() {
        let o = parse(&[
            "--xentop",
            "--xl",
            "--migrate-vm",
            "vm1",
            "--cgroup-vm",
            "vm1=machine.slice/a.scope",
            "--procstat",
            "--qmp",
            "vm1=/run/vm1.qmp",
        ])
        .unwrap();
        let ids: Vec<String> = sources_from(&o).unwrap().iter().map(|s| s.id()).collect();
        assert_eq!(
            ids,
            ["xentop", "xl", "cgroup", "procstat", "qmp:/run/vm1.qmp"]
        );
    }
}
