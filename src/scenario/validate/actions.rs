//! `[[actions]]`: changes at times, one kind each.

use super::{Validator, World};
use crate::migration::Params;
use crate::model::ids::{ServerId, VmId};
use crate::scenario::config::{Action, Actuation};
use crate::scenario::error::ConfigError;
use crate::scenario::migration::{overrides, params, preset_from_text, with_host_costs};
use crate::scenario::schema::action::{ActionEntry, ActionKindEntry, Migrate};
use crate::units::Percent;
use std::sync::Arc;

impl Validator<'_> {
    /// Every `[[actions]]` entry, in file order.
    pub(super) fn actions(
        &self,
        entries: &[ActionEntry],
        w: &World,
    ) -> Result<Vec<Action>, ConfigError> {
        let mut actions = Vec::new();
        for (i, a) in entries.iter().enumerate() {
            let field = |k: &str| format!("actions[{i}].{k}");
            let server_of = |name: &str, k: &str| {
                w.server_ix
                    .get(name)
                    .copied()
                    .ok_or_else(|| self.err(&field(k), format!("no server named `{name}`")))
            };
            let vm_of = |name: &str| {
                w.vm_ix
                    .get(name)
                    .copied()
                    .ok_or_else(|| self.err(&field("vm"), format!("no vm named `{name}`")))
            };
            let kind = match &a.kind {
                ActionKindEntry::SetPstate(s) => {
                    let server = server_of(&s.server, "server")?;
                    let n = w.servers[server].model.power.pstates.len();
                    if s.pstate >= n {
                        return Err(self.err(
                            &field("pstate"),
                            format!(
                                "server `{}` has p-states 0..={}",
                                w.servers[server].name,
                                n - 1
                            ),
                        ));
                    }
                    Actuation::SetPstate {
                        server: ServerId::new(server),
                        pstate: s.pstate,
                    }
                }
                ActionKindEntry::SetIdle(s) => {
                    let server = server_of(&s.server, "server")?;
                    let f = s.fraction.0;
                    if !(0.0..1.0).contains(&f) {
                        return Err(self.err(
                            &field("fraction"),
                            format!("{} % of the time: give 0 % to under 100 %", f * 100.0),
                        ));
                    }
                    Actuation::SetIdle {
                        server: ServerId::new(server),
                        fraction: f,
                    }
                }
                ActionKindEntry::SetVmCap(c) => {
                    let vm = vm_of(&c.vm)?;
                    let cap_cores = if c.cap.trim() == "none" {
                        None
                    } else {
                        Some(
                            c.cap
                                .parse::<Percent>()
                                .map_err(|e| self.err(&field("cap"), format!("{e}, or \"none\"")))?
                                .0,
                        )
                    };
                    Actuation::SetVmCap {
                        vm: VmId::new(vm),
                        cap_cores,
                    }
                }
                ActionKindEntry::SetVmWeight(s) => {
                    let vm = vm_of(&s.vm)?;
                    if !(s.weight > 0.0 && s.weight.is_finite()) {
                        return Err(self.err(&field("weight"), "must be a positive number"));
                    }
                    Actuation::SetVmWeight {
                        vm: VmId::new(vm),
                        weight: s.weight,
                    }
                }
                ActionKindEntry::Migrate(m) => {
                    let vm = vm_of(&m.vm)?;
                    let to = server_of(&m.to, "to")?;
                    let params = Arc::new(self.migrate_params(m, vm, w, &field)?);
                    Actuation::Migrate {
                        vm: VmId::new(vm),
                        to: ServerId::new(to),
                        params,
                    }
                }
            };
            actions.push(Action {
                at_ns: a.common.at.nanos(),
                kind,
            });
        }
        Ok(actions)
    }

    /// A `migrate` action's parameters: its preset, the source host's dom0 costs, then
    /// its `overrides` (checked against the preset's mechanism).
    fn migrate_params(
        &self,
        m: &Migrate,
        vm: usize,
        w: &World,
        field: &dyn Fn(&str) -> String,
    ) -> Result<Params, ConfigError> {
        if w.vms[vm].memory.is_none() {
            return Err(self.err(
                &field("vm"),
                format!(
                    "VM `{}` has no `memory` size: a migration needs one (e.g. memory = \"600MiB\")",
                    w.vms[vm].name
                ),
            ));
        }
        let mt = self
            .lib
            .find("migration", &m.algorithm)?
            .ok_or_else(|| self.missing(&field("algorithm"), "migration", &m.algorithm))?;
        let preset = preset_from_text(&mt.origin, &mt.text)?;
        let host = &w.servers[w.vms[vm].host.idx()].model;
        let p = self.with_overrides(
            &m.algorithm,
            &mt.origin,
            with_host_costs(preset, &host.dom0),
            m.overrides.as_ref(),
            &field("overrides"),
        )?;
        if let Some(ps) = p.pstate {
            let n = host.power.pstates.len();
            if ps >= n {
                return Err(self.err(
                    &field("overrides.pstate"),
                    format!("p-state {ps}: the source has p-states 0..={}", n - 1),
                ));
            }
        }
        Ok(p)
    }

    /// `preset` (named `name`, from `origin`) with `over` (at `path` in the scenario)
    /// laid over it; an invalid result is reported at the override that caused it.
    pub(super) fn with_overrides(
        &self,
        name: &str,
        origin: &str,
        preset: crate::scenario::migration::MigrationFields,
        over: Option<&toml::Table>,
        path: &str,
    ) -> Result<Params, ConfigError> {
        let mechanism = preset.mechanism.clone().unwrap_or_default();
        let over = match over {
            None => Default::default(),
            Some(t) => overrides(&mechanism, t).map_err(|e| self.src.located(&e.under(path)))?,
        };
        params(name, origin, &preset, &over).map_err(|e| {
            // An override that set the field is at fault: point at it. Otherwise the
            // preset's value is, and the error stays in the preset file.
            let hit = e
                .field
                .split('/')
                .find(|f| !f.is_empty() && self.src_has(&format!("{path}.{f}")));
            match hit {
                Some(f) => {
                    let mut at = self.err(&format!("{path}.{f}"), e.message);
                    at.field = format!("{path}.{}", e.field);
                    at
                }
                None => e,
            }
        })
    }

    /// Whether the scenario text sets `path`.
    fn src_has(&self, path: &str) -> bool {
        crate::scenario::locate::find(self.src.text, path).is_some_and(|f| f.complete)
    }
}
