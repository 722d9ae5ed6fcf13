//! Splicing a run's values into the base scenario's text, keeping a map from every byte
//! of the result back to the base text or to the value that put it there, so an error
//! found in the result can be reported where its cause was written.

use super::target::{Style, Target};

/// One change to the base text.
#[derive(Clone, Debug)]
pub struct Edit<'a> {
    /// Where the value goes.
    pub target: &'a Target,
    /// The value in TOML notation (`"90%"`, `2.5`).
    pub value: String,
}

/// Where a byte of the spliced text came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Byte offset in the base text.
    Base(usize),
    /// Written by the edit with this index (in the order given to [`splice`]).
    Edit(usize),
}

/// A run of bytes of the spliced text with one origin.
#[derive(Clone, Debug)]
struct Segment {
    /// Byte range in the spliced text.
    start: usize,
    end: usize,
    /// Its first byte's origin (a base segment maps byte for byte).
    origin: Origin,
}

/// The base text with edits applied.
#[derive(Clone, Debug)]
pub struct Spliced {
    /// The resulting text.
    pub text: String,
    /// Base text length, bytes (the origin of the end of the text).
    base_len: usize,
    segments: Vec<Segment>,
}

/// Applies `edits` to `base`. Targets must not overlap (distinct paths, none inside
/// another's value); insertions at the same place keep the order given, those under a
/// new `[header]` grouped by header.
pub fn splice(base: &str, edits: &[Edit]) -> Spliced {
    let mut order: Vec<usize> = (0..edits.len()).collect();
    order.sort_by_key(|&i| (position(edits[i].target), header(edits[i].target), i));
    let mut out = Spliced {
        text: String::with_capacity(base.len() + 64 * edits.len()),
        base_len: base.len(),
        segments: Vec::new(),
    };
    let mut cursor = 0;
    for (k, &i) in order.iter().enumerate() {
        let e = &edits[i];
        let at = position(e.target);
        out.push(&base[cursor..at], Origin::Base(cursor));
        cursor = match e.target {
            Target::Replace(r) => r.end,
            Target::Insert { .. } => at,
        };
        // Another pair inserted in the same inline table needs a comma after this one;
        // the first pair under a new header writes the header.
        let next_here = order
            .get(k + 1)
            .is_some_and(|&j| position(edits[j].target) == at);
        let new_header = k == 0 || header(edits[order[k - 1]].target) != header(e.target);
        let text = pair_text(e, &out.text, next_here, new_header);
        out.push(&text, Origin::Edit(i));
    }
    out.push(&base[cursor..], Origin::Base(cursor));
    out
}

/// Where an edit goes in the base text, bytes.
fn position(t: &Target) -> usize {
    match t {
        Target::Replace(r) => r.start,
        Target::Insert { at, .. } => *at,
    }
}

/// The new table an edit is written under, if any.
fn header(t: &Target) -> Option<&str> {
    match t {
        Target::Insert {
            style: Style::Table { header },
            ..
        } => Some(header),
        _ => None,
    }
}

/// The text edit `e` writes after `before` (the spliced text so far).
fn pair_text(e: &Edit, before: &str, next_here: bool, new_header: bool) -> String {
    let Target::Insert { key, style, .. } = e.target else {
        return e.value.clone();
    };
    let value = &e.value;
    // A header on the file's last line has no newline to insert after.
    let nl = if before.is_empty() || before.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    match style {
        Style::Line => format!("{nl}{key} = {value}\n"),
        Style::Inline { empty } if *empty && !next_here => format!(" {key} = {value} "),
        Style::Inline { .. } => format!(" {key} = {value},"),
        Style::Table { header } if new_header => {
            format!("{nl}\n[{header}]\n{key} = {value}\n")
        }
        Style::Table { .. } => format!("{key} = {value}\n"),
    }
}

impl Spliced {
    fn push(&mut self, s: &str, origin: Origin) {
        if s.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(s);
        self.segments.push(Segment {
            start,
            end: self.text.len(),
            origin,
        });
    }

    /// Where byte `offset` of the spliced text came from (the end of the text maps to
    /// the end of the base).
    pub fn origin(&self, offset: usize) -> Origin {
        let i = self.segments.partition_point(|s| s.end <= offset);
        match self.segments.get(i) {
            Some(s) => match s.origin {
                Origin::Base(b) => Origin::Base(b + (offset - s.start)),
                edit => edit,
            },
            None => Origin::Base(self.base_len),
        }
    }

