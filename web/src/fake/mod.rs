//! A backend for the web layer's own tests: in-memory state, hostile text in every string a
//! market, news source, whale tracker or plugin controls, and a record of the actions it was
//! asked for.

use crate::backend::{Backend, BackendError, BackendResult, FieldError};
use crate::model::*;
use rust_decimal::Decimal;
use std::str::FromStr as _;
use std::sync::Mutex;
use tokio::sync::broadcast;

pub(crate) mod lab;

/// Text that must render inert.
pub(crate) const HOSTILE: &str = "<script>alert(1)</script>";

pub(crate) fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn leg(side: Side, entry: &str, held: &str, bid: &str) -> LegView {
    LegView {
        side,
        outcome: side.label().to_owned(),
        token: format!("tok-{}", side.label()),
        entry_price: Some(dec(entry)),
        cost: dec("500"),
        bought: dec(held),
        held: dec(held),
        best_bid: Some(dec(bid)),
        best_ask: Some(dec(bid) + dec("0.01")),
        realised_pnl: Decimal::ZERO,
        unrealised_pnl: dec("-1.5"),
        fees: Decimal::ZERO,
        exit: None,
    }
}

pub(crate) fn position(id: u64, question: &str, open: bool) -> PositionView {
    PositionView {
        id,
        market_id: format!("0xmarket{id}"),
        question: question.to_owned(),
        status: if open { "active" } else { "closed" }.to_owned(),
        open,
        opened_at_ms: 1_700_000_000_000,
        closed_at_ms: (!open).then_some(1_700_000_360_000),
        capital: dec("1000"),
        legs: [leg(Side::Yes, "0.40", "1250", "0.39"), leg(Side::No, "0.62", "806.45", "0.60")],
        liquidated: None,
        close_reason: (!open).then(|| "manual close".to_owned()),
        score: Some(7.5),
        scorer: Some("default-scorer@0.2.0#0123456789ab".into()),
        realised_pnl: if open { Decimal::ZERO } else { dec("12.34") },
        unrealised_pnl: if open { dec("-3") } else { Decimal::ZERO },
        pnl: if open { dec("-3") } else { dec("12.34") },
        fees: Decimal::ZERO,
    }
}

pub(crate) fn trade(id: u64, position_id: u64) -> TradeView {
    TradeView {
        id,
        position_id,
        market_id: format!("0xmarket{position_id}"),
        question: HOSTILE.to_owned(),
        at_ms: 1_700_000_000_000 + i64::try_from(id).unwrap() * 1000,
        side: Side::Yes,
        action: "buy".into(),
        purpose: "entry".into(),
        price: dec("0.4"),
        shares: dec("1250"),
        notional: dec("500"),
        fee: dec("0.1"),
        status: "confirmed".into(),
        tx_hash: None,
        reason: "a \"quoted\", reason".into(),
        decided_by: Some("default-scorer@0.2.0#0123456789ab".into()),
    }
}

fn opportunity(market: &str, score: f32) -> OpportunityView {
    OpportunityView {
        market_id: market.to_owned(),
        question: format!("{HOSTILE} {market}"),
        category: "politics".into(),
        score,
        factors: vec![
            FactorView { name: "spread".into(), value: 0.8, weight: Some(2.0) },
            FactorView { name: "depth".into(), value: 0.5, weight: None },
        ],
        yes_ask: Some(dec("0.41")),
        no_ask: Some(dec("0.60")),
        liquidity: dec("5000"),
        volume_24h: dec("1200"),
        end_ms: Some(1_800_000_000_000),
        detected_at_ms: 1_700_000_000_000,
        scorer: "scorer@0.1.0".into(),
        held: false,
    }
}

/// What the fake was asked to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    Settings(serde_json::Map<String, serde_json::Value>),
    Wallet,
    Doctor(bool),
    Scan,
    Enter(String, Option<Decimal>),
    Close(u64),
    Redeem(String),
    Params(String, String, Vec<(String, f64)>),
    NotifyEvents(String, Vec<String>),
    Shadow(String, ShadowAction),
    ShadowUpload(String),
}

