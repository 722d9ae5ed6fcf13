//! Kind-tagged tables (`kind = "…"`, `mechanism = "…"`): one struct per kind, and a field
//! the chosen kind does not take is an error naming the field, the kind and its fields.
//!
//! serde's `#[serde(tag = "kind")]` would do the dispatch, but it buffers the table in its
//! private `Content` type, after which neither a position nor a field path survives (an
//! error inside the kind comes back about the whole table). Here the table is buffered as
//! a `toml::Table` instead, the kind's struct is read from it with its path tracked, and
//! failures travel out as [`FieldError`]s to be located by path. Each kind's fields are
//! its struct's: serde hands them to `deserialize_struct`, and [`fields_of`] asks for them.
//!
//! - [`Part`]: a struct whose fields are taken out of a table (`part!` for a derived
//!   struct, `parts!` for a struct made of parts: a `#[serde(flatten)]` that still denies
//!   unknown fields).
//! - [`Kinds`]: an enum with one variant per kind (`tagged!`), valid kinds written once.
//! - [`Tagged`]: a family's common part plus its kind, as one `Deserialize`.

use super::error::FieldError;
use super::parse::from_value;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A struct read from the fields of a table that it names, leaving the others.
pub trait Part: Sized {
    /// The field names it takes, in declaration order.
    fn fields() -> Vec<&'static str>;
    /// Takes its fields out of `table` and reads them.
    fn take(table: &mut toml::Table) -> Result<Self, FieldError>;
}

/// No fields (a kind that takes only the family's common ones).
impl Part for () {
    fn fields() -> Vec<&'static str> {
        Vec::new()
    }
    fn take(_: &mut toml::Table) -> Result<Self, FieldError> {
        Ok(())
    }
}

/// Takes `T`'s fields out of `table` and reads `T` from them (for `part!`).
pub fn take_part<T: DeserializeOwned>(table: &mut toml::Table) -> Result<T, FieldError> {
    let mut mine = toml::Table::new();
    for f in fields_of::<T>() {
        if let Some(v) = table.remove(*f) {
            mine.insert(f.to_string(), v);
        }
    }
    from_value(toml::Value::Table(mine))
}

/// Makes derived structs (with `#[serde(deny_unknown_fields)]`) [`Part`]s.
macro_rules! part {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::scenario::tagged::Part for $t {
            fn fields() -> Vec<&'static str> {
                $crate::scenario::tagged::fields_of::<$t>().to_vec()
            }
            fn take(
                table: &mut toml::Table,
            ) -> Result<Self, $crate::scenario::error::FieldError> {
                $crate::scenario::tagged::take_part(table)
            }
        }
    )*};
}
pub(crate) use part;

/// A struct made of [`Part`]s: its fields are theirs, in order.
macro_rules! parts {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }

        impl $crate::scenario::tagged::Part for $name {
            fn fields() -> Vec<&'static str> {
                let mut v = Vec::new();
                $(v.extend(<$t as $crate::scenario::tagged::Part>::fields());)*
                v
            }
            fn take(
                table: &mut toml::Table,
            ) -> Result<Self, $crate::scenario::error::FieldError> {
                Ok($name { $($f: <$t as $crate::scenario::tagged::Part>::take(table)?),* })
            }
        }
    };
}
pub(crate) use parts;

/// An enum with one variant per kind, each holding its kind's [`Part`].
pub trait Kinds: Sized {
    /// The field that names the kind (`kind`, `mechanism`).
    const TAG: &'static str;
    /// What a kind is called in messages, with its article (`a policy`, `an action`).
    const WHAT: &'static str;
    /// Every kind, in declaration order.
    const KINDS: &'static [&'static str];
    /// The fields of `kind` (`None`: not a kind).
    fn fields_of(kind: &str) -> Option<Vec<&'static str>>;
    /// Reads `kind`'s part from `table`.
    fn take(kind: &str, table: &mut toml::Table) -> Result<Self, FieldError>;
    /// This value's kind.
    fn kind(&self) -> &'static str;
}

