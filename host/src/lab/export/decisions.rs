//! The `decisions` and `candidates` tables: what the engine decided, and every scan's scored
//! candidates with their factors.

use super::table::{Kind, Table, V};
use crate::engine::Decision;
use crate::lab::Result;
use std::path::Path;

const DECISION_COLUMNS: &[(&str, Kind)] = &[
    ("ts", Kind::Time),
    ("seq", Kind::Int),
    ("kind", Kind::Text),
    ("scan_id", Kind::Int),
    ("position_id", Kind::Int),
    ("market_id", Kind::Text),
    ("client_id", Kind::Text),
    ("token", Kind::Text),
    ("side", Kind::Text),
    ("amount", Kind::Money),
    ("by_usd", Kind::Flag),
    ("shares", Kind::Money),
    ("notional", Kind::Money),
    ("fee", Kind::Money),
    ("score", Kind::Float),
    ("action", Kind::Text),
    ("reason", Kind::Text),
    ("decided_by", Kind::Text),
    ("outcome", Kind::Text),
    ("scorer", Kind::Text),
    ("candidates", Kind::Int),
    ("error", Kind::Text),
    ("dropped", Kind::Int),
];

const CANDIDATE_COLUMNS: &[(&str, Kind)] = &[
    ("ts", Kind::Time),
    ("scan_id", Kind::Int),
    ("scorer", Kind::Text),
    ("rank", Kind::Int),
    ("market_id", Kind::Text),
    ("score", Kind::Float),
    ("factors", Kind::Factors),
];

/// The decisions and the scans' scored candidates, two tables.
pub(super) struct Decisions {
    decisions: Table,
    candidates: Table,
}

impl Decisions {
    pub(super) fn create(dir: &Path) -> Result<Self> {
        Ok(Self {
            decisions: Table::create(dir, "decisions", DECISION_COLUMNS)?,
            candidates: Table::create(dir, "candidates", CANDIDATE_COLUMNS)?,
        })
    }

    /// A row of `decisions` with these cells set, the rest null.
    pub(super) fn decision(&mut self, at_ms: i64, seq: u64, kind: &str, set: &[(&str, V)]) -> Result<()> {
        let mut cells: Vec<V> = DECISION_COLUMNS.iter().map(|_| V::Null).collect();
        cells[0] = V::Time(at_ms);
        cells[1] = V::int(seq);
        cells[2] = V::text(kind);
        for (col, v) in set {
            if let Some(i) = DECISION_COLUMNS.iter().position(|(n, _)| n == col) {
                cells[i] = v.clone();
            }
        }
        self.decisions.row(cells)
    }

    /// A scan's (or a shadow scorer's) candidates as rows of `candidates`, best first.
    fn candidate_rows(
        &mut self,
        at_ms: i64,
        scan_id: &V,
        scorer: &V,
        factors: &[String],
        candidates: &[crate::engine::Scored],
    ) -> Result<()> {
        for (rank, c) in candidates.iter().enumerate() {
            let named = factors.iter().cloned().zip(c.factors.iter().copied()).collect();
            self.candidates.row(vec![
                V::Time(at_ms),
                scan_id.clone(),
                scorer.clone(),
                V::int(rank + 1),
                V::text(&*c.market_id),
                V::Float(f64::from(c.score)),
                V::Factors(named),
            ])?;
        }
        Ok(())
    }

    pub(super) fn add(&mut self, at_ms: i64, seq: u64, d: &Decision) -> Result<()> {
        let kind = match d {
            Decision::ScanStarted { .. } => "scan_started",
            Decision::Scanned { .. } => "scanned",
            Decision::SweepStarted => "sweep_started",
            Decision::SweepEnded => "sweep_ended",
            Decision::Entry { .. } => "entry",
            Decision::Exit { .. } => "exit",
            Decision::Order { .. } => "order",
            Decision::Fill { .. } => "fill",
            Decision::ShadowScored { .. } => "shadow_scored",
            Decision::ShadowExit { .. } => "shadow_exit",
            Decision::ShadowSignals { .. } => "shadow_signals",
        };
        match d {
            Decision::ScanStarted { scan_id } => {
                self.decision(at_ms, seq, kind, &[("scan_id", V::int(*scan_id))])
            }
            Decision::Scanned { scan_id, scorer, factors, candidates, error } => {
                let by = V::opt(scorer.clone(), V::Text);
                self.candidate_rows(at_ms, &V::int(*scan_id), &by, factors, candidates)?;
                self.decision(
                    at_ms,
                    seq,
                    kind,
                    &[
                        ("scan_id", V::int(*scan_id)),
                        ("scorer", V::opt(scorer.clone(), V::Text)),
                        ("candidates", V::int(candidates.len())),
                        ("error", V::opt(error.clone(), V::Text)),
                    ],
                )
            }
            Decision::SweepStarted | Decision::SweepEnded => self.decision(at_ms, seq, kind, &[]),
            // A shadow's candidates have no scan of their own: its scorer names them.
            Decision::ShadowScored { scorer, factors, candidates, would_enter } => {
                self.candidate_rows(at_ms, &V::Null, &V::text(scorer), factors, candidates)?;
                self.decision(
                    at_ms,
                    seq,
                    kind,
                    &[
                        ("scorer", V::text(scorer)),
                        ("candidates", V::int(candidates.len())),
                        ("market_id", V::text(would_enter.join(","))),
                    ],
                )
            }
            Decision::ShadowSignals { by, plugin_kind, markets, would_enter } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("decided_by", V::text(by)),
                    ("action", V::text(plugin_kind)),
                    ("candidates", V::int(markets.len())),
                    ("market_id", V::text(would_enter.join(","))),
                ],
            ),
            Decision::ShadowExit { position, action, reason, by, .. } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("position_id", V::int(*position)),
                    ("action", V::text(action)),
                    ("reason", V::text(reason)),
                    ("decided_by", V::text(by)),
                ],
            ),
            Decision::Entry { position, market_id, capital, score } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("position_id", V::int(*position)),
                    ("market_id", V::text(market_id)),
                    ("amount", V::Money(*capital)),
                    ("score", V::opt(*score, |s| V::Float(f64::from(s)))),
                ],
            ),
            Decision::Exit { position, action, reason, by } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("position_id", V::int(*position)),
                    ("action", V::text(action)),
                    ("reason", V::text(reason)),
                    ("decided_by", V::text(by)),
                ],
            ),
            Decision::Order { position, client_id, token, side, amount, by_usd } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("position_id", V::int(*position)),
                    ("client_id", V::text(client_id)),
                    ("token", V::text(token)),
                    ("side", V::text(side)),
                    ("amount", V::Money(*amount)),
                    ("by_usd", V::Flag(*by_usd)),
                ],
            ),
            Decision::Fill { client_id, shares, notional, fee, outcome } => self.decision(
                at_ms,
                seq,
                kind,
                &[
                    ("client_id", V::text(client_id)),
                    ("shares", V::Money(*shares)),
                    ("notional", V::Money(*notional)),
                    ("fee", V::Money(*fee)),
                    ("outcome", V::text(outcome)),
                ],
            ),
        }
    }

    pub(super) fn close(self) -> Vec<Table> {
        vec![self.decisions, self.candidates]
    }
}