pub(crate) struct Fake {
    pub calls: Mutex<Vec<Call>>,
    pub events: broadcast::Sender<LiveEvent>,
    pub stop_loss: Mutex<f64>,
    /// Trades `for_each_trade` hands out.
    pub trade_count: u64,
    /// What `news_sources` answers: by default a healthy feed and a failing JSON API.
    pub news_sources: Vec<NewsSourceView>,
    /// What `whale_tracker` answers: by default a tracker failing since its last success.
    pub whale_tracker: Option<WhaleTrackerView>,
    /// What `chain` answers: by default a wallet with one market due and two transactions.
    pub chain: Option<ChainView>,
    /// The background loops: by default all running, the scanner restarted once.
    pub loops: Vec<LoopView>,
    /// Why the safety net is down (`unhealthy`); by default it is up.
    pub down: Option<String>,
    /// When set, `trades` says it started, then blocks until the receiver hears, 30 s at most
    /// (a slow search).
    pub slow_trades: Option<(std::sync::mpsc::Sender<()>, Mutex<std::sync::mpsc::Receiver<()>>)>,
    /// The notification channels' events: by default a Telegram channel told entries and errors.
    pub notify: Mutex<Vec<NotifyEventsView>>,
    /// The lab: by default one with a run, a comparison and a sweep.
    pub lab: Option<std::sync::Arc<lab::FakeLab>>,
}

/// The events a channel may be told, as the host names them.
pub(crate) const NOTIFY_EVENTS: [(&str, &str); 4] = [
    ("entry", "Entries"),
    ("liquidation", "Liquidations"),
    ("error", "Errors"),
    ("daily_summary", "Daily summary"),
];

fn notify_channel(name: &str, on: &[&str]) -> NotifyEventsView {
    NotifyEventsView {
        name: name.into(),
        kind: "telegram".into(),
        events: NOTIFY_EVENTS
            .iter()
            .map(|(event, label)| NotifyEventChoice {
                event: (*event).into(),
                label: (*label).into(),
                on: on.contains(event),
            })
            .collect(),
    }
}

/// Loops all running; the scanner failed once with hostile text in its panic.
pub(crate) fn loops() -> Vec<LoopView> {
    let up = |name: &str, safety_net| LoopView {
        name: name.into(),
        safety_net,
        running: true,
        ..LoopView::default()
    };
    let mut scan = up("scan", false);
    scan.restarts = 1;
    scan.last_failure = Some(format!("panicked: {HOSTILE}"));
    scan.last_failure_ms = Some(1_700_000_000_000);
    vec![up("feed", true), up("sweep", true), scan, up("plugins", false)]
}

/// The condition id of the market [`chain`] has due for redemption.
pub(crate) const DUE: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

/// A wallet on chain low on gas, with one market due and a confirmed and a reverted redemption.
pub(crate) fn chain() -> ChainView {
    let tx = |hash: char, status: &str, block| ChainTxView {
        hash: format!("0x{}", hash.to_string().repeat(64)),
        kind: "redeem".into(),
        what: format!("redeem {HOSTILE}"),
        condition_id: Some(DUE.into()),
        nonce: 7,
        status: status.into(),
        block,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_060_000,
    };
    ChainView {
        address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".into(),
        balances: Some(ChainBalancesView { pusd: dec("1234.5"), pol: dec("0.012") }),
        balances_error: None,
        low_gas: true,
        auto_redeem: true,
        due: vec![RedemptionView {
            condition_id: DUE.into(),
            question: HOSTILE.into(),
            neg_risk: false,
            payout: dec("150.25"),
        }],
        transactions: vec![tx('a', "confirmed", Some(42)), tx('b', "reverted", Some(41))],
    }
}

/// A tracker whose last poll went well, paging capped in one request group.
pub(crate) fn healthy_tracker() -> WhaleTrackerView {
    WhaleTrackerView {
        data_url: "https://data-api.test".into(),
        interval_secs: 600,
        last_poll_ms: Some(1_700_000_000_000),
        last_poll_duration_ms: Some(2_500),
        last_success_ms: Some(1_700_000_000_000),
        idle: false,
        markets: 52,
        trades_received: 140,
        trades_new: 37,
        skipped: 1,
        holders: 18,
        pages: 12,
        capped: 1,
        failed_requests: 0,
        failures: 0,
        last_error: None,
        next_poll_ms: Some(1_700_000_600_000),
    }
}

