//! Shared mock state: markets, books, the account, recorded requests, faults and websocket
//! subscribers, plus the JSON renderings that several endpoints and events share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use crate::model::{MockCredentials, MockMarket, OrderStatus, Recorded, Side, TradeStatus};

/// The counterparty of every fill against book liquidity.
pub(crate) const COUNTERPARTY_ADDRESS: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
/// The counterparty's API key.
pub(crate) const COUNTERPARTY_OWNER: &str = "00000000-0000-0000-0000-000000000002";
/// The account address until a request names another one (`POLY_ADDRESS`).
pub(crate) const DEFAULT_ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// CTF Exchange V2, NegRisk CTF Exchange V2 and the NegRiskAdapter, the spenders listed in
/// `allowances`.
pub(crate) const EXCHANGES: [&str; 3] = [
    "0xE111180000d2663C0091e4f400237545B87B996B",
    "0xe2222d279d744050d28e00520010520000310F59",
    "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
];

/// `(price, size)` levels, best first.
pub(crate) type Levels = Vec<(Decimal, Decimal)>;

/// The state behind one mock server.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the state, ignoring poisoning (a panicking test thread must not wedge the server).
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A message for one websocket connection.
#[derive(Debug)]
pub(crate) enum Out {
    Text(String),
    Close,
}

/// What a websocket connection listens to.
#[derive(Debug)]
pub(crate) enum Channel {
    /// Market channel: the subscribed token ids.
    Market(HashSet<String>),
    /// User channel once authenticated: condition ids (empty = all markets).
    User { authed: bool, markets: HashSet<String> },
}

#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) channel: Channel,
    pub(crate) tx: UnboundedSender<Out>,
}

/// External (non-account) liquidity of one token.
#[derive(Debug, Default, Clone)]
pub(crate) struct Book {
    pub(crate) bids: BTreeMap<Decimal, Decimal>,
    pub(crate) asks: BTreeMap<Decimal, Decimal>,
    pub(crate) last_trade: Option<Decimal>,
}

impl Book {
    pub(crate) fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Decimal, Decimal> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) market: String,
    pub(crate) outcome: String,
    pub(crate) side: Side,
    pub(crate) price: Decimal,
    pub(crate) original_size: Decimal,
    pub(crate) size_matched: Decimal,
    pub(crate) status: OrderStatus,
    pub(crate) order_type: String,
    pub(crate) post_only: bool,
    pub(crate) created_at: i64,
    pub(crate) expiration: String,
    pub(crate) maker_address: String,
    pub(crate) trades: Vec<String>,
}

