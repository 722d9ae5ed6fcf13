//! The datacenter generator: `[datacenter]` becomes rows of racks of servers with PDUs
//! sized by an oversubscription ratio, and VMs placed first-fit by CPU and memory, with
//! demand from the built-in PlanetLab-like generator or a trace directory.

use super::config::{BreakerPreset, DeviceConfig, ServerConfig, VmConfig};
use super::error::{ConfigError, Source};
use super::schema::{DatacenterEntry, WorkloadFile};
use super::validate::{parse, Validator};
use crate::model::memory::MemoryProfile;
use crate::model::pdu::Electrical;
use crate::model::workload::{Demand, TraceEnd};
use std::collections::HashMap;
use std::sync::Arc;
use toml::Spanned;

/// Picks categories so that after n picks each category's count is as close as possible
/// to n × share, interleaving them (no RNG: the layout is a pure function of the file).
struct Interleave {
    shares: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
}

impl Interleave {
    fn new(shares: Vec<f64>) -> Self {
        let total: f64 = shares.iter().sum();
        let shares: Vec<f64> = shares.iter().map(|s| s / total).collect();
        Interleave {
            counts: vec![0; shares.len()],
            shares,
            n: 0,
        }
    }

    fn next(&mut self) -> usize {
        self.n += 1;
        let n = self.n as f64;
        let (best, _) = self
            .shares
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(i, (s, &c))| (i, s * n - c as f64))
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            );
        self.counts[best] += 1;
        best
    }
}

/// The UL 489 preset for a rating (A), as the `auto` breaker choice.
fn auto_breaker(rating_a: f64) -> Option<&'static str> {
    if rating_a <= 30.0 {
        Some("ul489-le30a")
    } else if rating_a <= 50.0 {
        Some("ul489-31-50a")
    } else if rating_a <= 100.0 {
        Some("ul489-51-100a")
    } else {
        None
    }
}

fn check_shares(total: f64) -> bool {
    (total - 1.0).abs() < 1e-3
}

