//! `capsim capture`: the command-line options, turned once into a validated
//! [`session::Config`](super::session::Config), and the signal handling around a capture.

use super::ipmi::IpmiSource;
use super::meter::link::Port;
use super::meter::{MeterConfig, MeterSource, Model};
use super::rapl::{RaplSource, DEFAULT_ROOT};
use super::record::{Source, Stop};
use super::replay::ReplaySource;
use super::session::{capture, Config, Outcome};
use crate::units::Seconds;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `capsim capture`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CaptureArgs {
    /// Run directory to create (power.csv, cpu.csv, migration.csv, net.csv, events.jsonl, manifest.json).
    #[arg(short, long, value_name = "RUN_DIR")]
    pub out: PathBuf,

    /// Make a SYNTHETIC run instead of recording: simulate this scenario and write the
    /// metered host's power (100 ms means + noise), per-domain CPU and migration events
    /// through the capture writer; the manifest says the run is synthetic. Instrument
    /// options are not used, except --meter-rate: the meter's update interval and the
    /// CPU poll interval (default 100ms).
    #[arg(long, value_name = "SCENARIO.toml", help_heading = "Synthetic runs")]
    pub simulate: Option<PathBuf>,
    /// With --simulate: the metered server.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "source",
        help_heading = "Synthetic runs"
    )]
    pub host: String,
    /// With --simulate: meter noise, standard deviation in W.
    #[arg(
        long,
        value_name = "W",
        default_value_t = 1.0,
        help_heading = "Synthetic runs"
    )]
    pub noise: f64,
    /// With --simulate: seed of the noise.
    #[arg(long, default_value_t = 1, help_heading = "Synthetic runs")]
    pub seed: u64,

    /// Yokogawa WT210 in 488.2 mode on this serial device (e.g. /dev/ttyUSB0).
    #[arg(long, value_name = "DEVICE", help_heading = "Power meters")]
    pub wt210: Option<String>,
    /// Yokogawa WT310/WT330 on this serial device or USB-TMC device file (/dev/usbtmcN).
    #[arg(long, value_name = "DEVICE", help_heading = "Power meters")]
    pub wt310: Option<String>,
    /// Serial baud rate, bit/s (8N1, no handshake).
    #[arg(long, default_value_t = 9600, help_heading = "Power meters")]
    pub baud: u32,
    /// Set the meter's update interval (:SAMP:RATE; WT210: 100ms, 250ms, 500ms, 1s, 2s, 5s);
    /// default: keep the front-panel setting.
    #[arg(long, value_name = "DURATION", help_heading = "Power meters")]
    pub meter_rate: Option<Seconds>,
    /// Intel RAPL through powercap; optional root (default /sys/class/powercap).
    #[arg(long, value_name = "ROOT", num_args = 0..=1, default_missing_value = DEFAULT_ROOT, help_heading = "Power meters")]
    pub rapl: Option<PathBuf>,
    /// RAPL polling interval.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "100ms",
        help_heading = "Power meters"
    )]
    pub rapl_interval: Seconds,
    /// IPMI DCMI: run `ipmitool [--ipmi-args] dcmi power reading` every --ipmi-interval.
    #[arg(long, help_heading = "Power meters")]
    pub ipmi: bool,
    /// IPMI polling interval.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        help_heading = "Power meters"
    )]
    pub ipmi_interval: Seconds,
    /// Extra ipmitool arguments, whitespace-separated (e.g. "-I lanplus -H bmc -U admin -f pwfile").
    #[arg(
        long,
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Power meters"
    )]
    pub ipmi_args: Option<String>,
    /// Replay a recorded power.csv (capsim) or yokotool T,P,V,I file instead of a meter.
    #[arg(long, value_name = "FILE", help_heading = "Power meters")]
    pub replay: Option<PathBuf>,
    /// Replay speed (1 = recorded pace, 10 = ten times faster).
    #[arg(long, default_value_t = 1.0, help_heading = "Power meters")]
    pub replay_speed: f64,

    /// CPU and migration sources: Xen xentop/xl, cgroup v2, /proc/stat, QEMU QMP.
    #[command(flatten, next_help_heading = "CPU and migration")]
    pub cpu: super::cpu::CpuOptions,

    /// Run this shell command (sh -c) and stop when it ends; start, end and stderr lines
    /// become events.
    #[arg(long, value_name = "COMMAND", help_heading = "Run control")]
    pub run: Option<String>,
    /// Keep capturing after the --run command ends (until a signal or --duration).
    #[arg(long, requires = "run", help_heading = "Run control")]
    pub keep_going: bool,
    /// Keep capturing this long after the --run command ends.
    #[arg(
        long,
        value_name = "DURATION",
        requires = "run",
        help_heading = "Run control"
    )]
    pub tail: Option<Seconds>,
    /// Lines typed on stdin become `mark` events with the line as label.
    #[arg(long, help_heading = "Run control")]
    pub mark: bool,
    /// Stop after this long (e.g. 60s, 10min).
    #[arg(long, value_name = "DURATION", help_heading = "Run control")]
    pub duration: Option<Seconds>,
}

