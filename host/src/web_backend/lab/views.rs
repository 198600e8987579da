//! Lab results as the web layer shows them: the one place stored runs, sweeps, positions, trades
//! and attributions become view types.

use crate::engine::mark;
use crate::lab::{
    Attribution, AttributionSummary, CalibrationSummary, DiffRow, Estimate, JobResult, JobStatus, Metrics,
    RunReport, SweepReport,
};
use crate::store::{Action, Leg, Position, PricePoint, Purpose, TradeRecord};
use equilibrage_web::{
    AttributionTotals, AttributionView, BucketView, CalibrationView, DiffRowView, EstimateView, JobView,
    LabPositionRow, LabTradeView, LegDetail, MarkerView, MetricsView, PositionDetail, QuoteView, RunSummary,
    RunView, SweepRowView, SweepSummary, SweepView,
};
use rust_decimal::Decimal;

const DAY_MS: i64 = 86_400_000;

pub(super) fn metrics(m: &Metrics) -> MetricsView {
    MetricsView {
        initial_capital: m.initial_capital,
        final_equity: m.final_equity,
        pnl: m.pnl,
        return_percent: m.return_percent,
        max_drawdown: m.max_drawdown,
        max_drawdown_percent: m.max_drawdown_percent,
        sharpe: m.sharpe,
        positions: m.positions,
        closed: m.closed,
        win_rate_percent: m.win_rate_percent,
        liquidations: m.liquidations,
        fees: m.fees,
        exposure_percent: m.exposure_percent,
        days: m.days,
    }
}

pub(super) fn summary(r: &RunReport) -> RunSummary {
    let mut changes: Vec<String> = r.params.iter().map(|(p, k, v)| format!("{p}.{k}={v}")).collect();
    changes.sort();
    RunSummary {
        id: r.id.unwrap_or_default(),
        label: r.label.clone(),
        source: r.source.clone(),
        plugins: r.plugins.clone(),
        changes,
        metrics: metrics(&r.metrics),
        wall_ms: r.stats.wall_ms,
    }
}

fn estimate(e: Option<&Estimate>) -> Option<EstimateView> {
    e.map(|e| EstimateView { n: e.n, total: e.total, mean: e.mean, low: e.low, high: e.high })
}

pub(super) fn totals(s: &AttributionSummary) -> AttributionTotals {
    AttributionTotals {
        positions: s.positions,
        pnl: s.pnl,
        spread: s.spread,
        fees: s.fees,
        liquidated_leg: s.liquidated_leg,
        kept_leg: s.kept_leg,
        liquidated: s.liquidated,
        rule_vs_hold: estimate(s.rule_vs_hold.as_ref()),
        rule_vs_pair: estimate(s.rule_vs_pair.as_ref()),
        exits_vs_hold: estimate(s.exits_vs_hold.as_ref()),
    }
}

pub(super) fn calibration(run: Option<u64>, s: &CalibrationSummary) -> CalibrationView {
    CalibrationView {
        run,
        candidates: s.candidates,
        simulated: s.simulated,
        buckets: s
            .buckets
            .iter()
            .map(|b| BucketView { score: b.score, pnl: estimate(b.pnl.as_ref()) })
            .collect(),
        score_correlation: s.score_correlation,
        factors: s.factors.clone(),
    }
}

pub(super) fn attribution(a: &Attribution) -> AttributionView {
    AttributionView {
        pnl: a.pnl,
        spread: a.spread,
        fees: a.fees,
        liquidated_leg: a.liquidated_leg,
        kept_leg: a.kept_leg,
        entry_mid: a.entry_mid,
        winner: a.winner.map(|l| l.as_str().to_owned()),
        hold_to_resolution: a.hold_to_resolution,
        sell_pair_at_liquidation: a.sell_pair_at_liquidation,
    }
}

pub(super) fn position_row(p: &Position, a: Option<&Attribution>) -> LabPositionRow {
    let pnl = mark(p, [None, None]).realised;
    LabPositionRow {
        id: p.id,
        market_id: p.market_id.clone(),
        question: p.question.clone(),
        status: name_of(&p.status),
        opened_at_ms: p.opened_at_ms,
        closed_at_ms: p.closed_at_ms,
        liquidated: p.liquidated.map(|l| l.as_str().to_owned()),
        close_reason: p.close_reason.clone(),
        score: p.score,
        scorer: p.scorer.clone(),
        capital: p.capital,
        pnl: a.map_or(pnl, |a| a.pnl),
        attribution: a.map(attribution),
    }
}

/// Each UTC day's P&L: the equity at the day's last sample less the one before it (the
/// initial capital for the first day).
pub(super) fn daily(initial: Decimal, samples: &[(i64, Decimal)]) -> Vec<(i64, Decimal)> {
    let mut out: Vec<(i64, Decimal)> = Vec::new();
    let mut before = initial;
    let mut day_end: Option<(i64, Decimal)> = None;
    for &(t, v) in samples {
        let day = t.div_euclid(DAY_MS) * DAY_MS;
        match day_end {
            Some((d, last)) if d != day => {
                out.push((d, last - before));
                before = last;
            }
            _ => {}
        }
        day_end = Some((day, v));
    }
    if let Some((d, last)) = day_end {
        out.push((d, last - before));
    }
    out
}

