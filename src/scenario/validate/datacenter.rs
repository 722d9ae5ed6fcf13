//! `[datacenter]`: the section checked and resolved into a `generate::Plan` (models,
//! breaker presets, workload profiles, traces), then generated and its names claimed.

use super::demand::memory_profile;
use super::{Validator, World, MAX_SERVERS, MAX_VMS};
use crate::model::memory::MemoryProfile;
use crate::model::pdu::Electrical;
use crate::scenario::error::{ConfigError, Source};
use crate::scenario::generate::{self, Plan, VmSize};
use crate::scenario::schema::datacenter::DatacenterEntry;
use crate::scenario::schema::DeviceLevel;
use crate::units::Bytes;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The smallest oversubscription ratio (peak over provisioned power): below it a rack's
/// cap would be a million times its servers' peak, no longer a cap.
pub const MIN_OVERSUBSCRIPTION: f64 = 1e-6;

impl Validator<'_> {
    /// Appends the generated datacenter to the world.
    pub(super) fn datacenter(
        &mut self,
        e: &DatacenterEntry,
        w: &mut World,
    ) -> Result<(), ConfigError> {
        let plan = self.plan(e)?;
        let first_device = w.devices.len();
        let (devices, servers) = {
            let mut lookup = |name: &str, field: &str| self.breaker(name, field);
            generate::power_tree(&plan, first_device, &mut lookup)?
        };
        // Finite inputs can still overflow (a huge peak power over a tiny ratio).
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        if let Some(d) = devices
            .iter()
            .find(|d| !finite(d.cap_w) || !finite(d.rating_a))
        {
            return Err(self.err(
                "datacenter.oversubscription",
                format!(
                    "gives {} a cap or rating that is not a finite number",
                    d.name
                ),
            ));
        }
        if w.servers.len() + servers.len() > MAX_SERVERS {
            return Err(self.err(
                "datacenter.rows",
                format!("with the other servers, more than {MAX_SERVERS} servers"),
            ));
        }
        let first_server = w.servers.len();
        let workloads: Vec<_> = e
            .workloads
            .iter()
            .map(|s| self.workload(&s.workload, "datacenter.workloads.workload"))
            .collect::<Result<_, _>>()?;
        let mut cache: HashMap<(usize, u64), Option<MemoryProfile>> = HashMap::new();
        let mut profile = |k: usize, memory: u64| {
            if let Some(p) = cache.get(&(k, memory)) {
                return Ok(p.clone());
            }
            let (mt, wf) = &workloads[k];
            let wsrc = Source {
                name: &mt.origin,
                text: &mt.text,
            };
            let mem = Some(Bytes(memory as f64));
            let p = memory_profile(&wsrc, mem, wf.dirty.as_ref(), "dirty", "dirty", &wsrc)?;
            cache.insert((k, memory), p.clone());
            Ok(p)
        };
        let vms = generate::place_vms(&plan, &servers, first_server, &mut profile)?
            .map_err(|m| self.err("datacenter.vms_per_server", m))?;
        if w.vms.len() + vms.len() > MAX_VMS {
            return Err(self.err(
                "datacenter.vms_per_server",
                format!("with the other VMs, more than {MAX_VMS} VMs"),
            ));
        }
        let claim = |w: &mut World, name: &str, what, field: &str| {
            w.claim(name, what)
                .map_err(|m| self.err(&format!("datacenter.{field}"), m))
        };
        for d in devices {
            let field = if d.kind == DeviceLevel::Row.name() {
                "rows"
            } else {
                "racks_per_row"
            };
            claim(w, &d.name, "pdu", field)?;
            w.device_ix.entry(d.name.clone()).or_insert(w.devices.len());
            w.devices.push(d);
        }
        for s in servers {
            claim(w, &s.name, "server", "servers_per_rack")?;
            w.server_ix.entry(s.name.clone()).or_insert(w.servers.len());
            w.servers.push(s);
        }
        for v in vms {
            claim(w, &v.name, "vm", "vms_per_server")?;
            w.vm_ix.entry(v.name.clone()).or_insert(w.vms.len());
            w.vms.push(v);
        }
        Ok(())
    }

    /// The section checked, with its models read and defaults filled in.
    fn plan(&mut self, e: &DatacenterEntry) -> Result<Plan, ConfigError> {
        let bad = |this: &Self, k: &str, m: &str| this.err(&format!("datacenter.{k}"), m);
        self.sizes_ok(e)?;
        if e.servers.is_empty() || !generate::shares_ok(e.servers.iter().map(|m| m.share.0).sum()) {
            return Err(bad(
                self,
                "servers",
                "list the server models with shares adding up to 100%",
            ));
        }
        let models = e
            .servers
            .iter()
            .map(|m| {
                Ok((
                    self.server_model(&m.model, "datacenter.servers.model")?,
                    m.share.0,
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        let rack = self.rack_electrical(e)?;
        let rack_cap = e.rack.cap.map_or(generate::DEFAULT_RACK_CAP, |c| c.0);
        if !(rack_cap > 0.0 && rack_cap <= 1.0) {
            return Err(bad(self, "rack.cap", "must be in (0%, 100%]"));
        }
        let row = e.row.as_ref();
        let sizes: Vec<VmSize> = if e.vm_sizes.is_empty() {
            vec![generate::DEFAULT_VM_SIZE]
        } else {
            e.vm_sizes
                .iter()
                .map(|s| VmSize {
                    vcpus: s.vcpus,
                    memory_bytes: s.memory.0 as u64,
                    share: s.share.0,
                })
                .collect()
        };
        if !generate::shares_ok(sizes.iter().map(|s| s.share).sum())
            || sizes.iter().any(|s| s.vcpus == 0)
        {
            return Err(bad(
                self,
                "vm_sizes",
                "shares must add up to 100% and every size needs at least one vCPU",
            ));
        }
        let cpu_overcommit = e.cpu_overcommit.unwrap_or(1.0);
        if cpu_overcommit.is_nan() || cpu_overcommit <= 0.0 {
            return Err(bad(self, "cpu_overcommit", "must be positive"));
        }
        let priorities: Vec<(u32, f64)> = if e.priorities.is_empty() {
            vec![(1, 1.0)]
        } else {
            e.priorities
                .iter()
                .map(|p| (p.priority, p.share.0))
                .collect()
        };
        if !generate::shares_ok(priorities.iter().map(|p| p.1).sum()) {
            return Err(bad(self, "priorities", "shares must add up to 100%"));
        }
        let workload_shares: Vec<f64> = e.workloads.iter().map(|w| w.share.0).collect();
        if !workload_shares.is_empty() && !generate::shares_ok(workload_shares.iter().sum()) {
            return Err(bad(self, "workloads", "shares must add up to 100%"));
        }
        Ok(Plan {
            rows: e.rows,
            racks_per_row: e.racks_per_row,
            servers_per_rack: e.servers_per_rack,
            models,
            oversubscription: e.oversubscription,
            rack,
            rack_cap,
            rack_breaker: e.rack.breaker.clone(),
            rack_draw_k: e.rack.draw_k,
            row: Electrical {
                voltage_v: row
                    .and_then(|r| r.voltage)
                    .map_or(generate::DEFAULT_ROW_VOLTAGE_V, |v| v.0),
                phases: row
                    .and_then(|r| r.phases)
                    .unwrap_or(generate::DEFAULT_ROW_PHASES),
                power_factor: rack.power_factor,
            },
            row_oversubscription: row.and_then(|r| r.oversubscription).unwrap_or(1.0),
            row_breaker: row.and_then(|r| r.breaker.clone()),
            row_cap: row.and_then(|r| r.cap).map(|c| c.0),
            vms_per_server: e.vms_per_server,
            sizes,
            cpu_overcommit,
            priorities,
            workload_shares,
            traces: self.traces(e.demand.as_deref())?,
        })
    }

    /// The layout's counts within [`MAX_SERVERS`] and [`MAX_VMS`], and the ratios that size
    /// PDUs in range (a ratio of 1e-320 made every cap infinite).
    fn sizes_ok(&self, e: &DatacenterEntry) -> Result<(), ConfigError> {
        let bad = |k: &str, m: String| self.err(&format!("datacenter.{k}"), m);
        if e.rows == 0 || e.racks_per_row == 0 || e.servers_per_rack == 0 {
            return Err(bad(
                "rows",
                "rows, racks_per_row and servers_per_rack must be at least 1".into(),
            ));
        }
        let servers = e.rows as u64 * e.racks_per_row as u64 * e.servers_per_rack as u64;
        if servers > MAX_SERVERS as u64 {
            return Err(bad(
                "rows",
                format!("rows × racks_per_row × servers_per_rack = {servers} servers; at most {MAX_SERVERS} fit in memory"),
            ));
        }
        let vms = servers as f64 * e.vms_per_server;
        if !(vms >= 0.0 && vms.round() <= MAX_VMS as f64) {
            return Err(bad(
                "vms_per_server",
                format!("must be a number ≥ 0 with servers × vms_per_server at most {MAX_VMS} VMs ({servers} servers here)"),
            ));
        }
        let ratio_ok = |r: f64| r >= MIN_OVERSUBSCRIPTION && r.is_finite();
        if !ratio_ok(e.oversubscription) {
            return Err(bad(
                "oversubscription",
                format!("must be a finite ratio of at least {MIN_OVERSUBSCRIPTION} (e.g. 1.25)"),
            ));
        }
        if let Some(r) = e.row.as_ref().and_then(|r| r.oversubscription) {
            if !ratio_ok(r) {
                return Err(bad(
                    "row.oversubscription",
                    format!("must be a finite ratio of at least {MIN_OVERSUBSCRIPTION} (e.g. 1.0)"),
                ));
            }
        }
        Ok(())
    }

    /// Rack PDUs' voltage, phases (default 1) and power factor (default 1.0).
    fn rack_electrical(&self, e: &DatacenterEntry) -> Result<Electrical, ConfigError> {
        let rack = Electrical {
            voltage_v: e.rack.voltage.0,
            phases: e.rack.phases.unwrap_or(1),
            power_factor: e.rack.power_factor.unwrap_or(1.0),
        };
        if !(rack.phases == 1 || rack.phases == 3)
            || !(rack.power_factor > 0.0 && rack.power_factor <= 1.0)
            || rack.voltage_v <= 0.0
        {
            return Err(self.err(
                "datacenter.rack",
                "needs a positive voltage, phases 1 or 3 and a power factor in (0, 1]",
            ));
        }
        Ok(rack)
    }

    /// `datacenter.demand`: "synthetic" (`None`), or a directory of PlanetLab traces, or
    /// of Bitbrains traces in OpenDC's CSV form (`tasks.csv` plus `fragments*.csv`).
    fn traces(&self, demand: Option<&str>) -> Result<Option<Vec<Arc<[f32]>>>, ConfigError> {
        let dir = match demand {
            None | Some("synthetic") => return Ok(None),
            Some(dir) => dir,
        };
        let path = self.base_dir.join(dir);
        let field = "datacenter.demand";
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .map_err(|err| {
                self.err(
                    field,
                    format!(
                        "{}: {err}; give \"synthetic\" or a directory of PlanetLab-format traces{}",
                        path.display(),
                        crate::scenario::trace::missing_data_hint(&path)
                    ),
                )
            })?
            .flatten()
            .map(|f| f.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(self.err(field, format!("{} holds no trace files", path.display())));
        }
        if !path.join("tasks.csv").is_file() {
            let traces = crate::scenario::trace::read_planetlab_files(&files)?;
            return Ok(Some(traces.into_iter().map(Arc::from).collect()));
        }
        let is_fragments = |f: &&std::path::PathBuf| {
            f.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("fragments") && n.ends_with(".csv")
            })
        };
        let frag = files.iter().find(is_fragments).ok_or_else(|| {
            self.err(
                field,
                format!("{} has tasks.csv but no fragments*.csv", path.display()),
            )
        })?;
        let traces =
            crate::scenario::trace::read_bitbrains(&path.join("tasks.csv"), Path::new(frag))?;
        Ok(Some(traces.into_iter().map(Arc::from).collect()))
    }
}
