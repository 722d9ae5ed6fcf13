//! `[[meters]]`: meters on devices or servers.

use super::{Validator, World};
use crate::model::ids::{DeviceId, ServerId};
use crate::scenario::config::{MeterConfig, MeterTarget};
use crate::scenario::error::ConfigError;
use crate::scenario::schema::MeterEntry;

/// Averaging window of a meter that gives none: 100 ms, ns (a Yokogawa WT210's
/// reporting average).
const DEFAULT_WINDOW_NS: u64 = 100_000_000;

impl Validator<'_> {
    /// Every `[[meters]]` entry (after the datacenter, so its devices can be metered).
    pub(super) fn meters(
        &self,
        entries: &[MeterEntry],
        w: &mut World,
    ) -> Result<Vec<MeterConfig>, ConfigError> {
        let mut meters = Vec::new();
        for (i, m) in entries.iter().enumerate() {
            let field = |k: &str| format!("meters[{i}].{k}");
            let t = &m.target;
            let target = if let Some(&d) = w.device_ix.get(t) {
                MeterTarget::Device(DeviceId::new(d))
            } else if let Some(&s) = w.server_ix.get(t) {
                MeterTarget::Server(ServerId::new(s))
            } else {
                return Err(self.err(&field("target"), format!("no pdu or server named `{t}`")));
            };
            let name = m.name.clone().unwrap_or_else(|| format!("{t}-meter"));
            w.claim(&name, "meter")
                .map_err(|e| self.err(&field("name"), e))?;
            let window_ns = m.window.map_or(DEFAULT_WINDOW_NS, |s| s.nanos());
            if window_ns == 0 {
                return Err(self.err(&field("window"), "must be longer than zero, e.g. \"100ms\""));
            }
            meters.push(MeterConfig {
                name,
                target,
                window_ns,
                delay_ns: m.delay.nanos(),
            });
        }
        Ok(meters)
    }
}
