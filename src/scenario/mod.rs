//! Scenario files: the on-disk schema, the model library, validation into a typed
//! [`config::Scenario`].
//!
//! Layers, each using only those above it: `locate` (field path → position), `error`,
//! `parse` (text → typed, errors by path), `tagged` (kind-tagged tables), `schema` (the
//! file formats), `migration` (preset + host + overrides → parameters), `generate` (the
//! datacenter builder), `validate` (one file per section).

pub mod config;
pub mod error;
pub mod generate;
pub mod input;
pub mod library;
pub mod locate;
pub mod migration;
pub mod parse;
pub mod schema;
pub mod synthetic;
pub mod tagged;
pub mod trace;
pub mod validate;

pub use config::Scenario;
pub use error::ConfigError;
pub use library::Library;
pub use validate::{load_file, load_str};
