//! Yokogawa WT210 (488.2 mode) and WT310/WT330 power meters: one line protocol, two
//! command dialects (capture notes §1.2–1.3).
//!
//! Each sample is read once per display update: `:STAT:EESR?` clears the update bit,
//! `:COMM:WAIT 1` makes the meter hold further commands until the update finishes (filter
//! `:STAT:FILT1 FALL`), then the values are queried. Values ≥ 9.9E37 mean "no data" and are
//! stored as missing. A meter that stops answering is reopened with back-off; the gap is an
//! event and the first row after it is flagged `gap|reconnected`.

pub mod link;

use super::record::{Flags, PowerRow, Record, Sink, Source, Stamp, Stop};
use super::source_kit::{event, sleep_until};
use link::{Link, Port};
use std::io;
use std::time::{Duration, Instant};

/// The meter's command dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// WT210 in 488.2 mode: `:MEAS:ITEM:<name> ON|OFF`, `:MEAS:VAL?`.
    Wt210,
    /// WT310/WT330: `:NUM:NORM:ITEM<k>`, `:NUM:NORM:VAL?`.
    Wt310,
}

/// WT210 read items in the instrument's fixed reply order (the order of its item list):
/// `:MEAS:VAL?` answers the enabled ones in this order, whatever order they were enabled in.
const WT210_ITEMS: [&str; 19] = [
    "V", "A", "W", "VA", "VAR", "PF", "DEGREE", "VHZ", "AHZ", "WH", "WHP", "WHM", "AH", "AHP",
    "AHM", "VPK", "APK", "TIME", "MATH",
];

/// Values at or above this mean "no data" on Yokogawa meters (they send 9.91E+37).
pub(crate) const NO_DATA: f64 = 9.9e37;

impl Model {
    /// Source id and manifest model name.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Model::Wt210 => "wt210",
            Model::Wt310 => "wt310",
        }
    }

    /// Commands sent after opening (no replies expected), before `*IDN?`.
    fn setup(self, rate_s: Option<f64>) -> Vec<String> {
        // The first command after power-up can fail ("interrupted"): clear twice.
        let mut c = vec!["*CLS".to_string(), "*CLS".to_string()];
        if self == Model::Wt310 {
            c.push(":SYST:COMM:COMM WT300".into());
            c.push(":COMM:VERB ON".into());
        }
        c.push(":COMM:HEAD OFF".into());
        if let Some(r) = rate_s {
            c.push(format!(":SAMP:RATE {r}"));
        }
        match self {
            Model::Wt210 => {
                for it in WT210_ITEMS {
                    let on = matches!(it, "V" | "A" | "W");
                    c.push(format!(":MEAS:ITEM:{it} {}", if on { "ON" } else { "OFF" }));
                }
            }
            Model::Wt310 => {
                c.push(":NUM:FORM ASC".into());
                c.push(":NUM:NORM:NUM 4".into());
                c.push(":NUM:NORM:ITEM1 P,1".into());
                c.push(":NUM:NORM:ITEM2 U,1".into());
                c.push(":NUM:NORM:ITEM3 I,1".into());
                c.push(":NUM:NORM:ITEM4 WH,1".into());
            }
        }
        c.push(":STAT:FILT1 FALL".into());
        c
    }

    /// The value query.
    fn query(self) -> &'static str {
        match self {
            Model::Wt210 => ":MEAS:VAL?",
            Model::Wt310 => ":NUM:NORM:VAL?",
        }
    }

    /// Items of a streamed reply in reply order, as (P, V, I, WH) positions.
    fn layout(self) -> Layout {
        match self {
            // V, A, W in the WT210's fixed order.
            Model::Wt210 => Layout {
                n: 3,
                p: 2,
                v: 0,
                i: 1,
                wh: None,
            },
            // ITEM1..4 = P, U, I, WH as configured.
            Model::Wt310 => Layout {
                n: 4,
                p: 0,
                v: 1,
                i: 2,
                wh: Some(3),
            },
        }
    }
}

