//! Server power models (DESIGN §3 "Server power"): electrical power in W as a function of
//! how many cores are busy, the DVFS performance state and the network traffic moved.
//!
//! Units are SI in `f64`: W, Hz, V, cores (fractional), Gbps (10⁹ bit/s). Power is piecewise
//! constant between simulation events, so callers get energy in J as `power_w × seconds`
//! over each interval; nothing here keeps time.
//!
//! Every method is total and never panics: utilisation clamps to [0, 1], a p-state index
//! beyond the list means the last state, NaN or negative load and traffic read as 0, because
//! a model that panics mid-run loses the whole run. (Finite inputs give finite power, unless
//! the NIC term itself exceeds f64, at ~10³⁰⁸ W.) Bad models are rejected once, up front, by
//! [`PowerModel::check`].

/// One DVFS performance state (ACPI P-state).
#[derive(Clone, Debug, PartialEq)]
pub struct PState {
    /// Core clock in Hz at this state.
    pub frequency_hz: f64,
    /// Core supply voltage in V at this state, if known; with it the dynamic power scales
    /// with f·V², without it only with f.
    pub voltage_v: Option<f64>,
    /// Dynamic power in W of one fully busy core at this state, above idle. Used (and
    /// required) only by [`PowerCurve::Cores`].
    pub core_w: Option<f64>,
}

/// How power depends on load.
#[derive(Clone, Debug, PartialEq)]
pub enum PowerCurve {
    /// Straight line from `idle_w` (W, no core busy) to `max_w` (W, every core busy) at P0.
    Linear {
        /// Power with no core busy, W.
        idle_w: f64,
        /// Power with every core busy at P0, W.
        max_w: f64,
    },
    /// SPECpower_ssj2008-style table in W at 0 %, 10 %, …, 100 % utilisation at P0,
    /// piecewise linear between points (as CloudSim's `PowerModelSpecPower`).
    SpecPower {
        /// Power at 0 %, 10 %, …, 100 % utilisation, W.
        table_w: [f64; 11],
    },
    /// `idle_w` (W) plus, per busy core, the p-state's [`PState::core_w`]. This is the kind
    /// calibration fits: per-core power is what a hypervisor's per-domain CPU counters
    /// can be regressed against.
    Cores {
        /// Power with no core busy, W.
        idle_w: f64,
    },
}

/// A server's power model.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerModel {
    /// Number of physical cores (≥ 1); utilisation u = busy cores / `cores`.
    pub cores: u32,
    /// Load → power relation.
    pub curve: PowerCurve,
    /// Performance states, P0 (fastest) first; at least one.
    pub pstates: Vec<PState>,
    /// Extra W per Gbps of network traffic moved (sent plus received), a linear term
    /// that stands for everything that scales with bytes moved (NIC, DMA, memory).
    pub nic_w_per_gbps: f64,
}

/// `x` clamped to `[lo, hi]`, NaN read as `lo` (so "no information" means "no load").
fn clamp_or_low(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        lo
    } else {
        x.clamp(lo, hi)
    }
}

/// CloudSim's SPECpower interpolation: u in [0, 1], linear between the 10 % points.
fn specpower_at(table_w: &[f64; 11], u: f64) -> f64 {
    let x = clamp_or_low(u, 0.0, 1.0) * 10.0;
    // Segment index 0..=9; at u = 1 use segment 9 with fraction 1 so the last point is hit.
    let i = (x.floor() as usize).min(9);
    let frac = x - i as f64;
    table_w[i] + (table_w[i + 1] - table_w[i]) * frac
}

impl PowerModel {
    /// The p-state that index `p` means: beyond the list clamps to the last (slowest) one,
    /// because "slower than the slowest" is the only sensible reading of a too-large index.
    fn state(&self, p: usize) -> Option<&PState> {
        let last = self.pstates.len().checked_sub(1)?;
        self.pstates.get(p.min(last))
    }

    /// Number of cores as f64, at least 1 so an unchecked model cannot divide by zero.
    fn cores_f(&self) -> f64 {
        self.cores.max(1) as f64
    }

