//! Market metadata renderings: Gamma `/markets` items, the CLOB market shapes
//! (`/markets/{condition_id}`, `/clob-markets/{id}`), and the Data API `/trades` and
//! `/positions` items.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::model::{MockMarket, Side, TradeStatus};
use crate::state::{State, Trade, dec_num, dec_str};

impl State {
    /// The current price of a token: the mid of the visible book, else the last trade, else
    /// 0.5; 1 or 0 once resolved.
    pub(crate) fn token_price(&self, m: &MockMarket, token: &str) -> Decimal {
        if let Some(winner) = self.resolved.get(&m.condition_id) {
            return if winner == token { Decimal::ONE } else { Decimal::ZERO };
        }
        match self.best(token) {
            (Some(b), Some(a)) => (b + a) / Decimal::TWO,
            _ => self.books.get(token).and_then(|b| b.last_trade).unwrap_or(Decimal::new(5, 1)),
        }
    }

    /// One Gamma market object (camelCase; `outcomes`, `outcomePrices`, `clobTokenIds` are
    /// JSON-encoded strings).
    pub(crate) fn gamma_market_json(&self, m: &MockMarket) -> Value {
        let prices: Vec<String> = m.token_ids.iter().map(|t| dec_str(self.token_price(m, t))).collect();
        let (best_bid, best_ask) = self.best(&m.token_ids[0]);
        let last = self.books.get(&m.token_ids[0]).and_then(|b| b.last_trade);
        let mut v = json!({
            "id": m.id,
            "question": m.question,
            "conditionId": m.condition_id,
            "slug": m.slug,
            "category": m.category,
            "description": format!("Mock market {}", m.id),
            "endDate": m.end_date,
            "endDateIso": m.end_date.get(..10).unwrap_or_default(),
            "active": m.active,
            "closed": m.closed,
            "archived": false,
            "enableOrderBook": true,
            "acceptingOrders": m.accepting_orders && !m.closed,
            "negRisk": m.neg_risk,
            "outcomes": serde_json::to_string(&m.outcomes).unwrap_or_default(),
            "outcomePrices": serde_json::to_string(&prices).unwrap_or_default(),
            "clobTokenIds": serde_json::to_string(&m.token_ids).unwrap_or_default(),
            "liquidity": dec_str(m.liquidity),
            "liquidityNum": dec_num(m.liquidity),
            "liquidityClob": dec_num(m.liquidity),
            "volume": dec_str(m.volume_24h),
            "volumeNum": dec_num(m.volume_24h),
            "volume24hr": dec_num(m.volume_24h),
            "volume24hrClob": dec_num(m.volume_24h),
            "orderPriceMinTickSize": dec_num(m.tick_size),
            "orderMinSize": dec_num(m.min_size),
            "feesEnabled": m.fee_rate > Decimal::ZERO,
        });
        if m.fee_rate > Decimal::ZERO {
            // As the captured sports markets carry it (fixtures/gamma_market_sports_*.json).
            v["feeSchedule"] = json!({
                "exponent": dec_num(m.fee_exponent),
                "rate": dec_num(m.fee_rate),
                "rebateRate": 0.25,
                "takerOnly": true,
            });
        }
        if let Some(version) = &m.version {
            // Protocol-V2 markets trade `positionIds` on ExchangeV3.
            v["version"] = json!(version);
            v["positionIds"] = json!(serde_json::to_string(&m.token_ids).unwrap_or_default());
        }
        if let (Some(b), Some(a)) = (best_bid, best_ask) {
            v["bestBid"] = dec_num(b);
            v["bestAsk"] = dec_num(a);
            v["spread"] = dec_num(a - b);
        }
        if let Some(l) = last {
            v["lastTradePrice"] = dec_num(l);
        }
        v
    }

    /// The CLOB `GET /markets/{condition_id}` shape.
    pub(crate) fn clob_market_json(&self, m: &MockMarket) -> Value {
        let winner = self.resolved.get(&m.condition_id);
        let tokens: Vec<Value> = m
            .token_ids
            .iter()
            .zip(&m.outcomes)
            .map(|(t, o)| {
                json!({
                    "token_id": t,
                    "outcome": o,
                    "price": dec_num(self.token_price(m, t)),
                    "winner": winner.is_some_and(|w| w == t),
                })
            })
            .collect();
        json!({
            "enable_order_book": true,
            "active": m.active,
            "closed": m.closed,
            "archived": false,
            "accepting_orders": m.accepting_orders && !m.closed,
            "accepting_order_timestamp": null,
            "minimum_order_size": dec_num(m.min_size),
            "minimum_tick_size": dec_num(m.tick_size),
            "condition_id": m.condition_id,
            "question_id": "",
            "question": m.question,
            "description": format!("Mock market {}", m.id),
            "market_slug": m.slug,
            "end_date_iso": m.end_date,
            "game_start_time": null,
            "seconds_delay": 0,
            "fpmm": "",
            "maker_base_fee": 0,
            "taker_base_fee": 0,
            "notifications_enabled": true,
            "neg_risk": m.neg_risk,
            "neg_risk_market_id": "",
            "neg_risk_request_id": "",
            "icon": "",
            "image": "",
            "rewards": {"rates": [], "min_size": 0, "max_spread": 0},
            "is_50_50_outcome": false,
            "tokens": tokens,
            "tags": [m.category],
        })
    }

