//! The matching engine: validates V2 order bodies, fills them against the mock books, rests
//! limit orders, cancels, counterparty fills of resting orders and trade settlement.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::model::{OrderStatus, Side, TradeStatus};
use crate::state::{Order, State, Trade, dec_str};

/// An error answered as `{"error": message}` with this status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
}

pub(crate) const NO_BOOK: &str = "No orderbook exists for the requested token id";
const NO_BALANCE: &str = "not enough balance / allowance";
const FOK_KILLED: &str = "order couldn't be fully filled. FOK orders are fully filled or killed.";
const FAK_KILLED: &str = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found.";
const POST_ONLY_CROSSES: &str = "invalid post-only order: order crosses book";

/// Decimals a market (FOK/FAK) order may carry on its maker and taker amounts.
const MARKET_MAKER_DECIMALS: u32 = 2;
const MARKET_TAKER_DECIMALS: u32 = 4;

/// 10^6: on-chain amounts are in micro units.
fn micro() -> Decimal {
    Decimal::from(1_000_000)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| ApiError::bad(format!("invalid order payload: {key}")))
}

/// An amount field (decimal string of micro units) as a decimal number of units.
fn amount(v: &Value, key: &str) -> Result<Decimal, ApiError> {
    let raw = match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ApiError::bad(format!("invalid order payload: {key}"))),
    };
    let n: u128 = raw.parse().map_err(|_| ApiError::bad(format!("invalid order payload: {key}")))?;
    let d = Decimal::from_str_exact(&n.to_string())
        .map_err(|_| ApiError::bad(format!("invalid order payload: {key}")))?;
    Ok(d / micro())
}

fn parse_side(v: &Value) -> Result<Side, ApiError> {
    match v.get("side") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("BUY") => Ok(Side::Buy),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("SELL") => Ok(Side::Sell),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Side::Buy),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Side::Sell),
        _ => Err(ApiError::bad("invalid order payload: side")),
    }
}