    /// Electrical power in W with `busy_cores` (cores, 0..=`cores`, fractional; clamped)
    /// of CPU in use at p-state `p` (index, P0 first; clamped to the last), and `nic_gbps`
    /// (Gbps, negative read as 0) of network traffic moved.
    ///
    /// `Cores`: idle + busy × `core_w[p]` + NIC. `Linear`/`SpecPower`: with u = busy / cores,
    /// idle + (curve(u) − idle) × [`dynamic_factor`](Self::dynamic_factor)(p) + NIC — the
    /// curves are measured at full speed, and DVFS only scales their dynamic part.
    /// Idle power does not depend on the p-state: idle cores sit in deep C-states, where
    /// clock and voltage of the active state no longer matter.
    pub fn power_w(&self, busy_cores: f64, p: usize, nic_gbps: f64) -> f64 {
        let cores = self.cores_f();
        let busy = clamp_or_low(busy_cores, 0.0, cores);
        let cpu_w = match &self.curve {
            PowerCurve::Cores { idle_w } => {
                let core_w = self.state(p).and_then(|s| s.core_w).unwrap_or(0.0);
                idle_w + busy * core_w
            }
            PowerCurve::Linear { idle_w, max_w } => {
                let u = busy / cores;
                idle_w + (max_w - idle_w) * u * self.dynamic_factor(p)
            }
            PowerCurve::SpecPower { table_w } => {
                let u = busy / cores;
                table_w[0] + (specpower_at(table_w, u) - table_w[0]) * self.dynamic_factor(p)
            }
        };
        // Skip the NIC term when it is zero so an infinite rate cannot make 0 × ∞ = NaN.
        let nic_w = if self.nic_w_per_gbps == 0.0 {
            0.0
        } else {
            self.nic_w_per_gbps * clamp_or_low(nic_gbps, 0.0, f64::INFINITY)
        };
        cpu_w + nic_w
    }

    /// f_p / f_0 (dimensionless): how fast work progresses at p-state `p` relative to P0.
    /// 1 when the model has no usable P0 frequency (an unchecked model must not yield NaN).
    pub fn frequency_factor(&self, p: usize) -> f64 {
        match (self.pstates.first(), self.state(p)) {
            (Some(p0), Some(s))
                if p0.frequency_hz.is_finite()
                    && p0.frequency_hz > 0.0
                    && s.frequency_hz.is_finite()
                    && s.frequency_hz >= 0.0 =>
            {
                s.frequency_hz / p0.frequency_hz
            }
            _ => 1.0,
        }
    }

    /// Dynamic-power factor (dimensionless) f_p·V_p² / (f_0·V_0²), the CMOS switching-power
    /// scaling; the plain frequency ratio if either voltage is absent. Scales the dynamic
    /// part (curve − idle) of `Linear` and `SpecPower`; `Cores` carries per-state `core_w`
    /// instead (which a model file derives the same way).
    pub fn dynamic_factor(&self, p: usize) -> f64 {
        let fr = self.frequency_factor(p);
        let v0 = self.pstates.first().and_then(|s| s.voltage_v);
        let vp = self.state(p).and_then(|s| s.voltage_v);
        match (v0, vp) {
            (Some(v0), Some(vp)) if v0.is_finite() && v0 > 0.0 && vp.is_finite() => {
                let r = vp / v0;
                fr * r * r
            }
            _ => fr,
        }
    }

    /// Idle power in W: no core busy, p-state 0, no NIC traffic.
    pub fn idle_w(&self) -> f64 {
        match &self.curve {
            PowerCurve::Linear { idle_w, .. } | PowerCurve::Cores { idle_w } => *idle_w,
            PowerCurve::SpecPower { table_w } => table_w[0],
        }
    }

    /// Peak power in W: every core busy at P0, NIC excluded. This is the nameplate-like
    /// figure oversubscription ratios divide by, so it leaves out traffic-dependent power.
    pub fn peak_w(&self) -> f64 {
        self.power_w(self.cores_f(), 0, 0.0)
    }

