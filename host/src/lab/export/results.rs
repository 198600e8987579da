//! Backtest results as tables: a run's figures, equity, positions, trades and decisions; a
//! sweep's variants with their training and held-out figures.

use super::decisions::Decisions;
use super::table::{Kind, Table, V};
use super::{Exported, closed, name, out_dir};
use crate::lab::Result;
use crate::lab::backtest::{RunReport, TimedDecision};
use crate::lab::sweep::SweepReport;
use crate::store::{Position, TradeRecord};
use std::path::Path;

/// Exports a stored backtest run into `dir`: `run` (its figures, one row), `equity`,
/// `positions`, `trades`, `decisions` and `candidates`.
///
/// # Errors
/// A failed write.
pub fn export_run(report: &RunReport, dir: &Path) -> Result<Vec<Exported>> {
    out_dir(dir)?;
    let m = &report.metrics;
    let mut run = Table::create(
        dir,
        "run",
        &[
            ("run_id", Kind::Int),
            ("label", Kind::Text),
            ("source", Kind::Text),
            ("plugins", Kind::Text),
            ("initial_capital", Kind::Money),
            ("final_equity", Kind::Money),
            ("pnl", Kind::Money),
            ("return_percent", Kind::Money),
            ("max_drawdown", Kind::Money),
            ("max_drawdown_percent", Kind::Money),
            ("sharpe", Kind::Float),
            ("positions", Kind::Int),
            ("closed", Kind::Int),
            ("wins", Kind::Int),
            ("win_rate_percent", Kind::Money),
            ("liquidations", Kind::Int),
            ("fees", Kind::Money),
            ("exposure_percent", Kind::Money),
            ("days", Kind::Int),
        ],
    )?;
    run.row(vec![
        V::opt(report.id, V::int),
        V::text(&report.label),
        V::text(&report.source),
        V::text(report.plugins.join("; ")),
        V::Money(m.initial_capital),
        V::Money(m.final_equity),
        V::Money(m.pnl),
        V::Money(m.return_percent),
        V::Money(m.max_drawdown),
        V::Money(m.max_drawdown_percent),
        V::opt(m.sharpe, V::Float),
        V::int(m.positions),
        V::int(m.closed),
        V::int(m.wins),
        V::opt(m.win_rate_percent, V::Money),
        V::int(m.liquidations),
        V::Money(m.fees),
        V::Money(m.exposure_percent),
        V::int(m.days),
    ])?;
    let mut equity = Table::create(
        dir,
        "equity",
        &[("ts", Kind::Time), ("equity", Kind::Money), ("allocated", Kind::Money)],
    )?;
    for s in &report.equity {
        equity.row(vec![V::Time(s.at_ms), V::Money(s.equity), V::Money(s.allocated)])?;
    }
    let positions = positions_table(dir, &report.positions)?;
    let trades = trades_table(dir, &report.trades)?;
    let mut decisions = Decisions::create(dir)?;
    for (i, TimedDecision { at_ms, decision }) in report.decisions.iter().enumerate() {
        decisions.add(*at_ms, i as u64 + 1, decision)?;
    }
    let mut tables = vec![run, equity, positions, trades];
    tables.extend(decisions.close());
    closed(tables)
}

fn positions_table(dir: &Path, positions: &[Position]) -> Result<Table> {
    let mut cols: Vec<(String, Kind)> = [
        ("position_id", Kind::Int),
        ("market_id", Kind::Text),
        ("question", Kind::Text),
        ("status", Kind::Text),
        ("opened_at", Kind::Time),
        ("capital", Kind::Money),
        ("score", Kind::Float),
        ("liquidated", Kind::Text),
        ("liquidated_at", Kind::Time),
        ("closed_at", Kind::Time),
        ("close_reason", Kind::Text),
        ("realised_pnl", Kind::Money),
        ("fee_rate", Kind::Money),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_owned(), k))
    .collect();
    for leg in ["yes", "no"] {
        for (field, kind) in [
            ("token", Kind::Text),
            ("bought", Kind::Money),
            ("cost", Kind::Money),
            ("sold", Kind::Money),
            ("proceeds", Kind::Money),
            ("fees", Kind::Money),
        ] {
            cols.push((format!("{leg}_{field}"), kind));
        }
    }
    let mut t = Table::create(dir, "positions", &cols)?;
    for p in positions {
        let mut cells = vec![
            V::int(p.id),
            V::text(&p.market_id),
            V::text(&p.question),
            V::text(p.status.as_str()),
            V::Time(p.opened_at_ms),
            V::Money(p.capital),
            V::opt(p.score, |s| V::Float(f64::from(s))),
            V::opt(p.liquidated, |l| V::text(l.as_str())),
            V::opt(p.liquidated_at_ms, V::Time),
            V::opt(p.closed_at_ms, V::Time),
            V::opt(p.close_reason.clone(), V::Text),
            V::Money(crate::engine::mark(p, [None, None]).realised),
            V::Money(p.fee_rate),
        ];
        for l in &p.legs {
            cells.extend([
                V::text(&l.token),
                V::Money(l.bought),
                V::Money(l.cost),
                V::Money(l.sold),
                V::Money(l.proceeds),
                V::Money(l.fees),
            ]);
        }
        t.row(cells)?;
    }
    Ok(t)
}

