//! DVFS first, migration last: group DVFS acts every period; a device is handed to the
//! last-resort migration policy only once DVFS has nothing left to give there (every
//! server at its slowest p-state) and the device is still over its migration threshold.

use super::group_dvfs::GroupDvfs;
use super::migration::LastResort;
use super::{Command, Observe, Policy};
use crate::engine::rng::FastRng;

/// The composition.
#[derive(Debug)]
pub struct DvfsThenMigration {
    dvfs: GroupDvfs,
    migration: LastResort,
}

impl DvfsThenMigration {
    /// Composes the two.
    pub fn new(dvfs: GroupDvfs, migration: LastResort) -> Self {
        DvfsThenMigration { dvfs, migration }
    }
}

impl Policy for DvfsThenMigration {
    fn name(&self) -> &str {
        "dvfs+migration"
    }

    fn control(&mut self, obs: &dyn Observe, rng: &mut FastRng, out: &mut Vec<Command>) {
        self.dvfs.control(obs, rng, out);
        let exhausted: Vec<crate::model::ids::DeviceId> = self.dvfs.exhausted().to_vec();
        for d in exhausted {
            self.migration.act_on(obs, d, out);
        }
    }
}