/// The tracker failing twice in a row since that success, its error carrying hostile text.
pub(crate) fn failing_tracker() -> WhaleTrackerView {
    WhaleTrackerView {
        last_poll_ms: Some(1_700_001_200_000),
        last_poll_duration_ms: Some(310),
        trades_received: 0,
        trades_new: 0,
        skipped: 0,
        holders: 0,
        pages: 0,
        capped: 0,
        failed_requests: 4,
        failures: 2,
        last_error: Some(format!("Data API /holders: HTTP 403: {HOSTILE}")),
        next_poll_ms: Some(1_700_001_800_000),
        ..healthy_tracker()
    }
}

/// A healthy feed, and a JSON API backing off after failures whose error carries hostile text.
pub(crate) fn news_sources() -> Vec<NewsSourceView> {
    vec![
        NewsSourceView {
            kind: "feed".into(),
            url: "https://news.test/rss.xml".into(),
            last_attempt_ms: Some(1_700_000_000_000),
            last_success_ms: Some(1_700_000_000_000),
            last_items: 12,
            last_new: 3,
            not_modified: false,
            failures: 0,
            last_error: None,
            retry_at_ms: None,
        },
        NewsSourceView {
            kind: "json-api".into(),
            url: "https://api.test/v2/top?apiKey=[redacted]".into(),
            last_attempt_ms: Some(1_700_000_000_000),
            last_success_ms: None,
            last_items: 0,
            last_new: 0,
            not_modified: false,
            failures: 3,
            last_error: Some(format!("malformed news API answer: {HOSTILE}")),
            retry_at_ms: Some(1_700_000_480_000),
        },
    ]
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            calls: Mutex::default(),
            events: broadcast::channel(64).0,
            stop_loss: Mutex::new(0.0),
            trade_count: 3,
            news_sources: news_sources(),
            whale_tracker: Some(failing_tracker()),
            chain: Some(chain()),
            loops: loops(),
            down: None,
            slow_trades: None,
            notify: Mutex::new(vec![notify_channel("phone", &["entry", "error"])]),
            lab: Some(std::sync::Arc::new(lab::FakeLab::default())),
        }
    }
}

