//! A migration's own power and energy: on each host, the power with everything minus the
//! power without this migration's CPU (sender, receiver, setup, clean-up, the lingering
//! source copy) and its NIC traffic, integrated between changes.

use super::Migrations;
use crate::model::ids::{MigrationId, ServerId};
use crate::model::server::TaskOwner;
use crate::sim::state::Core;

impl Migrations {
    /// Integrates the migration's extra power up to `now`.
    pub(crate) fn integrate_energy(&mut self, now: u64, m: MigrationId) {
        let mg = &mut self.migs[m];
        let dt = now.saturating_sub(mg.energy_ns) as f64 / 1e9;
        mg.energy_j += (mg.power_w.0 + mg.power_w.1) * dt;
        mg.energy_ns = now;
    }

    /// The migration's marginal power on server `s` now, W.
    fn marginal_w(&self, core: &Core, m: MigrationId, s: ServerId) -> f64 {
        let server = &core.w.servers[s];
        if !server.on {
            return 0.0;
        }
        let own_cpu: f64 = server
            .tasks
            .iter()
            .filter(|t| {
                t.active
                    && matches!(t.owner, TaskOwner::Migration(x) | TaskOwner::Ghost(x) if x == m)
            })
            .map(|t| t.alloc)
            .sum();
        let own_nic = self.migs[m].wire_bps() / 1e9;
        let pm = &server.model.power;
        pm.power_w(server.busy_cores, server.pstate, server.nic_gbps)
            - pm.power_w(
                (server.busy_cores - own_cpu).max(0.0),
                server.pstate,
                (server.nic_gbps - own_nic).max(0.0),
            )
    }

    /// Integrates up to now and recomputes the migration's power on both hosts (after
    /// their CPU and power are up to date).
    pub(crate) fn update_power(&mut self, core: &Core, m: MigrationId) {
        self.integrate_energy(core.now(), m);
        if self.migs[m].phase.ended() {
            self.migs[m].power_w = (0.0, 0.0);
            return;
        }
        let (src, dst) = (self.migs[m].src, self.migs[m].dst);
        let w = (self.marginal_w(core, m, src), self.marginal_w(core, m, dst));
        self.migs[m].power_w = w;
    }
}
