//! Polymarket CLOB V2 behind the `Exchange` trait: Gamma listing with paging, REST books, the
//! market websocket, and (with keys) SDK-signed orders posted with our own L2-signed requests,
//! cancels, open orders, trades to settlement, balance and heartbeats. Without keys it is the
//! read-only data source of paper trading.

use super::clob::parse_book_meta;
use super::feed::{FeedStats, FeedTimings, MarketFeed, Snapshots};
pub use super::health::Health;
use super::http::{Call, Http, L2Credentials, RateLimits, Request, RetryPolicy, Route};
use super::signer::{OrderSigner, SignerConfig, WalletType};
use super::trading::{UserEvent, parse_balance, parse_cancel, parse_open_orders, parse_posted};
use super::user::UserFeed;
use super::venue_clock;
use crate::exchange::book::{OrderBook, Side};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::types::{
    Balance, Market, MarketEvent, OpenOrder, OrderAck, OrderKind, OrderRequest, OrderStatus, TokenId,
    TradeReport,
};
use crate::exchange::venue::{BoxFuture, Exchange};
use reqwest::Method;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

mod markets;

/// The exchange's answer to an order signed for another protocol version than its own.
const VERSION_MISMATCH: &str = "order_version_mismatch";

/// Where Polymarket is and how to talk to it.
#[derive(Debug, Clone)]
pub struct PolymarketConfig {
    pub clob_url: String,
    pub gamma_url: String,
    pub ws_url: String,
    pub chain_id: u64,
    pub wallet: WalletType,
    pub funder: Option<String>,
    pub limits: RateLimits,
    pub retry: RetryPolicy,
    pub feed: FeedTimings,
    /// Heartbeat period; zero turns heartbeats off. Without them the exchange cancels resting
    /// orders after about ten seconds.
    pub heartbeat: Duration,
    /// Most markets one listing returns (pages of `page_size`).
    pub max_markets: usize,
    pub page_size: usize,
    /// Most tokens the market feed subscribes to from listings (books asked for are always added).
    pub watch_limit: usize,
    /// Most tokens one market-feed connection carries; more open more connections (the
    /// exchange silently ignores tokens past about 500 on one).
    pub tokens_per_connection: usize,
}

impl PolymarketConfig {
    /// Polymarket's production hosts and documented limits.
    #[must_use]
    pub fn production() -> Self {
        Self {
            clob_url: "https://clob.polymarket.com".into(),
            gamma_url: "https://gamma-api.polymarket.com".into(),
            ws_url: "wss://ws-subscriptions-clob.polymarket.com".into(),
            chain_id: 137,
            wallet: WalletType::Eoa,
            funder: None,
            limits: RateLimits::default(),
            retry: RetryPolicy::default(),
            feed: FeedTimings::default(),
            heartbeat: Duration::from_secs(5),
            max_markets: 5_000,
            page_size: 500,
            watch_limit: 1_000,
            tokens_per_connection: 200,
        }
    }

    /// Every host at one root (the mock server in tests).
    #[must_use]
    pub fn at(http_root: &str, ws_root: &str) -> Self {
        Self {
            clob_url: http_root.into(),
            gamma_url: http_root.into(),
            ws_url: ws_root.into(),
            ..Self::production()
        }
    }
}

/// The public REST side, shared with the market feed for snapshots.
#[derive(Debug)]
struct Rest {
    http: Http,
    clob: String,
    /// Tick size and neg-risk by token, from listings and books.
    meta: Mutex<HashMap<TokenId, (Decimal, bool)>>,
}

impl Rest {
    async fn book(&self, token: &str) -> Result<OrderBook> {
        let query = [("token_id", token.to_owned())];
        let body = self.http.send(&Request::get(&self.clob, "/book", &query, Route::Book), None).await?;
        let (_, book, _, meta) =
            parse_book_meta(&body).map_err(|e| ExchangeError::Malformed { reason: e.to_string() })?;
        if let Some(tick) = meta.tick_size {
            let mut known = self.meta.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let neg_risk = meta.neg_risk.or_else(|| known.get(token).map(|m| m.1)).unwrap_or(false);
            known.insert(token.to_owned(), (tick, neg_risk));
        }
        Ok(book)
    }
}

