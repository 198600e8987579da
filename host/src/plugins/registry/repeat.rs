//! The liquidation rules' last answer, given again when the same version with the same
//! parameters is asked the same question at the same moment (a backtest's sweep right after the
//! market event that had the rules look at the same positions): a plugin is a pure function of
//! its inputs and runs in a fresh instance, so running it again could only answer the same.

use super::abi;
use std::sync::{Mutex, PoisonError};

/// One answered call: who answered (the loaded version's generation and its parameters' bits),
/// when, about what, and what it answered.
struct Answered {
    generation: u64,
    params: Vec<u64>,
    now_ms: i64,
    positions: Vec<abi::PositionView>,
    decisions: Vec<abi::Decision>,
}

impl Answered {
    fn asks(&self, generation: u64, params: &[f64], now_ms: i64, positions: &[abi::PositionView]) -> bool {
        self.generation == generation
            && self.now_ms == now_ms
            && self.params.len() == params.len()
            && self.params.iter().zip(params).all(|(a, b)| *a == b.to_bits())
            && self.positions == positions
    }
}

/// The last answer the active rules gave (errors and faults are never kept: asked again, the
/// plugin runs again).
#[derive(Default)]
pub(super) struct LastRules(Mutex<Option<Answered>>);

impl LastRules {
    /// The decisions of the last call if it was this one.
    pub(super) fn answer(
        &self,
        generation: u64,
        params: &[f64],
        now_ms: i64,
        positions: &[abi::PositionView],
    ) -> Option<Vec<abi::Decision>> {
        let last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref().filter(|a| a.asks(generation, params, now_ms, positions)).map(|a| a.decisions.clone())
    }

    /// Keeps an accepted answer in place of the last.
    pub(super) fn keep(
        &self,
        generation: u64,
        params: &[f64],
        now_ms: i64,
        positions: &[abi::PositionView],
        decisions: &[abi::Decision],
    ) {
        let answered = Answered {
            generation,
            params: params.iter().map(|p| p.to_bits()).collect(),
            now_ms,
            positions: positions.to_vec(),
            decisions: decisions.to_vec(),
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(answered);
    }
}