impl Order {
    pub(crate) fn remaining(&self) -> Decimal {
        self.original_size - self.size_matched
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Trade {
    pub(crate) id: String,
    pub(crate) order_id: String,
    /// The other order (counterparty's) id.
    pub(crate) other_order_id: String,
    pub(crate) market: String,
    pub(crate) token: String,
    pub(crate) outcome: String,
    pub(crate) outcome_index: usize,
    pub(crate) side: Side,
    pub(crate) size: Decimal,
    pub(crate) price: Decimal,
    pub(crate) fee: Decimal,
    pub(crate) fee_rate_bps: Decimal,
    pub(crate) status: TradeStatus,
    pub(crate) taker: bool,
    pub(crate) tx_hash: String,
    pub(crate) match_time: i64,
    pub(crate) last_update: i64,
    pub(crate) fail_at_settle: bool,
    /// Balance change the trade made (reverted if it fails).
    pub(crate) cash_delta: Decimal,
    /// Position cost-basis change the trade made.
    pub(crate) cost_delta: Decimal,
    /// Realized profit change the trade made.
    pub(crate) realized_delta: Decimal,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Position {
    pub(crate) size: Decimal,
    pub(crate) cost: Decimal,
    pub(crate) bought: Decimal,
    pub(crate) realized: Decimal,
}

#[derive(Debug)]
pub(crate) struct FailRule {
    pub(crate) prefix: String,
    /// Only this exact path (not every path starting with `prefix`).
    pub(crate) exact: bool,
    /// Matching requests to let through before failing.
    pub(crate) skip: usize,
    pub(crate) status: u16,
    pub(crate) error: String,
    pub(crate) remaining: usize,
    /// The rule lapses at this moment, whatever remains of it.
    pub(crate) until: Option<std::time::Instant>,
}

impl FailRule {
    /// A rule failing one request whose path starts with `prefix` with `status` and
    /// `{"error": error}`; the other fields adjust it.
    pub(crate) fn on(prefix: &str, status: u16, error: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            exact: false,
            skip: 0,
            status,
            error: error.to_owned(),
            remaining: 1,
            until: None,
        }
    }

    fn matches(&self, path: &str) -> bool {
        if self.exact { path == self.prefix } else { path.starts_with(self.prefix.as_str()) }
    }

    /// Whether this request fails under the rule (counting it).
    pub(crate) fn take(&mut self, path: &str) -> bool {
        if self.until.is_some_and(|t| std::time::Instant::now() >= t) {
            self.remaining = 0;
        }
        if self.remaining == 0 || !self.matches(path) {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        self.remaining -= 1;
        true
    }
}

/// One rate class: these exact paths share `max` requests per `window`.
#[derive(Debug)]
pub(crate) struct RateClass {
    pub(crate) paths: Vec<String>,
    pub(crate) max: usize,
    pub(crate) window: Duration,
    pub(crate) seen: std::collections::VecDeque<std::time::Instant>,
}

impl RateClass {
    /// Whether a request to `path` at `now` is over the limit (counting it when it is not).
    pub(crate) fn over(&mut self, path: &str, now: std::time::Instant) -> bool {
        if !self.paths.iter().any(|p| p == path) {
            return false;
        }
        while self.seen.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            self.seen.pop_front();
        }
        if self.seen.len() >= self.max {
            return true;
        }
        self.seen.push_back(now);
        false
    }
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub(crate) fail: Vec<FailRule>,
    /// Rate classes the exchange enforces: past its limit a request gets `429`.
    pub(crate) rates: Vec<RateClass>,
    /// Requests refused by a rate class (not by an injected fault).
    pub(crate) throttled: usize,
    pub(crate) delay: Vec<(String, Duration)>,
    /// Responses held back after the request was carried out (a slow answer, not a slow venue).
    pub(crate) answer_delay: Vec<(String, Duration)>,
    /// Fields of every `/data/trades` item replaced as served (malformed payloads).
    pub(crate) trade_overrides: Vec<(String, serde_json::Value)>,
    pub(crate) fail_trades: usize,
    pub(crate) skip_ws: usize,
    pub(crate) duplicate_ws: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) creds: MockCredentials,
    pub(crate) address: String,
    pub(crate) markets: Vec<MockMarket>,
    /// Winning token per resolved condition id.
    pub(crate) resolved: HashMap<String, String>,
    pub(crate) books: HashMap<String, Book>,
    pub(crate) orders: Vec<Order>,
    pub(crate) trades: Vec<Trade>,
    pub(crate) balance: Decimal,
    /// Deposits made since the exchange last read the chain: `GET /balance-allowance` answers
    /// from its cache without them until `/balance-allowance/update` is called.
    pub(crate) unseen_deposits: Decimal,
    /// Whether the balance has been read (before that, funding counts as seen).
    pub(crate) balance_read: bool,
    pub(crate) positions: HashMap<String, Position>,
    pub(crate) server_time: Option<i64>,
    /// The venue's clock minus the machine's, seconds: trades are stamped and `/time` answers on it.
    pub(crate) clock_skew_secs: i64,
    pub(crate) requests: Vec<Recorded>,
    pub(crate) page_limit: usize,
    pub(crate) faults: FaultState,
    pub(crate) subscribers: Vec<Subscriber>,
    pub(crate) next_id: u64,
    pub(crate) heartbeat: Heartbeat,
    /// Tokens one market-channel connection carries; subscriptions past it are silently ignored.
    pub(crate) ws_token_cap: usize,
    /// The exchange's order protocol version (`GET /version`): 1 takes V1 order bodies, 2 V2.
    pub(crate) version: u32,
    /// Other wallets' trades and top holders (Data API).
    pub(crate) data_api: crate::data_api::DataApi,
}

/// The account's heartbeat chain: the id the next heartbeat must carry, when the last one came,
/// and how long the exchange waits before it cancels every resting order.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    pub(crate) id: Option<String>,
    pub(crate) last: Option<std::time::Instant>,
    pub(crate) window: std::time::Duration,
    /// Times the account's resting orders were cancelled for want of a heartbeat.
    pub(crate) lapses: u32,
    /// Stale-id answers after which the chain moves on once more (the id just given is stale
    /// by the time the client uses it).
    pub(crate) move_after_stale: u32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            id: None,
            last: None,
            window: std::time::Duration::from_secs(10),
            lapses: 0,
            move_after_stale: 0,
        }
    }
}

