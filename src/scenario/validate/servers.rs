//! `[[servers]]`: servers on devices, one or `count` per entry.

use super::{list, Validator, World};
use crate::model::ids::DeviceId;
use crate::scenario::config::ServerConfig;
use crate::scenario::error::ConfigError;
use crate::scenario::schema::ServerEntry;

impl Validator<'_> {
    /// Every `[[servers]]` entry, in order.
    pub(super) fn servers(
        &mut self,
        entries: &[ServerEntry],
        w: &mut World,
    ) -> Result<(), ConfigError> {
        for (i, s) in entries.iter().enumerate() {
            let field = |k: &str| format!("servers[{i}].{k}");
            let model = self.server_model(&s.model, &field("model"))?;
            let device = *w.device_ix.get(&s.pdu).ok_or_else(|| {
                self.err(
                    &field("pdu"),
                    format!(
                        "no pdu named `{}`; known: {}",
                        s.pdu,
                        list(w.device_ix.keys())
                    ),
                )
            })?;
            let n_pstates = model.power.pstates.len();
            let pstate = s.pstate.unwrap_or(0);
            if pstate >= n_pstates {
                return Err(self.err(
                    &field("pstate"),
                    format!("model `{}` has p-states 0..={}", model.name, n_pstates - 1),
                ));
            }
            if s.count == Some(0) {
                return Err(self.err(&field("count"), "must be at least 1"));
            }
            if w.servers.len() + s.count.unwrap_or(1) as usize > super::MAX_SERVERS {
                return Err(self.err(
                    &field(if s.count.is_some() { "count" } else { "name" }),
                    format!(
                        "more than {} servers in the scenario (the most that fit in memory)",
                        super::MAX_SERVERS
                    ),
                ));
            }
            let dom0 = s.dom0_load.0;
            if dom0 > model.power.cores as f64 {
                return Err(self.err(
                    &field("dom0_load"),
                    format!(
                        "{:.0}% is more than the server's {} cores",
                        dom0 * 100.0,
                        model.power.cores
                    ),
                ));
            }
            let names: Vec<String> = match s.count {
                None => vec![s.name.clone()],
                Some(n) => (1..=n).map(|k| format!("{}-{k}", s.name)).collect(),
            };
            if s.count.is_some() {
                w.claim(&s.name, "server group")
                    .map_err(|m| self.err(&field("name"), m))?;
            }
            for n in names {
                w.claim(&n, "server")
                    .map_err(|m| self.err(&field("name"), m))?;
                if s.count.is_some() {
                    w.groups
                        .entry(s.name.clone())
                        .or_default()
                        .push(w.servers.len());
                }
                w.server_ix.insert(n.clone(), w.servers.len());
                w.servers.push(ServerConfig {
                    name: n,
                    model: model.clone(),
                    device: DeviceId::new(device),
                    pstate,
                    dom0_cores: dom0,
                });
            }
        }
        Ok(())
    }
}
