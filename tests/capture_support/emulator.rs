//! A scripted Yokogawa WT210 / WT310 emulator on the master side of a pty pair, driven
//! by a dialogue file (tests/fixtures/capture/*.dialogue; directives documented there).
//!
//! It follows the meters' remote behaviour the driver relies on: `:COMM:WAIT 1` holds
//! further commands until the next display update, `:MEAS:VAL?` answers the enabled WT210
//! items in the instrument's fixed order, `:NUM:NORM:VAL?` answers the configured WT310
//! items in item order, values are NR3 and "no data" is 9.91E+37. Every value reply sent is
//! logged so the test can check power.csv against it.

use serialport::{SerialPort, TTYPort};
use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The WT210's fixed reply order (subset used here).
const WT210_ORDER: [&str; 10] = [
    "V", "A", "W", "VA", "VAR", "PF", "DEGREE", "VHZ", "AHZ", "WH",
];

#[derive(Clone, Debug)]
enum Step {
    Sample(f64, f64, f64),
    Bad(String),
    Slow(Duration),
    Silence(Duration),
    Wh(f64),
}

#[derive(Clone, Debug)]
enum Cur {
    Values(f64, f64, f64),
    Bad(String),
}

/// One value reply the emulator sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// Whether it answered a streaming query (P, V, I [, WH]) rather than a WH-only read.
    pub stream: bool,
    /// P, V, I as sent (None = 9.91E+37), or None for all when the reply was garbled.
    pub p: Option<f64>,
    /// Voltage.
    pub v: Option<f64>,
    /// Current.
    pub i: Option<f64>,
    /// WH sent with it, if any.
    pub wh: Option<f64>,
    /// The garbled text, when the reply was a bad line.
    pub bad: Option<String>,
}

/// A parsed dialogue.
#[derive(Clone, Debug)]
pub struct Dialogue {
    idn: String,
    rate: f64,
    steps: VecDeque<Step>,
}

fn ms(s: &str) -> Duration {
    Duration::from_millis(s.trim().parse().expect("duration in ms"))
}

impl Dialogue {
    /// Parses a dialogue file's text.
    pub fn parse(text: &str) -> Dialogue {
        let mut d = Dialogue {
            idn: String::new(),
            rate: 0.1,
            steps: VecDeque::new(),
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap().trim();
            if line.is_empty() {
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "idn" => d.idn = rest.to_string(),
                "rate" => d.rate = rest.trim().parse().unwrap(),
                "wh" => d.steps.push_back(Step::Wh(rest.trim().parse().unwrap())),
                "sample" => {
                    let v: Vec<f64> = rest
                        .split_whitespace()
                        .map(|x| x.parse().unwrap())
                        .collect();
                    d.steps.push_back(Step::Sample(v[0], v[1], v[2]));
                }
                "bad" => d.steps.push_back(Step::Bad(rest.to_string())),
                "slow" => d.steps.push_back(Step::Slow(ms(rest))),
                "silence" => d.steps.push_back(Step::Silence(ms(rest))),
                other => panic!("unknown dialogue directive {other}"),
            }
        }
        d
    }
}

/// NR3 with 5 significant digits, 2-digit exponent, as the meters send (`1.0325E+02`);
/// "no data" as `9.91E+37`.
pub fn nr3(x: f64) -> String {
    nr(x, 4)
}

