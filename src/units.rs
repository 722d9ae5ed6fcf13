//! Quantities written as strings with units ("600MiB", "15s", "1Gbps", "30A").
//!
//! Each type deserialises from a string, so a wrong unit is reported by the TOML parser
//! with the file, line and column of the offending value. Negative quantities are never
//! valid in a model or scenario and are rejected here.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// Splits "12.5ms" into (12.5, "ms"); spaces between number and unit are allowed.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || c == '.'
                || c == '_'
                || ((c == '-' || c == '+')
                    && (i == 0 || matches!(s.as_bytes()[i - 1], b'e' | b'E')))
                || ((c == 'e' || c == 'E')
                    && i > 0
                    && s[i + 1..]
                        .starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+')))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let num: String = s[..end].chars().filter(|&c| c != '_').collect();
    let v: f64 = num.parse().ok()?;
    Some((v, s[end..].trim()))
}

/// Parses `s` as a number followed by one of `units` (name, factor to the SI base unit),
/// at most `max` (with `max_text`, how the limit is written) in the base unit.
fn parse_with(
    text: &str,
    what: &str,
    units: &[(&str, f64)],
    (max, max_text): (f64, &str),
) -> Result<f64, String> {
    // Quoted in messages at most 200 characters long.
    let s = &crate::quote::clip(text);
    let valid = || {
        units
            .iter()
            .map(|(u, _)| format!("\"1{u}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (v, unit) = split_number(text).ok_or_else(|| {
        format!(
            "`{s}` is not a {what}: expected a number followed by a unit, one of {}",
            valid()
        )
    })?;
    let factor = units
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            if unit.is_empty() {
                format!("`{s}` has no unit: a {what} needs one of {}", valid())
            } else {
                format!(
                    "`{s}`: unit `{}` is not a {what} unit; valid: {}",
                    crate::quote::clip(unit),
                    valid()
                )
            }
        })?;
    if !v.is_finite() {
        return Err(format!("`{s}` is not a finite {what}"));
    }
    if v < 0.0 {
        return Err(format!(
            "`{s}`: a {what} cannot be negative; write a value of zero or more, e.g. {}",
            valid()
        ));
    }
    // Also catches a finite number that overflows in its unit ("1e308kW" is inf W).
    let x = v * factor;
    if !x.is_finite() || x > max {
        return Err(format!("`{s}` is too large: a {what} must be {max_text}"));
    }
    Ok(x)
}

