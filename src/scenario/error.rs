//! Configuration errors that name the file, line, column and field, and say what is valid.
//!
//! Errors are raised by field path ([`FieldError`], or [`Source::at`]) and located in the
//! text by [`super::locate`] only when reported.

use super::locate;
use crate::quote::clip;
use std::fmt;
use std::ops::Range;

/// An error in a scenario, model or trace file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given, or `models/…` with "(built-in)" for the embedded library).
    pub file: String,
    /// 1-based line, 0 when the error is about the file as a whole.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// Dotted path of the field (`pdus[2].rating`), empty when about the whole file.
    pub field: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// Input quoted in the field or message is clipped (see [`clip_message`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", clip(&self.field))?;
        }
        write!(f, ": {}", clip_message(&self.message))
    }
}

/// Characters of a message shown at most: room for a few clipped quotes and a list.
pub const MESSAGE_CHARS: usize = 2_000;

/// `message` with each quoted run (between backticks or double quotes) longer than
/// [`QUOTE_CHARS`](crate::quote::QUOTE_CHARS) clipped, and the whole at most
/// [`MESSAGE_CHARS`]: messages quote input (`unknown variant `…``), which may be a
/// megabyte long.
pub fn clip_message(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let q = rest[open..].chars().next().unwrap_or('`');
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(q).unwrap_or(rest.len());
        out.push_str(&clip(&rest[..close]));
        rest = &rest[close..];
        if let Some(r) = rest.strip_prefix(q) {
            out.push(q);
            rest = r;
        }
    }
    out.push_str(rest);
    match out.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &out[..end]),
        None => out,
    }
}

impl std::error::Error for ConfigError {}

/// An error about a field, not yet located in a file: raised while a table is read into
/// its type (a kind-tagged table is read from a buffer, where no position survives) or
/// while a section is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path relative to where the table was read (`gain`, `steps[1]`).
    pub path: String,
    /// Point at the key (an unknown field) rather than at its value.
    pub at_key: bool,
    /// What is wrong and what would be valid.
    pub message: String,
}

/// Marks a [`FieldError`] carried through serde's error type as a message.
const MARK: char = '\u{1}';

impl FieldError {
    /// An error about the value at `path`.
    pub fn value(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            at_key: false,
            message: message.into(),
        }
    }

    /// An error about the key at `path` (a field that is not valid there).
    pub fn key(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            at_key: true,
            message: message.into(),
        }
    }

    /// The same error seen from `outer` (its path prefixed).
    pub fn under(mut self, outer: &str) -> Self {
        self.path = locate::join(outer, &self.path);
        self
    }

    /// The error as a serde message (serde errors carry only text), for [`Self::decode`].
    pub fn encode(&self) -> String {
        let k = if self.at_key { 'k' } else { 'v' };
        format!("{MARK}{k}{}{MARK}{}", self.path, self.message)
    }

    /// A serde failure at `path` with `message` (which may carry an encoded error from a
    /// table read inside it). serde's own messages keep their text; an unknown field is
    /// located at its key, a missing one names itself in the path.
    pub fn decode(path: &str, message: &str) -> Self {
        if let Some(rest) = message.strip_prefix(MARK) {
            if let Some((head, msg)) = rest.split_once(MARK) {
                let at_key = head.starts_with('k');
                let inner = head.get(1..).unwrap_or("");
                return FieldError {
                    path: locate::join(path, inner),
                    at_key,
                    message: msg.to_string(),
                };
            }
        }
        let message = message.trim().to_string();
        if message.starts_with("unknown field") {
            return FieldError::key(path, message);
        }
        FieldError::value(locate::join(path, ""), message)
    }
}