    /// The CLOB `GET /clob-markets/{condition_id}` shape (short keys; `fd` holds the fee).
    pub(crate) fn clob_market_info_json(m: &MockMarket) -> Value {
        json!({
            "c": m.condition_id,
            "t": [
                {"t": m.token_ids[0], "o": m.outcomes[0]},
                {"t": m.token_ids[1], "o": m.outcomes[1]},
            ],
            "mts": dec_num(m.tick_size),
            "mos": dec_num(m.min_size),
            "nr": m.neg_risk,
            "fd": {"r": dec_num(m.fee_rate), "e": dec_num(m.fee_exponent), "to": true},
            "mbf": 0,
            "tbf": 0,
            "rfqe": false,
        })
    }

    /// A Data API `/trades` item for one trade of the account (failed trades are left out).
    pub(crate) fn data_trade_json(&self, t: &Trade) -> Option<Value> {
        if t.status == TradeStatus::Failed {
            return None;
        }
        let m = self.market_by_condition(&t.market)?;
        Some(json!({
            "proxyWallet": self.address,
            "side": t.side.as_str(),
            "asset": t.token,
            "conditionId": t.market,
            "size": dec_num(t.size),
            "price": dec_num(t.price),
            "timestamp": t.match_time,
            "title": m.question,
            "slug": m.slug,
            "icon": "",
            "eventSlug": m.slug,
            "outcome": t.outcome,
            "outcomeIndex": t.outcome_index,
            "name": "",
            "pseudonym": "",
            "bio": "",
            "profileImage": "",
            "profileImageOptimized": "",
            "transactionHash": t.tx_hash,
        }))
    }

    /// Data API `/positions` items of the account (non-zero positions).
    pub(crate) fn positions_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for m in &self.markets {
            for (i, token) in m.token_ids.iter().enumerate() {
                let Some(p) = self.positions.get(token) else { continue };
                if p.size.is_zero() {
                    continue;
                }
                let cur = self.token_price(m, token);
                let avg = if p.size.is_zero() { Decimal::ZERO } else { p.cost / p.size };
                let current = p.size * cur;
                let pnl = current - p.cost;
                let pct = |num: Decimal, den: Decimal| {
                    if den.is_zero() { Decimal::ZERO } else { (num / den * Decimal::ONE_HUNDRED).round_dp(2) }
                };
                out.push(json!({
                    "proxyWallet": self.address,
                    "asset": token,
                    "conditionId": m.condition_id,
                    "size": dec_num(p.size),
                    "avgPrice": dec_num(avg.round_dp(6)),
                    "initialValue": dec_num(p.cost.round_dp(6)),
                    "currentValue": dec_num(current.round_dp(6)),
                    "cashPnl": dec_num(pnl.round_dp(6)),
                    "percentPnl": dec_num(pct(pnl, p.cost)),
                    "totalBought": dec_num(p.bought),
                    "realizedPnl": dec_num(p.realized.round_dp(6)),
                    "percentRealizedPnl": dec_num(pct(p.realized, p.cost)),
                    "curPrice": dec_num(cur),
                    "redeemable": self.resolved.contains_key(&m.condition_id),
                    "mergeable": false,
                    "title": m.question,
                    "slug": m.slug,
                    "icon": "",
                    "eventSlug": m.slug,
                    "outcome": m.outcomes[i],
                    "outcomeIndex": i,
                    "oppositeOutcome": m.outcomes[1 - i],
                    "oppositeAsset": m.token_ids[1 - i],
                    "endDate": m.end_date.get(..10).unwrap_or_default(),
                    "negativeRisk": m.neg_risk,
                }));
            }
        }
        out
    }
}

/// Whether a trade's account side matches a Data API `side` filter.
pub(crate) fn side_matches(side: Side, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| f.eq_ignore_ascii_case(side.as_str()))
}
