//! `capsim`: a thin command-line front end over the library.

use capsim::app::{
    run_command, slurm_command, sweep_command, validate_command, RunOptions, SweepCommand,
    ValidateOptions,
};
use capsim::calibrate::specpower::Kind;
use capsim::output::dir::Existing;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "capsim",
    version,
    about = "Discrete-event simulator of rack- and datacenter-level power capping"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write summary.json, metrics.csv, timeseries.csv, events.csv,
    /// meters.csv, power.svg and power.png.
    Run {
        /// Scenario file (default: the built-in scenarios/rack/basic.toml).
        scenario: Option<PathBuf>,
        /// Output directory (default: outputs/<scenario name>/).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Extra model-library directory, searched before the built-in models (repeatable).
        #[arg(long)]
        models: Vec<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Replicate number, mixed into every random stream.
        #[arg(long, default_value_t = 0)]
        replicate: u32,
        #[command(flatten)]
        force: Force,
        /// Run even when the outputs would exceed 500 million values (about 6 GB).
        #[arg(long)]
        allow_large: bool,
    },
    /// Run a sweep: every combination of its axes and replicates, in parallel; writes
    /// DIR/runs/<id>/ per run, DIR/runs.csv and (unless --shard) DIR/report.html.
    Sweep {
        /// Sweep file (default: the built-in scenarios/sweeps/capping-policies.toml).
        sweep: Option<PathBuf>,
        /// Output directory (default: outputs/<sweep name>/).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        /// Skip runs whose results are already complete.
        #[arg(long)]
        resume: bool,
        /// Run only shard K of N (0-based; a contiguous block of the runs).
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Extra model-library directory, searched before the built-in models (repeatable).
        #[arg(long)]
        models: Vec<PathBuf>,
    },
    /// Join shard outputs into what one machine would have written: runs.csv, every
    /// run's runs/<id>/ and the sweep's order and identity (then `capsim report DIR`).
    Merge {
        /// Shard output directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory.
        #[arg(short, long, default_value = ".")]
        out: PathBuf,
    },
    /// Comparison report of a sweep directory: tables with 95 % confidence intervals,
    /// plots in DIR/report/, and DIR/report.html.
    Report {
        /// The sweep's output directory (with runs.csv).
        dir: PathBuf,
    },
    /// Write Slurm job-array scripts for a sweep: an array of coarse shards and a merge
    /// job that runs after all of them succeed.
    Slurm {
        /// Sweep file.
        sweep: PathBuf,
        /// Array tasks (shards).
        #[arg(long)]
        tasks: usize,
        /// CPUs per array task (each shard runs on this many threads).
        #[arg(long, default_value_t = 1)]
        cpus_per_task: usize,
        /// Wall-time limit per task, Slurm notation (30:00, 2:00:00); default: the partition's.
        #[arg(long)]
        time: Option<String>,
        /// Directory for the scripts and the outputs (default: outputs/<sweep name>/).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Calibrate a server model: from capture runs (`capsim calibrate RUN_DIR... -o
    /// MODEL.toml`: the `cores` power model and dom0 migration costs, with the fit
    /// statistics in comments), or from a published SPECpower_ssj2008 result (`--specpower
    /// CSV --server NAME`: the table as published, or a fitted `linear`/`cores` model).
    Calibrate(CalibrateArgs),
    /// Predict a captured run's power from its measured CPU with a server model: power
    /// RMSE, migration-time error, and an overlay plot (DIR/replay.svg, replay.png).
    Replay {
        /// The capture run directory.
        run: PathBuf,
        /// The server model file (e.g. from `capsim calibrate`).
        #[arg(long, value_name = "MODEL.toml")]
        model: PathBuf,
        /// Output directory (default: outputs/replay/<run>/).
        #[arg(short, long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        force: Force,
    },
    /// Record a real testbed into a run directory: power meters (WT210, WT310/WT330,
    /// RAPL, IPMI DCMI, replay), per-domain CPU (xentop, xl, cgroup v2, /proc/stat),
    /// QEMU migration progress (QMP), a wrapped command's events and stdin marks.
    Capture(Box<capsim::capture::cli::CaptureArgs>),
    /// Reproduce the live-migration study: run scenarios/paper/ in parallel, print the
    /// comparison table, write validation.csv and one figure per experiment.
    Validate {
        /// Output directory (default: outputs/paper/).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Read the experiments from this directory instead of the built-in scenarios/paper/.
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Extra model-library directory, searched before the built-in models (repeatable).
        #[arg(long)]
        models: Vec<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        #[command(flatten)]
        force: Force,
    },
}

fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(done) => {
            print!("{}", done.text);
            done.code
        }
        Err(e) => fail(&e),
    }
}

/// What a finished command prints on stdout and the exit code it ends with.
struct Done {
    text: String,
    code: ExitCode,
}

impl Done {
    /// A line printed with a newline, exit 0.
    fn line(text: impl std::fmt::Display) -> Done {
        Done {
            text: format!("{text}\n"),
            code: ExitCode::SUCCESS,
        }
    }
    /// Text printed as is; exit 1 when `failed` (some runs or rows failed), else 0.
    fn text(text: String, failed: bool) -> Done {
        let code = if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
        Done { text, code }
    }
}

fn dispatch(command: Command) -> Result<Done, String> {
    match command {
        Command::Sweep {
            sweep,
            out,
            jobs,
            resume,
            shard,
            models,
        } => {
            let c = SweepCommand {
                sweep,
                out,
                jobs,
                resume,
                shard,
                models,
                progress: capsim::sweep::Progress::auto(),
            };
            let (line, failed) = sweep_command(&c)?;
            Ok(Done::text(format!("{line}\n"), failed > 0))
        }
        Command::Report { dir } => {
            let r = capsim::sweep::report::report(&dir)?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            Ok(Done::line(format!("report: {}", r.path.display())))
        }
        Command::Merge { dirs, out } => Ok(Done::line(
            capsim::sweep::shard::merge(&dirs, &out)?.display(),
        )),
        Command::Calibrate(args) => calibrate(args),
        Command::Replay {
            run,
            model,
            out,
            force,
        } => {
            let (text, flagged) = capsim::calibrate::replay::replay_command(
                &run,
                &model,
                out.as_deref(),
                force.existing(),
            )?;
            Ok(Done::text(format!("{text}\n"), flagged))
        }
        Command::Slurm {
            sweep,
            tasks,
            cpus_per_task,
            time,
            out,
        } => {
            let opts = capsim::sweep::shard::SlurmOptions {
                tasks,
                cpus_per_task,
                time,
            };
            Ok(Done::text(
                slurm_command(&sweep, &opts, out.as_deref())?,
                false,
            ))
        }
        Command::Validate {
            out,
            scenarios,
            models,
            jobs,
            force,
        } => {
            if let Some(j) = jobs {
                let _ = rayon::ThreadPoolBuilder::new()
                    .num_threads(j.max(1))
                    .build_global();
            }
            let opts = ValidateOptions {
                out,
                scenarios,
                models,
                existing: force.existing(),
            };
            let (rows, _, table) = validate_command(&opts)?;
            Ok(Done::text(
                table,
                rows.iter().any(|r| r.pass() == Some(false)),
            ))
        }
        Command::Capture(args) => capture(&args),
        Command::Run {
            scenario,
            out,
            models,
            seed,
            replicate,
            force,
            allow_large,
        } => {
            let opts = RunOptions {
                scenario,
                out,
                models,
                seed,
                replicate,
                existing: force.existing(),
                allow_large,
            };
            let (_, _, table) = run_command(&opts)?;
            Ok(Done::text(table, false))
        }
    }
}

/// `--force` of the commands that write an output directory.
#[derive(clap::Args)]
struct Force {
    /// Write into an output directory that holds files capsim did not write (they are
    /// kept, never deleted or overwritten unless they have an output's name).
    #[arg(long)]
    force: bool,
}

impl Force {
    fn existing(&self) -> Existing {
        Existing::from_force(self.force)
    }
}

