//! Calibration: fitting capsim's models to measurements — published SPECpower results
//! now, capture runs (power meter + hypervisor CPU counters) next.

pub mod fit;
pub mod specpower;

use crate::output::dir::write_file_atomic;
use std::path::Path;

/// `capsim calibrate --specpower CSV --server NAME [--line N] --kind K -o MODEL.toml`:
/// writes the model (checked by loading it back as a server model first) and returns
/// what to print: the file and the fit's error.
pub fn specpower_command(
    csv: &Path,
    server: &str,
    line: Option<usize>,
    kind: specpower::Kind,
    out: &Path,
) -> Result<String, String> {
    let all = specpower::read(csv)?;
    let r = specpower::find(&all, server, line)?;
    let today = crate::capture::record::utc_string(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128),
    );
    let text = specpower::model_text(r, kind, &csv.display().to_string(), &today[..10])?;
    // Never write a model capsim itself would reject.
    crate::scenario::validate::server_model_from_text(
        "calibrated",
        &out.display().to_string(),
        &text,
    )
    .map_err(|e| format!("internal: the written model does not load: {e}"))?;
    write_file_atomic(out, text.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))?;
    let fit = specpower::fit_line(r)?;
    Ok(format!(
        "{}: {} (line {})\nlinear fit: idle {:.1} W, max {:.1} W, R² {:.4}, RMSE {:.2} W, worst residual {:.2} W",
        out.display(),
        r.label(),
        r.line,
        fit.coef[0],
        fit.coef[0] + fit.coef[1],
        fit.r2,
        fit.rmse,
        fit.max_abs_residual
    ))
}
