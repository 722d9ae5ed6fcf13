//! Where a field is in a TOML text: a dotted field path (`vms[3].demand.level`) mapped to
//! the byte span of its key and of its value.
//!
//! Errors are located by path rather than by `toml::Spanned` fields because serde buffers
//! a kind-tagged table before it picks the kind's fields, and positions do not survive the
//! buffer. The text is parsed again (with `toml_edit`, whose document keeps every span)
//! only when an error is reported, so a valid file costs nothing here.

use std::ops::Range;
use toml_edit::{ImDocument, Item, Value};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An index into an array or an array of tables (0-based).
    Index(usize),
}

/// Splits `pdus[2].rating` into `pdus`, `[2]`, `rating`. Segments serde uses for its own
/// bookkeeping (`$__serde_spanned_private_value`) are dropped, and so is `.`, serde's name
/// for the root.
pub fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() && !key.starts_with("$__") {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Joins two relative paths (`vms[0].demand` + `level`, `steps` + `[1]`).
pub fn join(outer: &str, inner: &str) -> String {
    let outer = outer.trim_matches('.');
    let inner = inner.trim_matches('.');
    match (outer.is_empty(), inner.is_empty()) {
        (_, true) => outer.to_string(),
        (true, false) => inner.to_string(),
        (false, false) if inner.starts_with('[') => format!("{outer}{inner}"),
        (false, false) => format!("{outer}.{inner}"),
    }
}

/// The spans found for a path: those of its deepest part present in the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Span of the last key found (none for an array element or the root).
    pub key: Option<Range<usize>>,
    /// Span of the value (or table) at the deepest part found.
    pub value: Option<Range<usize>>,
    /// Whether the whole path was found.
    pub complete: bool,
}

/// A place in the document: tables of an array of tables and array elements are not
/// `Item`s, so a node is one of three.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a toml_edit::Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn table_like(self) -> Option<&'a dyn toml_edit::TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t),
            Node::Value(Value::InlineTable(t)) => Some(t),
            Node::Value(_) => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }

    /// The child at `seg` and the span of its key (none for an element).
    fn child(self, seg: &Segment) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match seg {
            Segment::Key(k) => {
                let (key, item) = self.table_like()?.get_key_value(k)?;
                Some((key.span(), Node::Item(item)))
            }
            Segment::Index(i) => match self {
                Node::Item(Item::ArrayOfTables(a)) => Some((None, Node::Table(a.get(*i)?))),
                Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                    Some((None, Node::Value(a.get(*i)?)))
                }
                _ => None,
            },
        }
    }
}

/// Looks `path` up in `text`; `None` if the text is not valid TOML.
pub fn find(text: &str, path: &str) -> Option<Found> {
    let doc = ImDocument::parse(text).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut found = Found {
        complete: true,
        ..Found::default()
    };
    for seg in segments(path) {
        let Some((key, next)) = node.child(&seg) else {
            found.complete = false;
            break;
        };
        node = next;
        // A dotted-key table (`rack.cap = …`) has no span of its own: use its key's.
        found.value = node.span().or_else(|| key.clone());
        found.key = key;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indices() {
        use Segment::*;
        assert_eq!(
            segments("vms[3].demand.steps[1][0]"),
            vec![
                Key("vms".into()),
                Index(3),
                Key("demand".into()),
                Key("steps".into()),
                Index(1),
                Index(0)
            ]
        );
        assert_eq!(segments("."), vec![]);
        assert_eq!(
            segments("pdus[0].cap.$__serde_spanned_private_value"),
            vec![Key("pdus".into()), Index(0), Key("cap".into())]
        );
        assert_eq!(join("vms[0].demand", "level"), "vms[0].demand.level");
        assert_eq!(join("steps", "[1]"), "steps[1]");
        assert_eq!(join(".", "level"), "level");
    }

    #[test]
    fn keys_and_values_are_found_in_every_kind_of_table() {
        let text = "a = 1\n[[p]]\nx = 1\n[[p]]\ny = \"v\"\nd = { k = 'c', s = [['0s', '1%']] }\n[q.r]\nz = 3\n[t]\nu.w = 4\n";
        let at = |path: &str| {
            let f = find(text, path).unwrap();
            (
                f.key.map(|k| &text[k]),
                f.value.map(|v| &text[v]),
                f.complete,
            )
        };
        assert_eq!(at("p[1].y"), (Some("y"), Some("\"v\""), true));
        assert_eq!(at("p[1].d.k"), (Some("k"), Some("'c'"), true));
        assert_eq!(at("p[1].d.s[0][1]"), (None, Some("'1%'"), true));
        assert_eq!(at("q.r.z"), (Some("z"), Some("3"), true));
        // A dotted key's table has no span: its key stands for it.
        assert_eq!(at("t.u"), (Some("u"), Some("u"), true));
        assert_eq!(at("t.u.w"), (Some("w"), Some("4"), true));
        // Missing at the end: the deepest part present, marked incomplete.
        assert_eq!(
            at("p[1].d.level"),
            (Some("d"), Some("{ k = 'c', s = [['0s', '1%']] }"), false)
        );
        let (_, table, complete) = at("p[0].nope");
        assert!(table.unwrap().starts_with("[[p]]\nx = 1") && !complete);
        assert!(find("a = ", "a").is_none());
    }
}
