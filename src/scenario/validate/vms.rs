//! `[[vms]]`: VMs on servers, one or `count` per entry, their demand and memory from the
//! entry or its workload model.

use super::demand::memory_profile;
use super::{list, Validator, World};
use crate::model::cpu::XEN_DEFAULT_WEIGHT;
use crate::model::ids::ServerId;
use crate::model::memory::MemoryProfile;
use crate::model::workload::Demand;
use crate::scenario::config::VmConfig;
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::library::ModelText;
use crate::scenario::parse::parse;
use crate::scenario::schema::workload::WorkloadFile;
use crate::scenario::schema::VmEntry;

/// Virtual CPUs of a VM that gives none.
const DEFAULT_VCPUS: u32 = 1;
/// Priority of a VM that gives none (higher = more important).
const DEFAULT_PRIORITY: u32 = 1;
/// A VM's wake-ups per second while it is not fully busy: a guest kernel with a periodic
/// timer tick at Linux's default HZ = 250 (`kernel/Kconfig.hz`) wakes each idle vCPU 250
/// times a second. ASSUMPTION for guests in general: a tickless guest with light I/O
/// wakes tens of times a second, a HZ = 1000 one a thousand (range 10–1000/s). Matters
/// only on server models with idle states.
pub(crate) const DEFAULT_VM_WAKEUPS_PER_S: f64 = 250.0;

impl Validator<'_> {
    /// Every `[[vms]]` entry, in order.
    pub(super) fn vms(&mut self, entries: &[VmEntry], w: &mut World) -> Result<(), ConfigError> {
        let mut mem_used: std::collections::HashMap<usize, u64> = Default::default();
        for (i, v) in entries.iter().enumerate() {
            let field = |k: &str| format!("vms[{i}].{k}");
            let hosts: Vec<usize> = match w.server_ix.get(&v.host) {
                Some(&h) => vec![h],
                None => w.groups.get(&v.host).cloned().ok_or_else(|| {
                    self.err(
                        &field("host"),
                        format!(
                            "no server or server group named `{}`; known: {}",
                            v.host,
                            list(w.server_ix.keys().chain(w.groups.keys()))
                        ),
                    )
                })?,
            };
            if v.count == Some(0) {
                return Err(self.err(&field("count"), "must be at least 1"));
            }
            if w.vms.len() + v.count.unwrap_or(1) as usize > super::MAX_VMS {
                return Err(self.err(
                    &field(if v.count.is_some() { "count" } else { "name" }),
                    format!(
                        "more than {} VMs in the scenario (the most that fit in memory)",
                        super::MAX_VMS
                    ),
                ));
            }
            let vcpus = v.vcpus.unwrap_or(DEFAULT_VCPUS);
            if vcpus == 0 {
                return Err(self.err(&field("vcpus"), "must be at least 1"));
            }
            let weight = v.weight.unwrap_or(XEN_DEFAULT_WEIGHT);
            if !(weight > 0.0 && weight.is_finite()) {
                return Err(self.err(
                    &field("weight"),
                    "must be a positive number (Xen's default is 256)",
                ));
            }
            let (demand, memory, work) = self.vm_workload(v, i)?;
            let work_core_s = work.map(|w| w.0 * vcpus as f64);
            if work_core_s == Some(0.0) {
                return Err(self.err(
                    &field("work"),
                    "must be longer than zero, or left out for an open-ended VM",
                ));
            }
            let memory_bytes = v.memory.map_or(0, |m| m.0 as u64);
            let names: Vec<String> = match v.count {
                None => vec![v.name.clone()],
                Some(n) => (1..=n).map(|k| format!("{}-{k}", v.name)).collect(),
            };
            for (k, name) in names.into_iter().enumerate() {
                w.claim(&name, "vm")
                    .map_err(|m| self.err(&field("name"), m))?;
                let host = hosts[k % hosts.len()];
                let used = mem_used.entry(host).or_insert(0);
                *used += memory_bytes;
                let host_mem = w.servers[host].model.memory_bytes;
                if *used > host_mem {
                    return Err(self.err(
                        &field("memory"),
                        format!(
                            "VMs on `{}` now need {} MiB, more than its {} MiB",
                            w.servers[host].name,
                            *used >> 20,
                            host_mem >> 20
                        ),
                    ));
                }
                w.vm_ix.insert(name.clone(), w.vms.len());
                w.vms.push(VmConfig {
                    name,
                    host: ServerId::new(host),
                    vcpus,
                    weight,
                    cap_cores: v.cap.map(|c| c.0),
                    memory_bytes,
                    start_ns: v.start.nanos(),
                    work_core_s,
                    demand: demand.clone(),
                    memory: memory.clone(),
                    priority: v.priority.unwrap_or(DEFAULT_PRIORITY),
                    wakeups_per_s: v.wakeups.map_or(DEFAULT_VM_WAKEUPS_PER_S, |r| r.0),
                    synthetic: false,
                });
            }
        }
        Ok(())
    }

    /// A workload model by name (named at `path`), parsed.
    pub(super) fn workload(
        &self,
        name: &str,
        path: &str,
    ) -> Result<(ModelText, WorkloadFile), ConfigError> {
        let mt = self
            .lib
            .find("workloads", name)?
            .ok_or_else(|| self.missing(path, "workloads", name))?;
        let wf: WorkloadFile = parse(&Source {
            name: &mt.origin,
            text: &mt.text,
        })?;
        Ok((mt, wf))
    }

    /// Demand, memory and work of VM entry `i`: its own fields win; otherwise its
    /// workload's, with errors in the workload file.
    #[allow(clippy::type_complexity)]
    fn vm_workload(
        &self,
        v: &VmEntry,
        i: usize,
    ) -> Result<(Demand, Option<MemoryProfile>, Option<crate::units::Seconds>), ConfigError> {
        let field = |k: &str| format!("vms[{i}].{k}");
        let wl = match &v.workload {
            None => None,
            Some(name) => Some(self.workload(name, &field("workload"))?),
        };
        let wsrc = wl.as_ref().map(|(mt, _)| Source {
            name: &mt.origin,
            text: &mt.text,
        });
        let demand = match (&v.demand, &wl, &wsrc) {
            (Some(d), _, _) => self.demand(self.src, d, &field("demand"))?,
            (None, Some((_, wf)), Some(ws)) => self.demand(ws, &wf.demand, "demand")?,
            _ => {
                return Err(self.err(
                    &field("demand"),
                    "a VM needs `demand` (e.g. demand = { kind = \"constant\", level = \"100%\" }) or a `workload`",
                ));
            }
        };
        let memory = match (&v.dirty, &wl, &wsrc) {
            (None, Some((_, wf)), Some(ws)) if wf.dirty.is_some() => {
                if v.memory.is_none() {
                    return Err(self.err(
                        &field("memory"),
                        format!(
                            "workload `{}` writes memory: give the VM a `memory` size (e.g. memory = \"600MiB\")",
                            v.workload.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                memory_profile(
                    ws,
                    v.memory,
                    wf.dirty.as_ref(),
                    "dirty",
                    &field("memory"),
                    self.src,
                )?
            }
            _ => memory_profile(
                self.src,
                v.memory,
                v.dirty.as_ref(),
                &field("dirty"),
                &field("memory"),
                self.src,
            )?,
        };
        let work = v.work.or(wl.as_ref().and_then(|(_, wf)| wf.work));
        Ok((demand, memory, work))
    }
}