fn trades_table(dir: &Path, trades: &[TradeRecord]) -> Result<Table> {
    let mut t = Table::create(
        dir,
        "trades",
        &[
            ("trade_id", Kind::Int),
            ("position_id", Kind::Int),
            ("ts", Kind::Time),
            ("leg", Kind::Text),
            ("action", Kind::Text),
            ("purpose", Kind::Text),
            ("client_id", Kind::Text),
            ("price", Kind::Money),
            ("shares", Kind::Money),
            ("notional", Kind::Money),
            ("fee", Kind::Money),
            ("status", Kind::Text),
            ("reason", Kind::Text),
        ],
    )?;
    for tr in trades {
        t.row(vec![
            V::int(tr.id),
            V::int(tr.position_id),
            V::Time(tr.at_ms),
            V::text(tr.leg.as_str()),
            V::Text(name(&tr.action)),
            V::Text(name(&tr.purpose)),
            V::text(&tr.client_id),
            V::Money(tr.price),
            V::Money(tr.shares),
            V::Money(tr.notional),
            V::Money(tr.fee),
            V::Text(name(&tr.status)),
            V::text(&tr.reason),
        ])?;
    }
    Ok(t)
}

/// Exports a stored sweep's table into `dir` as `sweep`: a row per variant, best on training
/// first, with a column per swept key and the training and held-out figures.
///
/// # Errors
/// A failed write.
pub fn export_sweep(report: &SweepReport, dir: &Path) -> Result<Vec<Exported>> {
    out_dir(dir)?;
    let keys: Vec<String> =
        report.rows.first().map(|r| r.set.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    let mut cols: Vec<(String, Kind)> =
        [("sweep_id", Kind::Int), ("rank", Kind::Int), ("variant", Kind::Int)]
            .map(|(n, k)| (n.to_owned(), k))
            .into();
    cols.extend(keys.iter().map(|k| (k.clone(), Kind::Text)));
    for part in ["train", "holdout"] {
        for (field, kind) in [
            ("run_id", Kind::Int),
            ("score", Kind::Money),
            ("pnl", Kind::Money),
            ("return_percent", Kind::Money),
            ("max_drawdown_percent", Kind::Money),
            ("sharpe", Kind::Float),
            ("positions", Kind::Int),
            ("liquidations", Kind::Int),
            ("fees", Kind::Money),
        ] {
            cols.push((format!("{part}_{field}"), kind));
        }
    }
    let mut t = Table::create(dir, "sweep", &cols)?;
    for (rank, row) in report.rows.iter().enumerate() {
        let mut cells = vec![V::opt(report.id, V::int), V::int(rank + 1), V::int(row.variant)];
        cells.extend(row.set.iter().map(|(_, v)| V::text(v)));
        for (run, score, m) in [
            (row.train_run, row.train_score, Some(&row.train)),
            (row.holdout_run, row.holdout_score, row.holdout.as_ref()),
        ] {
            match m {
                Some(m) => cells.extend([
                    V::opt(run, V::int),
                    V::opt(score, V::Money),
                    V::Money(m.pnl),
                    V::Money(m.return_percent),
                    V::Money(m.max_drawdown_percent),
                    V::opt(m.sharpe, V::Float),
                    V::int(m.positions),
                    V::int(m.liquidations),
                    V::Money(m.fees),
                ]),
                None => cells.extend((0..9).map(|_| V::Null)),
            }
        }
        t.row(cells)?;
    }
    closed(vec![t])
}