/// Positions of the values in a reply.
#[derive(Clone, Copy, Debug)]
struct Layout {
    n: usize,
    p: usize,
    v: usize,
    i: usize,
    wh: Option<usize>,
}

/// One parsed reply: values (None = missing), and whether the line was malformed.
#[derive(Clone, Debug, PartialEq)]
struct Parsed {
    /// The values in reply order.
    pub values: Vec<Option<f64>>,
    /// The line did not have the expected number of numeric fields.
    pub bad: bool,
}

/// Parses a comma-separated NR3 reply of `n` values; `NAN` and values ≥ 9.9E37 are missing.
fn parse_values(line: &str, n: usize) -> Parsed {
    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
    let mut bad = parts.len() != n;
    let mut values = vec![None; n];
    for (k, s) in parts.iter().take(n).enumerate() {
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x.abs() < NO_DATA => values[k] = Some(x),
            Ok(_) => {}
            Err(_) if s.eq_ignore_ascii_case("nan") => {}
            Err(_) => bad = true,
        }
    }
    Parsed { values, bad }
}

/// Settings of a meter source.
#[derive(Clone, Debug)]
pub struct MeterConfig {
    /// Command dialect.
    pub model: Model,
    /// Where it is attached.
    pub port: Port,
    /// Update interval to set, s (`:SAMP:RATE`); `None` keeps the meter's setting.
    pub rate_s: Option<f64>,
}

/// A WT210/WT310 meter source.
pub struct MeterSource {
    cfg: MeterConfig,
    idn: Option<String>,
    rate_reply: Option<String>,
    update_s: Option<f64>,
    wh_start: Option<f64>,
    wh_end: Option<f64>,
    sampled_energy_j: f64,
    samples: u64,
    gaps: u64,
    reconnects: u64,
    bad_lines: u64,
    missing: u64,
}

/// Why a connection ended.
enum Lost {
    Stop,
    Silent(String),
}

impl MeterSource {
    /// A source for `cfg` (nothing is opened until `run`).
    pub fn new(cfg: MeterConfig) -> Self {
        MeterSource {
            cfg,
            idn: None,
            rate_reply: None,
            update_s: None,
            wh_start: None,
            wh_end: None,
            sampled_energy_j: 0.0,
            samples: 0,
            gaps: 0,
            reconnects: 0,
            bad_lines: 0,
            missing: 0,
        }
    }

    /// Read deadline: twice the update interval plus 0.5 s (1 s update assumed if unknown).
    fn timeout(&self) -> Duration {
        Duration::from_secs_f64(2.0 * self.update_s.unwrap_or(1.0).clamp(0.05, 10.0) + 0.5)
    }

    fn query(&self, link: &mut dyn Link, cmd: &str) -> io::Result<String> {
        link.clear_input();
        link.send(cmd)?;
        link.read_line(self.timeout())
    }

    /// Setup commands, `:SAMP:RATE?`, `*IDN?`; errors when the meter does not answer.
    fn init(&mut self, link: &mut dyn Link) -> io::Result<()> {
        for c in self.cfg.model.setup(self.cfg.rate_s) {
            link.send(&c)?;
        }
        let rate = self.query(link, ":SAMP:RATE?")?;
        self.update_s = rate.trim().parse::<f64>().ok().filter(|r| *r > 0.0);
        self.rate_reply = Some(rate);
        let idn = self.query(link, "*IDN?")?;
        self.idn = Some(idn);
        Ok(())
    }

