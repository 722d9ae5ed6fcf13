//! Progress of a running sweep on stderr (never in the outputs): one line per finished
//! run, or a live bar on a terminal.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Progress display of a sweep (on stderr, so it never touches the outputs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    #[default]
    Off,
    /// One line per finished run with its status, the count of failures and the ETA
    /// (for logs, pipes and Slurm output files).
    Lines,
    /// A live bar: runs done, elapsed, ETA, failures (for a terminal).
    Bar,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

/// Shows progress as runs finish (called from the worker threads).
pub(super) struct Reporter {
    mode: Progress,
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    start: std::time::Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    pub(super) fn new(mode: Progress, total: usize) -> Self {
        let bar = (mode == Progress::Bar).then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} runs  {msg}  elapsed {elapsed}  ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            b.set_style(style);
            b.set_message("0 failed");
            b
        });
        Reporter {
            mode,
            total,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            start: std::time::Instant::now(),
            bar,
        }
    }

    pub(super) fn finished(&self, id: &str, ok: bool) {
        let k = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let failed = self.failed.fetch_add(usize::from(!ok), Ordering::Relaxed) + usize::from(!ok);
        match (&self.bar, self.mode) {
            (Some(b), _) => {
                b.set_message(format!("{failed} failed"));
                b.inc(1);
            }
            (None, Progress::Lines) => {
                let elapsed = self.start.elapsed().as_secs_f64();
                // Mean time per finished run so far × runs left.
                let eta = elapsed / k as f64 * (self.total - k) as f64;
                eprintln!(
                    "[{k}/{}] run {id} {}  ({failed} failed, elapsed {elapsed:.0} s, ETA {eta:.0} s)",
                    self.total,
                    if ok { "done" } else { "FAILED" },
                );
            }
            _ => {}
        }
    }

    pub(super) fn close(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