impl State {
    /// Now on the venue's clock (this machine's plus the injected skew), milliseconds: what
    /// the venue stamps its books, orders and trades with.
    pub(crate) fn venue_ms(&self) -> i64 {
        now_ms() + self.clock_skew_secs * 1_000
    }

    /// [`State::venue_ms`] in seconds.
    pub(crate) fn venue_secs(&self) -> i64 {
        self.venue_ms() / 1_000
    }

    pub(crate) fn new() -> Self {
        Self {
            creds: MockCredentials {
                api_key: "5f1c2b9e-7d3a-4c8b-9e2f-1a2b3c4d5e6f".to_owned(),
                secret: "bW9jay1wb2x5bWFya2V0LXNlY3JldC0zMi1ieXRlcyE=".to_owned(),
                passphrase: "mock-passphrase".to_owned(),
            },
            address: DEFAULT_ADDRESS.to_owned(),
            markets: Vec::new(),
            resolved: HashMap::new(),
            books: HashMap::new(),
            orders: Vec::new(),
            trades: Vec::new(),
            balance: Decimal::ZERO,
            unseen_deposits: Decimal::ZERO,
            balance_read: false,
            positions: HashMap::new(),
            server_time: None,
            clock_skew_secs: 0,
            requests: Vec::new(),
            page_limit: 100,
            faults: FaultState::default(),
            subscribers: Vec::new(),
            next_id: 1,
            heartbeat: Heartbeat::default(),
            version: 2,
            ws_token_cap: 500,
            data_api: crate::data_api::DataApi::default(),
        }
    }

    /// A fresh 32-byte hex id (`0x` + 64 hex) derived from a counter and a tag.
    pub(crate) fn hex_id(&mut self, tag: &str) -> String {
        let n = self.next_id;
        self.next_id += 1;
        let digest = Sha256::digest(format!("{tag}:{n}").as_bytes());
        format!("0x{}", hex::encode(digest))
    }

    /// A fresh UUID-shaped id.
    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex_id("uuid");
        let h = &h[2..];
        format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    /// The market and outcome index of a token.
    pub(crate) fn market_of(&self, token: &str) -> Option<(&MockMarket, usize)> {
        self.markets.iter().find_map(|m| m.token_ids.iter().position(|t| t == token).map(|i| (m, i)))
    }

    pub(crate) fn market_by_condition(&self, condition_id: &str) -> Option<&MockMarket> {
        self.markets.iter().find(|m| m.condition_id.eq_ignore_ascii_case(condition_id))
    }

    /// Shares of the account's live orders at one price on one side of a token.
    fn own_size(&self, token: &str, side: Side, price: Decimal) -> Decimal {
        self.orders
            .iter()
            .filter(|o| {
                o.status == OrderStatus::Live && o.token == token && o.side == side && o.price == price
            })
            .map(Order::remaining)
            .sum()
    }

    /// The visible book of a token: external liquidity plus the account's resting orders,
    /// each side sorted best first.
    pub(crate) fn levels(&self, token: &str) -> (Levels, Levels) {
        let mut bids: BTreeMap<Decimal, Decimal> =
            self.books.get(token).map(|b| b.bids.clone()).unwrap_or_default();
        let mut asks: BTreeMap<Decimal, Decimal> =
            self.books.get(token).map(|b| b.asks.clone()).unwrap_or_default();
        for o in self.orders.iter().filter(|o| o.status == OrderStatus::Live && o.token == token) {
            let side = if o.side == Side::Buy { &mut bids } else { &mut asks };
            *side.entry(o.price).or_default() += o.remaining();
        }
        let bids = bids.into_iter().rev().filter(|(_, s)| *s > Decimal::ZERO).collect();
        let asks = asks.into_iter().filter(|(_, s)| *s > Decimal::ZERO).collect();
        (bids, asks)
    }