/// NR3 with `dec` decimals in the mantissa (integrated values have 6 digits: `dec` = 5).
pub fn nr(x: f64, dec: usize) -> String {
    if x.abs() >= 9.9e37 {
        return "9.91E+37".into();
    }
    let s = format!("{x:.dec$E}"); // e.g. "1.0325E2"
    let (m, e) = s.split_once('E').unwrap();
    let e: i32 = e.parse().unwrap();
    format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn present(x: f64) -> Option<f64> {
    (x.abs() < 9.9e37).then_some(x)
}

/// A running emulator.
pub struct Emulator {
    /// Set when the script is exhausted (later updates repeat the last sample).
    pub done: Arc<AtomicBool>,
    /// Every value reply sent, in order.
    pub log: Arc<Mutex<Vec<Sent>>>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts emulating `wt210` (true) or WT310 on `master`.
    pub fn start(master: TTYPort, dialogue: Dialogue, wt210: bool) -> Emulator {
        let done = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let quit = Arc::new(AtomicBool::new(false));
        let (d2, l2, q2) = (done.clone(), log.clone(), quit.clone());
        let thread = std::thread::spawn(move || {
            let mut st = State {
                port: master,
                d: dialogue,
                wt210,
                buf: Vec::new(),
                cur: None,
                wh: 0.0,
                slow: None,
                enabled: BTreeSet::new(),
                items: vec![String::new(); 5],
                last_update: Instant::now(),
                done: d2,
                log: l2,
            };
            // WH set before the first sample is the meter's state at start.
            while let Some(Step::Wh(x)) = st.d.steps.front() {
                st.wh = *x;
                st.d.steps.pop_front();
            }
            st.port.set_timeout(Duration::from_millis(20)).unwrap();
            while !q2.load(Ordering::SeqCst) {
                if let Some(line) = st.next_line() {
                    st.handle(&line);
                }
            }
        });
        Emulator {
            done,
            log,
            quit,
            thread: Some(thread),
        }
    }

    /// Waits until the script is exhausted (panics after `limit`).
    pub fn wait_done(&self, limit: Duration) {
        let end = Instant::now() + limit;
        while !self.done.load(Ordering::SeqCst) {
            assert!(Instant::now() < end, "emulator script did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the emulator thread.
    pub fn stop(mut self) -> Vec<Sent> {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

struct State {
    port: TTYPort,
    d: Dialogue,
    wt210: bool,
    buf: Vec<u8>,
    cur: Option<Cur>,
    wh: f64,
    slow: Option<Duration>,
    enabled: BTreeSet<String>,
    items: Vec<String>,
    last_update: Instant,
    done: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Sent>>>,
}

impl State {
    fn next_line(&mut self) -> Option<String> {
        if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let l: Vec<u8> = self.buf.drain(..=i).collect();
            return Some(String::from_utf8_lossy(&l).trim().to_string());
        }
        let mut tmp = [0u8; 512];
        match self.port.read(&mut tmp) {
            Ok(n) if n > 0 => self.buf.extend_from_slice(&tmp[..n]),
            // Timeouts, and EIO while the driver has the slave closed: try again.
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
        None
    }

    fn reply(&mut self, s: &str) {
        if let Some(d) = self.slow.take() {
            std::thread::sleep(d);
        }
        let _ = self.port.write_all(format!("{s}\r\n").as_bytes());
    }

    /// Discards everything received for `d`: the meter is not answering.
    fn silence(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut tmp = [0u8; 512];
        while Instant::now() < end {
            let _ = self.port.read(&mut tmp);
        }
        self.buf.clear();
    }

    /// `:COMM:WAIT 1`: hold until the next display update, then move the script on.
    fn update(&mut self) {
        let next = self.last_update + Duration::from_secs_f64(self.d.rate);
        if let Some(w) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        self.last_update = Instant::now();
        loop {
            match self.d.steps.pop_front() {
                Some(Step::Wh(x)) => self.wh = x,
                Some(Step::Slow(d)) => self.slow = Some(d),
                Some(Step::Silence(d)) => {
                    self.cur = None;
                    self.silence(d);
                    return;
                }
                Some(Step::Sample(p, v, i)) => {
                    self.cur = Some(Cur::Values(p, v, i));
                    return;
                }
                Some(Step::Bad(t)) => {
                    self.cur = Some(Cur::Bad(t));
                    return;
                }
                None => {
                    self.done.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    fn values(&self) -> (f64, f64, f64) {
        match &self.cur {
            Some(Cur::Values(p, v, i)) => (*p, *v, *i),
            _ => (9.91e37, 9.91e37, 9.91e37),
        }
    }

    fn handle(&mut self, line: &str) {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "*IDN?" => {
                let idn = self.d.idn.clone();
                self.reply(&idn);
            }
            ":SAMP:RATE?" => {
                let r = self.d.rate.to_string();
                self.reply(&r);
            }
            ":STAT:EESR?" => self.reply("0"),
            ":STAT:ERR?" => self.reply("0,\"NO ERROR\""),
            ":COMM:WAIT" => self.update(),
            c if c.starts_with(":MEAS:ITEM:") => {
                let name = c.trim_start_matches(":MEAS:ITEM:").to_string();
                if arg == "ON" {
                    self.enabled.insert(name);
                } else {
                    self.enabled.remove(&name);
                }
            }
            c if c.starts_with(":NUM:NORM:ITEM") => {
                let k: usize = c.trim_start_matches(":NUM:NORM:ITEM").parse().unwrap();
                self.items[k] = arg.split(',').next().unwrap().to_string();
            }
            ":MEAS:VAL?" if self.wt210 => {
                let stream = self
                    .enabled
                    .iter()
                    .map(String::as_str)
                    .collect::<BTreeSet<_>>()
                    == ["V", "A", "W"].into_iter().collect();
                if let (true, Some(Cur::Bad(t))) = (stream, self.cur.clone()) {
                    self.log_bad(t.clone());
                    self.reply(&t);
                    return;
                }
                let (p, v, i) = self.values();
                let mut out = Vec::new();
                for it in WT210_ORDER {
                    if self.enabled.contains(it) {
                        out.push(nr3(match it {
                            "V" => v,
                            "A" => i,
                            "W" => p,
                            "WH" => self.wh,
                            _ => 0.0,
                        }));
                    }
                }
                let wh = self.enabled.contains("WH").then_some(self.wh);
                self.log_values(stream, p, v, i, wh);
                self.reply(&out.join(","));
            }
            ":NUM:NORM:VAL?" if !self.wt210 => {
                let (p, v, i) = self.values();
                let val = |f: &str| match f {
                    "P" => nr3(p),
                    "U" => nr3(v),
                    "I" => nr3(i),
                    "WH" => nr(self.wh, 5),
                    _ => "NAN".into(),
                };
                if let Ok(k) = arg.trim().parse::<usize>() {
                    let s = val(&self.items[k].clone());
                    self.log_values(false, p, v, i, Some(self.wh));
                    self.reply(&s);
                    return;
                }
                if let Some(Cur::Bad(t)) = self.cur.clone() {
                    self.log_bad(t.clone());
                    self.reply(&t);
                    return;
                }
                let s: Vec<String> = self.items[1..5].iter().map(|f| val(f)).collect();
                self.log_values(true, p, v, i, Some(self.wh));
                self.reply(&s.join(","));
            }
            _ => {} // settings the emulator accepts silently
        }
    }

    fn log_values(&mut self, stream: bool, p: f64, v: f64, i: f64, wh: Option<f64>) {
        self.log.lock().unwrap().push(Sent {
            stream,
            p: present(p),
            v: present(v),
            i: present(i),
            wh,
            bad: None,
        });
    }

    fn log_bad(&mut self, t: String) {
        self.log.lock().unwrap().push(Sent {
            stream: true,
            p: None,
            v: None,
            i: None,
            wh: None,
            bad: Some(t),
        });
    }
}
