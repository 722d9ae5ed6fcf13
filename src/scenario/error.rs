//! Configuration errors that name the file, line, column and field, and say what is valid.

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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

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
            field: field.into(),
            message: message.into(),
        }
    }

    /// Converts a TOML parse or type error, recovering the field name from the text at
    /// the error's position (`key = value` on that line, inside the last `[table]`).
    pub fn from_toml(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let (line, column) = self.line_col(span.start);
        let message = e.message().trim().to_string();
        let field = self.field_at(span.start, &message);
        ConfigError {
            file: self.name.to_string(),
            line,
            column,
            field,
            message,
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
        // The table this line belongs to: the last `[x]` or `[[x]]` header above, with
        // its index among earlier `[[x]]` headers for arrays of tables.
        let header = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['));
        let table = header.map(|h| {
            let name = h.trim_matches(|c| c == '[' || c == ']').trim();
            if h.starts_with("[[") {
                let n = before[..line_start]
                    .lines()
                    .filter(|l| l.trim() == h)
                    .count();
                format!("{name}[{}]", n.saturating_sub(1))
            } else {
                name.to_string()
            }
        });
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
        match (table, key) {
            (Some(t), Some(k)) if !line.trim_start().starts_with('[') => format!("{t}.{k}"),
            (Some(t), _) => t,
            (None, Some(k)) => k,
            (None, None) => String::new(),
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
}
