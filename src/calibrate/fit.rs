//! Ordinary least squares with the statistics a calibration report needs: coefficient
//! standard errors, R² and RMSE. Small dense problems only (a handful of parameters),
//! solved through the normal equations with partial pivoting.

use crate::output::stats::t95;

/// A fitted linear model y ≈ X·β.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// Coefficients β, in the units of y per unit of each column of X.
    pub coef: Vec<f64>,
    /// Standard error of each coefficient (same units), from σ²·(XᵀX)⁻¹ with
    /// σ² = SSR / (n − p); NaN when n = p (no residual degrees of freedom).
    pub se: Vec<f64>,
    /// Coefficient of determination (1 − SSR/SST); NaN when y is constant.
    pub r2: f64,
    /// Root-mean-square residual, units of y.
    pub rmse: f64,
    /// Largest absolute residual, units of y.
    pub max_abs_residual: f64,
    /// Number of observations.
    pub n: usize,
}

impl Fit {
    /// The 95 % confidence half-width of coefficient `k` (normal approximation, 1.96 σ,
    /// or Student t for fewer than 31 residual degrees of freedom).
    pub fn ci95(&self, k: usize) -> f64 {
        let df = self.n.saturating_sub(self.coef.len());
        t95(df) * self.se[k]
    }
}

/// Fits y ≈ X·β. `names` label the columns in errors. Fails with a diagnosis when there
/// are fewer observations than parameters or a column carries no information of its own
/// (constant zero, or a combination of the others), instead of returning a silent bad fit.
pub fn ols(x: &[Vec<f64>], y: &[f64], names: &[&str]) -> Result<Fit, String> {
    let p = names.len();
    let n = y.len();
    if x.len() != n || x.iter().any(|r| r.len() != p) {
        return Err(format!(
            "internal: {} rows of X for {n} observations, {p} columns expected",
            x.len()
        ));
    }
    if n < p {
        return Err(format!(
            "{n} observations cannot determine {p} parameters ({})",
            names.join(", ")
        ));
    }
    if let Some(bad) = (0..n).find(|&i| !y[i].is_finite() || x[i].iter().any(|v| !v.is_finite())) {
        return Err(format!("observation {bad} is not a finite number"));
    }
    // Normal equations A = XᵀX, b = Xᵀy.
    let mut a = vec![vec![0.0; p]; p];
    let mut b = vec![0.0; p];
    for (row, &yi) in x.iter().zip(y) {
        for j in 0..p {
            b[j] += row[j] * yi;
            for k in 0..p {
                a[j][k] += row[j] * row[k];
            }
        }
    }
    let inv = invert(&a).map_err(|k| {
        format!(
            "`{}` cannot be told apart from the other terms ({}): the data do not vary it \
             independently (e.g. no idle period, or one load level only)",
            names[k],
            names.join(", ")
        )
    })?;
    let coef: Vec<f64> = (0..p)
        .map(|j| (0..p).map(|k| inv[j][k] * b[k]).sum())
        .collect();
    let mut ssr = 0.0;
    let mut max_abs: f64 = 0.0;
    for (row, &yi) in x.iter().zip(y) {
        let r = yi - row.iter().zip(&coef).map(|(a, c)| a * c).sum::<f64>();
        ssr += r * r;
        max_abs = max_abs.max(r.abs());
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let sigma2 = if n > p {
        ssr / (n - p) as f64
    } else {
        f64::NAN
    };
    Ok(Fit {
        se: (0..p).map(|j| (sigma2 * inv[j][j]).sqrt()).collect(),
        coef,
        r2: if sst > 0.0 { 1.0 - ssr / sst } else { f64::NAN },
        rmse: (ssr / n as f64).sqrt(),
        max_abs_residual: max_abs,
        n,
    })
}

/// Inverse of a small symmetric positive semi-definite matrix by Gauss–Jordan with
/// partial pivoting; `Err(k)` names the column found (numerically) dependent.
fn invert(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, usize> {
    let p = a.len();
    let scale = (0..p).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = r.clone();
            row.extend((0..p).map(|j| f64::from(u8::from(i == j))));
            row
        })
        .collect();
    for col in 0..p {
        let piv = (col..p)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap_or(col);
        // Relative threshold: a pivot this small means the column adds nothing new.
        if m[piv][col].abs() <= 1e-10 * scale.max(f64::MIN_POSITIVE) {
            return Err(col);
        }
        m.swap(col, piv);
        let d = m[col][col];
        for v in &mut m[col] {
            *v /= d;
        }
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            let f = row[col];
            if r != col && f != 0.0 {
                for (v, pv) in row.iter_mut().zip(&pivot_row) {
                    *v -= f * pv;
                }
            }
        }
    }
    Ok(m.into_iter().map(|r| r[p..].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_through_four_points() {
        // y = 1 + 2x with residuals +0.1, −0.1, −0.1, +0.1 at x = 0, 1, 2, 3:
        // the symmetric residuals leave β = (1, 2) exactly (Σr = 0, Σxr = 0 − 0.1 − 0.2 + 0.3 = 0).
        let xs = [0.0, 1.0, 2.0, 3.0];
        let r = [0.1, -0.1, -0.1, 0.1];
        let x: Vec<Vec<f64>> = xs.iter().map(|&v| vec![1.0, v]).collect();
        let y: Vec<f64> = xs.iter().zip(r).map(|(v, e)| 1.0 + 2.0 * v + e).collect();
        let f = ols(&x, &y, &["a", "b"]).unwrap();
        assert!((f.coef[0] - 1.0).abs() < 1e-12 && (f.coef[1] - 2.0).abs() < 1e-12);
        // SSR = 4 × 0.01 = 0.04; RMSE = √(0.04/4) = 0.1; σ² = 0.04/2 = 0.02.
        assert!((f.rmse - 0.1).abs() < 1e-12);
        // XᵀX = [[4, 6], [6, 14]], det 20, inverse [[0.7, −0.3], [−0.3, 0.2]]:
        // se(a) = √(0.02·0.7) = 0.11832, se(b) = √(0.02·0.2) = 0.063246.
        assert!((f.se[0] - (0.014f64).sqrt()).abs() < 1e-12);
        assert!((f.se[1] - (0.004f64).sqrt()).abs() < 1e-12);
        // SST: y = 1.1, 2.9, 4.9, 7.1, mean 4, SST = 8.41 + 1.21 + 0.81 + 9.61 = 20.04.
        assert!((f.r2 - (1.0 - 0.04 / 20.04)).abs() < 1e-12);
        assert!((f.max_abs_residual - 0.1).abs() < 1e-12);
        // df = 2 → t = 4.303.
        assert!((f.ci95(1) - 4.303 * (0.004f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn dependent_columns_and_too_few_points_are_diagnosed() {
        // The second column is twice the first: no unique split between them.
        let x = vec![vec![1.0, 2.0], vec![2.0, 4.0], vec![3.0, 6.0]];
        let e = ols(&x, &[1.0, 2.0, 3.0], &["idle", "per_core"]).unwrap_err();
        assert!(e.contains("`per_core` cannot be told apart"), "{e}");
        let e = ols(&[vec![1.0, 0.0]], &[1.0], &["a", "b"]).unwrap_err();
        assert!(e.contains("1 observations cannot determine 2"), "{e}");
        let e = ols(&[vec![1.0], vec![f64::NAN]], &[1.0, 2.0], &["a"]).unwrap_err();
        assert!(e.contains("not a finite"), "{e}");
    }
}
