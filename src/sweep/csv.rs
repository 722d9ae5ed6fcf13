//! Reading back the CSV files a sweep writes (`runs.csv`): records with their line
//! numbers, a quoted field may hold commas, quotes and newlines (a failed run's error).

/// One record of a CSV text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// 1-based line the record starts on.
    pub line: usize,
    /// The record's bytes as written, without its terminating newline.
    pub raw: &'a str,
    /// Its fields, unquoted.
    pub fields: Vec<String>,
    /// Whether a newline ends it (the last record of a file cut short has none).
    pub terminated: bool,
}

/// Splits `text` into records (our own writer's quoting: `"` around a field holding a
/// comma, quote or newline, `""` for a quote inside).
pub fn records(text: &str) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let (mut start, mut line, mut start_line) = (0, 1, 1);
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek().map(|p| p.1) == Some('"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            ('\n', false) => {
                fields.push(std::mem::take(&mut cur));
                out.push(Record {
                    line: start_line,
                    raw: &text[start..i],
                    fields: std::mem::take(&mut fields),
                    terminated: true,
                });
                line += 1;
                start = i + 1;
                start_line = line;
            }
            ('\n', true) => {
                cur.push(c);
                line += 1;
            }
            _ => cur.push(c),
        }
    }
    if start < text.len() {
        fields.push(cur);
        out.push(Record {
            line: start_line,
            raw: &text[start..],
            fields,
            terminated: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_may_span_lines_and_a_cut_record_is_flagged() {
        let text = "id,error\na,\"x, \"\"y\"\"\nz\"\nb,";
        let r = records(text);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].line, 2);
        assert_eq!(r[1].fields, ["a", "x, \"y\"\nz"]);
        assert_eq!(r[1].raw, "a,\"x, \"\"y\"\"\nz\"");
        assert!(r[1].terminated);
        assert_eq!((r[2].line, r[2].terminated), (4, false));
        assert_eq!(r[2].fields, ["b", ""]);
        assert!(records("").is_empty());
    }
}