    /// The integrated energy WH (WT210: enable the WH item for one read).
    fn read_wh(&mut self, link: &mut dyn Link) -> Option<f64> {
        match self.cfg.model {
            Model::Wt210 => {
                link.send(":MEAS:ITEM:WH ON").ok()?;
                let r = self.query(link, ":MEAS:VAL?");
                let _ = link.send(":MEAS:ITEM:WH OFF");
                // V, A, W, WH in the fixed order.
                parse_values(&r.ok()?, 4).values[3]
            }
            Model::Wt310 => {
                let r = self.query(link, ":NUM:NORM:VAL? 4").ok()?;
                parse_values(&r, 1).values[0]
            }
        }
    }

    /// Streams samples until stop or silence.
    fn stream(
        &mut self,
        link: &mut dyn Link,
        sink: &Sink,
        stop: &Stop,
        pending: &mut Flags,
        last: &mut Option<Stamp>,
    ) -> Lost {
        let lay = self.cfg.model.layout();
        let id = self.cfg.model.id();
        loop {
            if stop.requested() {
                return Lost::Stop;
            }
            // Clear the update bit, hold until the next update finishes, then read.
            let synced = self
                .query(link, ":STAT:EESR?")
                .and_then(|_| link.send(":COMM:WAIT 1"))
                .and_then(|_| link.send(self.cfg.model.query()))
                .and_then(|_| link.read_line(self.timeout()));
            let at = sink.clock().now();
            let line = match synced {
                Ok(l) => l,
                Err(e) => return Lost::Silent(e.to_string()),
            };
            let parsed = parse_values(&line, lay.n);
            let mut flags = std::mem::take(pending);
            if parsed.bad {
                flags.set(Flags::BAD_LINE);
                self.bad_lines += 1;
                sink.send_at(
                    at,
                    event("source.bad_line", id, None, Default::default(), Some(&line)),
                );
            }
            let v = &parsed.values;
            let (p, volt, cur) = (v[lay.p], v[lay.v], v[lay.i]);
            let wh = lay.wh.and_then(|k| v[k]);
            if p.is_none() || volt.is_none() || cur.is_none() {
                flags.set(Flags::MISSING);
                self.missing += 1;
            }
            if let Some(w) = wh {
                self.wh_start.get_or_insert(w);
                self.wh_end = Some(w);
            }
            // Energy from the samples, skipping intervals across a gap.
            if let (Some(p), Some(prev)) = (p, *last) {
                if !flags.has(Flags::GAP) {
                    self.sampled_energy_j += p * (at.mono_ns - prev.mono_ns) as f64 * 1e-9;
                }
            }
            *last = Some(at);
            self.samples += 1;
            let row = PowerRow {
                source: id.to_string(),
                power_w: p,
                voltage_v: volt,
                current_a: cur,
                energy_raw_j: wh.map(|w| w * 3600.0),
                flags,
            };
            if !sink.send_at(at, Record::Power(row)) {
                return Lost::Stop;
            }
        }
    }
}

impl Source for MeterSource {
    fn id(&self) -> String {
        self.cfg.model.id().to_string()
    }

