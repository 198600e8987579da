//! The per-decision diff of two runs on the same data: where they entered differently, or
//! where what followed an entry differs, with the P&L consequence of each difference.

use super::backtest::RunReport;
use crate::engine::mark;
use crate::store::Position;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A difference between two runs on one market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub market_id: String,
    pub question: String,
    /// What each run did there (`-` for nothing).
    pub a: String,
    pub b: String,
    /// Realised P&L of each run's positions on the market, and A − B.
    pub pnl_a: Decimal,
    pub pnl_b: Decimal,
    pub pnl_diff: Decimal,
    /// The positions behind it, per run.
    pub positions_a: Vec<u64>,
    pub positions_b: Vec<u64>,
}

/// A time on the data's clock, as people read it (UTC, to the minute).
fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "?".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// What happened to a position, in one line.
fn story(p: &Position) -> String {
    let mut s = format!("entered {}", when(Some(p.opened_at_ms)));
    if let Some(leg) = p.liquidated {
        s.push_str(&format!(", liquidated {} {}", leg.as_str(), when(p.liquidated_at_ms)));
    }
    if let Some(r) = &p.close_reason {
        s.push_str(&format!(", closed ({r}) {}", when(p.closed_at_ms)));
    } else if p.status.is_open() {
        s.push_str(", still open");
    }
    s
}

/// The per-decision diff of two runs on the same data: markets one run entered and the other
/// did not, and markets both entered where what happened next differs (liquidated side, exit,
/// times), with the P&L consequence of each; the largest consequences first.
#[must_use]
pub fn diff_runs(a: &RunReport, b: &RunReport) -> Vec<DiffRow> {
    fn by_market(r: &RunReport) -> BTreeMap<String, Vec<&Position>> {
        let mut m: BTreeMap<String, Vec<&Position>> = BTreeMap::new();
        for p in &r.positions {
            m.entry(p.market_id.clone()).or_default().push(p);
        }
        m
    }
    let (ma, mb) = (by_market(a), by_market(b));
    let mut markets: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    markets.sort();
    markets.dedup();
    let realised = |ps: &[&Position]| ps.iter().map(|p| mark(p, [None, None]).realised).sum::<Decimal>();
    let tell = |ps: &[&Position]| {
        if ps.is_empty() {
            "-".to_owned()
        } else {
            ps.iter().map(|p| story(p)).collect::<Vec<_>>().join("; ")
        }
    };
    let mut rows: Vec<DiffRow> = markets
        .into_iter()
        .filter_map(|m| {
            let pa = ma.get(m).map(Vec::as_slice).unwrap_or_default();
            let pb = mb.get(m).map(Vec::as_slice).unwrap_or_default();
            let (sa, sb) = (tell(pa), tell(pb));
            if sa == sb {
                return None;
            }
            let (ra, rb) = (realised(pa), realised(pb));
            Some(DiffRow {
                market_id: m.clone(),
                question: pa.first().or(pb.first()).map(|p| p.question.clone()).unwrap_or_default(),
                a: sa,
                b: sb,
                pnl_a: ra,
                pnl_b: rb,
                pnl_diff: ra - rb,
                positions_a: pa.iter().map(|p| p.id).collect(),
                positions_b: pb.iter().map(|p| p.id).collect(),
            })
        })
        .collect();
    rows.sort_by(|x, y| y.pnl_diff.abs().cmp(&x.pnl_diff.abs()).then_with(|| x.market_id.cmp(&y.market_id)));
    rows
}
