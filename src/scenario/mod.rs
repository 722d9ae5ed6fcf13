//! Scenario files: the on-disk schema, the model library, validation into a typed
//! [`config::Scenario`].

pub mod config;
pub mod error;
pub mod generate;
pub mod library;
pub mod migration;
pub mod schema;
pub mod synthetic;
pub mod trace;
pub mod validate;

pub use config::Scenario;
pub use error::ConfigError;
pub use library::Library;
pub use validate::{load_file, load_str};
