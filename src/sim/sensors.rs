//! What the run's meters can read: the recent history of every metered quantity (device
//! and server power, VM CPU), kept only where some meter or controller reads it, and
//! the meters' specifications. Readings are computed on demand from the histories, so a
//! datacenter of BMCs costs nothing between the moments a controller looks.

use crate::model::ids::{DeviceId, IdVec, ServerId, VmId};
use crate::model::meter::{History, MeterSpec, Reading, SensorSpecs};

/// Histories of the metered quantities.
#[derive(Debug, Default)]
pub(crate) struct Sensors {
    /// Power through each device, W.
    pub device_w: IdVec<DeviceId, Option<History>>,
    /// Each server's power, W.
    pub server_w: IdVec<ServerId, Option<History>>,
    /// Each VM's CPU, cores.
    pub vm_cpu: IdVec<VmId, Option<History>>,
    /// The controller's specs (`None` without a controller).
    pub specs: Option<SensorSpecs>,
}

fn keep(v: &mut Option<History>, horizon_ns: u64) {
    match v {
        Some(h) => h.keep_at_least(horizon_ns),
        None => *v = Some(History::new(horizon_ns)),
    }
}

impl Sensors {
    /// No histories for a world of this size.
    pub(crate) fn new(devices: usize, servers: usize, vms: usize) -> Self {
        Sensors {
            device_w: (0..devices).map(|_| None).collect(),
            server_w: (0..servers).map(|_| None).collect(),
            vm_cpu: (0..vms).map(|_| None).collect(),
            specs: None,
        }
    }

    /// Keeps a device's power history long enough for `spec`.
    pub(crate) fn watch_device(&mut self, d: DeviceId, spec: &MeterSpec) {
        keep(&mut self.device_w[d], spec.horizon_ns());
    }

    /// Keeps a server's power history long enough for `spec`.
    pub(crate) fn watch_server(&mut self, s: ServerId, spec: &MeterSpec) {
        keep(&mut self.server_w[s], spec.horizon_ns());
    }

    /// Installs the controller's sensors: a meter on every device in `capped`, a BMC on
    /// every server and CPU counters on every VM.
    pub(crate) fn install_controller(&mut self, specs: SensorSpecs, capped: &[DeviceId]) {
        for &d in capped {
            self.watch_device(d, &specs.pdu);
        }
        for h in self.server_w.iter_mut() {
            keep(h, specs.bmc.horizon_ns());
        }
        for h in self.vm_cpu.iter_mut() {
            keep(h, specs.cpu.horizon_ns());
        }
        self.specs = Some(specs);
    }

    /// A device's load changed (or not) at `now_ns`.
    pub(crate) fn device_set(&mut self, d: DeviceId, now_ns: u64, w: f64) {
        if let Some(h) = &mut self.device_w[d] {
            h.set(now_ns, w);
        }
    }

    /// A server's power changed at `now_ns`.
    pub(crate) fn server_set(&mut self, s: ServerId, now_ns: u64, w: f64) {
        if let Some(h) = &mut self.server_w[s] {
            h.set(now_ns, w);
        }
    }

    /// A VM's CPU allocation changed at `now_ns`.
    pub(crate) fn vm_set(&mut self, v: VmId, now_ns: u64, cores: f64) {
        if let Some(h) = &mut self.vm_cpu[v] {
            h.set(now_ns, cores);
        }
    }

    /// The controller's newest visible reading of a device's meter.
    pub(crate) fn device_reading(&self, d: DeviceId, now_ns: u64) -> Option<Reading> {
        let spec = self.specs?.pdu;
        spec.visible(self.device_w[d].as_ref()?, now_ns)
    }

    /// The newest visible BMC reading of a server.
    pub(crate) fn server_reading(&self, s: ServerId, now_ns: u64) -> Option<Reading> {
        let spec = self.specs?.bmc;
        spec.visible(self.server_w[s].as_ref()?, now_ns)
    }

    /// A VM's CPU over the newest visible counter period, cores.
    pub(crate) fn vm_reading(&self, v: VmId, now_ns: u64) -> Option<Reading> {
        let spec = self.specs?.cpu;
        spec.visible(self.vm_cpu[v].as_ref()?, now_ns)
    }
}