/// Declares a [`Kinds`] enum: `"name" => Variant(PartType)` per kind, each with its doc.
macro_rules! tagged {
    (
        $(#[$m:meta])*
        pub enum $name:ident { tag: $tag:literal, what: $what:literal,
            $($(#[$vm:meta])* $kind:literal => $var:ident($t:ty)),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug)]
        pub enum $name { $($(#[$vm])* $var($t)),* }

        impl $crate::scenario::tagged::Kinds for $name {
            const TAG: &'static str = $tag;
            const WHAT: &'static str = $what;
            const KINDS: &'static [&'static str] = &[$($kind),*];
            fn fields_of(kind: &str) -> Option<Vec<&'static str>> {
                match kind {
                    $($kind => Some(<$t as $crate::scenario::tagged::Part>::fields()),)*
                    _ => None,
                }
            }
            fn take(
                kind: &str,
                table: &mut toml::Table,
            ) -> Result<Self, $crate::scenario::error::FieldError> {
                match kind {
                    $($kind => <$t as $crate::scenario::tagged::Part>::take(table).map($name::$var),)*
                    _ => Err($crate::scenario::tagged::unknown_kind::<Self>(kind)),
                }
            }
            fn kind(&self) -> &'static str {
                match self { $($name::$var(_) => $kind),* }
            }
        }
    };
}
pub(crate) use tagged;

/// `` `x` is not a policy; valid: none, dvfs, … `` (at the tag).
pub fn unknown_kind<K: Kinds>(kind: &str) -> FieldError {
    FieldError::value(
        K::TAG,
        format!(
            "`{kind}` is not {}; valid: {}",
            K::WHAT,
            K::KINDS.join(", ")
        ),
    )
}

/// A family's fields common to every kind, and the kind with its own fields.
#[derive(Debug)]
pub struct Tagged<C, K> {
    /// Fields every kind takes.
    pub common: C,
    /// The kind and its fields.
    pub kind: K,
}

impl<C: Part, K: Kinds> Tagged<C, K> {
    /// Reads a table whose kind is its `K::TAG` field.
    pub fn from_table(mut table: toml::Table) -> Result<Self, FieldError> {
        let kind = match table.remove(K::TAG) {
            Some(toml::Value::String(s)) => s,
            Some(_) => {
                return Err(FieldError::value(
                    K::TAG,
                    format!("must be a string: one of {}", K::KINDS.join(", ")),
                ))
            }
            None => {
                return Err(FieldError::value(
                    "",
                    format!("missing field `{}`: one of {}", K::TAG, K::KINDS.join(", ")),
                ))
            }
        };
        Self::of_kind(&kind, table)
    }

    /// Reads a table as `kind` (a migration override takes its preset's mechanism).
    pub fn of_kind(kind: &str, mut table: toml::Table) -> Result<Self, FieldError> {
        let mut fields = C::fields();
        fields.extend(K::fields_of(kind).ok_or_else(|| unknown_kind::<K>(kind))?);
        if let Some(bad) = table.keys().find(|k| !fields.contains(&k.as_str())) {
            return Err(FieldError::key(
                bad.as_str(),
                format!(
                    "`{kind}` has no field `{bad}`; its fields are: {}",
                    fields.join(", ")
                ),
            ));
        }
        let needs = |mut e: FieldError| {
            if e.message.starts_with("missing field") {
                e.message = format!("{}, which `{kind}` needs", e.message);
            }
            e
        };
        let common = C::take(&mut table).map_err(needs)?;
        let kind = K::take(kind, &mut table).map_err(needs)?;
        Ok(Tagged { common, kind })
    }
}

impl<'de, C: Part, K: Kinds> Deserialize<'de> for Tagged<C, K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        Self::from_table(table).map_err(|e| de::Error::custom(e.encode()))
    }
}

/// The field names of a derived struct (what serde passes to `deserialize_struct`).
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// A deserializer that only records the field list it is asked for.
struct Probe;

#[derive(Debug)]
struct Found(&'static [&'static str]);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fields {:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Found(&[])
    }
}

impl<'de> Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Common {
        pub period: Option<String>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Gain {
        pub gain: Option<f64>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Level {
        pub level: u32,
    }
    part!(Common, Gain, Level);
    parts! {
        /// Both.
        pub struct Both { pub gain: Gain, pub level: Level }
    }
    tagged! {
        /// Test kinds.
        pub enum Kind { tag: "kind", what: "a test kind",
            /// No fields.
            "a" => A(()),
            /// A gain.
            "b" => B(Gain),
            /// A gain and a level.
            "c" => C(Both),
        }
    }

    fn read(text: &str) -> Result<Tagged<Common, Kind>, FieldError> {
        Tagged::from_table(toml::from_str(text).unwrap())
    }

    #[test]
    fn a_kind_takes_its_own_fields_and_the_common_ones() {
        assert_eq!(fields_of::<Gain>(), &["gain"]);
        let t = read("kind = 'c'\nperiod = '1s'\ngain = 2.0\nlevel = 3").unwrap();
        assert_eq!(t.common.period.as_deref(), Some("1s"));
        let Kind::C(both) = &t.kind else {
            panic!("{t:?}")
        };
        assert_eq!((both.gain.gain, both.level.level), (Some(2.0), 3));
        assert_eq!(t.kind.kind(), "c");
    }

    #[test]
    fn a_field_of_another_kind_is_named_with_the_kinds_fields() {
        let e = read("kind = 'a'\ngain = 2.0").unwrap_err();
        assert_eq!(
            e,
            FieldError::key("gain", "`a` has no field `gain`; its fields are: period")
        );
        let Kind::B(g) = read("kind = 'b'\ngain = 0.5").unwrap().kind else {
            panic!("kind b")
        };
        assert_eq!(g.gain, Some(0.5));
        let e = read("kind = 'b'\nlevel = 2").unwrap_err();
        assert_eq!(
            e.message,
            "`b` has no field `level`; its fields are: period, gain"
        );
    }

    #[test]
    fn unknown_or_missing_kinds_list_the_valid_ones() {
        let e = read("kind = 'z'").unwrap_err();
        assert_eq!(
            e,
            FieldError::value("kind", "`z` is not a test kind; valid: a, b, c")
        );
        let e = read("gain = 1.0").unwrap_err();
        assert_eq!(e.message, "missing field `kind`: one of a, b, c");
    }

    #[test]
    fn a_type_error_inside_a_kind_keeps_its_field_path() {
        let e = read("kind = 'c'\nlevel = 'x'").unwrap_err();
        assert_eq!(e.path, "level");
        assert!(e.message.contains("expected u32"), "{}", e.message);
        let e = read("kind = 'c'").unwrap_err();
        assert_eq!(e.message, "missing field `level`, which `c` needs");
    }
}
