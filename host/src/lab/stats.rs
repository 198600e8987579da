//! Small statistics the lab reports with its figures: a mean with its 95 % confidence interval
//! (Student's t), in exact decimals, so "the rule earned 1.20 ± 0.80 a position" is not just a
//! mean.

use rust_decimal::{Decimal, MathematicalOps as _};
use serde::{Deserialize, Serialize};

/// Two-sided 97.5 % quantiles of Student's t for 1 to 30 degrees of freedom; 1.96 (the normal
/// quantile) beyond, where the two differ by less than 2 %.
const T_975: [(i64, u32); 30] = [
    (12_706, 3),
    (4_303, 3),
    (3_182, 3),
    (2_776, 3),
    (2_571, 3),
    (2_447, 3),
    (2_365, 3),
    (2_306, 3),
    (2_262, 3),
    (2_228, 3),
    (2_201, 3),
    (2_179, 3),
    (2_160, 3),
    (2_145, 3),
    (2_131, 3),
    (2_120, 3),
    (2_110, 3),
    (2_101, 3),
    (2_093, 3),
    (2_086, 3),
    (2_080, 3),
    (2_074, 3),
    (2_069, 3),
    (2_064, 3),
    (2_060, 3),
    (2_056, 3),
    (2_052, 3),
    (2_048, 3),
    (2_045, 3),
    (2_042, 3),
];

/// The t quantile for a 95 % interval with `df` degrees of freedom.
fn t_quantile(df: usize) -> Decimal {
    T_975.get(df.wrapping_sub(1)).map_or(Decimal::new(196, 2), |&(m, s)| Decimal::new(m, s))
}

/// Money and P&L figures in reports are rounded to micro-units, the finest grain pUSD has.
const DP: u32 = 6;

/// A sample's count, total and mean, with a 95 % confidence interval of the mean when there are
/// at least two values (mean ± t·s/√n).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub n: usize,
    pub total: Decimal,
    pub mean: Decimal,
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
}

impl Estimate {
    /// The estimate of the values' mean; `None` for no values (or sums beyond `Decimal`).
    #[must_use]
    pub fn of(values: &[Decimal]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let count = Decimal::from(n);
        let total = values.iter().try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v))?;
        let mean = total.checked_div(count)?;
        let (low, high) = if n < 2 {
            (None, None)
        } else {
            let squares = values
                .iter()
                .try_fold(Decimal::ZERO, |acc, v| acc.checked_add((*v - mean).checked_mul(*v - mean)?))?;
            let sd = squares.checked_div(Decimal::from(n - 1))?.sqrt()?;
            let half = t_quantile(n - 1).checked_mul(sd.checked_div(count.sqrt()?)?)?;
            (Some((mean - half).round_dp(DP)), Some((mean + half).round_dp(DP)))
        };
        Some(Self { n, total, mean: mean.round_dp(DP), low, high })
    }

    /// The interval lies wholly above zero, or wholly below: the sign of the mean is not chance
    /// at the 95 % level.
    #[must_use]
    pub fn significant(&self) -> bool {
        match (self.low, self.high) {
            (Some(l), Some(h)) => l > Decimal::ZERO || h < Decimal::ZERO,
            _ => false,
        }
    }
}

/// Spearman's rank correlation of two equally long samples (ties get their mean rank); `None`
/// with fewer than three pairs or a sample without variation. A statistic, not money: f64.
#[must_use]
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    pearson(&rx, &ry)
}

/// Ranks from 1, ties sharing the mean of the ranks they span.
#[expect(clippy::cast_precision_loss, reason = "ranks of samples far below 2^52")]
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]].total_cmp(&v[order[i]]).is_eq() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

#[expect(clippy::cast_precision_loss, reason = "sample sizes far below 2^52")]
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_mean_comes_with_its_student_t_interval() {
        // 1, 2, 3, 4, 5: mean 3, s = √2.5, t(4) = 2.776, half-width 2.776 × √2.5 / √5 = 1.962928…
        let e = Estimate::of(&[dec!(1), dec!(2), dec!(3), dec!(4), dec!(5)]).unwrap();
        assert_eq!((e.n, e.total, e.mean), (5, dec!(15), dec!(3)));
        let half = e.high.unwrap() - e.mean;
        assert!((half - dec!(1.962928)).abs() <= dec!(0.000002), "{half}");
        assert_eq!(e.mean - e.low.unwrap(), half);
        assert!(e.significant(), "1..5 is above zero");
        let one = Estimate::of(&[dec!(-2.5)]).unwrap();
        assert_eq!((one.mean, one.low, one.high), (dec!(-2.5), None, None));
        assert!(!one.significant());
        assert!(Estimate::of(&[]).is_none());
        let mixed = Estimate::of(&[dec!(-1), dec!(1), dec!(-1), dec!(1)]).unwrap();
        assert!(!mixed.significant() && mixed.mean.is_zero());
        // Beyond 30 degrees of freedom the normal quantile stands.
        assert_eq!(t_quantile(31), dec!(1.96));
        assert_eq!(t_quantile(1), dec!(12.706));
    }

    #[test]
    fn rank_correlation_follows_order_not_scale() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spearman(&x, &[10.0, 20.0, 300.0, 4_000.0, 50_000.0]), Some(1.0));
        assert_eq!(spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0], "ties share their mean rank");
        assert_eq!(spearman(&x, &[1.0; 5]), None, "no variation, no correlation");
        assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0]), None, "too few pairs");
    }
}