impl Snapshots for Rest {
    fn snapshot(&self, token: TokenId) -> BoxFuture<'_, Result<OrderBook>> {
        Box::pin(async move { self.book(&token).await })
    }

    fn tick_size_changed(&self, token: &str, tick_size: Decimal) {
        let mut known = self.meta.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let neg_risk = known.get(token).is_some_and(|m| m.1);
        known.insert(token.to_owned(), (tick_size, neg_risk));
    }
}

/// The trading side: present when the bot has keys.
#[derive(Debug)]
struct Trading {
    signer: OrderSigner,
    signature_type: u8,
    user_events: broadcast::Sender<UserEvent>,
    user_feed: UserFeed,
}

struct Shared {
    config: PolymarketConfig,
    rest: Arc<Rest>,
    events: broadcast::Sender<MarketEvent>,
    feed: MarketFeed,
    trading: Option<Trading>,
    markets: Mutex<HashMap<TokenId, Market>>,
    /// The tokens followed: `markets`, the tick sizes and the feed keep only these.
    interest: Mutex<super::interest::Interest>,
    /// Answers by client id, so a repeated placement returns the first answer.
    placed: Mutex<super::placed::Placed>,
    health: Mutex<Health>,
    /// The venue's clock minus this machine's, ms (see `venue_clock`).
    clock_offset: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Polymarket as a venue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveExchange {
    shared: Arc<Shared>,
    heartbeat: Option<Arc<AbortOnDrop>>,
    /// Measures the venue's clock again every so often.
    clock: Option<Arc<AbortOnDrop>>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveExchange {
    /// Public data only (paper trading's source): listings, books and the market feed.
    ///
    /// # Errors
    /// When the HTTP client cannot start.
    pub fn public(config: PolymarketConfig) -> Result<Self> {
        Self::build(config, None)
    }

    /// Signs in with the key (creating or deriving API credentials unless configured) and
    /// starts heartbeats.
    ///
    /// # Errors
    /// A bad key, funder or wallet setting, or credentials the exchange refuses.
    pub async fn connect(config: PolymarketConfig, signer: SignerConfig) -> Result<Self> {
        let wallet = signer.wallet;
        let signer = OrderSigner::connect(signer).await?;
        let user_events = broadcast::channel(4_096).0;
        let user_feed =
            UserFeed::spawn(&config.ws_url, config.feed, signer.credentials().clone(), user_events.clone());
        let trading = Trading { signer, signature_type: wallet as u8, user_events, user_feed };
        let mut exchange = Self::build(config, Some(trading))?;
        if !exchange.shared.config.heartbeat.is_zero() {
            let shared = exchange.shared.clone();
            exchange.heartbeat = Some(Arc::new(AbortOnDrop(tokio::spawn(heartbeats(shared)))));
        }
        // Trades are stamped on the venue's clock: measured now, before any reconciliation, and
        // again every so often (soon, while it could not be measured).
        let (rest, offset) = (&exchange.shared.rest, &exchange.shared.clock_offset);
        let measured = venue_clock::measure(&rest.http, &rest.clob, offset).await;
        if let Err(e) = &measured {
            tracing::warn!(error = %e, "reading the venue's clock; trying again shortly");
        }
        let shared = exchange.shared.clone();
        exchange.clock = Some(Arc::new(AbortOnDrop(tokio::spawn(async move {
            if measured.is_ok() {
                tokio::time::sleep(venue_clock::EVERY).await;
            }
            venue_clock::keep_measuring(&shared.rest.http, &shared.rest.clob, &shared.clock_offset).await;
        }))));
        Ok(exchange)
    }

    fn build(config: PolymarketConfig, trading: Option<Trading>) -> Result<Self> {
        let rest = Arc::new(Rest {
            http: Http::new(&config.limits, config.retry)?,
            clob: config.clob_url.clone(),
            meta: Mutex::new(HashMap::new()),
        });
        let events = broadcast::channel(16_384).0;
        let feed = MarketFeed::spawn(
            &config.ws_url,
            config.feed,
            config.tokens_per_connection,
            events.clone(),
            rest.clone(),
        );
        let shared = Shared {
            config,
            rest,
            events,
            feed,
            trading,
            markets: Mutex::new(HashMap::new()),
            interest: Mutex::new(super::interest::Interest::default()),
            placed: Mutex::new(super::placed::Placed::default()),
            health: Mutex::new(Health::default()),
            clock_offset: std::sync::atomic::AtomicI64::new(venue_clock::UNKNOWN),
        };
        Ok(Self { shared: Arc::new(shared), heartbeat: None, clock: None })
    }

    /// How the link is doing.
    #[must_use]
    pub fn health(&self) -> Health {
        let mut health = lock(&self.shared.health).clone();
        let stats: &FeedStats = self.shared.feed.stats();
        let links = stats.links.load(Ordering::Relaxed);
        health.feed_connected = links > 0 && stats.connected.load(Ordering::Relaxed) == links;
        health.feed_links = links;
        health.feed_connects = stats.connects.load(Ordering::Relaxed);
        health.feed_gaps = stats.gaps.load(Ordering::Relaxed);
        health.feed_snapshots = stats.snapshots.load(Ordering::Relaxed);
        health.feed_duplicates = stats.duplicates.load(Ordering::Relaxed);
        health.user_connects = self.shared.trading.as_ref().map_or(0, |t| t.user_feed.connects());
        health.feed_tokens = self.shared.feed.watched() as u64;
        health.known_tokens = lock(&self.shared.interest).len() as u64;
        health
    }

    /// The bot's order changes and trades as the user channel reports them (live with keys only;
    /// a read-only venue's receiver is closed). After `UserEvent::Reconnected`, reconcile.
    #[must_use]
    pub fn user_events(&self) -> broadcast::Receiver<UserEvent> {
        match &self.shared.trading {
            Some(t) => t.user_events.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    fn trading(&self) -> Result<&Trading> {
        self.shared.trading.as_ref().ok_or_else(|| ExchangeError::Rejected {
            reason: "no trading keys: this Polymarket connection is read-only".into(),
        })
    }

    fn creds(&self) -> Result<&L2Credentials> {
        Ok(self.trading()?.signer.credentials())
    }

    async fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
        route: Route,
        call: Call,
    ) -> Result<String> {
        let creds = self.creds()?;
        let request = Request { method, base: &self.shared.config.clob_url, path, query, body, route, call };
        self.shared.rest.http.send(&request, Some(creds)).await
    }

    async fn place_now(&self, order: OrderRequest) -> Result<OrderAck> {
        if let Some(ack) = lock(&self.shared.placed).get(&order.client_id) {
            return Ok(ack.clone());
        }
        let trading = self.trading()?;
        // Priced and recorded at its market's fee schedule, never at none for want of it.
        self.know_markets(std::slice::from_ref(&order.token)).await?;
        let fee = lock(&self.shared.markets).get(&order.token).map(|m| m.fee).unwrap_or_default();
        let (mut body, mut priced_from) = self.order_body(trading, &order, fee).await?;
        let mut sent_ms = crate::clock::unix_now_ms();
        // Before the request leaves: the line is on record even if the process dies mid-send.
        tracing::info!(client_id = %order.client_id, token = %order.token, side = ?order.side, "order sent");
        let mut answer = self.post_order(body).await;
        if let Err(ExchangeError::Rejected { reason }) = &answer
            && reason.contains(VERSION_MISMATCH)
        {
            // The exchange moved to another protocol version and placed nothing: read the
            // version again, build and sign the order for it, and send it once more.
            tracing::warn!(client_id = %order.client_id, "order_version_mismatch: re-signing the order for the exchange's version");
            trading.signer.refresh_version().await?;
            (body, priced_from) = self.order_body(trading, &order, fee).await?;
            sent_ms = crate::clock::unix_now_ms();
            answer = self.post_order(body).await;
        }
        let answer = answer?;
        let posted = parse_posted(&answer)?;
        // A buy gives pUSD and takes shares; a sell the other way round.
        let (filled_shares, notional) = match order.side {
            Side::Buy => (posted.taking, posted.making),
            Side::Sell => (posted.making, posted.taking),
        };
        let fee = match priced_from {
            _ if filled_shares.is_zero() => Some(Decimal::ZERO),
            // A market order took liquidity: its fee is the sum over the trades it made, each at
            // its own price, as the exchange charges it.
            Some(_) => self.fee_of_order(&posted.order_id, sent_ms, filled_shares).await,
            None => Some(fee_at_average(fee, filled_shares, notional)),
        };
        let ack = match fee {
            Some(fee) => OrderAck {
                order_id: posted.order_id,
                status: posted.status,
                filled_shares,
                notional,
                fee,
                trade_ids: posted.trade_ids,
            },
            // Filled, but the trade list does not answer (or not all of it yet), so what it was
            // charged is not known: no estimate goes into the ledger. Like a delayed order, its
            // fills are reconciled by its id from the venue's trades, fees included.
            None if !posted.order_id.is_empty() => {
                tracing::warn!(
                    client_id = %order.client_id,
                    order_id = %posted.order_id,
                    "order filled, its trades not readable yet: reconciled by its id"
                );
                OrderAck {
                    order_id: posted.order_id,
                    status: OrderStatus::Delayed,
                    filled_shares: Decimal::ZERO,
                    notional: Decimal::ZERO,
                    fee: Decimal::ZERO,
                    trade_ids: Vec::new(),
                }
            }
            None => {
                return Err(ExchangeError::OutcomeUnknown {
                    reason: "order filled without an id and its trades not readable".into(),
                });
            }
        };
        tracing::info!(
            client_id = %order.client_id,
            order_id = %ack.order_id,
            status = ?ack.status,
            filled = %ack.filled_shares,
            trades = ack.trade_ids.len(),
            "order answered"
        );
        if ack.status != OrderStatus::Delayed {
            lock(&self.shared.placed).remember(order.client_id, ack.clone());
        }
        Ok(ack)
    }

    /// An order's signed `POST /order` body, and for a market order the book it was priced from.
    async fn order_body(
        &self,
        trading: &Trading,
        order: &OrderRequest,
        fee: crate::exchange::book::TakerFee,
    ) -> Result<(String, Option<OrderBook>)> {
        Ok(match order.kind {
            OrderKind::Market { amount, policy } => {
                // Priced from a fresh book by our own walk, which also refuses a FOK the book
                // cannot fill before anything is signed.
                let book = self.shared.rest.book(&order.token).await?;
                self.note_token(trading, &order.token)?;
                let fill = book
                    .walk(order.side, amount, policy, fee)
                    .map_err(|e| ExchangeError::Rejected { reason: e.to_string() })?;
                let body =
                    trading.signer.market(&order.token, order.side, amount, policy, fill.worst_price).await?;
                (body, Some(book))
            }
            OrderKind::Limit { price, shares, post_only } => {
                // A book only when the token's tick size is not known yet (its response has it).
                if self.note_token(trading, &order.token).is_err() {
                    self.shared.rest.book(&order.token).await?;
                    self.note_token(trading, &order.token)?;
                }
                (trading.signer.limit(&order.token, order.side, price, shares, post_only).await?, None)
            }
        })
    }

    async fn post_order(&self, body: String) -> Result<String> {
        self.signed(Method::POST, "/order", &[], Some(body), Route::PostOrder, Call::Place).await
    }

    /// Tells the signer a token's tick size and neg-risk flag, from listings and books seen.
    fn note_token(&self, trading: &Trading, token: &str) -> Result<()> {
        let (tick, neg_risk) = lock(&self.shared.rest.meta)
            .get(token)
            .copied()
            .ok_or_else(|| ExchangeError::NotFound(format!("token {token} (no tick size known)")))?;
        trading.signer.note_token(token, tick, neg_risk)
    }

    async fn open_orders_now(&self) -> Result<Vec<OpenOrder>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query: Vec<(&str, String)> = cursor.iter().map(|c| ("next_cursor", c.clone())).collect();
            let body =
                self.signed(Method::GET, "/data/orders", &query, None, Route::DataOrders, Call::Read).await?;
            let (page, next) = parse_open_orders(&body)?;
            all.extend(page);
            match next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }
}

/// The fee of `shares` bought or sold for `notional` at the market's schedule, priced at the
/// average.
fn fee_at_average(fee: crate::exchange::book::TakerFee, shares: Decimal, notional: Decimal) -> Decimal {
    if shares.is_zero() { Decimal::ZERO } else { fee.on(shares, notional / shares) }
}

/// Posts heartbeats at the configured interval for as long as the venue lives.
async fn heartbeats(shared: Arc<Shared>) {
    let Some(trading) = &shared.trading else { return };
    let mut tick = tokio::time::interval(shared.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut chain = super::heartbeat::Chain::default();
    loop {
        tick.tick().await;
        chain
            .beat(&shared.rest.http, &shared.config.clob_url, trading.signer.credentials(), &shared.health)
            .await;
    }
}

impl Exchange for LiveExchange {
    fn name(&self) -> &'static str {
        if self.shared.trading.is_some() { "live" } else { "polymarket-data" }
    }

    fn markets(&self) -> BoxFuture<'_, Result<Vec<Arc<Market>>>> {
        Box::pin(async move { Ok(self.list().await?.into_iter().map(Arc::new).collect()) })
    }

    fn clock_offset_ms(&self) -> Option<i64> {
        venue_clock::known(&self.shared.clock_offset)
    }

    fn book<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<OrderBook>> {
        Box::pin(async move {
            let token = token.to_owned();
            lock(&self.shared.interest).mark([&token]);
            let book = self.shared.rest.book(&token).await?;
            self.shared.feed.watch([token]);
            Ok(book)
        })
    }

    fn events(&self) -> broadcast::Receiver<MarketEvent> {
        self.shared.events.subscribe()
    }

    fn place(&self, order: OrderRequest) -> BoxFuture<'_, Result<OrderAck>> {
        Box::pin(self.place_now(order))
    }

