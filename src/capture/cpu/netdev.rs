//! Network-interface byte counters from `/proc/net/dev`: how many bytes a migration put on
//! the wire, which Xen's `xl migrate` never reports (on a Xen host this is dom0's view of
//! the physical NIC or bridge, which carries the migration stream).
//!
//! Each interface line is `NAME: rx_bytes rx_packets … (8 receive fields) tx_bytes …`;
//! the first receive field and the ninth field are the cumulative byte counters, stored raw
//! in `net.csv`. Counts include protocol headers (TCP/IP adds about 3 % at a 1500-byte MTU)
//! and any other traffic on the interface.

use crate::capture::record::{Flags, NetRow, Record, Sink, Source, Stop};
use crate::capture::source_kit::{event, fields, send_bad_lines, FileRead, PolledFile, Ticker};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// One interface's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IfaceBytes {
    /// Interface name.
    pub name: String,
    /// Cumulative bytes received, B.
    pub rx_b: u64,
    /// Cumulative bytes sent, B.
    pub tx_b: u64,
}

/// Parses `/proc/net/dev`: the interface lines, and the lines that look like interface
/// lines but cannot be read (with the reason). The two header lines have no `:` before
/// numbers and are skipped.
pub(crate) fn parse_net_dev(text: &str) -> (Vec<IfaceBytes>, Vec<(String, String)>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains('|') || name.contains(' ') {
            continue; // a header line ("Inter-|   Receive …")
        }
        let vals: Result<Vec<u64>, _> = rest.split_whitespace().map(str::parse).collect();
        match vals {
            Ok(v) if v.len() >= 9 => ok.push(IfaceBytes {
                name: name.to_string(),
                rx_b: v[0],
                tx_b: v[8],
            }),
            Ok(v) => bad.push((
                line.to_string(),
                format!("expected 16 counters, found {}", v.len()),
            )),
            Err(_) => bad.push((line.to_string(), "a counter is not a number".into())),
        }
    }
    (ok, bad)
}

const ID: &str = "netdev";

/// The `netdev` source.
pub(crate) struct NetDevSource {
    path: PathBuf,
    ifaces: Vec<String>,
    every: Duration,
}

impl NetDevSource {
    /// Reads `path` every `every`; `ifaces` empty means every interface but `lo`.
    pub(crate) fn new(path: PathBuf, ifaces: Vec<String>, every: Duration) -> Self {
        NetDevSource {
            path,
            ifaces,
            every,
        }
    }

    fn wanted(&self, name: &str) -> bool {
        if self.ifaces.is_empty() {
            name != "lo"
        } else {
            self.ifaces.iter().any(|i| i == name)
        }
    }
}

impl Source for NetDevSource {
    fn id(&self) -> String {
        ID.into()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "/proc/net/dev",
            "path": self.path.display().to_string(),
            "interfaces": if self.ifaces.is_empty() { json!("all but lo") } else { json!(self.ifaces) },
            "interval_s": self.every.as_secs_f64(),
        })
    }

    fn run(&mut self, sink: &Sink, stop: &Stop) -> Result<(), String> {
        let mut file = PolledFile::open(self.path.clone())?;
        let mut missing_reported: Vec<String> = Vec::new();
        let mut ticker = Ticker::new(self.every);
        while ticker.wait(stop) {
            let (text, after_gap) = match file.read(ID, sink) {
                FileRead::Text { text, after_gap } => (text, after_gap),
                FileRead::Failed => continue,
                FileRead::Closed => return Ok(()),
            };
            let at = sink.clock().now();
            let (rows, bad) = parse_net_dev(&text);
            if !send_bad_lines(sink, ID, at, &bad) {
                return Ok(());
            }
            for want in &self.ifaces {
                // A named interface that is absent (typo, or gone) is said once, not per poll.
                if !rows.iter().any(|r| &r.name == want) && !missing_reported.contains(want) {
                    missing_reported.push(want.clone());
                    let f = fields([("interface", json!(want))]);
                    if !sink.send_at(at, event("source.missing_interface", ID, None, f, None)) {
                        return Ok(());
                    }
                }
            }
            for r in rows.iter().filter(|r| self.wanted(&r.name)) {
                let mut flags = Flags::none();
                if after_gap {
                    flags.set(Flags::GAP);
                }
                let row = NetRow {
                    source: ID.into(),
                    interface: r.name.clone(),
                    rx_b: Some(r.rx_b),
                    tx_b: Some(r.tx_b),
                    flags,
                };
                if !sink.send_at(at, Record::Net(row)) {
                    return Ok(());
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
    fn parses_interface_lines_and_skips_headers() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0: 123456789 1000    0    0    0     0          0         0 987654321    2000    0    0    0     0       0          0\n  \
eth1: 12 x\n";
        let (ok, bad) = parse_net_dev(text);
        assert_eq!(
            ok,
            vec![
                IfaceBytes {
                    name: "lo".into(),
                    rx_b: 1000,
                    tx_b: 1000
                },
                IfaceBytes {
                    name: "eth0".into(),
                    rx_b: 123_456_789,
                    tx_b: 987_654_321
                },
            ]
        );
        assert_eq!(bad.len(), 1);
        assert!(bad[0].0.contains("eth1"));
    }
}