impl Validator<'_> {
    fn preset(
        &mut self,
        span: std::ops::Range<usize>,
        field: &str,
        choice: Option<&str>,
        rating_a: f64,
    ) -> Result<Option<BreakerPreset>, ConfigError> {
        let name = match choice {
            None | Some("auto") => match auto_breaker(rating_a) {
                Some(n) => n.to_string(),
                None => return Ok(None),
            },
            Some("none") => return Ok(None),
            Some(n) => n.to_string(),
        };
        self.breaker(&Spanned::new(span, name), field).map(Some)
    }

    /// Appends the generated datacenter to the devices, servers and VMs.
    pub(super) fn datacenter(
        &mut self,
        dc: &Spanned<DatacenterEntry>,
        names: &mut HashMap<String, &str>,
        devices: &mut Vec<DeviceConfig>,
        servers: &mut Vec<ServerConfig>,
        vms: &mut Vec<VmConfig>,
    ) -> Result<(), ConfigError> {
        let span = dc.span();
        let e = dc.get_ref();
        let bad =
            |this: &Self, k: &str, m: String| this.err(span.clone(), format!("datacenter.{k}"), m);
        if e.rows == 0 || e.racks_per_row == 0 || e.servers_per_rack == 0 {
            return Err(bad(
                self,
                "rows",
                "rows, racks_per_row and servers_per_rack must be at least 1".into(),
            ));
        }
        if !(e.oversubscription > 0.0 && e.oversubscription.is_finite()) {
            return Err(bad(
                self,
                "oversubscription",
                "must be a positive ratio (e.g. 1.25)".into(),
            ));
        }
        if e.servers.is_empty() || !check_shares(e.servers.iter().map(|m| m.share.0).sum()) {
            return Err(bad(
                self,
                "servers",
                "list the server models with shares adding up to 100%".into(),
            ));
        }
        let models: Vec<_> = e
            .servers
            .iter()
            .map(|m| self.server_model(&m.model, "datacenter.servers.model"))
            .collect::<Result<_, _>>()?;
        let mut pick_model = Interleave::new(e.servers.iter().map(|m| m.share.0).collect());
        let rack_el = Electrical {
            voltage_v: e.rack.voltage.0,
            phases: e.rack.phases.unwrap_or(1),
            power_factor: e.rack.power_factor.unwrap_or(1.0),
        };
        if !(rack_el.phases == 1 || rack_el.phases == 3)
            || !(rack_el.power_factor > 0.0 && rack_el.power_factor <= 1.0)
            || rack_el.voltage_v <= 0.0
        {
            return Err(bad(
                self,
                "rack",
                "needs a positive voltage, phases 1 or 3 and a power factor in (0, 1]".into(),
            ));
        }
        let cap_frac = e.rack.cap.map_or(0.8, |c| c.0);
        if !(cap_frac > 0.0 && cap_frac <= 1.0) {
            return Err(bad(self, "rack.cap", "must be in (0%, 100%]".into()));
        }
        let row_spec = e.row.as_ref();
        let row_el = Electrical {
            voltage_v: row_spec.and_then(|r| r.voltage).map_or(415.0, |v| v.0),
            phases: row_spec.and_then(|r| r.phases).unwrap_or(3),
            power_factor: rack_el.power_factor,
        };
        let row_over = row_spec.and_then(|r| r.oversubscription).unwrap_or(1.0);
        let first_server = servers.len();
        for r in 1..=e.rows {
            let row_name = format!("row-{r}");
            super::validate::unique(names, &row_name, "pdu").map_err(|m| bad(self, "rows", m))?;
            let row_ix = devices.len();
            devices.push(DeviceConfig {
                name: row_name,
                kind: "row".into(),
                parent: None,
                electrical: row_el,
                rating_a: None,
                cap_w: None,
                breaker: None,
                draw_k: false,
            });
            let mut row_rating_w = 0.0;
            for k in 1..=e.racks_per_row {
                let rack_name = format!("rack-{r}-{k:02}");
                super::validate::unique(names, &rack_name, "pdu")
                    .map_err(|m| bad(self, "racks_per_row", m))?;
                let rack_ix = devices.len();
                let mut peak = 0.0;
                for j in 1..=e.servers_per_rack {
                    let model = models[pick_model.next()].clone();
                    peak += model.power.peak_w();
                    let name = format!("s-{r}-{k:02}-{j:02}");
                    super::validate::unique(names, &name, "server")
                        .map_err(|m| bad(self, "servers_per_rack", m))?;
                    servers.push(ServerConfig {
                        name,
                        model,
                        device: rack_ix,
                        pstate: 0,
                        dom0_cores: 0.0,
                    });
                }
                // Provisioned power (the planning cap) = peak / oversubscription; the
                // breaker is rated for the cap over the planning fraction.
                let cap_w = peak / e.oversubscription;
                let rating_a = rack_el.amps(cap_w / cap_frac);
                let breaker = self.preset(
                    span.clone(),
                    "datacenter.rack.breaker",
                    e.rack.breaker.as_deref(),
                    rating_a,
                )?;
                row_rating_w += rack_el.watts(rating_a);
                devices.push(DeviceConfig {
                    name: rack_name,
                    kind: "rack".into(),
                    parent: Some(row_ix),
                    electrical: rack_el,
                    rating_a: Some(rating_a),
                    cap_w: Some(cap_w),
                    breaker,
                    draw_k: e.rack.draw_k,
                });
            }
            let rating_a = row_el.amps(row_rating_w / row_over);
            let breaker = self.preset(
                span.clone(),
                "datacenter.row.breaker",
                row_spec.and_then(|r| r.breaker.as_deref()),
                rating_a,
            )?;
            let row = &mut devices[row_ix];
            row.rating_a = Some(rating_a);
            row.cap_w = row_spec
                .and_then(|r| r.cap)
                .map(|c| c.0 * row_el.watts(rating_a));
            row.breaker = breaker;
        }

        // VMs: sizes, profiles and priorities interleaved by share; placed first-fit.
        let n_servers = servers.len() - first_server;
        let n_vms = (n_servers as f64 * e.vms_per_server).round() as usize;
        let sizes: Vec<(u32, u64, f64)> = if e.vm_sizes.is_empty() {
            vec![(1, 1 << 30, 1.0)]
        } else {
            e.vm_sizes
                .iter()
                .map(|s| (s.vcpus, s.memory.0 as u64, s.share.0))
                .collect()
        };
        if !check_shares(sizes.iter().map(|s| s.2).sum()) || sizes.iter().any(|s| s.0 == 0) {
            return Err(bad(
                self,
                "vm_sizes",
                "shares must add up to 100% and every size needs at least one vCPU".into(),
            ));
        }
        let overcommit = e.cpu_overcommit.unwrap_or(1.0);
        if overcommit.is_nan() || overcommit <= 0.0 {
            return Err(bad(self, "cpu_overcommit", "must be positive".into()));
        }
        let mut pick_size = Interleave::new(sizes.iter().map(|s| s.2).collect());
        let prios: Vec<(u32, f64)> = if e.priorities.is_empty() {
            vec![(1, 1.0)]
        } else {
            e.priorities
                .iter()
                .map(|p| (p.priority, p.share.0))
                .collect()
        };
        if !check_shares(prios.iter().map(|p| p.1).sum()) {
            return Err(bad(self, "priorities", "shares must add up to 100%".into()));
        }
        let mut pick_prio = Interleave::new(prios.iter().map(|p| p.1).collect());
        // Workload dirty profiles, parsed once each.
        let mut workload_files: Vec<(String, String, WorkloadFile)> = Vec::new();
        for w in &e.workloads {
            let mt = self
                .lib
                .find("workloads", w.workload.get_ref())
                .ok_or_else(|| {
                    self.missing(
                        w.workload.span(),
                        "datacenter.workloads.workload",
                        "workloads",
                        w.workload.get_ref(),
                    )
                })?;
            let wsrc = Source {
                name: &mt.origin,
                text: &mt.text,
            };
            let wf: WorkloadFile = parse(&wsrc)?;
            workload_files.push((mt.origin.clone(), mt.text.clone(), wf));
        }
        if !e.workloads.is_empty() && !check_shares(e.workloads.iter().map(|w| w.share.0).sum()) {
            return Err(bad(self, "workloads", "shares must add up to 100%".into()));
        }
        let mut pick_workload = Interleave::new(e.workloads.iter().map(|w| w.share.0).collect());
        let mut profiles: HashMap<(usize, u64), Option<MemoryProfile>> = HashMap::new();
        // Demand source.
        let traces: Option<Vec<Arc<[f32]>>> = match e.demand.as_ref().map(|d| d.get_ref().as_str())
        {
            None | Some("synthetic") => None,
            Some(dir) => {
                let path = self.base_dir.join(dir);
                let sp = e.demand.as_ref().unwrap().span();
                let mut files: Vec<_> = std::fs::read_dir(&path)
                    .map_err(|err| self.err(sp.clone(), "datacenter.demand", format!("{}: {err}; give \"synthetic\" or a directory of PlanetLab-format traces", path.display())))?
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                if files.is_empty() {
                    return Err(self.err(
                        sp,
                        "datacenter.demand",
                        format!("{} holds no trace files", path.display()),
                    ));
                }
                if path.join("tasks.csv").is_file() {
                    // Bitbrains in OpenDC's CSV form: tasks.csv plus fragments*.csv.
                    let frag = files
                        .iter()
                        .find(|f| {
                            f.file_name().is_some_and(|n| {
                                let n = n.to_string_lossy();
                                n.starts_with("fragments") && n.ends_with(".csv")
                            })
                        })
                        .ok_or_else(|| {
                            self.err(
                                sp.clone(),
                                "datacenter.demand",
                                format!("{} has tasks.csv but no fragments*.csv", path.display()),
                            )
                        })?;
                    Some(
                        super::trace::read_bitbrains(&path.join("tasks.csv"), frag)?
                            .into_iter()
                            .map(Arc::from)
                            .collect(),
                    )
                } else {
                    Some(
                        files
                            .iter()
                            .map(|f| super::trace::read_planetlab(f).map(Arc::from))
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
        };
        let mut free_cpu: Vec<f64> = servers[first_server..]
            .iter()
            .map(|s| (s.model.power.cores as f64 * overcommit).floor())
            .collect();
        let mut free_mem: Vec<u64> = servers[first_server..]
            .iter()
            .map(|s| s.model.memory_bytes)
            .collect();
        let mut first_open = 0usize;
        for i in 0..n_vms {
            let (vcpus, memory, _) = sizes[pick_size.next()];
            let priority = prios[pick_prio.next()].0;
            // First fit, scanning from the first server with any room left.
            while first_open < n_servers && free_cpu[first_open] < 1.0 {
                first_open += 1;
            }
            let host = (first_open..n_servers)
                .find(|&h| free_cpu[h] >= vcpus as f64 && free_mem[h] >= memory)
                .ok_or_else(|| {
                    bad(self, "vms_per_server", format!(
                        "VM {} of {n_vms} ({vcpus} vCPUs, {} MiB) fits on no server: lower vms_per_server, the VM sizes, or raise cpu_overcommit",
                        i + 1,
                        memory >> 20
                    ))
                })?;
            free_cpu[host] -= vcpus as f64;
            free_mem[host] -= memory;
            let name = format!("vm-{:05}", i + 1);
            super::validate::unique(names, &name, "vm")
                .map_err(|m| bad(self, "vms_per_server", m))?;
            let memory_profile = if workload_files.is_empty() {
                let pages = memory.div_ceil(crate::model::memory::PAGE_SIZE) as u32;
                Some(MemoryProfile::quiet(pages))
            } else {
                let w = pick_workload.next();
                if let Some(p) = profiles.get(&(w, memory)) {
                    p.clone()
                } else {
                    let (origin, text, wf) = &workload_files[w];
                    let wsrc = Source { name: origin, text };
                    let p = self.memory(
                        &wsrc,
                        Some(crate::units::Bytes(memory as f64)),
                        wf.dirty.as_ref(),
                        span.clone(),
                        "dirty",
                    )?;
                    profiles.insert((w, memory), p.clone());
                    p
                }
            };
            let demand = match &traces {
                Some(t) => Demand::Trace {
                    interval_ns: 300_000_000_000,
                    samples: t[i % t.len()].clone(),
                    end: TraceEnd::Repeat,
                },
                // Drawn per run from the VM's own stream (see `World::new`).
                None => Demand::Constant(0.0),
            };
            vms.push(VmConfig {
                name,
                host: first_server + host,
                vcpus,
                weight: 256.0,
                cap_cores: None,
                memory_bytes: memory,
                start_ns: 0,
                work_core_s: None,
                demand,
                memory: memory_profile,
                priority,
                synthetic: traces.is_none(),
            });
        }
        Ok(())
    }
}
