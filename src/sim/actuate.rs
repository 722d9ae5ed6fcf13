//! The one actuation path: scenario actions and policy commands alike are checked by the
//! same guards, applied the same way and logged with their origin. A change that would
//! change nothing is skipped silently; one that cannot apply is logged as refused.

use super::log::{LogEvent, Refusal};
use super::migration::Migrations;
use super::state::Core;
use crate::actuation::{Actuation, Origin};
use crate::model::vm::VmPhase;

/// Forced idle stops short of 100 %: a server always keeps some time for its domains.
const MAX_IDLE_FRACTION: f64 = 0.99;

/// Whether `a` would change anything (`Ok(false)`: no), or why it cannot apply.
fn check(core: &Core, a: &Actuation) -> Result<bool, Refusal> {
    let w = &core.w;
    let vm_alive = |v| !matches!(w.vms[v].phase, VmPhase::Done | VmPhase::Lost);
    match a {
        Actuation::SetPstate { server, pstate } => {
            let s = &w.servers[*server];
            if !s.on {
                Err(Refusal::ServerOff)
            } else if *pstate >= s.model.power.pstates.len() {
                Err(Refusal::NoSuchPstate)
            } else {
                Ok(s.pstate != *pstate)
            }
        }
        Actuation::SetIdle { server, fraction } => {
            let s = &w.servers[*server];
            if !s.on {
                Err(Refusal::ServerOff)
            } else {
                Ok(s.idle_fraction != fraction.clamp(0.0, MAX_IDLE_FRACTION))
            }
        }
        Actuation::SetVmCap { vm, cap_cores } if vm_alive(*vm) => {
            Ok(w.vms[*vm].cap_cores != *cap_cores)
        }
        Actuation::SetVmQuota { vm, cap_cores } if vm_alive(*vm) => {
            Ok(w.vms[*vm].policy_cap != *cap_cores)
        }
        Actuation::SetVmWeight { vm, weight } if vm_alive(*vm) => Ok(w.vms[*vm].weight != *weight),
        // The migration checks its own preconditions and logs a refusal itself.
        Actuation::Migrate { .. } => Ok(true),
        _ => Err(Refusal::VmGone),
    }
}

/// Applies one change now.
pub(crate) fn actuate(core: &mut Core, migs: &mut Migrations, a: Actuation, origin: Origin) {
    match check(core, &a) {
        Ok(true) => {}
        Ok(false) => return,
        Err(reason) => {
            core.log(LogEvent::ActuationRefused {
                origin,
                actuation: a,
                reason,
            });
            return;
        }
    }
    core.log(LogEvent::Actuated {
        origin,
        actuation: a.clone(),
    });
    match a {
        Actuation::SetPstate { server, pstate } => {
            core.touch_server(server);
            core.w.servers[server].pstate = pstate;
        }
        Actuation::SetIdle { server, fraction } => {
            core.touch_server(server);
            core.w.servers[server].idle_fraction = fraction.clamp(0.0, MAX_IDLE_FRACTION);
        }
        Actuation::SetVmCap { vm, cap_cores } => {
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].cap_cores = cap_cores;
        }
        Actuation::SetVmQuota { vm, cap_cores } => {
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].policy_cap = cap_cores;
        }
        Actuation::SetVmWeight { vm, weight } => {
            core.touch_server(core.w.vms[vm].host);
            core.w.vms[vm].weight = weight;
        }
        Actuation::Migrate { vm, to, params } => migs.start(core, vm, to, params),
    }
}