    fn describe(&self) -> serde_json::Value {
        let mut d = serde_json::json!({
            "kind": "power meter",
            "model": match self.cfg.model { Model::Wt210 => "Yokogawa WT210 (488.2 mode)", Model::Wt310 => "Yokogawa WT310/WT330" },
            "port": self.cfg.port.describe(),
            "idn": self.idn,
            "update_rate_set_s": self.cfg.rate_s,
            "update_rate_reply": self.rate_reply,
            "update_interval_s": self.update_s,
            "items": ["P", "V", "I"],
            "sync": ":STAT:FILT1 FALL; per sample :STAT:EESR?, :COMM:WAIT 1, then the value query",
            "samples": self.samples,
            "missing": self.missing,
            "bad_lines": self.bad_lines,
            "gaps": self.gaps,
            "reconnects": self.reconnects,
        });
        let meter_j = match (self.wh_start, self.wh_end) {
            (Some(a), Some(b)) => Some((b - a) * 3600.0),
            _ => None,
        };
        d["energy_cross_check"] = serde_json::json!({
            "wh_start": self.wh_start,
            "wh_end": self.wh_end,
            "meter_energy_j": meter_j,
            "sampled_energy_j": self.sampled_energy_j,
            "note": "meter_energy_j = (WH end - WH start) x 3600, meaningful only while the meter integrates; sampled_energy_j = sum of P x interval over rows not after a gap",
        });
        d
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let id = self.cfg.model.id();
        // A missing device at start is fatal for this source; later failures are retried.
        let mut link = Some(self.cfg.port.open()?);
        let mut pending = Flags::none();
        let mut last: Option<Stamp> = None;
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        while !stop.requested() {
            let mut l = match link.take() {
                Some(l) => l,
                None => match self.cfg.port.open() {
                    Ok(l) => l,
                    Err(_) => {
                        if !sleep_until(Instant::now() + backoff, stop) {
                            break;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                },
            };
            if let Err(e) = self.init(l.as_mut()) {
                if first {
                    let why = e.to_string();
                    sink.send(event(
                        "source.no_answer",
                        id,
                        None,
                        Default::default(),
                        Some(&why),
                    ));
                    first = false;
                }
                drop(l);
                if !sleep_until(Instant::now() + backoff, stop) {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
            first = false;
            backoff = Duration::from_millis(100);
            if pending.has(Flags::GAP) {
                self.reconnects += 1;
                let idn = self.idn.as_deref();
                sink.send(event(
                    "source.reconnected",
                    id,
                    None,
                    Default::default(),
                    idn,
                ));
            }
            if self.cfg.model == Model::Wt210 && self.wh_start.is_none() {
                self.wh_start = self.read_wh(l.as_mut());
            }
            match self.stream(l.as_mut(), sink, stop, &mut pending, &mut last) {
                Lost::Stop => {
                    if self.cfg.model == Model::Wt210 {
                        self.wh_end = self.read_wh(l.as_mut());
                    }
                    return Ok(());
                }
                Lost::Silent(why) => {
                    self.gaps += 1;
                    sink.send(event(
                        "source.gap",
                        id,
                        None,
                        Default::default(),
                        Some(&why),
                    ));
                    pending.set(Flags::GAP);
                    pending.set(Flags::RECONNECTED);
                    // Drop and reopen: a USB-serial adapter may have re-enumerated.
                    drop(l);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_values() {
        // 9.91E+37 (and the lowercase 3-digit-exponent variant) is "no data".
        let p = parse_values("230.12E+00,9.91E+37,1.0523E+02", 3);
        assert_eq!(p.values, vec![Some(230.12), None, Some(105.23)]);
        assert!(!p.bad);
        let p = parse_values("9.91e+037, NAN ,-0.38E+00", 3);
        assert_eq!(p.values, vec![None, None, Some(-0.38)]);
        assert!(!p.bad);
        // Too few fields, or text where a number belongs: bad but what parses is kept.
        let p = parse_values("230.0,0.5", 3);
        assert!(p.bad);
        assert_eq!(p.values, vec![Some(230.0), Some(0.5), None]);
        let p = parse_values("23#0.0,0.5,100", 3);
        assert!(p.bad);
        assert_eq!(p.values, vec![None, Some(0.5), Some(100.0)]);
    }

    #[test]
    fn wt210_enables_only_v_a_w() {
        let s = Model::Wt210.setup(Some(0.1));
        assert_eq!(&s[..2], &["*CLS", "*CLS"]);
        assert!(s.contains(&":COMM:HEAD OFF".to_string()));
        assert!(s.contains(&":SAMP:RATE 0.1".to_string()));
        let on: Vec<&String> = s.iter().filter(|c| c.ends_with(" ON")).collect();
        assert_eq!(
            on,
            vec![":MEAS:ITEM:V ON", ":MEAS:ITEM:A ON", ":MEAS:ITEM:W ON"]
        );
        assert_eq!(s.iter().filter(|c| c.ends_with(" OFF")).count(), 16 + 1);
    }
}
