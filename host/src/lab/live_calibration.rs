//! Calibration of the bot's own history (live, paper or the simulator) from its recordings: the
//! recorded scans' candidates, books and entries go through the same calibrator a backtest
//! uses, without replaying the engine.
//!
//! What a recording does not hold is the account's cash, so a candidate the bot did not enter
//! is simulated with the capital of the bot's latest entry before it (the allocation of 10,000
//! pUSD before any): the size scales a trade's P&L, not its sign.

use super::calibration::{Calibration, Calibrator};
use super::record::{Record, Timed};
use super::{Result, recording};
use crate::engine::{Decision, Scored, Settings};
use crate::exchange::Market;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A scan's candidates waiting for the entries recorded right after them.
struct Pending {
    at_ms: i64,
    factors: Vec<String>,
    candidates: Arc<[Scored]>,
    entered: HashMap<String, (u64, Decimal)>,
}

/// How long after a scan's result its entries may still be recorded: the live feed runs beside
/// the scan, so market events recorded meanwhile wait until the scan's entries are in.
const ENTRIES_WITHIN_MS: i64 = 10_000;

struct Follow {
    calibrator: Calibrator,
    listing: HashMap<String, Arc<Market>>,
    pending: Option<Pending>,
    /// Market events recorded while a scan's entries were still coming.
    deferred: Vec<Timed>,
    capital: Decimal,
}

impl Follow {
    /// The pending scan's trades are entered on the books as they stood at its result; then the
    /// market events recorded meanwhile follow.
    fn flush(&mut self) {
        if let Some(p) = self.pending.take() {
            let listing: Vec<Arc<Market>> = self.listing.values().cloned().collect();
            self.calibrator.after_scan(
                p.at_ms,
                &p.factors,
                &p.candidates,
                &p.entered,
                self.capital,
                &listing,
            );
            if let Some((_, c)) = p.entered.values().max_by_key(|(id, _)| *id) {
                self.capital = *c;
            }
        }
        for t in std::mem::take(&mut self.deferred) {
            if let Record::Market(e) = t.record {
                self.calibrator.on_event(&e, t.at_ms);
            }
        }
    }

    fn take(&mut self, t: Timed) {
        let at = t.at_ms;
        if self.pending.as_ref().is_some_and(|p| at - p.at_ms > ENTRIES_WITHIN_MS) {
            self.flush();
        }
        match t.record {
            Record::Decision(d) => match *d {
                // What a scan entered follows it; orders and fills are part of those entries.
                Decision::Entry { market_id, position, capital, .. } => {
                    if let Some(p) = &mut self.pending {
                        p.entered.insert(market_id, (position, capital));
                    }
                }
                Decision::Order { .. }
                | Decision::Fill { .. }
                | Decision::Exit { .. }
                | Decision::ShadowScored { .. }
                | Decision::ShadowSignals { .. }
                | Decision::ShadowExit { .. } => {}
                Decision::SweepEnded => {}
                Decision::Scanned { factors, candidates, error: None, .. } => {
                    self.flush();
                    self.pending = Some(Pending { at_ms: at, factors, candidates, entered: HashMap::new() });
                }
                // A sweep during a scan's entries comes after them (the calibrator cannot act on
                // trades it has not entered yet).
                Decision::SweepStarted => {
                    self.flush();
                    self.calibrator.sweep(at);
                }
                _ => self.flush(),
            },
            Record::Listed(m) => {
                self.flush();
                self.listing.insert(m.id.clone(), Arc::from(m));
            }
            Record::Delisted(id) => {
                self.flush();
                self.listing.remove(&id);
            }
            Record::Book { token, book } => {
                // A book the venue answered is the book then, whatever came before.
                self.calibrator.replace_book(&token, book);
            }
            Record::Market(e) => {
                if self.pending.is_some() {
                    self.deferred.push(Timed { at_ms: at, record: Record::Market(e) });
                } else {
                    self.calibrator.on_event(&e, at);
                }
            }
            Record::Whale(_) | Record::News(_) | Record::Gap { .. } => {}
        }
    }
}

/// The calibration of one recording (a directory or a segment), with `settings`' rule.
///
/// # Errors
/// As [`recording::read`]: a corrupt segment, named with its offset (a torn end is read up to
/// its last whole block).
pub fn calibrate_recording(path: &Path, settings: &Settings) -> Result<Calibration> {
    let mut f = Follow {
        calibrator: Calibrator::new(settings),
        listing: HashMap::new(),
        pending: None,
        deferred: Vec::new(),
        capital: crate::engine::cents(Decimal::from(10_000) * settings.capital_allocation()),
    };
    recording::read(path, |t| {
        f.take(t);
        Ok(())
    })?;
    f.flush();
    Ok(f.calibrator.finish())
}