/// `capsim calibrate`: from capture runs, or from a published SPECpower result.
fn calibrate(a: CalibrateArgs) -> Result<Done, String> {
    let Some(specpower) = a.specpower else {
        let host = capsim::calibrate::model_out::HostInfo {
            cores: a.cores,
            memory: a.memory,
            nic: a.nic,
            frequency: a.frequency,
            description: None,
        };
        let existing = Existing::from_force(a.force);
        let text =
            capsim::calibrate::runs_command(&a.runs, &a.out, a.report.as_deref(), existing, host)?;
        return Ok(Done::line(text));
    };
    let server = a.server.unwrap_or_default();
    let kind = match a.kind {
        ModelKind::Specpower => Kind::SpecPower,
        ModelKind::Linear => Kind::Linear,
        ModelKind::Cores => Kind::Cores,
    };
    let text = capsim::calibrate::specpower_command(&specpower, &server, a.line, kind, &a.out)?;
    Ok(Done::line(text))
}

/// `capsim capture`: a real capture, or a synthetic one from a scenario with `--simulate`.
fn capture(args: &capsim::capture::cli::CaptureArgs) -> Result<Done, String> {
    if let Some(sc) = args.simulate.as_deref() {
        let o = capsim::calibrate::synthetic::Options {
            host: args.host.clone(),
            noise_w: args.noise,
            seed: args.seed,
            // The synthetic meter's update interval is also the CPU poll interval.
            interval_s: args.meter_rate.map_or(0.1, |r| r.0),
            ..Default::default()
        };
        return Ok(Done::line(capsim::calibrate::synthesize_command(
            sc, &o, &args.out,
        )?));
    }
    let argv: Vec<String> = std::env::args().collect();
    let o = capsim::capture::cli::capture_command(args, argv)?;
    Ok(Done::line(format!(
        "capture: {} ({}; {} power, {} cpu, {} migration, {} net rows, {} events)",
        o.dir.display(),
        o.exit_reason,
        o.counts.rows_in("power.csv"),
        o.counts.rows_in("cpu.csv"),
        o.counts.rows_in("migration.csv"),
        o.counts.rows_in("net.csv"),
        o.counts.rows_in("events.jsonl")
    )))
}

/// `capsim calibrate`'s arguments.
#[derive(clap::Args)]
struct CalibrateArgs {
    /// Capture run directories to fit (`capsim capture --out`): the `cores` power model
    /// and the migration parameters.
    #[arg(value_name = "RUN_DIR", conflicts_with = "specpower")]
    runs: Vec<PathBuf>,
    /// With run directories: write the fit report (report.html, figures) here.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Write the report into a directory that holds files capsim did not write (they are
    /// kept, never deleted or overwritten unless they have an output's name).
    #[arg(long, requires = "report")]
    force: bool,
    /// The host's physical cores (default: the run's manifest `host`).
    #[arg(long)]
    cores: Option<u32>,
    /// The host's memory, e.g. 4GiB (default: the manifest).
    #[arg(long)]
    memory: Option<String>,
    /// The host's NIC rate, e.g. 1Gbps (default: the manifest).
    #[arg(long)]
    nic: Option<String>,
    /// The clock the runs ran at, e.g. 2.67GHz (default: the manifest).
    #[arg(long)]
    frequency: Option<String>,
    /// SPECpower curves CSV (e.g. ../shared/data/specpower-ssj2008/specpower_curves.csv).
    #[arg(long, value_name = "CSV", requires = "server")]
    specpower: Option<PathBuf>,
    /// Words that pick the result (vendor, model, CPU, MHz, publication date).
    #[arg(long)]
    server: Option<String>,
    /// CSV line, to pick one of several matching results.
    #[arg(long)]
    line: Option<usize>,
    /// Model kind to write.
    #[arg(long, value_enum, default_value = "specpower")]
    kind: ModelKind,
    /// Model file to write.
    #[arg(short, long, value_name = "MODEL.toml")]
    out: PathBuf,
}

/// Server model kinds `capsim calibrate` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ModelKind {
    /// The 11-point table as published.
    Specpower,
    /// Idle-to-max line fitted to the 11 points.
    Linear,
    /// Idle plus W per busy core, fitted.
    Cores,
}

fn fail(e: &str) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