    /// Visible size at one price.
    pub(crate) fn level_size(&self, token: &str, side: Side, price: Decimal) -> Decimal {
        let external = self
            .books
            .get(token)
            .and_then(|b| if side == Side::Buy { b.bids.get(&price) } else { b.asks.get(&price) })
            .copied()
            .unwrap_or_default();
        external + self.own_size(token, side, price)
    }

    pub(crate) fn best(&self, token: &str) -> (Option<Decimal>, Option<Decimal>) {
        let (bids, asks) = self.levels(token);
        (bids.first().map(|l| l.0), asks.first().map(|l| l.0))
    }

    /// A hash of the visible book (changes with every change).
    pub(crate) fn book_hash(&self, token: &str) -> String {
        let (bids, asks) = self.levels(token);
        let digest = Sha256::digest(format!("{token}{bids:?}{asks:?}").as_bytes());
        hex::encode(&digest[..20])
    }

    /// The `/book` and websocket `book` shape (best level last).
    pub(crate) fn book_json(&self, token: &str, ws: bool) -> Option<Value> {
        let (market, _) = self.market_of(token)?;
        let (bids, asks) = self.levels(token);
        let level = |(p, s): &(Decimal, Decimal)| json!({"price": dec_str(*p), "size": dec_str(*s)});
        let bids: Vec<Value> = bids.iter().rev().map(level).collect();
        let asks: Vec<Value> = asks.iter().rev().map(level).collect();
        let mut v = json!({
            "market": market.condition_id,
            "asset_id": token,
            "timestamp": self.venue_ms().to_string(),
            "hash": self.book_hash(token),
            "bids": bids,
            "asks": asks,
        });
        if ws {
            v["event_type"] = json!("book");
        } else {
            v["min_order_size"] = json!(dec_str(market.min_size));
            v["neg_risk"] = json!(market.neg_risk);
            v["tick_size"] = json!(dec_str(market.tick_size));
            let last = self.books.get(token).and_then(|b| b.last_trade);
            v["last_trade_price"] = json!(last.map_or_else(String::new, dec_str));
        }
        Some(v)
    }

    /// A `price_change` event for one level's new visible size.
    pub(crate) fn price_change_json(&self, token: &str, side: Side, price: Decimal) -> Option<Value> {
        let (market, _) = self.market_of(token)?;
        let (best_bid, best_ask) = self.best(token);
        Some(json!({
            "event_type": "price_change",
            "market": market.condition_id,
            "timestamp": self.venue_ms().to_string(),
            "price_changes": [{
                "asset_id": token,
                "price": dec_str(price),
                "size": dec_str(self.level_size(token, side, price)),
                "side": side.as_str(),
                "hash": self.book_hash(token),
                "best_bid": dec_str(best_bid.unwrap_or(Decimal::ZERO)),
                "best_ask": dec_str(best_ask.unwrap_or(Decimal::ONE)),
            }],
        }))
    }

    /// Publishes a level change on the market channel.
    pub(crate) fn publish_level(&mut self, token: &str, side: Side, price: Decimal) {
        if let Some(msg) = self.price_change_json(token, side, price) {
            self.publish_market(token, &msg);
        }
    }

    /// Sends a market-channel event to the connections subscribed to `token`, applying the
    /// skip and duplicate faults.
    pub(crate) fn publish_market(&mut self, token: &str, msg: &Value) {
        if self.faults.skip_ws > 0 {
            self.faults.skip_ws -= 1;
            return;
        }
        let text = msg.to_string();
        let copies = if self.faults.duplicate_ws { 2 } else { 1 };
        for sub in &self.subscribers {
            if let Channel::Market(assets) = &sub.channel
                && assets.contains(token)
            {
                for _ in 0..copies {
                    let _ = sub.tx.send(Out::Text(text.clone()));
                }
            }
        }
    }