impl Fake {
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Backend for Fake {
    fn venue(&self) -> VenueView {
        VenueView { mode: "sim".into(), open_markets: 300, now_ms: 1_700_000_000_000, cash: "9000".into() }
    }

    fn overview(&self) -> BackendResult<Overview> {
        Ok(Overview {
            total_capital: dec("9997.00"),
            available_capital: dec("9000.00"),
            allocated_capital: dec("1000.00"),
            initial_capital: dec("10000"),
            realised_pnl: dec("12.34"),
            unrealised_pnl: dec("-3"),
            total_pnl: dec("9.34"),
            today_pnl: dec("-3"),
            fees: dec("0.2"),
            active_positions: 1,
            stats: QuickStats {
                closed_positions: 1,
                wins: 1,
                losses: 0,
                win_rate_percent: Some(dec("100")),
                liquidations: 0,
                avg_hold_secs: Some(360),
                best_pnl: Some(dec("12.34")),
                worst_pnl: Some(dec("12.34")),
            },
            health: Health {
                rules: "plugin equilibrage".into(),
                plugins_loaded: 4,
                venue: "sim".into(),
                loops: self.loops.clone(),
                safety_net_down: self.down.clone(),
                ..Health::default()
            },
        })
    }

    fn unhealthy(&self) -> Option<String> {
        self.down.clone()
    }

    fn metrics(&self) -> BackendResult<String> {
        Ok("# HELP equilibrage_open_positions Positions open now.\n\
            # TYPE equilibrage_open_positions gauge\nequilibrage_open_positions 1\n"
            .to_owned())
    }

    fn positions(&self) -> Vec<PositionView> {
        vec![position(1, HOSTILE, true)]
    }

    fn position(&self, id: u64) -> BackendResult<PositionView> {
        match id {
            1 => Ok(position(1, HOSTILE, true)),
            2 => Ok(position(2, "Closed market?", false)),
            _ => Err(BackendError::NotFound(format!("no position {id}"))),
        }
    }

    fn history(&self, filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<HistoryPage> {
        let all = vec![position(2, "Closed market?", false)];
        let positions: Vec<_> = all
            .into_iter()
            .filter(|p| {
                filter.market.as_deref().is_none_or(|m| p.question.to_lowercase().contains(&m.to_lowercase()))
            })
            .collect();
        let total = positions.len();
        let total_pnl = positions.iter().map(|p| p.pnl).sum();
        Ok(HistoryPage {
            positions: positions.into_iter().skip(offset).take(limit).collect(),
            total,
            total_pnl,
            offset,
            limit,
        })
    }

    fn trades(&self, _filter: &HistoryFilter, offset: usize, limit: usize) -> BackendResult<TradeList> {
        if let Some((started, release)) = &self.slow_trades {
            let _ = started.send(());
            // Bounded, so a search that blocks the async worker fails the test instead of hanging it.
            let _ = release.lock().unwrap().recv_timeout(std::time::Duration::from_secs(30));
        }
        let trades = (1..=self.trade_count).rev().map(|id| trade(id, 2)).skip(offset).take(limit).collect();
        Ok(TradeList { trades, complete: true })
    }

    fn for_each_trade(
        &self,
        _filter: &HistoryFilter,
        each: &mut dyn FnMut(&TradeView) -> bool,
    ) -> BackendResult<()> {
        for id in 1..=self.trade_count {
            if !each(&trade(id, 2)) {
                break;
            }
        }
        Ok(())
    }

    fn performance(&self) -> BackendResult<Performance> {
        Ok(Performance {
            initial_capital: dec("10000"),
            equity: vec![(1_700_000_000_000, dec("10000")), (1_700_000_360_000, dec("10012.34"))],
            per_position: vec![(2, 1_700_000_360_000, dec("12.34"))],
            stats: self.overview()?.stats,
            realised_pnl: dec("12.34"),
            open_realised_pnl: dec("-3.5"),
            fees: dec("0.2"),
        })
    }

    fn opportunities(&self, min_score: f32, limit: usize) -> BackendResult<Vec<OpportunityView>> {
        Ok([opportunity("0xa", 8.5), opportunity("0xb", 6.0), opportunity("0xc", 2.0)]
            .into_iter()
            .filter(|o| o.score >= min_score)
            .take(limit)
            .collect())
    }

    fn scans(&self, limit: usize) -> BackendResult<Vec<ScanView>> {
        Ok(vec![ScanView {
            id: 1,
            started_at_ms: 1_700_000_000_000,
            duration_ms: 12,
            listed: 300,
            candidates: 120,
            scored: 120,
            error: None,
            protocol_v2: 3,
            failed_pages: 0,
        }]
        .into_iter()
        .take(limit)
        .collect())
    }

    fn settings(&self) -> SettingsView {
        SettingsView {
            fields: vec![
                SettingField {
                    name: "auto_trading".into(),
                    label: "Auto-trading".into(),
                    help: "Enter positions by itself.".into(),
                    input: FieldInput::Toggle,
                    value: serde_json::Value::Bool(false),
                    unit: String::new(),
                },
                SettingField {
                    name: "stop_loss_percent".into(),
                    label: "Stop loss".into(),
                    help: "0 = off".into(),
                    input: FieldInput::Range { min: 0.0, max: 99.0, step: 1.0 },
                    value: serde_json::json!(self.stop_loss.lock().unwrap().to_string()),
                    unit: "%".into(),
                },
                SettingField {
                    name: "scan_interval_secs".into(),
                    label: "Scan interval".into(),
                    help: "Seconds between scans.".into(),
                    input: FieldInput::Number { min: 10.0, max: Some(86_400.0), step: 1.0 },
                    value: serde_json::json!(300),
                    unit: "s".into(),
                },
            ],
            wallet: WalletView {
                address: Some("0x00000000000000000000000000000000000000aa".into()),
                signature_type: "eoa".into(),
                funder: None,
                key_present: false,
                note: "simulator: no key needed".into(),
            },
        }
    }

    fn plugins(&self) -> Vec<PluginView> {
        vec![PluginView {
            kind: "scorer".into(),
            name: "<b>x</b>".into(),
            version: "1.0.0".into(),
            active: true,
            file: "scorer.wasm".into(),
            sha256: "00".into(),
            loaded_at_ms: 0,
            calls: 3,
            faults: 1,
            errors: 0,
            mean_us: 12,
            last_error: Some(HOSTILE.into()),
            params: vec![ParamView {
                name: "w_spread".into(),
                value: 1.0,
                default: 1.0,
                min: 0.0,
                max: 5.0,
                help: "weight of the spread".into(),
            }],
        }]
    }

    fn shadows(&self) -> Vec<ShadowView> {
        let mut plugin = self.plugins().remove(0);
        (plugin.kind, plugin.active) = ("liquidation-rules".into(), false);
        let mut scorer = plugin.clone();
        (scorer.kind, scorer.name) = ("scorer".into(), "picky".into());
        let scorer = ShadowView {
            plugin: scorer,
            serving: true,
            against: Some("default-scorer@0.3.0".into()),
            since_ms: Some(1_700_000_000_000),
            compared: 12,
            agreement_means: "market scorings on the same side of the entry threshold".into(),
            agreement: Some(0.9),
            pnl_difference: Some(dec("7.25")),
            picks: Some(PicksView {
                stake: dec("100"),
                shadow: 3,
                shadow_pnl: dec("4.25"),
                active: 2,
                active_pnl: dec("-3"),
            }),
            mean_score_difference: Some(0.8),
            correlation: Some(0.91),
            scans: Some(12),
            same_entries: Some(10),
            differences: Vec::new(),
            dropped: 0,
        };
        let mut whales = scorer.clone();
        (whales.plugin.kind, whales.plugin.name) = ("whale-analyzer".into(), "quiet-whales".into());
        whales.against = Some("default-whales@0.2.0".into());
        (whales.compared, whales.scans, whales.same_entries) = (20, Some(15), Some(14));
        whales.agreement_means = "markets given the same whale signal".into();
        vec![
            ShadowView {
                plugin,
                serving: true,
                against: Some("equilibrage@0.2.0".into()),
                since_ms: Some(1_700_000_000_000),
                compared: 42,
                agreement_means: "position evaluations where both decided the same".into(),
                agreement: Some(0.75),
                pnl_difference: Some(dec("-12.5")),
                picks: None,
                mean_score_difference: None,
                correlation: None,
                scans: None,
                same_entries: None,
                differences: vec![ShadowDiffView {
                    at_ms: 1_700_000_100_000,
                    position: Some(7),
                    active: "hold".into(),
                    shadow: format!("Liquidate(Yes) at 0.41 {HOSTILE}"),
                }],
                dropped: 0,
            },
            scorer,
            whales,
        ]
    }

    fn shadow_action(&self, kind: &str, action: ShadowAction) -> BackendResult<String> {
        self.record(Call::Shadow(kind.to_owned(), action));
        if kind == "liquidation-rules" {
            Ok(format!("{kind}: done <i>{action:?}</i>"))
        } else {
            Err(BackendError::NotFound(format!("no {kind} plugin is shadowing")))
        }
    }

    fn upload_shadow(&self, file: &str, bytes: &[u8]) -> BackendResult<(String, String)> {
        self.record(Call::ShadowUpload(file.to_owned()));
        if bytes.starts_with(b"\0asm") {
            Ok(("scorer".into(), "veto-scorer@0.1.0".into()))
        } else {
            Err(BackendError::invalid(format!("{file}: not a WebAssembly component")))
        }
    }

    fn rejected_files(&self) -> Vec<RejectedFile> {
        vec![RejectedFile { file: "bad.wasm".into(), at_ms: 0, error: "not a WebAssembly component".into() }]
    }

    fn whales(&self, limit: usize) -> BackendResult<Vec<WhaleView>> {
        Ok(vec![WhaleView {
            address: "0xwhale".into(),
            total_volume: dec("250000"),
            trade_count: 12,
            markets: 2,
            first_seen_ms: 1_700_000_000_000,
            last_trade_ms: 1_700_000_100_000,
            win_rate_percent: None,
            market_maker: false,
            wins: 0,
            losses: 0,
            two_sided_markets: 0,
            top_holding: Decimal::ZERO,
            weight: Some(0.6),
            net_yes_flow: Some(dec("-42000.5")),
        }]
        .into_iter()
        .take(limit)
        .collect())
    }

    fn whale(&self, address: &str) -> BackendResult<WhaleDetail> {
        if address != "0xwhale" {
            return Err(BackendError::NotFound(format!("no whale {address}")));
        }
        Ok(WhaleDetail {
            whale: self.whales(1)?.remove(0),
            markets: vec![("0xa".into(), HOSTILE.into())],
            activity: Vec::new(),
        })
    }

    fn whale_tracker(&self) -> Option<WhaleTrackerView> {
        self.whale_tracker.clone()
    }

    fn news(&self, limit: usize) -> BackendResult<Vec<NewsView>> {
        Ok(vec![NewsView {
            id: "n1".into(),
            title: HOSTILE.into(),
            summary: "summary".into(),
            source: "wire".into(),
            url: "javascript:alert(1)".into(),
            published_ms: 1_700_000_000_000,
            markets: vec!["0xa".into()],
            matches: vec![NewsMatchView { market: "0xa".into(), relevance: 0.75, sentiment: -0.5 }],
        }]
        .into_iter()
        .take(limit)
        .collect())
    }

    fn news_sources(&self) -> Vec<NewsSourceView> {
        self.news_sources.clone()
    }

    fn trends(&self, window_secs: u64, limit: usize) -> BackendResult<Vec<TrendView>> {
        Ok(vec![TrendView {
            market_id: "0xa".into(),
            question: HOSTILE.into(),
            yes_mid: Some(dec("0.45")),
            change: Some(dec("0.05")),
            volatility: Some(0.01),
            points: 10,
            window_secs,
            volatility_24h: Some(0.04),
            volume_24h: Some(dec("12500.5")),
            volume_change: Some(dec("-250")),
        }]
        .into_iter()
        .take(limit)
        .collect())
    }

    fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }
    fn lab(&self) -> Option<std::sync::Arc<dyn crate::lab::Lab>> {
        self.lab.clone().map(|l| l as std::sync::Arc<dyn crate::lab::Lab>)
    }

    async fn update_settings(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> BackendResult<SettingsView> {
        self.record(Call::Settings(patch.clone()));
        let mut fields = Vec::new();
        let mut stop_loss = None;
        for (name, value) in &patch {
            match name.as_str() {
                "stop_loss_percent" => {
                    match value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())) {
                        Some(v) if (0.0..100.0).contains(&v) => stop_loss = Some(v),
                        _ => fields.push(FieldError {
                            field: name.clone(),
                            message: format!("must be from 0 to 99, got {value}"),
                        }),
                    }
                }
                "auto_trading" | "scan_interval_secs" => {}
                _ => fields.push(FieldError { field: name.clone(), message: "unknown setting".into() }),
            }
        }
        if !fields.is_empty() {
            return Err(BackendError::Invalid { message: "invalid settings".into(), fields });
        }
        if let Some(v) = stop_loss {
            *self.stop_loss.lock().unwrap() = v;
        }
        Ok(self.settings())
    }