    fn cancel<'a>(&'a self, order_id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body = serde_json::json!({ "orderID": order_id }).to_string();
            let answer =
                self.signed(Method::DELETE, "/order", &[], Some(body), Route::Cancel, Call::Cancel).await?;
            parse_cancel(&answer, order_id)
        })
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<OpenOrder>>> {
        Box::pin(self.open_orders_now())
    }

    fn trades(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<TradeReport>>> {
        Box::pin(self.trades_now(since_ms))
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        Box::pin(async move {
            let signature_type = self.trading()?.signature_type;
            let query =
                [("asset_type", "COLLATERAL".to_owned()), ("signature_type", signature_type.to_string())];
            // The exchange answers balance reads from a cache: have it read the chain again
            // first, or a deposit or an approval made since would not show.
            self.signed(
                Method::GET,
                "/balance-allowance/update",
                &query,
                None,
                Route::BalanceAllowance,
                Call::Read,
            )
            .await?;
            let body = self
                .signed(Method::GET, "/balance-allowance", &query, None, Route::BalanceAllowance, Call::Read)
                .await?;
            parse_balance(&body)
        })
    }

    fn listing_notes(&self) -> crate::exchange::ListingNotes {
        let health = lock(&self.shared.health);
        crate::exchange::ListingNotes {
            protocol_v2: health.listing_protocol_v2,
            failed_pages: health.listing_bad_pages,
        }
    }

    fn watch(&self, tokens: &[TokenId]) {
        lock(&self.shared.interest).mark(tokens);
        self.shared.feed.watch(tokens.iter().cloned());
    }
}
