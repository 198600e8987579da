//! Mock Polymarket server for tests: Gamma, CLOB, Data API and websockets on one local root,
//! with a matching engine, one account, request recording and fault injection.
//!
//! ```no_run
//! # async fn demo() {
//! use equilibrage_testkit::{MockMarket, MockPolymarket};
//! use rust_decimal::Decimal;
//!
//! let mock = MockPolymarket::start().await;
//! mock.add_market(MockMarket::binary("1", &format!("0x{}", "ab".repeat(32)), "111", "222"));
//! mock.set_book("111", &[(Decimal::new(48, 2), Decimal::from(100))], &[(Decimal::new(52, 2), Decimal::from(100))]);
//! mock.set_balance(Decimal::from(1_000));
//! // point the Gamma, CLOB and Data clients at mock.http_url(), the websocket client at mock.ws_url()
//! # }
//! ```

mod auth;
pub mod chain;
pub mod chat;
mod data_api;
mod engine;
mod gamma;
mod model;
mod server;
mod state;
mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::json;
use tokio::task::JoinHandle;

pub use crate::model::{
    L1Headers, MockCredentials, MockMarket, MockOrder, MockTrade, OrderStatus, Recorded, Side, TradeStatus,
};
use crate::state::{FailRule, Out, Shared, State, lock, now_ms};