    async fn set_wallet(&self, form: WalletForm) -> BackendResult<WalletView> {
        self.record(Call::Wallet);
        let mut fields = Vec::new();
        if form.private_key.len() != 64 {
            fields.push(FieldError { field: "private_key".into(), message: "64 hex digits".into() });
        }
        if form.password.len() < 8 {
            fields.push(FieldError { field: "password".into(), message: "at least 8 characters".into() });
        }
        if !fields.is_empty() {
            return Err(BackendError::Invalid { message: "invalid key".into(), fields });
        }
        Ok(self.settings().wallet)
    }

    async fn wallet_doctor(&self, test_order: bool) -> BackendResult<DoctorView> {
        self.record(Call::Doctor(test_order));
        let check = |id: &str, status, detail: &str, fix: Option<&str>| DoctorCheck {
            id: id.into(),
            name: id.replace('_', " "),
            status,
            detail: detail.into(),
            fix: fix.map(str::to_owned),
        };
        let order = if test_order {
            check("test_order", DoctorStatus::Pass, "accepted and cancelled", None)
        } else {
            check("test_order", DoctorStatus::Skipped, "no order was posted", None)
        };
        Ok(DoctorView {
            address: Some("0x00000000000000000000000000000000000000aa".into()),
            signature_type: "eoa".into(),
            funder: None,
            ok: false,
            checks: vec![
                check("wallet", DoctorStatus::Pass, "the key's own address holds the funds", None),
                check("api_key", DoctorStatus::Warn, HOSTILE, Some("store the right credentials")),
                check("balance", DoctorStatus::Fail, "0 pUSD", Some("Deposit pUSD")),
                check("allowance", DoctorStatus::Skipped, "needs the balance", None),
                order,
            ],
        })
    }

