//! TOML text into a typed file format, with every failure located by its field path.

use super::error::{ConfigError, FieldError, Source};
use serde::de::DeserializeOwned;

/// Parses TOML text into `T`. A syntax error is located where `toml` found it; a type or
/// field error by the path of the field (which also reaches inside kind-tagged tables).
pub fn parse<T: DeserializeOwned>(src: &Source) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Deserializer::new(src.text)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if toml_edit::ImDocument::parse(src.text).is_err() {
            // Not TOML at all: only toml's own position means anything.
            return src.from_toml(&inner);
        }
        src.located(&FieldError::decode(&path, inner.message()))
    })
}

/// Reads `value` (a table taken out of a file) into `T`, with failures as paths relative
/// to the value.
pub fn from_value<T: DeserializeOwned>(value: toml::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FieldError::decode(&path, e.into_inner().message())
    })
}