pub(super) fn run(r: &RunReport) -> RunView {
    let equity: Vec<(i64, Decimal)> = r.equity.iter().map(|s| (s.at_ms, s.equity)).collect();
    let by_id: std::collections::HashMap<u64, &Attribution> =
        r.attribution.iter().map(|a| (a.position_id, a)).collect();
    RunView {
        summary: summary(r),
        daily: daily(r.metrics.initial_capital, &equity),
        equity,
        positions: r.positions.iter().map(|p| position_row(p, by_id.get(&p.id).copied())).collect(),
        attribution: totals(&r.attribution_summary),
    }
}

pub(super) fn diff_row(d: DiffRow) -> DiffRowView {
    DiffRowView {
        market_id: d.market_id,
        question: d.question,
        a: d.a,
        b: d.b,
        pnl_a: d.pnl_a,
        pnl_b: d.pnl_b,
        pnl_diff: d.pnl_diff,
        positions_a: d.positions_a,
        positions_b: d.positions_b,
    }
}

pub(super) fn sweep_summary(s: &SweepReport) -> SweepSummary {
    SweepSummary {
        id: s.id.unwrap_or_default(),
        label: s.label.clone(),
        source: s.source.clone(),
        variants: s.rows.len(),
        objective: s.objective.name().to_owned(),
        holdout_percent: s.holdout_percent,
    }
}

pub(super) fn sweep(s: &SweepReport) -> SweepView {
    SweepView {
        summary: sweep_summary(s),
        split_ms: s.split_ms,
        rows: s
            .rows
            .iter()
            .map(|r| SweepRowView {
                variant: r.variant,
                assignment: r.set.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                train: metrics(&r.train),
                train_score: r.train_score,
                train_run: r.train_run,
                holdout: r.holdout.as_ref().map(metrics),
                holdout_score: r.holdout_score,
                holdout_run: r.holdout_run,
            })
            .collect(),
    }
}

pub(super) fn job(j: &JobStatus) -> JobView {
    JobView {
        id: j.id,
        kind: j.kind.to_owned(),
        label: j.label.clone(),
        state: serde_json::to_value(j.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        percent: j.percent(),
        step: j.step,
        steps: j.steps,
        error: j.error.clone(),
        results: j
            .results
            .iter()
            .map(|r| match r {
                JobResult::Run(id) => format!("/lab/runs/{id}"),
                JobResult::Comparison(id) => format!("/lab/comparisons/{id}"),
                JobResult::Sweep(id) => format!("/lab/sweeps/{id}"),
            })
            .collect(),
        submitted_ms: j.submitted_ms,
    }
}

/// What a trade marks on the position's chart.
fn marker_kind(t: &TradeRecord) -> &'static str {
    match (t.action, t.purpose) {
        (Action::Settle, _) | (_, Purpose::Settlement) => "resolution",
        (Action::Buy, _) => "entry",
        (_, Purpose::Liquidation) => "liquidation",
        (_, Purpose::StopLoss) => "stop_loss",
        (_, Purpose::TakeProfit) => "take_profit",
        (_, Purpose::Unwind) => "unwind",
        (_, Purpose::Close | Purpose::Entry) => "close",
    }
}

fn leg_name(l: Leg) -> String {
    l.as_str().to_owned()
}

/// An enum's name as its serde form writes it (`closed`, `stop_loss`, `running`).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A position's page from its record, trades, quotes and attribution.
pub(super) fn position_detail(
    run: Option<u64>,
    p: &Position,
    trades: &[TradeRecord],
    quotes: &[PricePoint],
    a: Option<&Attribution>,
) -> PositionDetail {
    let own: Vec<&TradeRecord> = trades.iter().filter(|t| t.position_id == p.id).collect();
    PositionDetail {
        run,
        position: position_row(p, a),
        legs: Leg::BOTH.map(|l| {
            let s = p.leg(l);
            LegDetail {
                outcome: if s.outcome.is_empty() { l.as_str().to_uppercase() } else { s.outcome.clone() },
                bought: s.bought,
                cost: s.cost,
                sold: s.sold,
                proceeds: s.proceeds,
                fees: s.fees,
            }
        }),
        quotes: quotes
            .iter()
            .map(|q| QuoteView {
                at_ms: q.at_ms,
                yes_bid: q.yes_bid,
                yes_ask: q.yes_ask,
                no_bid: q.no_bid,
                no_ask: q.no_ask,
            })
            .collect(),
        markers: own
            .iter()
            .map(|t| MarkerView {
                at_ms: t.at_ms,
                kind: marker_kind(t).to_owned(),
                leg: leg_name(t.leg),
                price: t.price,
            })
            .collect(),
        trades: own
            .iter()
            .map(|t| LabTradeView {
                id: t.id,
                at_ms: t.at_ms,
                leg: leg_name(t.leg),
                action: name_of(&t.action),
                purpose: name_of(&t.purpose),
                price: t.price,
                shares: t.shares,
                notional: t.notional,
                fee: t.fee,
                reason: t.reason.clone(),
                decided_by: t.decided_by.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_day_s_pnl_is_its_last_equity_less_the_day_before() {
        let d = |day: i64, h: i64| day * DAY_MS + h * 3_600_000;
        let samples =
            [(d(1, 0), dec!(1000)), (d(1, 23), dec!(1010)), (d(2, 5), dec!(1004)), (d(4, 1), dec!(1020))];
        assert_eq!(
            daily(dec!(1000), &samples),
            [(d(1, 0), dec!(10)), (d(2, 0), dec!(-6)), (d(4, 0), dec!(16))]
        );
        assert!(daily(dec!(1000), &[]).is_empty());
    }
}