    async fn scan(&self) -> BackendResult<ScanView> {
        self.record(Call::Scan);
        Ok(self.scans(1)?.remove(0))
    }

    async fn enter(&self, market_id: String, capital: Option<Decimal>) -> BackendResult<PositionView> {
        self.record(Call::Enter(market_id.clone(), capital));
        if market_id == "0xfull" {
            return Err(BackendError::Conflict("no free slot: 3 positions are open".into()));
        }
        if market_id != "0xa" {
            return Err(BackendError::NotFound(format!("no market {market_id}")));
        }
        Ok(position(3, "entered", true))
    }

    async fn close(&self, id: u64) -> BackendResult<PositionView> {
        self.record(Call::Close(id));
        match id {
            1 => Ok(position(1, HOSTILE, false)),
            2 => Err(BackendError::Conflict("position 2 is already closed".into())),
            _ => Err(BackendError::NotFound(format!("no position {id}"))),
        }
    }

    async fn chain(&self, balances: bool) -> BackendResult<Option<ChainView>> {
        Ok(self
            .chain
            .clone()
            .map(|c| if balances { c } else { ChainView { balances: None, low_gas: false, ..c } }))
    }

    async fn redeem(&self, condition_id: String) -> BackendResult<ChainTxView> {
        self.record(Call::Redeem(condition_id.clone()));
        match (&self.chain, condition_id.as_str()) {
            (None, _) => Err(BackendError::Conflict("on-chain settlement is off".into())),
            (Some(chain), DUE) => Ok(chain.transactions[0].clone()),
            (Some(_), "0x2222222222222222222222222222222222222222222222222222222222222222") => {
                Err(BackendError::Conflict("the market's result is not on chain yet".into()))
            }
            (Some(_), other) => Err(BackendError::invalid(format!("{other} has nothing to redeem"))),
        }
    }