/// A file's text with its name, for turning byte offsets into line and column.
pub struct Source<'a> {
    /// Name shown in errors.
    pub name: &'a str,
    /// The whole text.
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based (line, column) of byte `offset` (column counted in characters).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// An error at `span` about `field`.
    pub fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = if span.is_empty() && span.start == 0 {
            (0, 0)
        } else {
            self.line_col(span.start)
        };
        ConfigError {
            file: self.name.to_string(),
            line,
            column,
            field: clip(&field.into()),
            message: clip_message(&message.into()),
        }
    }

    /// An error about the value at `path` (or, if absent, the deepest table around it).
    pub fn at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        self.located(&FieldError::value(path, message))
    }

    /// Locates a [`FieldError`] whose path is relative to the file's root. A `missing
    /// field` names the field in the path and points at its table.
    pub fn located(&self, e: &FieldError) -> ConfigError {
        let mut field = e.path.trim_matches('.').to_string();
        let missing = e
            .message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        // The root table begins the file: a top-level field it lacks is placed at 1:1.
        let at_root = missing.is_some() && field.is_empty();
        if let Some(missing) = missing {
            field = locate::join(&field, missing);
        }
        let found = locate::find(self.text, &e.path).unwrap_or_default();
        let span = if e.at_key {
            found.key.or(found.value)
        } else {
            found.value
        };
        let (line, column) = match span {
            Some(s) => self.line_col(s.start),
            None if at_root => (1, 1),
            None => (0, 0),
        };
        ConfigError {
            file: self.name.to_string(),
            line,
            column,
            field: clip(&field),
            message: clip_message(&e.message),
        }
    }

    /// Converts a TOML syntax error (text that is not TOML at all: no field path exists),
    /// recovering the field name from the text at the error's position (`key = value` on
    /// that line, inside the last `[table]`).
    pub fn from_toml(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let (line, column) = self.line_col(span.start);
        let mut message = e.message().trim().to_string();
        if message.is_empty() {
            // toml gives no text for some errors (a file with CR-only line ends).
            let here = self.text.get(span.start..).unwrap_or("");
            message = if here.starts_with('\r') && !here.starts_with("\r\n") {
                "a carriage return (CR) without a line feed: TOML lines end in LF or CR LF (convert the file's line ends)".into()
            } else {
                "this is not valid TOML here".into()
            };
        }
        let field = self.field_at(span.start, &message);
        ConfigError {
            file: self.name.to_string(),
            line,
            column,
            field: clip(&field),
            message: clip_message(&message),
        }
    }

    /// Best-effort dotted field path at `offset`.
    fn field_at(&self, offset: usize, message: &str) -> String {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = &self.text[line_start..line_end];
        let ctx = Context::before(&before[..line_start]);
        let table = ctx.header.map(|(name, array)| {
            if array {
                let n = ctx.arrays.get(&name).copied().unwrap_or(1);
                format!("{name}[{}]", n.saturating_sub(1))
            } else {
                name
            }
        });
        // A line of a multi-line array (`levels = [` … `]`) has no key: the array's.
        let in_array = ctx.depth > 0;
        // Inline tables (`demand = { kind = … }`): the key that opens the brace.
        let upto = &self.text[line_start..offset];
        let inline_outer = upto.rfind('{').and_then(|brace| {
            let lhs = upto[..brace].trim_end().strip_suffix('=')?;
            let k = lhs
                .trim()
                .rsplit([',', '{'])
                .next()?
                .trim()
                .trim_matches('"');
            (!k.is_empty()).then(|| k.to_string())
        });
        // Unknown-field messages name the field themselves.
        let key = if let Some(rest) = message.strip_prefix("unknown field `") {
            rest.split('`').next().map(str::to_string)
        } else {
            // The last `key =` before the error position on this line (inline tables
            // hold several).
            let upto = if upto.trim().is_empty() { line } else { upto };
            upto.rfind('=').and_then(|eq| {
                let lhs = &upto[..eq];
                let start = lhs.rfind(['{', ',']).map_or(0, |i| i + 1);
                let k = lhs[start..].trim().trim_matches('"');
                (!k.is_empty()).then(|| k.to_string())
            })
        };
        let key = match (inline_outer, key) {
            (Some(o), Some(k)) if o != k => Some(format!("{o}.{k}")),
            (o, k) => k.or(o),
        };
        let key = if in_array { ctx.open_key } else { key };
        let is_header = !in_array && line.trim_start().starts_with('[');
        match (table, key) {
            (Some(t), Some(k)) if !is_header => format!("{t}.{k}"),
            (Some(t), _) => t,
            (None, Some(k)) => k,
            (None, None) => String::new(),
        }
    }
}