/// A running mock Polymarket (Gamma + CLOB + Data API + websockets) on `127.0.0.1`.
/// Dropping it stops the server and closes its websockets.
#[derive(Debug)]
pub struct MockPolymarket {
    shared: Shared,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl MockPolymarket {
    /// Binds `127.0.0.1:0` and serves in the background on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics if no local port can be bound.
    pub async fn start() -> Self {
        let shared: Shared = Arc::new(Mutex::new(State::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let app = server::router(shared.clone());
        let watchdog = Arc::downgrade(&shared);
        let server = tokio::spawn(async move {
            // The exchange's heartbeat deadline, checked a few times a second.
            let heartbeats = async move {
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tick.tick().await;
                    let Some(shared) = watchdog.upgrade() else { return };
                    lock(&shared).enforce_heartbeat();
                }
            };
            let serve = async move {
                let _ = axum::serve(listener, app).await;
            };
            tokio::join!(serve, heartbeats);
        });
        Self { shared, addr, server }
    }

    /// `http://127.0.0.1:PORT` (Gamma, CLOB and Data API base URL).
    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT` (the SDK appends `/ws/market` or `/ws/user`).
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The L2 credentials the mock accepts.
    #[must_use]
    pub fn credentials(&self) -> MockCredentials {
        lock(&self.shared).creds.clone()
    }

    /// Lists a market (replacing one with the same condition id) and gives its tokens empty
    /// books.
    pub fn add_market(&self, market: MockMarket) {
        let mut st = lock(&self.shared);
        for t in &market.token_ids {
            st.books.entry(t.clone()).or_default();
        }
        st.markets.retain(|m| m.condition_id != market.condition_id);
        st.markets.push(market);
    }

    /// Replaces the external liquidity of a token (`(price, size)` levels in any order) and
    /// publishes a `book` event. The account's resting orders stay on the book.
    pub fn set_book(&self, token: &str, bids: &[(Decimal, Decimal)], asks: &[(Decimal, Decimal)]) {
        let mut st = lock(&self.shared);
        let book = st.books.entry(token.to_owned()).or_default();
        book.bids = bids.iter().copied().filter(|(_, s)| *s > Decimal::ZERO).collect();
        book.asks = asks.iter().copied().filter(|(_, s)| *s > Decimal::ZERO).collect();
        if let Some(msg) = st.book_json(token, true) {
            st.publish_market(token, &msg);
        }
    }

    /// Sets one external level (size 0 removes it) and publishes a `price_change` event.
    pub fn set_level(&self, token: &str, side: Side, price: Decimal, size: Decimal) {
        let mut st = lock(&self.shared);
        let level = st.books.entry(token.to_owned()).or_default().side_mut(side);
        if size > Decimal::ZERO {
            level.insert(price, size);
        } else {
            level.remove(&price);
        }
        st.publish_level(token, side, price);
    }

    /// Changes a market's tick size and publishes `tick_size_change` for both tokens.
    pub fn set_tick_size(&self, condition_id: &str, tick_size: Decimal) {
        let mut st = lock(&self.shared);
        let Some(m) = st.markets.iter_mut().find(|m| m.condition_id == condition_id) else { return };
        let old = std::mem::replace(&mut m.tick_size, tick_size);
        let m = m.clone();
        for t in &m.token_ids {
            let msg = json!({
                "event_type": "tick_size_change",
                "asset_id": t,
                "market": m.condition_id,
                "old_tick_size": state::dec_str(old),
                "new_tick_size": state::dec_str(tick_size),
                "timestamp": now_ms().to_string(),
            });
            st.publish_market(t, &msg);
        }
    }

    /// Resolves a market: it closes, stops accepting orders, the account's live orders on it
    /// are cancelled, and a `market_resolved` event goes to subscribers of its tokens.
    pub fn resolve(&self, condition_id: &str, winning_token: &str) {
        let mut st = lock(&self.shared);
        let Some(m) = st.markets.iter_mut().find(|m| m.condition_id == condition_id) else { return };
        m.closed = true;
        m.accepting_orders = false;
        let m = m.clone();
        st.resolved.insert(m.condition_id.clone(), winning_token.to_owned());
        let ids = st.live_ids(|o| o.market == m.condition_id);
        st.cancel(&ids);
        let winner = m.token_ids.iter().position(|t| t == winning_token).unwrap_or(0);
        let msg = json!({
            "event_type": "market_resolved",
            "id": m.id,
            "question": m.question,
            "market": m.condition_id,
            "slug": m.slug,
            "description": format!("Mock market {}", m.id),
            "assets_ids": m.token_ids,
            "outcomes": m.outcomes,
            "winning_asset_id": winning_token,
            "winning_outcome": m.outcomes[winner],
            "timestamp": now_ms().to_string(),
            "tags": [m.category],
        });
        // One event per connection even when it follows both tokens.
        let text = msg.to_string();
        for sub in &st.subscribers {
            if let state::Channel::Market(assets) = &sub.channel
                && m.token_ids.iter().any(|t| assets.contains(t))
            {
                let _ = sub.tx.send(Out::Text(text.clone()));
            }
        }
    }

    /// Sets the account's pUSD balance.
    pub fn set_balance(&self, pusd: Decimal) {
        let mut st = lock(&self.shared);
        // Once the balance has been read, a change from outside is a deposit (or withdrawal) the
        // exchange's cached read does not show until `/balance-allowance/update`.
        if st.balance_read {
            let change = pusd - st.balance;
            st.unseen_deposits += change;
        }
        st.balance = pusd;
    }

    /// The account's pUSD balance (including funds locked by resting buys).
    #[must_use]
    pub fn balance(&self) -> Decimal {
        lock(&self.shared).balance
    }

    /// Sets the account's position in a token (shares, cost basis at `avg_price`).
    pub fn set_position(&self, token: &str, shares: Decimal, avg_price: Decimal) {
        let mut st = lock(&self.shared);
        let pos = st.positions.entry(token.to_owned()).or_default();
        pos.size = shares;
        pos.cost = shares * avg_price;
        pos.bought = shares;
    }

    /// The account's shares of a token.
    #[must_use]
    pub fn position(&self, token: &str) -> Decimal {
        lock(&self.shared).positions.get(token).map_or(Decimal::ZERO, |p| p.size)
    }

    /// Makes `GET /time` answer this value (seconds), or the clock when `None`.
    /// Runs the venue's clock `secs` ahead of this machine's (negative: behind): trades are
    /// stamped and `GET /time` answers on it.
    pub fn set_clock_skew(&self, secs: i64) {
        lock(&self.shared).clock_skew_secs = secs;
    }

    pub fn set_server_time(&self, secs: Option<i64>) {
        lock(&self.shared).server_time = secs;
    }

    /// Page size of `/data/orders`, `/data/trades` and the Data API's public `/trades`
    /// (default 100).
    pub fn set_page_limit(&self, limit: usize) {
        lock(&self.shared).page_limit = limit.max(1);
    }

    /// Adds other wallets' trades to the Data API's `/trades` (served newest first, after the
    /// account's own). Raw JSON, so a test can serve a malformed record as written.
    pub fn add_public_trades(&self, trades: impl IntoIterator<Item = serde_json::Value>) {
        lock(&self.shared).data_api.trades.extend(trades);
    }

    /// Sets the Data API's `/holders` answer for a market: one `{"token", "holders": [...]}`
    /// entry per token, as raw JSON.
    pub fn set_holders(&self, condition_id: &str, entries: Vec<serde_json::Value>) {
        lock(&self.shared).data_api.holders.insert(condition_id.to_ascii_lowercase(), entries);
    }

    /// Every HTTP request so far (websocket upgrades included), in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// The L1 headers of every `/auth/*` request so far.
    #[must_use]
    pub fn l1_headers(&self) -> Vec<L1Headers> {
        let get = |r: &Recorded, k: &str| r.headers.get(k).cloned().unwrap_or_default();
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/auth/"))
            .map(|r| L1Headers {
                path: r.path.clone(),
                address: get(r, "POLY_ADDRESS"),
                signature: get(r, "POLY_SIGNATURE"),
                timestamp: get(r, "POLY_TIMESTAMP"),
                nonce: get(r, "POLY_NONCE"),
            })
            .collect()
    }

    /// The account's orders (every type and status), oldest first.
    #[must_use]
    pub fn orders(&self) -> Vec<MockOrder> {
        lock(&self.shared)
            .orders
            .iter()
            .map(|o| MockOrder {
                id: o.id.clone(),
                market: o.market.clone(),
                asset_id: o.token.clone(),
                side: o.side,
                price: o.price,
                original_size: o.original_size,
                size_matched: o.size_matched,
                status: o.status,
                order_type: o.order_type.clone(),
                post_only: o.post_only,
            })
            .collect()
    }

    /// The account's trades, oldest first.
    #[must_use]
    pub fn trades(&self) -> Vec<MockTrade> {
        lock(&self.shared)
            .trades
            .iter()
            .map(|t| MockTrade {
                id: t.id.clone(),
                order_id: t.order_id.clone(),
                market: t.market.clone(),
                asset_id: t.token.clone(),
                side: t.side,
                size: t.size,
                price: t.price,
                fee: t.fee,
                status: t.status,
                taker: t.taker,
                transaction_hash: t.tx_hash.clone(),
            })
            .collect()
    }

    /// Advances every `MATCHED` trade to `MINED` then `CONFIRMED` (or to `FAILED` when marked by
    /// [`Faults::fail_next_trade`]), with a user-channel `trade` event per status.
    pub fn settle_trades(&self) {
        lock(&self.shared).settle_trades();
    }

    /// Open market-channel sockets subscribed to `token` (to wait for a subscription).
    #[must_use]
    pub fn market_subscribers(&self, token: &str) -> usize {
        let st = lock(&self.shared);
        st.subscribers
            .iter()
            .filter(|s| matches!(&s.channel, state::Channel::Market(assets) if assets.contains(token)))
            .count()
    }

    /// Open user-channel sockets that authenticated (to wait for a subscription).
    #[must_use]
    pub fn user_subscribers(&self) -> usize {
        let st = lock(&self.shared);
        st.subscribers
            .iter()
            .filter(|s| matches!(s.channel, state::Channel::User { authed: true, .. }))
            .count()
    }

    /// How long the exchange waits for a heartbeat before it cancels every resting order of the
    /// account (default 10 s). The deadline runs from the first accepted heartbeat.
    pub fn set_heartbeat_window(&self, window: Duration) {
        lock(&self.shared).heartbeat.window = window;
    }

    /// The order protocol version the exchange serves at `GET /version` and takes in order
    /// bodies (default 2). An order built for another answers `400 order_version_mismatch`.
    pub fn set_version(&self, version: u32) {
        lock(&self.shared).version = version;
    }

    /// Tokens one market-channel connection carries (default 500, about what Polymarket
    /// takes); tokens subscribed past it get no snapshot and no updates, and no error.
    pub fn set_ws_token_cap(&self, cap: usize) {
        lock(&self.shared).ws_token_cap = cap;
    }

    /// Enforces a rate class as the exchange does: requests to these exact paths share `max`
    /// per sliding `window`; past it they get `429 Too Many Requests`.
    pub fn set_rate_class(&self, paths: &[&str], max: usize, window: Duration) {
        lock(&self.shared).faults.rates.push(crate::state::RateClass {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            max,
            window,
            seen: std::collections::VecDeque::new(),
        });
    }

    /// Requests a rate class refused (injected faults not counted).
    #[must_use]
    pub fn throttled(&self) -> usize {
        lock(&self.shared).faults.throttled
    }

    /// Times the account's resting orders were cancelled because heartbeats stopped.
    #[must_use]
    pub fn heartbeat_lapses(&self) -> u32 {
        lock(&self.shared).heartbeat.lapses
    }

    /// Fault injection.
    #[must_use]
    pub fn faults(&self) -> Faults {
        Faults { shared: self.shared.clone() }
    }
}

impl Drop for MockPolymarket {
    fn drop(&mut self) {
        self.server.abort();
        let mut st = lock(&self.shared);
        for sub in st.subscribers.drain(..) {
            let _ = sub.tx.send(Out::Close);
        }
    }
}

/// Fault injection and counterparty actions for one [`MockPolymarket`].
#[derive(Debug, Clone)]
pub struct Faults {
    shared: Shared,
}

impl Faults {
    /// The next `count` requests whose path starts with `path_prefix` get `status` with body
    /// `{"error": error}` (e.g. 429 `Too Many Requests`, 425, 500, 503).
    pub fn fail_next(&self, path_prefix: &str, status: u16, error: &str, count: usize) {
        let rule = FailRule { remaining: count, ..FailRule::on(path_prefix, status, error) };
        lock(&self.shared).faults.fail.push(rule);
    }

    /// Every request whose path starts with `path_prefix` gets `status` with body
    /// `{"error": error}` for the next `duration` (a burst of 429s, an outage of a few seconds).
    pub fn fail_for(&self, path_prefix: &str, status: u16, error: &str, duration: Duration) {
        let until = Some(std::time::Instant::now() + duration);
        let rule = FailRule { remaining: usize::MAX, until, ..FailRule::on(path_prefix, status, error) };
        lock(&self.shared).faults.fail.push(rule);
    }

    /// Requests to exactly `path` pass `skip` times, then the next `count` get `status` with
    /// body `{"error": error}` (e.g. the third page of a listing fails).
    pub fn fail_path_after(&self, path: &str, skip: usize, status: u16, error: &str, count: usize) {
        let rule = FailRule { exact: true, skip, remaining: count, ..FailRule::on(path, status, error) };
        lock(&self.shared).faults.fail.push(rule);
    }

    /// Serves every `/data/trades` item with `field` set to `value` (a malformed payload: a
    /// price of `"1e20"`, a negative size); `None` serves them as they are again.
    pub fn override_trades(&self, field: &str, value: Option<serde_json::Value>) {
        let mut st = lock(&self.shared);
        st.faults.trade_overrides.retain(|(f, _)| f != field);
        if let Some(value) = value {
            st.faults.trade_overrides.push((field.to_owned(), value));
        }
    }

    /// Carries out every request whose path starts with `path_prefix` at once but holds its
    /// answer back for `delay` (a zero duration removes it): an order filled at the venue whose
    /// answer the client may time out on.
    pub fn delay_answer(&self, path_prefix: &str, delay: Duration) {
        let mut st = lock(&self.shared);
        st.faults.answer_delay.retain(|(p, _)| p != path_prefix);
        if !delay.is_zero() {
            st.faults.answer_delay.push((path_prefix.to_owned(), delay));
        }
    }

    /// Delays every response whose path starts with `path_prefix` (a zero duration removes the
    /// delay).
    pub fn delay(&self, path_prefix: &str, delay: Duration) {
        let mut st = lock(&self.shared);
        st.faults.delay.retain(|(p, _)| p != path_prefix);
        if !delay.is_zero() {
            st.faults.delay.push((path_prefix.to_owned(), delay));
        }
    }

    /// The next trade the account makes goes `MATCHED` then `FAILED` at
    /// [`MockPolymarket::settle_trades`].
    pub fn fail_next_trade(&self) {
        lock(&self.shared).faults.fail_trades += 1;
    }

    /// The exchange moves the heartbeat chain on without telling the client: the id the client
    /// holds is stale, and its next heartbeat gets a 400 carrying the id to use.
    pub fn expire_heartbeat_id(&self) {
        let mut st = lock(&self.shared);
        let id = st.uuid();
        st.heartbeat.id = Some(id);
    }

    /// As [`Faults::expire_heartbeat_id`], and the id the stale answer gives is stale too by the
    /// time the client resends with it: the chain moved on while the answer travelled.
    pub fn expire_heartbeat_id_twice(&self) {
        self.expire_heartbeat_id();
        lock(&self.shared).heartbeat.move_after_stale = 1;
    }

    /// Closes every open websocket (market and user).
    pub fn drop_ws_connections(&self) {
        let mut st = lock(&self.shared);
        for sub in st.subscribers.drain(..) {
            let _ = sub.tx.send(Out::Close);
        }
    }

    /// The next `n` published market-channel messages are not sent (a gap). Subscription
    /// snapshots are never skipped.
    pub fn skip_ws_messages(&self, n: usize) {
        lock(&self.shared).faults.skip_ws += n;
    }

    /// Every published market-channel message is sent twice while on.
    pub fn duplicate_ws_messages(&self, on: bool) {
        lock(&self.shared).faults.duplicate_ws = on;
    }

    /// A counterparty takes `shares` of the account's resting order at its price: a `MAKER`
    /// trade, an order `UPDATE` event, and book events.
    ///
    /// # Errors
    ///
    /// When the order is unknown, not live, or has fewer than `shares` left.
    pub fn take_resting(&self, order_id: &str, shares: Decimal) -> Result<(), String> {
        lock(&self.shared).take_resting(order_id, shares)
    }
}
