//! Placement answers remembered by client id, so a repeated placement gets the first answer
//! instead of a second order; only the newest few thousand (the engine's journal covers older
//! ones).

use crate::exchange::types::OrderAck;
use std::collections::{HashMap, VecDeque};

/// Answers kept: a retry comes within seconds, not thousands of orders later.
pub(super) const PLACED_KEPT: usize = 10_000;

/// The newest answers by client id, oldest forgotten first.
#[derive(Debug)]
pub(super) struct Placed {
    answers: HashMap<String, OrderAck>,
    order: VecDeque<String>,
    cap: usize,
}

impl Default for Placed {
    fn default() -> Self {
        Self::with_cap(PLACED_KEPT)
    }
}

impl Placed {
    fn with_cap(cap: usize) -> Self {
        Self { answers: HashMap::new(), order: VecDeque::new(), cap: cap.max(1) }
    }

    pub(super) fn get(&self, client_id: &str) -> Option<&OrderAck> {
        self.answers.get(client_id)
    }

    /// Keeps a placement's answer; the first answer for a client id stands.
    pub(super) fn remember(&mut self, client_id: String, ack: OrderAck) {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.answers.entry(client_id.clone()) {
            slot.insert(ack);
            self.order.push_back(client_id);
        }
        while self.order.len() > self.cap {
            if let Some(oldest) = self.order.pop_front() {
                self.answers.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::types::OrderStatus;
    use rust_decimal::Decimal;

    fn ack(id: u32) -> OrderAck {
        OrderAck {
            order_id: format!("0x{id:x}"),
            status: OrderStatus::Matched,
            filled_shares: Decimal::ONE,
            notional: Decimal::ONE,
            fee: Decimal::ZERO,
            trade_ids: Vec::new(),
        }
    }

    #[test]
    fn the_newest_answers_are_kept_and_the_oldest_forgotten() {
        let mut placed = Placed::with_cap(3);
        for id in 0..10 {
            placed.remember(format!("c{id}"), ack(id));
            assert!(placed.len() <= 3);
        }
        assert!(placed.get("c6").is_none());
        assert_eq!(placed.get("c9").map(|a| a.order_id.as_str()), Some("0x9"));
        // A repeat does not evict anything, and its first answer stands.
        placed.remember("c7".into(), ack(99));
        assert_eq!(placed.len(), 3);
        assert!(placed.get("c8").is_some());
        assert_eq!(placed.get("c7").map(|a| a.order_id.as_str()), Some("0x7"));
        assert_eq!(Placed::default().cap, PLACED_KEPT);
    }
}
