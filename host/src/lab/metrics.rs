//! A run's figures: P&L and return, drawdown, Sharpe of daily returns, win rate, positions,
//! liquidations, fees and exposure, from its equity samples, positions and trades. Money stays
//! exact; only the Sharpe ratio (a statistic of returns) is a float.

use crate::engine::ClosedHistory;
use crate::store::{Position, TradeRecord};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde::{Deserialize, Serialize};

/// One sample of the account: when, equity (cash plus open positions at their best bids after
/// fees), and the cost of the shares held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: i64,
    pub equity: Decimal,
    pub allocated: Decimal,
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub initial_capital: Decimal,
    pub final_equity: Decimal,
    pub pnl: Decimal,
    pub return_percent: Decimal,
    /// Largest fall of equity from a previous high, pUSD and percent of that high.
    pub max_drawdown: Decimal,
    pub max_drawdown_percent: Decimal,
    /// Mean over standard deviation of daily returns, times √365; none with fewer than two days
    /// or no variation.
    pub sharpe: Option<f64>,
    pub positions: usize,
    pub closed: u64,
    pub wins: u64,
    pub win_rate_percent: Option<Decimal>,
    /// Positions with a side liquidated.
    pub liquidations: usize,
    pub fees: Decimal,
    /// Mean share of equity held in positions over the samples, percent.
    pub exposure_percent: Decimal,
    pub days: u32,
}

const DAY_MS: i64 = 86_400_000;

fn percent(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() { Decimal::ZERO } else { (part * Decimal::ONE_HUNDRED / whole).round_dp(4) }
}

/// Computes the figures. `samples` are in time order; the last is the end of the run.
#[must_use]
pub fn compute(
    initial: Decimal,
    samples: &[Sample],
    positions: &[Position],
    trades: &[TradeRecord],
) -> Metrics {
    let final_equity = samples.last().map_or(initial, |s| s.equity);
    let pnl = final_equity - initial;
    let (mut peak, mut max_dd, mut max_dd_pct) = (initial, Decimal::ZERO, Decimal::ZERO);
    let mut exposure = Decimal::ZERO;
    for s in samples {
        peak = peak.max(s.equity);
        let dd = peak - s.equity;
        if dd > max_dd {
            max_dd = dd;
            max_dd_pct = percent(dd, peak);
        }
        exposure += percent(s.allocated, s.equity.max(Decimal::ONE));
    }
    let exposure_percent = if samples.is_empty() {
        Decimal::ZERO
    } else {
        (exposure / Decimal::from(samples.len())).round_dp(4)
    };
    // Equity at the end of each day of the run, and the daily returns between them.
    let mut daily: Vec<Decimal> = vec![initial];
    if let Some(first) = samples.first() {
        let mut day = first.at_ms.div_euclid(DAY_MS);
        let mut last = initial;
        for s in samples {
            let d = s.at_ms.div_euclid(DAY_MS);
            if d != day {
                daily.push(last);
                day = d;
            }
            last = s.equity;
        }
        daily.push(last);
    }
    let returns: Vec<f64> = daily
        .windows(2)
        .filter(|w| !w[0].is_zero())
        .filter_map(|w| ((w[1] - w[0]) / w[0]).to_f64())
        .collect();
    let sharpe = sharpe(&returns);
    // Closed positions as the History page counts them (unwound entries that never traded
    // are not wins or losses).
    let history = ClosedHistory::new(positions);
    let stats = history.stats();
    let span = samples.last().map_or(0, |l| l.at_ms - samples[0].at_ms);
    Metrics {
        initial_capital: initial,
        final_equity,
        pnl,
        return_percent: percent(pnl, initial),
        max_drawdown: max_dd,
        max_drawdown_percent: max_dd_pct,
        sharpe,
        positions: positions.len(),
        closed: stats.closed,
        wins: stats.wins,
        win_rate_percent: stats.win_rate_percent(),
        liquidations: positions.iter().filter(|p| p.liquidated.is_some()).count(),
        fees: trades.iter().map(|t| t.fee).sum(),
        exposure_percent,
        days: u32::try_from(span / DAY_MS).unwrap_or(u32::MAX),
    }
}

#[expect(clippy::cast_precision_loss, reason = "a count of days")]
fn sharpe(returns: &[f64]) -> Option<f64> {
    if returns.len() < 2 {
        return None;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0 && sd.is_finite()).then(|| mean / sd * 365_f64.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn s(day: i64, equity: Decimal) -> Sample {
        Sample { at_ms: day * DAY_MS + 1, equity, allocated: dec!(100) }
    }

    #[test]
    fn drawdown_return_and_sharpe_from_daily_equity() {
        let samples = [s(0, dec!(1000)), s(1, dec!(1100)), s(2, dec!(990)), s(3, dec!(1050))];
        let m = compute(dec!(1000), &samples, &[], &[]);
        assert_eq!((m.pnl, m.return_percent), (dec!(50), dec!(5)));
        assert_eq!((m.max_drawdown, m.max_drawdown_percent), (dec!(110), dec!(10)));
        assert_eq!(m.days, 3);
        // Daily returns 0, +10 %, -10 %, +6.06 %: positive mean, so a positive ratio.
        assert!(m.sharpe.unwrap() > 0.0);
        assert!(compute(dec!(1000), &[s(0, dec!(1000))], &[], &[]).sharpe.is_none());
    }
}