/// Taker fee: shares × rate × (p(1−p))^exponent, rounded to 5 decimals.
fn taker_fee(shares: Decimal, price: Decimal, rate: Decimal, exponent: Decimal) -> Decimal {
    use rust_decimal::MathematicalOps as _;
    let base = price * (Decimal::ONE - price);
    // A whole exponent multiplies exactly; a fractional one (Gamma's schedules carry some) is
    // a decimal power.
    let factor = if exponent.fract().is_zero() {
        (0..exponent.trunc().mantissa()).fold(Decimal::ONE, |f, _| f * base)
    } else {
        base.powd(exponent)
    };
    // Half a unit of the fifth decimal rounds away from zero, as the bot rounds.
    (shares * rate * factor).round_dp_with_strategy(5, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

impl State {
    /// pUSD not locked by resting buy orders.
    fn available_cash(&self) -> Decimal {
        let locked: Decimal = self
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Live && o.side == Side::Buy)
            .map(|o| o.remaining() * o.price)
            .sum();
        self.balance - locked
    }

    /// Shares of `token` not locked by resting sell orders.
    fn available_shares(&self, token: &str) -> Decimal {
        let held = self.positions.get(token).map_or(Decimal::ZERO, |p| p.size);
        let locked: Decimal = self
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::Live && o.side == Side::Sell && o.token == token)
            .map(Order::remaining)
            .sum();
        held - locked
    }

    /// Applies one fill to the balance and the position; returns the (cash, cost, realized)
    /// deltas so a failed trade can be reverted.
    fn apply_fill(
        &mut self,
        token: &str,
        side: Side,
        shares: Decimal,
        notional: Decimal,
        fee: Decimal,
    ) -> (Decimal, Decimal, Decimal) {
        let pos = self.positions.entry(token.to_owned()).or_default();
        match side {
            Side::Buy => {
                pos.size += shares;
                pos.cost += notional;
                pos.bought += shares;
                let cash = -(notional + fee);
                self.balance += cash;
                (cash, notional, Decimal::ZERO)
            }
            Side::Sell => {
                let avg = if pos.size > Decimal::ZERO { pos.cost / pos.size } else { Decimal::ZERO };
                let cost = avg * shares;
                let realized = notional - cost - fee;
                pos.size -= shares;
                pos.cost -= cost;
                pos.realized += realized;
                let cash = notional - fee;
                self.balance += cash;
                (cash, -cost, realized)
            }
        }
    }

    /// Records a trade of the account, with its balance effect and a `MATCHED` user event.
    #[allow(clippy::too_many_arguments, reason = "one call site per role, all fields needed")]
    fn record_trade(
        &mut self,
        order: &Order,
        other_order_id: String,
        taker: bool,
        shares: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_rate: Decimal,
    ) -> Trade {
        let outcome_index = self.market_of(&order.token).map_or(0, |(_, i)| i);
        let (cash_delta, cost_delta, realized_delta) =
            self.apply_fill(&order.token, order.side, shares, shares * price, fee);
        let fail_at_settle = self.faults.fail_trades > 0;
        if fail_at_settle {
            self.faults.fail_trades -= 1;
        }
        let now = self.venue_secs();
        let trade = Trade {
            id: self.uuid(),
            order_id: order.id.clone(),
            other_order_id,
            market: order.market.clone(),
            token: order.token.clone(),
            outcome: order.outcome.clone(),
            outcome_index,
            side: order.side,
            size: shares,
            price,
            fee,
            fee_rate_bps: (fee_rate * Decimal::from(10_000)).normalize(),
            status: TradeStatus::Matched,
            taker,
            tx_hash: self.hex_id("tx"),
            match_time: now,
            last_update: now,
            fail_at_settle,
            cash_delta,
            cost_delta,
            realized_delta,
        };
        self.trades.push(trade.clone());
        let event = self.trade_event(&trade);
        self.publish_user(&trade.market, &event);
        trade
    }

    fn publish_last_trade(&mut self, token: &str, market: &str, price: Decimal, size: Decimal, taker: Side) {
        self.books.entry(token.to_owned()).or_default().last_trade = Some(price);
        let msg = json!({
            "event_type": "last_trade_price",
            "asset_id": token,
            "market": market,
            "price": dec_str(price),
            "side": taker.as_str(),
            "size": dec_str(size),
            "fee_rate_bps": "0",
            "timestamp": self.venue_ms().to_string(),
        });
        self.publish_market(token, &msg);
    }

    /// `POST /order`: validates, matches and maybe rests one order body.
    pub(crate) fn post_order(&mut self, body: &Value) -> Result<Value, ApiError> {
        let order = body.get("order").ok_or_else(|| ApiError::bad("invalid order payload: order"))?;
        let order_type = body.get("orderType").and_then(Value::as_str).unwrap_or("GTC").to_ascii_uppercase();
        if !matches!(order_type.as_str(), "GTC" | "GTD" | "FOK" | "FAK") {
            return Err(ApiError::bad(format!("invalid order type: {order_type}")));
        }
        let is_market = matches!(order_type.as_str(), "FOK" | "FAK");
        let post_only = body.get("postOnly").and_then(Value::as_bool).unwrap_or(false);
        let owner = body.get("owner").and_then(Value::as_str).unwrap_or_default();
        if !owner.eq_ignore_ascii_case(&self.creds.api_key) {
            return Err(ApiError::bad("the order owner has to be the owner of the API KEY"));
        }
        // A V1 body carries `feeRateBps` and `nonce`; V2 carries `timestamp`, `metadata` and
        // `builder` instead. Either way it must be the exchange's current version.
        let body_version =
            if order.get("feeRateBps").is_some() || order.get("nonce").is_some() { 1 } else { 2 };
        if body_version != self.version {
            return Err(ApiError::bad("order_version_mismatch"));
        }
        let token = str_field(order, "tokenId")?.to_owned();
        let side = parse_side(order)?;
        let maker_amount = amount(order, "makerAmount")?;
        let taker_amount = amount(order, "takerAmount")?;
        if maker_amount <= Decimal::ZERO || taker_amount <= Decimal::ZERO {
            return Err(ApiError::bad("invalid order payload: amounts must be positive"));
        }
        // Whatever the tick, a market order's maker side carries at most 2 decimals and its
        // taker side at most 4 (the official SDKs have been caught sending more).
        if is_market
            && (maker_amount.normalize().scale() > MARKET_MAKER_DECIMALS
                || taker_amount.normalize().scale() > MARKET_TAKER_DECIMALS)
        {
            let side = if side == Side::Buy { "buy" } else { "sell" };
            return Err(ApiError::bad(format!(
                "invalid amounts, the market {side} orders maker amount supports a max accuracy of {MARKET_MAKER_DECIMALS} decimals, taker amount a max of {MARKET_TAKER_DECIMALS} decimals"
            )));
        }
        let expiration = match order.get("expiration") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => "0".to_owned(),
        };
        let maker_address = order
            .get("maker")
            .and_then(Value::as_str)
            .map_or_else(|| self.address.clone(), str::to_ascii_lowercase);
        let (market, outcome_index) = self.market_of(&token).ok_or_else(|| ApiError::bad(NO_BOOK))?;
        let market = market.clone();
        if market.closed || !market.accepting_orders {
            return Err(ApiError::bad("the market is not accepting orders"));
        }
        let order_id = self.hex_id("order");
        let (size, raw_price) = match side {
            Side::Buy => (taker_amount, maker_amount / taker_amount),
            Side::Sell => (maker_amount, taker_amount / maker_amount),
        };
        let tick = market.tick_size;
        let price = if is_market { raw_price.round_dp(tick.scale()) } else { raw_price };
        if price % tick != Decimal::ZERO || price < tick || price > Decimal::ONE - tick {
            return Err(ApiError::bad(format!(
                "order {order_id} is invalid. Price ({}) breaks minimum tick size rule: {}",
                dec_str(raw_price),
                dec_str(tick)
            )));
        }
        if !is_market && size < market.min_size {
            return Err(ApiError::bad(format!(
                "order {order_id} is invalid. Size ({}) lower than the minimum: {}",
                dec_str(size),
                dec_str(market.min_size)
            )));
        }
        if post_only && is_market {
            return Err(ApiError::bad("invalid post-only order: only GTC and GTD orders can be post-only"));
        }
        let enough = match side {
            // A buy's taker fee is paid in pUSD on top of its amount: the cash must cover both.
            Side::Buy => {
                self.available_cash()
                    >= maker_amount + taker_fee(size, price, market.fee_rate, market.fee_exponent)
            }
            Side::Sell => self.available_shares(&token) >= size,
        };
        if !enough {
            return Err(ApiError::bad(NO_BALANCE));
        }

        // External liquidity that crosses the limit, best first.
        let book = self.books.entry(token.clone()).or_default();
        let levels: Vec<(Decimal, Decimal)> = match side {
            Side::Buy => book.asks.iter().filter(|(p, _)| **p <= price).map(|(p, s)| (*p, *s)).collect(),
            Side::Sell => {
                book.bids.iter().rev().filter(|(p, _)| **p >= price).map(|(p, s)| (*p, *s)).collect()
            }
        };
        if post_only && !levels.is_empty() {
            return Err(ApiError::bad(POST_ONLY_CROSSES));
        }
        // (price, shares) fills.
        let mut fills: Vec<(Decimal, Decimal)> = Vec::new();
        if side == Side::Buy && is_market {
            // Market buy: spend up to makerAmount pUSD.
            let depth: Decimal = levels.iter().map(|(p, s)| p * s).sum();
            if order_type == "FOK" && depth < maker_amount {
                return Err(ApiError::bad(FOK_KILLED));
            }
            let mut budget = maker_amount;
            for (p, s) in &levels {
                if budget <= Decimal::ZERO {
                    break;
                }
                // Shares at the taker side's precision for a market buy (4 decimals): with the
                // price's 2 decimals on a 0.01 tick the pUSD paid stays in whole 10^-6 units, as
                // it moves on chain.
                let shares = if p * s <= budget { *s } else { (budget / p).trunc_with_scale(4) };
                if shares > Decimal::ZERO {
                    fills.push((*p, shares));
                    budget -= p * shares;
                }
            }
        } else {
            let depth: Decimal = levels.iter().map(|(_, s)| *s).sum();
            if order_type == "FOK" && depth < size {
                return Err(ApiError::bad(FOK_KILLED));
            }
            let mut want = size;
            for (p, s) in &levels {
                if want <= Decimal::ZERO {
                    break;
                }
                let shares = want.min(*s);
                fills.push((*p, shares));
                want -= shares;
            }
        }
        if order_type == "FAK" && fills.is_empty() {
            return Err(ApiError::bad(FAK_KILLED));
        }

        let filled: Decimal = fills.iter().map(|(_, s)| *s).sum();
        let notional: Decimal = fills.iter().map(|(p, s)| p * s).sum();
        let rests = !is_market && filled < size;
        let mut record = Order {
            id: order_id.clone(),
            token: token.clone(),
            market: market.condition_id.clone(),
            outcome: market.outcomes[outcome_index].clone(),
            side,
            price,
            original_size: if side == Side::Buy && is_market { filled } else { size },
            size_matched: Decimal::ZERO,
            status: OrderStatus::Matched,
            order_type: order_type.clone(),
            post_only,
            created_at: self.venue_secs(),
            expiration,
            maker_address,
            trades: Vec::new(),
        };
        let mut trade_ids = Vec::new();
        let mut hashes = Vec::new();
        for (p, shares) in fills {
            let book = self.books.entry(token.clone()).or_default();
            let level = book.side_mut(side.opposite());
            if let Some(s) = level.get_mut(&p) {
                *s -= shares;
                if *s <= Decimal::ZERO {
                    level.remove(&p);
                }
            }
            record.size_matched += shares;
            let fee = taker_fee(shares, p, market.fee_rate, market.fee_exponent);
            let counter_id = self.hex_id("counterparty-order");
            let trade = self.record_trade(&record, counter_id, true, shares, p, fee, market.fee_rate);
            record.trades.push(trade.id.clone());
            trade_ids.push(trade.id);
            hashes.push(trade.tx_hash);
            self.publish_level(&token, side.opposite(), p);
            self.publish_last_trade(&token, &market.condition_id, p, shares, side);
        }
        if rests {
            record.status = OrderStatus::Live;
        } else if is_market && record.size_matched < record.original_size {
            record.status = OrderStatus::Canceled;
        }
        self.orders.push(record.clone());
        if rests {
            let placement = self.order_event(&record, "PLACEMENT");
            self.publish_user(&record.market, &placement);
            self.publish_level(&token, side, price);
        }
        let (making, taking) = match side {
            Side::Buy => (notional, filled),
            Side::Sell => (filled, notional),
        };
        let amount_str = |d: Decimal| if filled.is_zero() { String::new() } else { dec_str(d) };
        Ok(json!({
            "success": true,
            "errorMsg": "",
            "orderID": order_id,
            "status": if rests { "live" } else { "matched" },
            "makingAmount": amount_str(making),
            "takingAmount": amount_str(taking),
            "transactionsHashes": hashes,
            "tradeIDs": trade_ids,
        }))
    }

    /// Cancels these orders; answers `{"canceled": [..], "not_canceled": {id: reason}}`.
    pub(crate) fn cancel(&mut self, ids: &[String]) -> Value {
        let mut canceled = Vec::new();
        let mut not_canceled = BTreeMap::new();
        for id in ids {
            let Some(idx) = self.orders.iter().position(|o| &o.id == id) else {
                not_canceled.insert(id.clone(), "order not found".to_owned());
                continue;
            };
            if self.orders[idx].status != OrderStatus::Live {
                not_canceled.insert(id.clone(), "already canceled or matched".to_owned());
                continue;
            }
            self.orders[idx].status = OrderStatus::Canceled;
            let o = self.orders[idx].clone();
            let event = self.order_event(&o, "CANCELLATION");
            self.publish_user(&o.market, &event);
            self.publish_level(&o.token, o.side, o.price);
            canceled.push(id.clone());
        }
        json!({"canceled": canceled, "not_canceled": not_canceled})
    }

    /// Cancels every resting order of the account once heartbeats have stopped for longer than
    /// the window, as the exchange does; the chain then starts again from `null`.
    pub(crate) fn enforce_heartbeat(&mut self) {
        let Some(last) = self.heartbeat.last else { return };
        if last.elapsed() <= self.heartbeat.window {
            return;
        }
        self.heartbeat.last = None;
        self.heartbeat.id = None;
        self.heartbeat.lapses += 1;
        let live = self.live_ids(|_| true);
        self.cancel(&live);
    }

    /// Ids of the live orders matching a filter.
    pub(crate) fn live_ids(&self, filter: impl Fn(&Order) -> bool) -> Vec<String> {
        self.orders
            .iter()
            .filter(|o| o.status == OrderStatus::Live && filter(o))
            .map(|o| o.id.clone())
            .collect()
    }

    /// A counterparty takes `shares` of a resting order of the account at its price.
    pub(crate) fn take_resting(&mut self, order_id: &str, shares: Decimal) -> Result<(), String> {
        let idx = self
            .orders
            .iter()
            .position(|o| o.id == order_id)
            .ok_or_else(|| format!("no order {order_id}"))?;
        let o = self.orders[idx].clone();
        if o.status != OrderStatus::Live {
            return Err(format!("order {order_id} is not live"));
        }
        if shares <= Decimal::ZERO || shares > o.remaining() {
            return Err(format!("cannot take {shares} of the {} left in {order_id}", o.remaining()));
        }
        let counter_id = self.hex_id("counterparty-order");
        let trade = self.record_trade(&o, counter_id, false, shares, o.price, Decimal::ZERO, Decimal::ZERO);
        let order = &mut self.orders[idx];
        order.size_matched += shares;
        order.trades.push(trade.id);
        if order.remaining().is_zero() {
            order.status = OrderStatus::Matched;
        }
        let order = order.clone();
        let update = self.order_event(&order, "UPDATE");
        self.publish_user(&order.market, &update);
        self.publish_level(&order.token, order.side, order.price);
        self.publish_last_trade(&order.token, &order.market, order.price, shares, order.side.opposite());
        Ok(())
    }

    /// Advances every `MATCHED` trade to `MINED` then `CONFIRMED`, or to `FAILED` (reverting its
    /// balance and position effects) when it was marked to fail, or when it sold shares a failed
    /// buy was to deliver; one user event per status.
    pub(crate) fn settle_trades(&mut self) {
        let venue_secs = self.venue_secs();
        for idx in 0..self.trades.len() {
            if self.trades[idx].status != TradeStatus::Matched {
                continue;
            }
            let steps: &[TradeStatus] = if self.trades[idx].fail_at_settle {
                &[TradeStatus::Failed]
            } else {
                &[TradeStatus::Mined, TradeStatus::Confirmed]
            };
            for step in steps {
                let t = &mut self.trades[idx];
                t.status = *step;
                t.last_update = venue_secs;
                let t = t.clone();
                if *step == TradeStatus::Failed {
                    self.balance -= t.cash_delta;
                    let pos = self.positions.entry(t.token.clone()).or_default();
                    match t.side {
                        Side::Buy => {
                            pos.size -= t.size;
                            pos.bought -= t.size;
                        }
                        Side::Sell => pos.size += t.size,
                    }
                    pos.cost -= t.cost_delta;
                    pos.realized -= t.realized_delta;
                    // Shares sold since that this buy was to deliver never existed on chain:
                    // those sales fail too, as their transfers would revert.
                    let mut short = -pos.size;
                    for later in &mut self.trades[idx + 1..] {
                        if short <= Decimal::ZERO {
                            break;
                        }
                        if later.token == t.token
                            && later.side == Side::Sell
                            && later.status == TradeStatus::Matched
                            && !later.fail_at_settle
                        {
                            later.fail_at_settle = true;
                            short -= later.size;
                        }
                    }
                }
                let event = self.trade_event(&t);
                self.publish_user(&t.market, &event);
            }
        }
    }
}