fn positive(s: Seconds, flag: &str) -> Result<Duration, String> {
    if s.0 > 0.0 {
        Ok(Duration::from_secs_f64(s.0))
    } else {
        Err(format!("{flag}: must be more than 0 s"))
    }
}

/// Turns the options into sources and a validated config.
fn config(args: &CaptureArgs, command_line: Vec<String>) -> Result<Config, String> {
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    let rate_s = match args.meter_rate {
        Some(r) => Some(positive(r, "--meter-rate")?.as_secs_f64()),
        None => None,
    };
    if let Some(p) = &args.wt210 {
        sources.push(Box::new(MeterSource::new(MeterConfig {
            model: Model::Wt210,
            port: Port::Serial {
                path: p.clone(),
                baud: args.baud,
            },
            rate_s,
        })));
    }
    if let Some(p) = &args.wt310 {
        sources.push(Box::new(MeterSource::new(MeterConfig {
            model: Model::Wt310,
            port: Port::for_path(p, args.baud),
            rate_s,
        })));
    }
    if let Some(root) = &args.rapl {
        let iv = positive(args.rapl_interval, "--rapl-interval")?;
        sources.push(Box::new(RaplSource::new(root, iv)?));
    }
    if args.ipmi {
        let iv = positive(args.ipmi_interval, "--ipmi-interval")?;
        let extra = args
            .ipmi_args
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect();
        sources.push(Box::new(IpmiSource::new("ipmitool", extra, iv)));
    }
    if let Some(f) = &args.replay {
        sources.push(Box::new(ReplaySource::new(f, args.replay_speed)?));
    }
    sources.extend(super::cpu::sources_from(&args.cpu)?);
    if sources.is_empty() && args.run.is_none() && !args.mark {
        return Err("capture: nothing to record: give at least one source (--wt210, --wt310, --rapl, --ipmi, --replay, --xentop, --xl, --cgroup, --procstat, --qmp) or --run/--mark".into());
    }
    let duration = match args.duration {
        Some(d) => Some(positive(d, "--duration")?),
        None => None,
    };
    Ok(Config {
        out: args.out.clone(),
        sources,
        run: args.run.clone(),
        keep_going: args.keep_going,
        tail: args
            .tail
            .map(|t| Duration::from_secs_f64(t.0.max(0.0)))
            .unwrap_or_default(),
        mark: args.mark,
        duration,
        command_line,
    })
}

/// `capsim capture`: SIGINT/SIGTERM request a clean stop (a second SIGINT exits at once).
pub fn capture_command(args: &CaptureArgs, command_line: Vec<String>) -> Result<Outcome, String> {
    let cfg = config(args, command_line)?;
    let int = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Order matters: the conditional shutdown must see the flag before it is set.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, int.clone())
        .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;
    signal_hook::flag::register(SIGINT, int.clone())
        .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;
    signal_hook::flag::register(SIGTERM, term.clone())
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    let poll = || {
        if int.load(Ordering::SeqCst) {
            Some("signal SIGINT".to_string())
        } else if term.load(Ordering::SeqCst) {
            Some("signal SIGTERM".to_string())
        } else {
            None
        }
    };
    capture(cfg, &Stop::new(), &poll)
}