/// What a TOML text establishes before a line, read line by line without parsing (the
/// text has a syntax error): the last table header, how many `[[x]]` headers each name
/// has, and whether the line is inside a multi-line array (and whose).
#[derive(Default)]
struct Context {
    /// The last header's name (its comment dropped) and whether it is `[[…]]`.
    header: Option<(String, bool)>,
    /// `[[x]]` headers so far, by name.
    arrays: std::collections::HashMap<String, usize>,
    /// Open `[` of values (outside strings and comments) at the end of the text.
    depth: usize,
    /// The key whose value opened the array still open.
    open_key: Option<String>,
}

impl Context {
    fn before(text: &str) -> Context {
        let mut c = Context::default();
        let mut multiline: Option<&'static str> = None;
        for line in text.lines() {
            let t = line.trim_start();
            if multiline.is_none() && c.depth == 0 && t.starts_with('[') {
                let array = t.starts_with("[[");
                let inner = &t[if array { 2 } else { 1 }..];
                let close = inner.find(if array { "]]" } else { "]" });
                let name = inner[..close.unwrap_or(inner.len())].trim().to_string();
                if array {
                    *c.arrays.entry(name.clone()).or_default() += 1;
                }
                c.header = Some((name, array));
                continue;
            }
            let was_open = c.depth > 0;
            scan_brackets(line, &mut c.depth, &mut multiline);
            if !was_open && c.depth > 0 {
                c.open_key = line
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').to_string());
            }
        }
        c
    }
}

/// Updates the open-bracket `depth` and the open multi-line string delimiter over one
/// line, skipping strings and comments.
fn scan_brackets(line: &str, depth: &mut usize, multiline: &mut Option<&'static str>) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(d) = *multiline {
            match line.get(i..).unwrap_or("").find(d) {
                Some(k) => {
                    i += k + d.len();
                    *multiline = None;
                    continue;
                }
                None => return,
            }
        }
        match b[i] {
            b'#' => return,
            q @ (b'"' | b'\'') => {
                for d in ["\"\"\"", "'''"] {
                    if b[i..].starts_with(d.as_bytes()) {
                        *multiline = Some(d);
                    }
                }
                if multiline.is_some() {
                    i += 3;
                    continue;
                }
                i += 1;
                while i < b.len() && b[i] != q {
                    // A basic string's escape skips the next byte (`\"`).
                    i += if q == b'"' && b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'[' => {
                *depth += 1;
                i += 1;
            }
            b']' => {
                *depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source {
            name: "x.toml",
            text: "a = 1\nbb = \"2\"\n",
        };
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(11), (2, 6));
    }

    #[test]
    fn field_errors_survive_a_serde_message_and_are_located_by_path() {
        let e = FieldError::key("gain", "`group-dvfs` has no field `gain`");
        let back = FieldError::decode("policy", &e.encode());
        assert_eq!(
            back,
            FieldError::key("policy.gain", "`group-dvfs` has no field `gain`")
        );
        // serde's own unknown-field message: at the key.
        let serde_msg = FieldError::decode("pdus[0].ratting", "unknown field `ratting`");
        assert!(serde_msg.at_key);
        let s = Source {
            name: "x.toml",
            text: "a = 1\n[policy]\nkind = \"group-dvfs\"\ngain = 2\n",
        };
        // Line 4 `gain = 2`: the key at column 1, the value at column 8.
        let k = s.located(&back);
        assert_eq!((k.line, k.column, k.field.as_str()), (4, 1, "policy.gain"));
        let v = s.at("policy.gain", "too big");
        assert_eq!((v.line, v.column), (4, 8));
        // A missing field names itself and points at its table (`[policy]`, line 2).
        let m = s.located(&FieldError::decode("policy", "missing field `period`"));
        assert_eq!(
            (m.line, m.column, m.field.as_str()),
            (2, 1, "policy.period")
        );
        // A missing top-level field points at the root table, which begins the file.
        let m = s.located(&FieldError::decode("", "missing field `duration`"));
        assert_eq!((m.line, m.column, m.field.as_str()), (1, 1, "duration"));
        // The whole file: no position.
        let w = s.at("", "empty");
        assert_eq!((w.line, w.column), (0, 0));
    }
}