/// No limit beyond a finite value.
const FINITE: (f64, &str) = (f64::MAX, "finite in its base unit");

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $what:expr, $base:literal, [$(($u:literal, $f:expr)),+ $(,)?]) => {
        quantity!($(#[$doc])* $name, $what, $base, [$(($u, $f)),+], FINITE);
    };
    ($(#[$doc:meta])* $name:ident, $what:expr, $base:literal, [$(($u:literal, $f:expr)),+ $(,)?], $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
        pub struct $name(pub f64);

        impl $name {
            /// Units accepted, with their factor to the base unit.
            pub const UNITS: &'static [(&'static str, f64)] = &[$(($u, $f)),+];
            /// The largest value accepted (base unit) and how it is written.
            pub const MAX: (f64, &'static str) = $max;
            #[doc = concat!("The value in ", $base, ".")]
            pub fn get(self) -> f64 { self.0 }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_with(s, $what, Self::UNITS, Self::MAX).map($name)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} as a string with a unit, e.g. \"{}\"", $what, concat!("1", $base))
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        Err(E::custom(format!("{v} has no unit: write it as a string with a unit, e.g. \"{v}{}\"", $base)))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        self.visit_i64(v as i64)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        Err(E::custom(format!("{v} has no unit: write it as a string with a unit, e.g. \"{v}{}\"", $base)))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

quantity!(
    /// A power in watts.
    Power, "power", "W", [("W", 1.0), ("kW", 1e3), ("MW", 1e6), ("mW", 1e-3)]
);
quantity!(
    /// An electric current in amperes.
    Current, "current", "A", [("A", 1.0), ("mA", 1e-3), ("kA", 1e3)]
);
quantity!(
    /// A voltage in volts.
    Voltage, "voltage", "V", [("V", 1.0), ("mV", 1e-3), ("kV", 1e3)],
    // Above transmission voltages nothing is a PDU; "1e308V" made every cap infinite.
    (1e6, "at most \"1000kV\" (1 MV)")
);
quantity!(
    /// An energy in joules.
    Energy, "energy", "J", [("J", 1.0), ("kJ", 1e3), ("MJ", 1e6), ("Wh", 3600.0), ("kWh", 3.6e6)]
);
quantity!(
    /// A frequency in hertz.
    Frequency, "frequency", "Hz", [("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6), ("GHz", 1e9)]
);
quantity!(
    /// A data rate in bits per second.
    Bitrate, "data rate", "bps", [
        ("bps", 1.0), ("kbps", 1e3), ("Mbps", 1e6), ("Gbps", 1e9),
        ("B/s", 8.0), ("kB/s", 8e3), ("MB/s", 8e6), ("GB/s", 8e9),
        ("KiB/s", 8.0 * 1024.0), ("MiB/s", 8.0 * 1048576.0), ("GiB/s", 8.0 * 1073741824.0)
    ]
);
quantity!(
    /// An amount of data in bytes.
    Bytes, "size", "B", [
        ("B", 1.0), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12),
        ("KiB", 1024.0), ("MiB", 1048576.0), ("GiB", 1073741824.0), ("TiB", 1099511627776.0)
    ]
);
quantity!(
    /// A duration in seconds (converted to integer nanoseconds by [`Seconds::nanos`]).
    Seconds, "duration", "s", [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0),
        ("min", 60.0), ("h", 3600.0), ("d", 86400.0)
    ],
    // Times are integer nanoseconds in a u64: 2^64 ns is 18,446,744,073.7 s. Beyond it
    // a duration would saturate silently.
    (MAX_SECONDS, "at most \"18446744073s\" (about 584 years, the longest time in integer nanoseconds)")
);

/// The longest duration accepted, whole seconds below 2^64 ns.
pub const MAX_SECONDS: f64 = 18_446_744_073.0;
quantity!(
    /// A fraction written as a percentage ("80%"); the value is the fraction (0.8).
    Percent, "percentage", "%", [("%", 0.01)]
);

quantity!(
    /// An event rate per second ("50/s"), e.g. writes per page per second.
    Rate, "rate", "/s", [("/s", 1.0), ("/ms", 1e3), ("/min", 1.0 / 60.0), ("/h", 1.0 / 3600.0), ("Hz", 1.0)]
);

impl Seconds {
    /// The duration in integer nanoseconds, rounded to nearest.
    pub fn nanos(self) -> u64 {
        crate::engine::time::secs_to_nanos(self.0)
    }
}

/// A duration field that may also be "none" (no value: e.g. a fuse never resets).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SecondsOrNone(pub Option<f64>);

impl<'de> Deserialize<'de> for SecondsOrNone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "none" {
            Ok(SecondsOrNone(None))
        } else {
            s.parse::<Seconds>()
                .map(|v| SecondsOrNone(Some(v.0)))
                .map_err(|e| de::Error::custom(format!("{e}, or \"none\"")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("600MiB".parse::<Bytes>().unwrap().0, 600.0 * 1048576.0);
        assert_eq!("15s".parse::<Seconds>().unwrap().nanos(), 15_000_000_000);
        assert_eq!("100 ms".parse::<Seconds>().unwrap().nanos(), 100_000_000);
        assert_eq!("1Gbps".parse::<Bitrate>().unwrap().0, 1e9);
        assert_eq!("2.67GHz".parse::<Frequency>().unwrap().0, 2.67e9);
        assert_eq!("80%".parse::<Percent>().unwrap().0, 0.8);
        assert_eq!("1.5e3W".parse::<Power>().unwrap().0, 1500.0);
        assert_eq!("1_000W".parse::<Power>().unwrap().0, 1000.0);
        assert_eq!("50/s".parse::<Rate>().unwrap().0, 50.0);
        assert_eq!("120/min".parse::<Rate>().unwrap().0, 2.0);
    }

    #[test]
    fn errors_say_what_is_valid() {
        let e = "30V".parse::<Current>().unwrap_err();
        assert!(
            e.contains("unit `V` is not a current unit") && e.contains("\"1A\""),
            "{e}"
        );
        let e = "30".parse::<Current>().unwrap_err();
        assert!(e.contains("has no unit"), "{e}");
        let e = "-30A".parse::<Current>().unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = "fast".parse::<Seconds>().unwrap_err();
        assert!(e.contains("expected a number"), "{e}");
    }

    #[test]
    fn values_past_their_limits_are_errors_not_infinities() {
        // 1e308 × 1000 overflows to inf W: before, an infinite cap.
        let e = "1e308kW".parse::<Power>().unwrap_err();
        assert!(e.contains("too large") && e.contains("finite"), "{e}");
        // A voltage above 1 MV (1e308 V made every cap infinite); 1 MV itself is valid.
        let e = "1e308V".parse::<Voltage>().unwrap_err();
        assert!(e.contains("too large") && e.contains("1 MV"), "{e}");
        assert_eq!("1000kV".parse::<Voltage>().unwrap().0, 1e6);
        // 1e20 s is 1e29 ns, past u64 (it saturated at u64::MAX ns). The limit,
        // 18446744073 s, is 1.8446744073e19 ns (to f64 precision, 2^11 ns at this
        // size), below u64::MAX ≈ 1.8446744073709552e19: not saturated.
        let e = "1e20s".parse::<Seconds>().unwrap_err();
        assert!(e.contains("584 years"), "{e}");
        let e = "213504d".parse::<Seconds>().unwrap_err();
        assert!(e.contains("584 years"), "213504 d = 1.8447e10 s: {e}");
        let max = "18446744073s".parse::<Seconds>().unwrap().nanos();
        assert!(max < u64::MAX && max.abs_diff(18_446_744_073_000_000_000) <= 2048);
        // A long value is quoted in 200 characters and an ellipsis.
        let long = format!("1{}", "0".repeat(10_000));
        let e = format!("{long}W").parse::<Power>().unwrap_err();
        assert!(e.len() < 400 && e.contains('…'), "{} bytes", e.len());
    }
}