    /// Checks that the model is physically meaningful; `Err` names the first bad field and
    /// says what would be valid. Field names are the model-file keys
    /// (`models/servers/*.toml`), p-states indexed from 0 (= P0), so the scenario layer can
    /// report them unchanged with a file position.
    ///
    /// Rules: `cores` ≥ 1; at least one p-state; frequencies finite, > 0 and non-increasing
    /// (P0 fastest); voltages finite and > 0, given on every state or on none (a mix would
    /// silently switch between f·V² and f scaling); `core_power` finite and ≥ 0, required
    /// on every state for `cores` and not allowed otherwise (it would be silently ignored);
    /// all powers finite and ≥ 0; linear `idle` ≤ `max`. A SPECpower table need only be
    /// finite and non-negative (all 619 published curves are non-decreasing, but nothing
    /// here depends on it).
    pub fn check(&self) -> Result<(), String> {
        fn watts(field: &str, w: f64) -> Result<(), String> {
            if w.is_finite() && w >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "`{field}` is {w} W; it must be a finite power ≥ 0 W"
                ))
            }
        }
        if self.cores < 1 {
            return Err("`cores` is 0; a server needs at least 1 core".into());
        }
        if self.pstates.is_empty() {
            return Err(
                "`pstates` is empty; give at least one p-state (P0, the nominal frequency)".into(),
            );
        }
        let is_cores = matches!(self.curve, PowerCurve::Cores { .. });
        let with_voltage = self.pstates[0].voltage_v.is_some();
        for (i, s) in self.pstates.iter().enumerate() {
            let f = s.frequency_hz;
            if !(f.is_finite() && f > 0.0) {
                return Err(format!(
                    "`pstates[{i}].frequency` is {f} Hz; it must be a finite frequency > 0 Hz"
                ));
            }
            if i > 0 && f > self.pstates[i - 1].frequency_hz {
                return Err(format!(
                    "`pstates[{i}].frequency` is {f} Hz, above `pstates[{}].frequency` ({} Hz); \
                     p-states go from P0 (fastest) down, so frequencies must not increase",
                    i - 1,
                    self.pstates[i - 1].frequency_hz
                ));
            }
            match s.voltage_v {
                Some(v) if !(v.is_finite() && v > 0.0) => {
                    return Err(format!(
                        "`pstates[{i}].voltage` is {v} V; it must be a finite voltage > 0 V"
                    ));
                }
                Some(_) if !with_voltage => {
                    return Err(format!(
                        "`pstates[{i}].voltage` is given but `pstates[0].voltage` is not; \
                         give a voltage on every p-state or on none"
                    ));
                }
                None if with_voltage => {
                    return Err(format!(
                        "`pstates[{i}].voltage` is missing but `pstates[0].voltage` is given; \
                         give a voltage on every p-state or on none"
                    ));
                }
                _ => {}
            }
            match s.core_w {
                Some(w) if is_cores => watts(&format!("pstates[{i}].core_power"), w)?,
                Some(_) => {
                    return Err(format!(
                        "`pstates[{i}].core_power` is only used by power kind \"cores\"; \
                         remove it or use kind = \"cores\""
                    ));
                }
                None if is_cores => {
                    return Err(format!(
                        "`pstates[{i}].core_power` is missing; power kind \"cores\" needs the \
                         dynamic W of one busy core on every p-state"
                    ));
                }
                None => {}
            }
        }
        match &self.curve {
            PowerCurve::Linear { idle_w, max_w } => {
                watts("power.idle", *idle_w)?;
                watts("power.max", *max_w)?;
                if idle_w > max_w {
                    return Err(format!(
                        "`power.idle` ({idle_w} W) is above `power.max` ({max_w} W); \
                         idle must be ≤ max"
                    ));
                }
            }
            PowerCurve::SpecPower { table_w } => {
                for (i, w) in table_w.iter().enumerate() {
                    watts(&format!("power.table[{i}] ({}% load)", i * 10), *w)?;
                }
            }
            PowerCurve::Cores { idle_w } => watts("power.idle", *idle_w)?,
        }
        let k = self.nic_w_per_gbps;
        if !(k.is_finite() && k >= 0.0) {
            return Err(format!(
                "`power.nic_per_gbps` is {k} W/Gbps; it must be finite and ≥ 0 W/Gbps"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn repo_path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// Reads a committed test data file; a missing one is a failure, not a skip.
    fn read_required(path: &PathBuf) -> String {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("test data {} could not be read: {e}", path.display()))
    }

    /// Splits one CSV line, honouring double quotes (fields contain commas).
    fn csv_fields(line: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => out.push(String::new()),
                _ => out.last_mut().unwrap().push(c),
            }
        }
        out
    }

    /// CloudSim's seven PowerModelSpecPower* classes and the line of the same SPECpower
    /// result in the committed excerpt tests/data/specpower-ssj2008/specpower_curves.csv
    /// (its README; CloudSim's tables are those results, checked against CloudSim's own
    /// numbers by `cloudsim_tables_are_the_specpower_results` when ../shared is there).
    const CLOUDSIM: [(&str, usize); 7] = [
        ("PowerModelSpecPowerHpProLiantMl110G3PentiumD930", 7),
        ("PowerModelSpecPowerHpProLiantMl110G4Xeon3040", 6),
        ("PowerModelSpecPowerHpProLiantMl110G5Xeon3075", 4),
        ("PowerModelSpecPowerIbmX3250XeonX3470", 8),
        ("PowerModelSpecPowerIbmX3250XeonX3480", 9),
        ("PowerModelSpecPowerIbmX3550XeonX5670", 10),
        ("PowerModelSpecPowerIbmX3550XeonX5675", 5),
    ];

    /// The 11 points (`first` and the ten after it, W) of each data line of a CSV, by line.
    fn tables(text: &str, first: &str) -> Vec<[f64; 11]> {
        let mut lines = text.lines();
        let header = csv_fields(lines.next().expect("CSV has a header"));
        let w0 = header.iter().position(|h| h == first).expect(first);
        lines
            .map(|l| {
                let f = csv_fields(l);
                let mut t = [0.0; 11];
                for (k, w) in t.iter_mut().enumerate() {
                    *w = f[w0 + k].parse().expect("numeric power");
                }
                t
            })
            .collect()
    }

    /// (cloudsim_class, 11-point table in W) for each of CloudSim's seven servers.
    fn cloudsim_tables() -> Vec<(String, [f64; 11])> {
        let text = read_required(&repo_path(
            "tests/data/specpower-ssj2008/specpower_curves.csv",
        ));
        // idle_w, w_10 … w_100 are adjacent columns; data line k is file line k + 2.
        let rows = tables(&text, "idle_w");
        CLOUDSIM
            .iter()
            .map(|&(class, line)| (class.to_string(), rows[line - 2]))
            .collect()
    }

    #[test]
    fn cloudsim_tables_are_the_specpower_results() {
        use std::io::Write;
        let name = "power::cloudsim_tables_are_the_specpower_results";
        let path = repo_path("../shared/data/specpower-ssj2008/cloudsim_specpower_models.csv");
        // Said on the stream itself (past the harness's capture), as tests/shared_data does.
        let Ok(text) = std::fs::read_to_string(&path) else {
            let _ = std::io::stderr().write_all(
                format!(
                    "full-data test {name}: SKIPPED, ../shared/data/specpower-ssj2008/\
                     cloudsim_specpower_models.csv is missing (CloudSim's PowerModelSpecPower* \
                     tables, github.com/Cloudslab/cloudsim; see README.md § Data)\n"
                )
                .as_bytes(),
            );
            return;
        };
        let _ = std::io::stderr().write_all(
            format!("full-data test {name}: ran on ../shared/data/specpower-ssj2008\n").as_bytes(),
        );
        let header = csv_fields(text.lines().next().unwrap());
        let class = header.iter().position(|h| h == "cloudsim_class").unwrap();
        let classes: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| csv_fields(l)[class].clone())
            .collect();
        let theirs = tables(&text, "w_0");
        assert_eq!(theirs.len(), 7);
        for (c, t) in cloudsim_tables() {
            let k = classes.iter().position(|x| *x == c).expect(&c);
            assert_eq!(theirs[k], t, "{c}");
        }
    }

    fn specpower(cores: u32, table_w: [f64; 11]) -> PowerModel {
        PowerModel {
            cores,
            curve: PowerCurve::SpecPower { table_w },
            pstates: vec![PState {
                frequency_hz: 2.0e9,
                voltage_v: None,
                core_w: None,
            }],
            nic_w_per_gbps: 0.0,
        }
    }

    fn linear(idle_w: f64, max_w: f64, cores: u32) -> PowerModel {
        PowerModel {
            cores,
            curve: PowerCurve::Linear { idle_w, max_w },
            pstates: vec![PState {
                frequency_hz: 2.0e9,
                voltage_v: None,
                core_w: None,
            }],
            nic_w_per_gbps: 0.0,
        }
    }

    #[test]
    fn specpower_matches_the_seven_cloudsim_tables() {
        // The hand values at the end pin five of the seven rows to their servers.
        let rows = cloudsim_tables();
        for (class, t) in &rows {
            // 10 cores so that k busy cores is exactly k×10 % load.
            let m = specpower(10, *t);
            m.check().unwrap();
            for (k, &want) in t.iter().enumerate() {
                // At a table point the model returns the table value itself.
                let got = m.power_w(k as f64, 0, 0.0);
                assert!(
                    close(got, want, EPS),
                    "{class} at {}%: {got} W vs {want} W",
                    k * 10
                );
            }
            for k in 0..10 {
                // Half way between two points: the mean of the two (linear interpolation).
                let got = m.power_w(k as f64 + 0.5, 0, 0.0);
                let want = (t[k] + t[k + 1]) / 2.0;
                assert!(
                    close(got, want, EPS),
                    "{class} at {}5%: {got} W vs {want} W",
                    k * 10
                );
            }
            assert!(close(m.idle_w(), t[0], EPS));
            assert!(close(m.peak_w(), t[10], EPS));
        }
        let table = |c: &str| rows.iter().find(|(n, _)| n == c).unwrap().1;
        // HP ML110 G4 (2 cores), 55 % = 1.1 cores: (102 + 106) / 2 = 104 W.
        let g4 = specpower(2, table("PowerModelSpecPowerHpProLiantMl110G4Xeon3040"));
        assert!(close(g4.power_w(1.1, 0, 0.0), 104.0, 1e-9));
        // HP ML110 G3 (2 cores), 5 % = 0.1 cores: (105 + 112) / 2 = 108.5 W.
        let g3 = specpower(2, table("PowerModelSpecPowerHpProLiantMl110G3PentiumD930"));
        assert!(close(g3.power_w(0.1, 0, 0.0), 108.5, 1e-9));
        // HP ML110 G5 (2 cores), 33 % = 0.66 cores: 105 + 0.3 × (110 − 105) = 106.5 W.
        let g5 = specpower(2, table("PowerModelSpecPowerHpProLiantMl110G5Xeon3075"));
        assert!(close(g5.power_w(0.66, 0, 0.0), 106.5, 1e-9));
        // IBM x3550 M3 X5670 (12 cores), 95 % = 11.4 cores: (229 + 247) / 2 = 238 W.
        let x5670 = specpower(12, table("PowerModelSpecPowerIbmX3550XeonX5670"));
        assert!(close(x5670.power_w(11.4, 0, 0.0), 238.0, 1e-9));
        // IBM x3250 M3 X3470 (4 cores), 25 % = 1 core: (52.3 + 57.9) / 2 = 55.1 W.
        let x3470 = specpower(4, table("PowerModelSpecPowerIbmX3250XeonX3470"));
        assert!(close(x3470.power_w(1.0, 0, 0.0), 55.1, 1e-9));
    }

    #[test]
    fn energy_is_power_times_time() {
        // idle 100 W, max 200 W, 4 cores; 2 busy → u = 0.5 → 100 + 0.5 × 100 = 150 W;
        // 150 W × 3600 s = 540 000 J = 540 kJ.
        let m = linear(100.0, 200.0, 4);
        let e = m.power_w(2.0, 0, 0.0) * 3600.0;
        assert!(close(e, 540_000.0, 1e-6));
        // Two intervals: 1 busy core for 10 s → 125 W × 10 s = 1250 J; then 4 busy for 5 s
        // → 200 W × 5 s = 1000 J; total 2250 J.
        let e2 = m.power_w(1.0, 0, 0.0) * 10.0 + m.power_w(4.0, 0, 0.0) * 5.0;
        assert!(close(e2, 2250.0, 1e-9));
        // ML110 G4 table at 55 % for 60 s: 104 W × 60 s = 6240 J.
        let g4 = specpower(
            2,
            [
                86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0,
            ],
        );
        assert!(close(g4.power_w(1.1, 0, 0.0) * 60.0, 6240.0, 1e-6));
    }

    #[test]
    fn dynamic_factor_uses_f_v_squared() {
        let mut m = linear(100.0, 200.0, 4);
        m.pstates = vec![
            PState {
                frequency_hz: 2.0e9,
                voltage_v: Some(1.2),
                core_w: None,
            },
            PState {
                frequency_hz: 1.0e9,
                voltage_v: Some(0.9),
                core_w: None,
            },
        ];
        m.check().unwrap();
        // f ratio 1/2; V ratio 0.9/1.2 = 0.75, squared 0.5625; f·V² = 0.5 × 0.5625 = 0.28125.
        assert!(close(m.frequency_factor(1), 0.5, EPS));
        assert!(close(m.dynamic_factor(1), 0.28125, EPS));
        assert!(close(m.dynamic_factor(0), 1.0, EPS));
        // All 4 cores busy at P1: 100 + (200 − 100) × 0.28125 = 128.125 W.
        assert!(close(m.power_w(4.0, 1, 0.0), 128.125, EPS));
        // Idle is the same at every p-state: 100 W.
        assert!(close(m.power_w(0.0, 1, 0.0), 100.0, EPS));
        // Without voltages the factor is the frequency ratio: 1 GHz / 2 GHz = 0.5,
        // so full load at P1 = 100 + 100 × 0.5 = 150 W.
        for s in &mut m.pstates {
            s.voltage_v = None;
        }
        assert!(close(m.dynamic_factor(1), 0.5, EPS));
        assert!(close(m.power_w(4.0, 1, 0.0), 150.0, EPS));
    }

    // ---- the study's host, read from models/servers/i7-920-xen34.toml ----

    /// "17W" → 17.0 with a unit suffix; only the units the server files use.
    fn quantity(s: &str) -> f64 {
        let (num, scale) = if let Some(n) = s.strip_suffix("GHz") {
            (n, 1e9)
        } else if let Some(n) = s.strip_suffix("MHz") {
            (n, 1e6)
        } else if let Some(n) = s.strip_suffix("W") {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix("V") {
            (n, 1.0)
        } else {
            panic!("unexpected unit in {s:?}")
        };
        num.trim()
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad number in {s:?}"))
            * scale
    }

    fn server_toml(name: &str) -> toml::Table {
        let path = repo_path(&format!("models/servers/{name}"));
        read_required(&path)
            .parse::<toml::Table>()
            .expect("valid TOML")
    }

    /// Minimal reading of a server file into a PowerModel (the real parser lives in the
    /// scenario layer; this only lets the tests use the file's numbers).
    fn model_from_toml(t: &toml::Table) -> PowerModel {
        let s = |v: &toml::Value| quantity(v.as_str().expect("string with unit"));
        let power = t["power"].as_table().unwrap();
        let curve = match power["kind"].as_str().unwrap() {
            "cores" => PowerCurve::Cores {
                idle_w: s(&power["idle"]),
            },
            "linear" => PowerCurve::Linear {
                idle_w: s(&power["idle"]),
                max_w: s(&power["max"]),
            },
            "specpower" => {
                let v = power["table"].as_array().unwrap();
                assert_eq!(v.len(), 11, "table needs 11 points");
                let mut table_w = [0.0; 11];
                for (w, x) in table_w.iter_mut().zip(v) {
                    *w = s(x);
                }
                PowerCurve::SpecPower { table_w }
            }
            k => panic!("unknown kind {k}"),
        };
        let pstates = t["pstates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| PState {
                frequency_hz: s(&p["frequency"]),
                voltage_v: p.get("voltage").map(s),
                core_w: p.get("core_power").map(s),
            })
            .collect();
        PowerModel {
            cores: t["cores"].as_integer().unwrap() as u32,
            curve,
            pstates,
            nic_w_per_gbps: power.get("nic_per_gbps").map(s).unwrap_or(0.0),
        }
    }

    #[test]
    fn i7_920_file_is_consistent() {
        let m = model_from_toml(&server_toml("i7-920-xen34.toml"));
        m.check().unwrap();
        assert_eq!(m.cores, 4);
        assert_eq!(
            m.pstates.len(),
            9,
            "9 DVFS states (multipliers 20 down to 12)"
        );
        // P0 = 20 × 133.33 MHz ≈ 2.6667 GHz; P8 = 12 × 133.33 MHz = 1.6 GHz.
        assert!(close(m.pstates[0].frequency_hz, 2.6667e9, 1e3));
        assert!(close(m.pstates[8].frequency_hz, 1.6e9, 1e3));
        // Each state's core_power is P0's 17 W scaled by f·V², to the file's 0.01 W rounding.
        let p0_core_w = m.pstates[0].core_w.unwrap();
        for p in 0..9 {
            let want = p0_core_w * m.dynamic_factor(p);
            let got = m.pstates[p].core_w.unwrap();
            assert!(
                close(got, want, 0.006),
                "P{p}: core_power {got} W vs f·V² {want} W"
            );
        }
    }

    #[test]
    fn x3550_m3_pstate_tables_scale_the_curve_by_f_v_squared() {
        // X5670: 22× down to 12× of 133.33 MHz (11 states); X5675: 23× to 12× (12).
        // The floor, 1.60 GHz at the assumed 0.95 V against 1.20 V at P0:
        // (1.6/2.933)·(0.95/1.2)² = 0.54552 × 0.62674 = 0.34190 and (1.6/3.067)·0.62674
        // = 0.32696. At the floor with the same busy cores the X5670 at 100 % draws
        // 66 + (247 − 66) × 0.34190 = 127.88 W.
        for (file, n, f0, floor) in [
            ("ibm-x3550-m3.toml", 11, 2.933e9, 0.34190),
            ("ibm-x3550-m3-x5675.toml", 12, 3.067e9, 0.32696),
        ] {
            let m = model_from_toml(&server_toml(file));
            m.check().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(m.pstates.len(), n, "{file}");
            assert!(close(m.pstates[0].frequency_hz, f0, 1.0), "{file}");
            assert!(close(m.pstates[n - 1].frequency_hz, 1.6e9, 1.0), "{file}");
            assert!(close(m.dynamic_factor(n - 1), floor, 1e-5), "{file}");
            // Each state 133.33 MHz below the one before (13.3 MHz rounding in files).
            for w in m.pstates.windows(2) {
                let step = w[0].frequency_hz - w[1].frequency_hz;
                assert!((step - 133.33e6).abs() < 0.1e6 || w[0].frequency_hz == f0);
            }
        }
        let m = model_from_toml(&server_toml("ibm-x3550-m3.toml"));
        assert!(close(m.power_w(12.0, 10, 0.0), 127.88, 0.01));
    }

    #[test]
    fn i7_920_worked_example() {
        let m = model_from_toml(&server_toml("i7-920-xen34.toml"));
        // File values: idle 100 W, core_power P0 17 W, P8 9.17 W, NIC 3.5 W/Gbps.
        assert!(close(m.idle_w(), 100.0, EPS));
        // CPU-unsaturated group: 3 busy cores at P0 → 100 + 3 × 17 = 151 W.
        let before = m.power_w(3.0, 0, 0.0);
        assert!(close(before, 151.0, EPS));
        // Pre-copy: dom0 at half a core plus 1 Gbps → 100 + 3.5 × 17 + 1 × 3.5 = 163 W,
        // i.e. 8.5 + 3.5 = +12 W (DESIGN §1).
        let during = m.power_w(3.5, 0, 1.0);
        assert!(close(during, 163.0, EPS));
        assert!(close(during - before, 12.0, EPS));
        // After one VM left: 2 busy cores → 100 + 2 × 17 = 134 W, 17 W lower (study: 15–20).
        let after = m.power_w(2.0, 0, 0.0);
        assert!(close(before - after, 17.0, EPS));
        // All 4 cores at P8 (1.6 GHz, 1.1375 V): 100 + 4 × 9.17 = 136.68 W.
        assert!(close(m.power_w(4.0, 8, 0.0), 136.68, EPS));
        // Peak: 100 + 4 × 17 = 168 W.
        assert!(close(m.peak_w(), 168.0, EPS));
        // P8 runs work at 1.6 / 2.6667 ≈ 0.6 of P0's speed.
        assert!(close(m.frequency_factor(8), 0.6, 1e-4));
        // 3600 s with 3 busy cores at P0: 151 W × 3600 s = 543 600 J.
        assert!(close(before * 3600.0, 543_600.0, 1e-6));
    }

    #[test]
    fn classic_server_files_match_the_cloudsim_csv() {
        // file → CloudSim class it was derived from.
        let files = [
            (
                "hp-ml110-g3.toml",
                "PowerModelSpecPowerHpProLiantMl110G3PentiumD930",
                2,
            ),
            (
                "hp-ml110-g4.toml",
                "PowerModelSpecPowerHpProLiantMl110G4Xeon3040",
                2,
            ),
            (
                "hp-ml110-g5.toml",
                "PowerModelSpecPowerHpProLiantMl110G5Xeon3075",
                2,
            ),
            (
                "ibm-x3250-m3.toml",
                "PowerModelSpecPowerIbmX3250XeonX3470",
                4,
            ),
            (
                "ibm-x3250-m3-x3480.toml",
                "PowerModelSpecPowerIbmX3250XeonX3480",
                4,
            ),
            (
                "ibm-x3550-m3.toml",
                "PowerModelSpecPowerIbmX3550XeonX5670",
                12,
            ),
            (
                "ibm-x3550-m3-x5675.toml",
                "PowerModelSpecPowerIbmX3550XeonX5675",
                12,
            ),
        ];
        let rows = cloudsim_tables();
        for (file, class, cores) in files {
            let m = model_from_toml(&server_toml(file));
            m.check().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(m.cores, cores, "{file}");
            let want = rows.iter().find(|(c, _)| c == class).unwrap().1;
            assert_eq!(
                m.curve,
                PowerCurve::SpecPower { table_w: want },
                "{file} vs {class}"
            );
        }
    }

    #[test]
    fn inputs_are_clamped() {
        let mut m = linear(100.0, 200.0, 4);
        m.nic_w_per_gbps = 2.0;
        // Negative or NaN load → idle 100 W; more than 4 cores → peak 200 W.
        assert!(close(m.power_w(-1.0, 0, 0.0), 100.0, EPS));
        assert!(close(m.power_w(f64::NAN, 0, 0.0), 100.0, EPS));
        assert!(close(m.power_w(10.0, 0, 0.0), 200.0, EPS));
        // Negative traffic → no NIC term: 100 W; 2 Gbps → 100 + 2 × 2 = 104 W.
        assert!(close(m.power_w(0.0, 0, -5.0), 100.0, EPS));
        assert!(close(m.power_w(0.0, 0, 2.0), 104.0, EPS));
        // peak_w excludes the NIC: 200 W.
        assert!(close(m.peak_w(), 200.0, EPS));
        // p-state beyond the list → the last one (here the only one): factor 1, 200 W.
        assert!(close(m.power_w(4.0, 99, 0.0), 200.0, EPS));
        assert!(close(m.frequency_factor(99), 1.0, EPS));
        // With two states, index 7 means P1: f ratio 1 GHz / 2 GHz = 0.5.
        m.pstates.push(PState {
            frequency_hz: 1.0e9,
            voltage_v: None,
            core_w: None,
        });
        assert!(close(m.frequency_factor(7), 0.5, EPS));
        // Extreme inputs: load clamps to 4 cores, p-state to the last (P1, factor 0.5);
        // 1e9 Gbps → 100 + 100 × 0.5 + 2 × 1e9 = 150 W + 2e9 W (the NIC term is linear by
        // definition, so it is not capped).
        assert!(close(
            m.power_w(f64::MAX, usize::MAX, 1e9),
            150.0 + 2e9,
            1e-3
        ));
        assert!(close(m.power_w(f64::MIN, 0, f64::MIN), 100.0, EPS));
        // Even f64::MAX Gbps gives +∞ (overflow of 2 × MAX), never NaN or a panic.
        assert!(!m.power_w(f64::MAX, 0, f64::MAX).is_nan());
        // SpecPower clamps too: u = 3 → the 100 % point, u < 0 → the 0 % point.
        let g4 = specpower(
            2,
            [
                86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0,
            ],
        );
        assert!(close(g4.power_w(6.0, 0, 0.0), 117.0, EPS));
        assert!(close(g4.power_w(-6.0, 0, 0.0), 86.0, EPS));
    }

    #[test]
    fn broken_models_do_not_panic() {
        // Unchecked nonsense must still give a finite answer, never a panic.
        let m = PowerModel {
            cores: 0,
            curve: PowerCurve::Cores { idle_w: 50.0 },
            pstates: vec![],
            nic_w_per_gbps: 0.0,
        };
        // cores read as 1, no p-state → no core power: 50 W.
        assert!(close(m.power_w(3.0, 5, 1.0), 50.0, EPS));
        assert!(close(m.frequency_factor(3), 1.0, EPS));
        assert!(close(m.dynamic_factor(3), 1.0, EPS));
        let mut z = linear(100.0, 200.0, 4);
        z.pstates[0].frequency_hz = 0.0;
        assert!(close(z.frequency_factor(0), 1.0, EPS));
        assert!(z.check().is_err());
    }

    #[test]
    fn check_names_the_bad_field() {
        let cores_kind = || PowerModel {
            cores: 4,
            curve: PowerCurve::Cores { idle_w: 100.0 },
            pstates: vec![
                PState {
                    frequency_hz: 2.0e9,
                    voltage_v: Some(1.2),
                    core_w: Some(17.0),
                },
                PState {
                    frequency_hz: 1.6e9,
                    voltage_v: Some(1.1),
                    core_w: Some(12.0),
                },
            ],
            nic_w_per_gbps: 3.5,
        };
        assert_eq!(cores_kind().check(), Ok(()));
        let err = |m: PowerModel| m.check().expect_err("should be rejected");

        let mut m = cores_kind();
        m.cores = 0;
        assert!(err(m).contains("`cores`"));

        let mut m = cores_kind();
        m.pstates.clear();
        assert!(err(m).contains("`pstates`"));

        let mut m = cores_kind();
        m.pstates[1].frequency_hz = 3.0e9;
        let e = err(m);
        assert!(
            e.contains("`pstates[1].frequency`") && e.contains("must not increase"),
            "{e}"
        );

        let mut m = cores_kind();
        m.pstates[0].frequency_hz = f64::NAN;
        assert!(err(m).contains("`pstates[0].frequency`"));

        let mut m = cores_kind();
        m.pstates[1].voltage_v = None;
        assert!(err(m).contains("`pstates[1].voltage`"));

        let mut m = cores_kind();
        m.pstates[0].voltage_v = Some(-1.0);
        assert!(err(m).contains("`pstates[0].voltage`"));

        let mut m = cores_kind();
        m.pstates[1].core_w = None;
        assert!(err(m).contains("`pstates[1].core_power` is missing"));

        let mut m = cores_kind();
        m.pstates[0].core_w = Some(f64::INFINITY);
        assert!(err(m).contains("`pstates[0].core_power`"));

        let mut m = cores_kind();
        m.curve = PowerCurve::Cores { idle_w: -1.0 };
        assert!(err(m).contains("`power.idle`"));

        let mut m = cores_kind();
        m.nic_w_per_gbps = -2.0;
        let e = err(m);
        assert!(
            e.contains("`power.nic_per_gbps`") && e.contains("W/Gbps"),
            "{e}"
        );

        let mut m = linear(200.0, 100.0, 4);
        let e = err(m.clone());
        assert!(
            e.contains("`power.idle`") && e.contains("`power.max`"),
            "{e}"
        );
        m.curve = PowerCurve::Linear {
            idle_w: 100.0,
            max_w: 200.0,
        };
        m.pstates[0].core_w = Some(17.0);
        assert!(err(m).contains("only used by power kind \"cores\""));

        let mut t = [100.0; 11];
        t[4] = f64::NAN;
        let e = err(specpower(2, t));
        assert!(e.contains("`power.table[4] (40% load)`"), "{e}");
        // A table only needs finite non-negative points, even if not monotone.
        t[4] = 90.0;
        assert_eq!(specpower(2, t).check(), Ok(()));
    }
}
