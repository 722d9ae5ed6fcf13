//! `none`: no capping at all; the baseline every policy is compared with.

use super::{Command, Observe, Policy};
use crate::engine::rng::FastRng;

/// Does nothing.
#[derive(Debug, Default)]
pub struct NoCapping;

impl Policy for NoCapping {
    fn name(&self) -> &str {
        "none"
    }

    fn control(&mut self, _obs: &dyn Observe, _rng: &mut FastRng, _out: &mut Vec<Command>) {}
}