    async fn set_plugin_params(
        &self,
        kind: String,
        name: String,
        values: Vec<(String, f64)>,
    ) -> BackendResult<Vec<f64>> {
        self.record(Call::Params(kind.clone(), name.clone(), values.clone()));
        if values.iter().any(|(_, v)| !(0.0..=5.0).contains(v)) {
            return Err(BackendError::Invalid {
                message: "out of range".into(),
                fields: vec![FieldError { field: values[0].0.clone(), message: "from 0 to 5".into() }],
            });
        }
        Ok(values.iter().map(|(_, v)| *v).collect())
    }

    fn notification_events(&self) -> Vec<NotifyEventsView> {
        self.notify.lock().unwrap().clone()
    }

    async fn set_notification_events(
        &self,
        channel: String,
        events: Vec<String>,
    ) -> BackendResult<Vec<NotifyEventsView>> {
        self.record(Call::NotifyEvents(channel.clone(), events.clone()));
        if let Some(bad) = events.iter().find(|e| !NOTIFY_EVENTS.iter().any(|(n, _)| n == e)) {
            return Err(BackendError::Invalid {
                message: format!("no event {bad:?}"),
                fields: vec![FieldError { field: "events".into(), message: format!("no event {bad:?}") }],
            });
        }
        let mut all = self.notify.lock().unwrap();
        let Some(c) = all.iter_mut().find(|c| c.name == channel) else {
            return Err(BackendError::NotFound(format!("no notification channel named {channel:?}")));
        };
        for choice in &mut c.events {
            choice.on = events.contains(&choice.event);
        }
        Ok(all.clone())
    }
}

/// Test helpers: a router over a fake, and requests with and without credentials.
pub(crate) mod http;