    /// Byte offset of 1-based `line` and `column` (columns count characters, as
    /// [`crate::scenario::error::Source::line_col`] does); `None` past the end.
    pub fn offset_of(&self, line: usize, column: usize) -> Option<usize> {
        let mut start = 0;
        for _ in 1..line {
            start += self.text[start..].find('\n')? + 1;
        }
        let rest = &self.text[start..];
        let col = rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i);
        Some(start + col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::error::Source;

    fn line(at: usize, key: &str) -> Target {
        Target::Insert {
            at,
            key: key.into(),
            style: Style::Line,
        }
    }

    #[test]
    fn replaced_and_inserted_bytes_map_back() {
        let base = "[policy]\nkind = \"none\"\nrack = {}\n";
        let kind = Target::Replace(16..22);
        let gain = line(9, "gain");
        let seed = line(0, "seed");
        let a = Target::Insert {
            at: 31,
            key: "a".into(),
            style: Style::Inline { empty: true },
        };
        let b = Target::Insert {
            at: 31,
            key: "b".into(),
            style: Style::Inline { empty: true },
        };
        let edit = |target, value: &str| Edit {
            target,
            value: value.into(),
        };
        let edits = [
            edit(&kind, "\"idle\""),
            edit(&gain, "0.5"),
            edit(&seed, "7"),
            edit(&a, "1"),
            edit(&b, "2"),
        ];
        let s = splice(base, &edits);
        assert_eq!(
            s.text,
            "seed = 7\n[policy]\ngain = 0.5\nkind = \"idle\"\nrack = { a = 1, b = 2 }\n"
        );
        // Line 1 is the inserted seed; `[policy]` is base byte 0 at spliced line 2.
        assert_eq!(s.origin(s.offset_of(1, 1).unwrap()), Origin::Edit(2));
        assert_eq!(s.origin(s.offset_of(2, 1).unwrap()), Origin::Base(0));
        assert_eq!(s.origin(s.offset_of(3, 8).unwrap()), Origin::Edit(1));
        // `kind = "idle"` on spliced line 4: the key is the base's (line 2, column 1),
        // the value column 8 is the edit's.
        let base_src = Source {
            name: "b",
            text: base,
        };
        match s.origin(s.offset_of(4, 1).unwrap()) {
            Origin::Base(o) => assert_eq!(base_src.line_col(o), (2, 1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.origin(s.offset_of(4, 8).unwrap()), Origin::Edit(0));
        // `rack = {` is the base's; ` a = 1,` edit 3; ` b = 2 ` edit 4; `}` the base's.
        assert_eq!(s.origin(s.offset_of(5, 10).unwrap()), Origin::Edit(3));
        assert_eq!(s.origin(s.offset_of(5, 17).unwrap()), Origin::Edit(4));
        assert_eq!(s.origin(s.offset_of(5, 23).unwrap()), Origin::Base(31));
        assert_eq!(s.origin(s.text.len()), Origin::Base(base.len()));
        assert_eq!(s.offset_of(9, 1), None);
    }

    #[test]
    fn a_header_on_the_last_line_gets_a_newline_first() {
        let t = line(8, "kind");
        let s = splice(
            "[policy]",
            &[Edit {
                target: &t,
                value: "\"none\"".into(),
            }],
        );
        assert_eq!(s.text, "[policy]\nkind = \"none\"\n");
    }

    #[test]
    fn pairs_under_one_new_header_share_it() {
        // At the end of the 14-byte base.
        let table = |header: &str, key: &str| Target::Insert {
            at: 14,
            key: key.into(),
            style: Style::Table {
                header: header.into(),
            },
        };
        let (a, b, c) = (
            table("policy", "kind"),
            table("output", "vms"),
            table("policy", "gain"),
        );
        let edits: Vec<Edit> = [(&a, "\"idle\""), (&b, "true"), (&c, "0.5")]
            .into_iter()
            .map(|(target, v)| Edit {
                target,
                value: v.into(),
            })
            .collect();
        // The base does not end in a newline.
        let s = splice("seed = 1\nx = 2", &edits);
        assert_eq!(
            s.text,
            "seed = 1\nx = 2\n\n[output]\nvms = true\n\n[policy]\nkind = \"idle\"\ngain = 0.5\n"
        );
        // The `[policy]` header belongs to its first pair.
        assert_eq!(s.origin(s.offset_of(7, 1).unwrap()), Origin::Edit(0));
        assert_eq!(s.origin(s.offset_of(9, 1).unwrap()), Origin::Edit(2));
        assert_eq!(s.origin(s.offset_of(2, 5).unwrap()), Origin::Base(13));
    }
}
