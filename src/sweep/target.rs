//! Where a swept dotted path goes in the base scenario's text: the byte span of the value
//! it replaces, or the place a missing key is inserted (after its table's header, inside
//! its inline table, or under a new `[header]` at the end when its table is missing).

use std::ops::Range;
use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

/// Where one path's value goes in the base text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The key exists: its value's bytes are replaced.
    Replace(Range<usize>),
    /// The key is missing: `key = value` is inserted at byte `at`.
    Insert {
        /// Byte offset of the insertion.
        at: usize,
        /// The key relative to the table it is written in (dotted when the tables on
        /// the way are missing or have no header), already in TOML notation.
        key: String,
        /// How the pair is written there.
        style: Style,
    },
}

/// How an inserted pair is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Style {
    /// A line of its own (`at` is the start of a line).
    Line,
    /// Just after an inline table's `{`; `empty` when the table has no pairs yet (so
    /// the pair needs no comma after it unless another one follows).
    Inline {
        /// The inline table had no pairs.
        empty: bool,
    },
    /// Under a `[header]` of its own at the end of the file (`at` is the end), shared
    /// by every pair inserted with the same header.
    Table {
        /// The table's dotted path in TOML notation.
        header: String,
    },
}

/// The table a missing key is written in.
#[derive(Clone, Copy)]
enum Anchor {
    /// The document's root: the pair goes first in the file.
    Root,
    /// A `[table]` whose header line ends at this byte.
    Header(usize),
    /// An inline table whose `{` is at this byte.
    Inline(usize, bool),
}

/// A table met on the way down a path.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
}

impl<'a> Node<'a> {
    fn get(self, key: &str) -> Option<&'a Item> {
        match self {
            Node::Table(t) => t.get(key),
            Node::Inline(t) => t.get_key_value(key).map(|(_, v)| v),
        }
    }
}

/// What the deepest existing table on a path is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The root, a `[table]` with its own header, or an inline table.
    Written,
    /// Exists only through deeper headers (`a` of `[a.b]`).
    Implicit,
    /// Made by dotted keys (`x` of `x.y = 1`).
    Dotted,
}

/// Resolves dotted `path` (keys through tables: `policy.kind`, `datacenter.rack.cap`)
/// in the base document `doc`. An error says why the path cannot be set; it does not
/// repeat the path.
pub fn resolve(doc: &ImDocument<&str>, path: &str) -> Result<Target, String> {
    let text = doc.raw();
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.trim().is_empty()) {
        return Err(
            "a path is keys joined by dots, e.g. `policy.kind`; this one has an empty key".into(),
        );
    }
    let mut anchor = (Anchor::Root, 0);
    let mut deepest = Kind::Written;
    let mut node = Node::Table(doc.as_table());
    for (i, key) in keys.iter().enumerate() {
        let here = keys[..=i].join(".");
        let last = i + 1 == keys.len();
        let Some(item) = node.get(key) else {
            return Ok(insert(text, anchor, deepest, &keys, i));
        };
        match item {
            Item::None => return Ok(insert(text, anchor, deepest, &keys, i)),
            Item::Value(v) if last => {
                return v
                    .span()
                    .map(Target::Replace)
                    .ok_or_else(|| format!("`{here}` has no position in the base file"));
            }
            Item::Value(Value::InlineTable(t)) => {
                if t.is_dotted() {
                    deepest = Kind::Dotted;
                } else {
                    let open = t.span().map_or(0, |s| s.start);
                    anchor = (Anchor::Inline(open, t.is_empty()), i + 1);
                    deepest = Kind::Written;
                }
                node = Node::Inline(t);
            }
            Item::Value(v) => {
                return Err(format!(
                    "`{here}` is {}, not a table, so it has no field `{}`",
                    a_type(v),
                    keys[i + 1]
                ))
            }
            Item::Table(_) if last => {
                return Err(format!(
                    "`{here}` is a table; the path must name a value inside it"
                ))
            }
            Item::Table(t) => {
                deepest = if t.is_dotted() {
                    Kind::Dotted
                } else if t.is_implicit() {
                    Kind::Implicit
                } else {
                    let start = t.span().map_or(0, |s| s.start);
                    let end = text[start..]
                        .find('\n')
                        .map_or(text.len(), |n| start + n + 1);
                    anchor = (Anchor::Header(end), i + 1);
                    Kind::Written
                };
                node = Node::Table(t);
            }
            Item::ArrayOfTables(_) => {
                return Err(format!(
                    "`{here}` is an array of tables ([[{here}]]); a path cannot go into one"
                ))
            }
        }
    }
    // The loop returns on the last key.
    Err(format!("`{path}` names nothing"))
}

