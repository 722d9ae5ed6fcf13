//! Quoting input in error messages: at most [`QUOTE_CHARS`] characters, so a 1 MB line
//! never lands on stderr. A bottom-level module: units, scenarios, traces and calibration
//! inputs all quote through it.

/// Characters of input quoted in an error at most.
pub const QUOTE_CHARS: usize = 200;

/// `s` if it has at most [`QUOTE_CHARS`] characters, else its first ones and "…".
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}