    /// Sends a user-channel event to the authenticated user connections that follow `market`.
    pub(crate) fn publish_user(&self, market: &str, msg: &Value) {
        let text = msg.to_string();
        for sub in &self.subscribers {
            if let Channel::User { authed: true, markets } = &sub.channel
                && (markets.is_empty() || markets.iter().any(|m| m.eq_ignore_ascii_case(market)))
            {
                let _ = sub.tx.send(Out::Text(text.clone()));
            }
        }
    }

    pub(crate) fn order_json(&self, o: &Order) -> Value {
        json!({
            "id": o.id,
            "status": o.status.as_str(),
            "owner": self.creds.api_key,
            "maker_address": o.maker_address,
            "market": o.market,
            "asset_id": o.token,
            "side": o.side.as_str(),
            "original_size": dec_str(o.original_size),
            "size_matched": dec_str(o.size_matched),
            "price": dec_str(o.price),
            "associate_trades": o.trades,
            "outcome": o.outcome,
            "created_at": o.created_at,
            "expiration": o.expiration,
            "order_type": o.order_type,
        })
    }

    /// A user-channel `order` event (`PLACEMENT`, `UPDATE`, `CANCELLATION`).
    pub(crate) fn order_event(&self, o: &Order, kind: &str) -> Value {
        let mut v = self.order_json(o);
        v["event_type"] = json!("order");
        v["type"] = json!(kind);
        v["order_owner"] = json!(self.creds.api_key);
        v["created_at"] = json!((o.created_at * 1000).to_string());
        v["timestamp"] = json!(self.venue_ms().to_string());
        v
    }

    /// The `/data/trades` shape of a trade (taker side on the wire; the account's order is
    /// in `maker_orders` when it was the maker).
    pub(crate) fn trade_json(&self, t: &Trade) -> Value {
        let (wire_side, maker_side) =
            if t.taker { (t.side, t.side.opposite()) } else { (t.side.opposite(), t.side) };
        let (maker_owner, maker_address) = if t.taker {
            (COUNTERPARTY_OWNER.to_owned(), COUNTERPARTY_ADDRESS.to_owned())
        } else {
            (self.creds.api_key.clone(), self.address.clone())
        };
        let maker_order_id = if t.taker { &t.other_order_id } else { &t.order_id };
        let taker_order_id = if t.taker { &t.order_id } else { &t.other_order_id };
        json!({
            "id": t.id,
            "taker_order_id": taker_order_id,
            "market": t.market,
            "asset_id": t.token,
            "side": wire_side.as_str(),
            "size": dec_str(t.size),
            "fee_rate_bps": dec_str(t.fee_rate_bps),
            "price": dec_str(t.price),
            "status": t.status.as_str(),
            "match_time": t.match_time.to_string(),
            "last_update": t.last_update.to_string(),
            "outcome": t.outcome,
            "bucket_index": 0,
            "owner": self.creds.api_key,
            "maker_address": self.address,
            "transaction_hash": t.tx_hash,
            "maker_orders": [{
                "order_id": maker_order_id,
                "owner": maker_owner,
                "maker_address": maker_address,
                "matched_amount": dec_str(t.size),
                "price": dec_str(t.price),
                "fee_rate_bps": "0",
                "asset_id": t.token,
                "outcome": t.outcome,
                "side": maker_side.as_str(),
            }],
            "trader_side": if t.taker { "TAKER" } else { "MAKER" },
            "error_msg": if t.status == TradeStatus::Failed { json!("trade failed at settlement") } else { Value::Null },
        })
    }

    /// A user-channel `trade` event.
    pub(crate) fn trade_event(&self, t: &Trade) -> Value {
        let mut v = self.trade_json(t);
        v["event_type"] = json!("trade");
        v["type"] = json!("TRADE");
        v["trade_owner"] = json!(self.creds.api_key);
        v["timestamp"] = json!(self.venue_ms().to_string());
        v
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A decimal as a wire string without trailing zeros.
pub(crate) fn dec_str(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A decimal as a JSON number (for Gamma and Data API fields that are numbers).
pub(crate) fn dec_num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}