/// The insertion of `keys`, of which `keys[missing..]` do not exist; `anchor` is the
/// deepest table on the way that can take a pair, `deepest` the deepest one that exists.
fn insert(
    text: &str,
    (anchor, depth): (Anchor, usize),
    deepest: Kind,
    keys: &[&str],
    missing: usize,
) -> Target {
    let toml_key = |ks: &[&str]| {
        ks.iter()
            .map(|k| bare_or_quoted(k))
            .collect::<Vec<_>>()
            .join(".")
    };
    let (last, parent) = (keys.len() - 1, &keys[..keys.len() - 1]);
    let (at, key, style) = match anchor {
        // Inside braces, the only way is a (dotted) pair.
        Anchor::Inline(open, empty) => {
            (open + 1, toml_key(&keys[depth..]), Style::Inline { empty })
        }
        // Extending tables already made by dotted keys.
        _ if deepest == Kind::Dotted => (
            anchor_line(text, anchor),
            toml_key(&keys[depth..]),
            Style::Line,
        ),
        // A table that must be created or given its own header gets a `[header]` at the
        // end: tables made by dotted keys do not deserialise into spanned fields.
        _ if deepest == Kind::Implicit || missing < last => (
            text.len(),
            toml_key(&keys[last..]),
            Style::Table {
                header: toml_key(parent),
            },
        ),
        _ => (
            anchor_line(text, anchor),
            toml_key(&keys[last..]),
            Style::Line,
        ),
    };
    Target::Insert { at, key, style }
}

/// Where a line goes in a root or `[table]` anchor: first in the file, or just after
/// the header line.
fn anchor_line(text: &str, anchor: Anchor) -> usize {
    match anchor {
        Anchor::Header(end) => end,
        _ => bom_len(text),
    }
}

fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// A key as TOML writes it: bare when it can be, a basic string otherwise.
fn bare_or_quoted(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// "a string", "an integer", … for messages.
fn a_type(v: &Value) -> String {
    let t = v.type_name();
    let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {t}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
seed = 1
[policy]
kind = \"none\"

[datacenter]
rack = { voltage = \"208V\", cap = \"80%\" }
row = {}
dotted.x = 1
[datacenter.sub]
y = 2
[a.b]
z = 3
[[pdus]]
name = \"p\"
";

    fn at(path: &str) -> Result<Target, String> {
        let doc = ImDocument::parse(BASE).unwrap();
        resolve(&doc, path)
    }

    fn line_start(n: usize) -> usize {
        BASE.lines().take(n - 1).map(|l| l.len() + 1).sum()
    }

    #[test]
    fn existing_values_are_replaced_at_their_span() {
        // Line 3 is `kind = "none"`: the value starts 7 bytes in and is 6 bytes long.
        let kind = line_start(3) + 7;
        assert_eq!(at("policy.kind"), Ok(Target::Replace(kind..kind + 6)));
        // Line 6: `rack = { voltage = "208V", cap = "80%" }`, `"80%"` at column 34.
        let cap = line_start(6) + 33;
        assert_eq!(at("datacenter.rack.cap"), Ok(Target::Replace(cap..cap + 5)));
        assert_eq!(&BASE[cap..cap + 5], "\"80%\"");
    }

    #[test]
    fn missing_keys_go_after_their_header_in_their_inline_table_or_under_a_new_header() {
        let line = |at, key: &str| Target::Insert {
            at,
            key: key.into(),
            style: Style::Line,
        };
        // After `[policy]` (line 2), i.e. at the start of line 3.
        assert_eq!(at("policy.gain"), Ok(line(line_start(3), "gain")));
        // A root key goes first in the file.
        assert_eq!(at("description"), Ok(line(0, "description")));
        // A missing table, or one that exists only through `[a.b]`, gets a header at
        // the end.
        let table = |header: &str, key: &str| Target::Insert {
            at: BASE.len(),
            key: key.into(),
            style: Style::Table {
                header: header.into(),
            },
        };
        assert_eq!(at("output.interval"), Ok(table("output", "interval")));
        assert_eq!(at("datacenter.new.x.k"), Ok(table("datacenter.new.x", "k")));
        assert_eq!(at("a.c"), Ok(table("a", "c")));
        // After `[a.b]` (line 11).
        assert_eq!(at("a.b.q"), Ok(line(line_start(12), "q")));
        // `dotted` has no header: a dotted key after `[datacenter]` (line 5 → 6).
        assert_eq!(
            at("datacenter.dotted.w"),
            Ok(line(line_start(6), "dotted.w"))
        );
        // Just after the `{` of `rack = {` (line 6, column 8) and of `row = {}`.
        let inline = |at, empty| Target::Insert {
            at,
            key: "phases".into(),
            style: Style::Inline { empty },
        };
        assert_eq!(
            at("datacenter.rack.phases"),
            Ok(inline(line_start(6) + 8, false))
        );
        assert_eq!(
            at("datacenter.row.phases"),
            Ok(inline(line_start(7) + 7, true))
        );
        // A key that is not bare is quoted.
        assert_eq!(at("policy.odd key"), Ok(line(line_start(3), "\"odd key\"")));
    }

    #[test]
    fn paths_that_cannot_be_set_say_why() {
        assert_eq!(
            at("seed.x").unwrap_err(),
            "`seed` is an integer, not a table, so it has no field `x`"
        );
        assert_eq!(
            at("pdus.cap").unwrap_err(),
            "`pdus` is an array of tables ([[pdus]]); a path cannot go into one"
        );
        assert_eq!(
            at("policy").unwrap_err(),
            "`policy` is a table; the path must name a value inside it"
        );
        assert!(at("policy..kind").unwrap_err().contains("empty key"));
    }
}
