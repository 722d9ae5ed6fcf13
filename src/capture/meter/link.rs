//! Line transports to a meter: an RS-232 (or USB–serial) port, or a USB-TMC device file.
//!
//! Commands are ASCII lines ending in LF; replies are read up to LF (a trailing CR is
//! dropped). Every read has a deadline so a silent meter is noticed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// Where a meter is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Port {
    /// A serial device (8N1, no handshake) at `baud` bit/s.
    Serial {
        /// Device path, e.g. `/dev/ttyUSB0`.
        path: String,
        /// Baud rate, bit/s.
        baud: u32,
    },
    /// A Linux USB-TMC character device (`/dev/usbtmcN`): one write per command, one read
    /// per reply.
    Usbtmc {
        /// Device path.
        path: String,
    },
}

impl Port {
    /// The port for `path`: USB-TMC when the file name starts with `usbtmc`, else serial.
    pub fn for_path(path: &str, baud: u32) -> Port {
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with("usbtmc") {
            Port::Usbtmc {
                path: path.to_string(),
            }
        } else {
            Port::Serial {
                path: path.to_string(),
                baud,
            }
        }
    }

    /// The device path.
    pub fn path(&self) -> &str {
        match self {
            Port::Serial { path, .. } | Port::Usbtmc { path } => path,
        }
    }

    /// Manifest description of the interface.
    pub(crate) fn describe(&self) -> serde_json::Value {
        match self {
            Port::Serial { path, baud } => serde_json::json!({
                "interface": "serial", "device": path, "baud": baud,
                "framing": "8N1", "handshake": "none", "terminator": "LF out, CR+LF or LF in",
            }),
            Port::Usbtmc { path } => serde_json::json!({"interface": "usbtmc", "device": path}),
        }
    }

    /// Opens the port.
    pub(crate) fn open(&self) -> Result<Box<dyn Link>, String> {
        match self {
            Port::Serial { path, baud } => {
                let p = serialport::new(path, *baud)
                    .data_bits(serialport::DataBits::Eight)
                    .parity(serialport::Parity::None)
                    .stop_bits(serialport::StopBits::One)
                    .flow_control(serialport::FlowControl::None)
                    .timeout(Duration::from_millis(100))
                    .open()
                    .map_err(|e| format!("{path}: cannot open serial port: {e}"))?;
                Ok(Box::new(SerialLink {
                    port: p,
                    buf: Vec::new(),
                }))
            }
            Port::Usbtmc { path } => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| format!("{path}: cannot open USB-TMC device: {e}"))?;
                Ok(Box::new(UsbtmcLink { file: f }))
            }
        }
    }
}

/// A line-oriented connection to an instrument.
pub(crate) trait Link: Send {
    /// Sends one command line (LF appended).
    fn send(&mut self, cmd: &str) -> io::Result<()>;
    /// Reads one reply line within `timeout`; `ErrorKind::TimedOut` when none came.
    fn read_line(&mut self, timeout: Duration) -> io::Result<String>;
    /// Drops any unread input (a late reply to an earlier, timed-out query).
    fn clear_input(&mut self);
}

struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    buf: Vec<u8>,
}

impl Link for SerialLink {
    fn send(&mut self, cmd: &str) -> io::Result<()> {
        // One write per command line.
        self.port.write_all(format!("{cmd}\n").as_bytes())?;
        self.port.flush()
    }

    fn read_line(&mut self, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&line);
                return Ok(s.trim_end_matches(['\r', '\n']).to_string());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"));
            }
            self.port
                .set_timeout((deadline - now).max(Duration::from_millis(1)))?;
            let mut tmp = [0u8; 256];
            match self.port.read(&mut tmp) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn clear_input(&mut self) {
        self.buf.clear();
        let _ = self.port.clear(serialport::ClearBuffer::Input);
    }
}

struct UsbtmcLink {
    file: File,
}

/// `USBTMC_IOCTL_SET_TIMEOUT` (`_IOW('[', 10, u32)`), timeout in ms.
const USBTMC_IOCTL_SET_TIMEOUT: libc::c_ulong = 0x4004_5b0a;

impl Link for UsbtmcLink {
    fn send(&mut self, cmd: &str) -> io::Result<()> {
        self.file.write_all(format!("{cmd}\n").as_bytes())
    }

    fn read_line(&mut self, timeout: Duration) -> io::Result<String> {
        use std::os::unix::io::AsRawFd;
        let ms: u32 = timeout.as_millis().clamp(1, u32::MAX as u128) as u32;
        // Best effort: a plain file (tests) rejects the ioctl and reads at once anyway.
        // SAFETY: the fd is open for the call and `ms` outlives it.
        unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                USBTMC_IOCTL_SET_TIMEOUT as _,
                &ms as *const u32,
            );
        }
        let mut buf = vec![0u8; 4096];
        match self.file.read(&mut buf) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::TimedOut, "no reply")),
            Ok(n) => Ok(String::from_utf8_lossy(&buf[..n])
                .trim_end_matches(['\r', '\n'])
                .to_string()),
            // The usbtmc driver reports its timeout as ETIMEDOUT.
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"))
            }
            Err(e) => Err(e),
        }
    }

    fn clear_input(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_kind_from_path() {
        assert_eq!(
            Port::for_path("/dev/usbtmc0", 9600),
            Port::Usbtmc {
                path: "/dev/usbtmc0".into()
            }
        );
        assert_eq!(
            Port::for_path("/dev/ttyUSB0", 19200),
            Port::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 19200
            }
        );
    }
}
