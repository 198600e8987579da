//! The live-event bridge: engine and plugin events turned into the dashboard's [`LiveEvent`]s,
//! each serialised once and stamped with the wall-clock time it was sent (`sent_at_ms`), so a
//! benchmark can measure the time from event to browser.

use super::views;
use crate::engine::EngineEvent;
use crate::plugins::{PluginEvent, ShadowChange};
use equilibrage_web::{LiveEvent, OpportunityView, PositionView, ScanView, Topic, TradeView};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

/// What a subscriber receives, by `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire<'a> {
    PositionUpdate { position: &'a PositionView },
    TradeExecuted { trade: &'a TradeView },
    NewOpportunity { opportunity: &'a OpportunityView },
    ScanCompleted { scan: &'a ScanView },
    PluginLoaded { kind: &'a str, name: &'a str, version: &'a str, file: String, generation: u64 },
    PluginRejected { file: String, error: &'a str },
    PluginUnloaded { kind: &'a str, name: &'a str, file: String },
    PluginFault { kind: &'a str, name: &'a str, error: &'a str },
    PluginShadow { kind: &'a str, name: &'a str, version: &'a str, change: &'a ShadowChange },
    RulesSource { rules: String, builtin: bool },
    Error { source: &'a str, message: &'a str, at_ms: i64 },
}

#[derive(Debug, Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    event: Wire<'a>,
    sent_at_ms: i64,
}

fn live(topic: Topic, event: Wire<'_>, sent_at_ms: i64) -> LiveEvent {
    let json = serde_json::to_string(&Stamped { event, sent_at_ms })
        // Views are plain data with string keys: serialising them cannot fail.
        .unwrap_or_else(|e| format!(r#"{{"type":"error","message":"event not serialisable: {e}"}}"#));
    LiveEvent { topic, json: Arc::from(json) }
}

/// What the bridge needs to know beyond an event: a position's market and question (for a
/// trade), and whether a market is held (for an opportunity).
pub(super) trait Lookup {
    /// (market id, question) of a position, empty when unknown.
    fn label(&self, position_id: u64) -> (String, String);
    fn held(&self, market_id: &str) -> bool;
}

/// An engine event as the dashboard receives it.
pub(super) fn engine_event(event: &EngineEvent, lookup: &dyn Lookup, sent_at_ms: i64) -> LiveEvent {
    match event {
        EngineEvent::PositionUpdate { position, bids, asks, .. } => {
            let position = views::position(position, *bids, *asks);
            live(Topic::Positions, Wire::PositionUpdate { position: &position }, sent_at_ms)
        }
        EngineEvent::TradeExecuted { trade } => {
            let (market_id, question) = lookup.label(trade.position_id);
            let trade = views::trade(trade, &market_id, &question);
            live(Topic::Positions, Wire::TradeExecuted { trade: &trade }, sent_at_ms)
        }
        EngineEvent::NewOpportunity { opportunity } => {
            let opportunity = views::opportunity(opportunity, lookup.held(&opportunity.market_id));
            live(Topic::Opportunities, Wire::NewOpportunity { opportunity: &opportunity }, sent_at_ms)
        }
        EngineEvent::ScanCompleted { scan } => {
            let scan = views::scan(scan);
            live(Topic::Opportunities, Wire::ScanCompleted { scan: &scan }, sent_at_ms)
        }
        EngineEvent::RulesSource { source } => {
            let (rules, builtin) = views::rules(source);
            live(Topic::Plugins, Wire::RulesSource { rules, builtin }, sent_at_ms)
        }
        EngineEvent::Error { source, message, at_ms } => {
            live(Topic::System, Wire::Error { source, message, at_ms: *at_ms }, sent_at_ms)
        }
    }
}

/// A plugin event as the dashboard receives it.
pub(super) fn plugin_event(event: &PluginEvent, sent_at_ms: i64) -> LiveEvent {
    let wire = match event {
        PluginEvent::Loaded { kind, name, version, file, generation } => Wire::PluginLoaded {
            kind: kind.as_str(),
            name,
            version,
            file: file.display().to_string(),
            generation: *generation,
        },
        PluginEvent::Rejected { file, error } => {
            Wire::PluginRejected { file: file.display().to_string(), error }
        }
        PluginEvent::Unloaded { kind, name, file } => {
            Wire::PluginUnloaded { kind: kind.as_str(), name, file: file.display().to_string() }
        }
        PluginEvent::Fault { kind, name, error } => Wire::PluginFault { kind: kind.as_str(), name, error },
        PluginEvent::Shadow { kind, name, version, change } => {
            Wire::PluginShadow { kind: kind.as_str(), name, version, change }
        }
    };
    live(Topic::Plugins, wire, sent_at_ms)
}

/// Forwards engine and plugin events to `out` until both sources close or `lookup` is gone
/// (the backend was dropped). A receiver that fell behind skips what it missed and goes on.
pub(super) async fn bridge<L: Lookup + Send + Sync + 'static>(
    lookup: std::sync::Weak<L>,
    mut engine: broadcast::Receiver<EngineEvent>,
    mut plugins: broadcast::Receiver<PluginEvent>,
    out: broadcast::Sender<LiveEvent>,
) {
    let (mut engine_open, mut plugins_open) = (true, true);
    while engine_open || plugins_open {
        let event = tokio::select! {
            e = engine.recv(), if engine_open => match e {
                Ok(e) => {
                    let Some(lookup) = lookup.upgrade() else { return };
                    Some(engine_event(&e, &*lookup, crate::clock::unix_now_ms()))
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "live events: the engine ran ahead");
                    None
                }
                Err(RecvError::Closed) => {
                    engine_open = false;
                    None
                }
            },
            p = plugins.recv(), if plugins_open => match p {
                Ok(_) if lookup.strong_count() == 0 => return,
                Ok(p) => Some(plugin_event(&p, crate::clock::unix_now_ms())),
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "live events: the plugins ran ahead");
                    None
                }
                Err(RecvError::Closed) => {
                    plugins_open = false;
                    None
                }
            },
        };
        if let Some(event) = event {
            // No browser listening is fine.
            let _ = out.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{PositionPnl, RulesSource};
    use crate::plugins::PluginKind;
    use crate::store::{
        Action, Factor, Leg, LegState, Opportunity, Position, PositionStatus, Purpose, ScanRecord,
        Settlement, TradeRecord,
    };
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;
    use serde_json::Value;

    struct Fixed;

    impl Lookup for Fixed {
        fn label(&self, position_id: u64) -> (String, String) {
            (format!("0xm{position_id}"), "Will it rain?".into())
        }
        fn held(&self, market_id: &str) -> bool {
            market_id == "0xheld"
        }
    }

    fn json(e: &LiveEvent) -> Value {
        serde_json::from_str(&e.json).unwrap()
    }

    fn position() -> Position {
        Position {
            id: 7,
            market_id: "0xm7".into(),
            question: "Will it rain?".into(),
            opened_at_ms: 5,
            capital: dec!(100),
            legs: [
                LegState {
                    token: "y".into(),
                    outcome: "Yes".into(),
                    bought: dec!(100),
                    cost: dec!(50),
                    ..LegState::default()
                },
                LegState { token: "n".into(), outcome: "No".into(), ..LegState::default() },
            ],
            status: PositionStatus::Opening,
            updated_at_ms: 5,
            version: 1,
            ..Position::blank()
        }
    }

    #[test]
    fn engine_events_carry_web_views_a_topic_and_the_send_time() {
        let update = EngineEvent::PositionUpdate {
            position: Box::new(position()),
            pnl: PositionPnl::default(),
            bids: [Some(dec!(0.48)), None],
            asks: [Some(dec!(0.5)), None],
        };
        let e = engine_event(&update, &Fixed, 1_234);
        assert_eq!(e.topic, Topic::Positions);
        let v = json(&e);
        assert_eq!(v["type"], "position_update");
        assert_eq!(v["sent_at_ms"], 1_234);
        assert_eq!(v["position"]["id"], 7);
        assert_eq!(v["position"]["legs"][0]["best_bid"], "0.48");
        assert_eq!(v["position"]["unrealised_pnl"], "-2.00", "marked at the bid: 100 × 0.48 − 50");

        let trade = EngineEvent::TradeExecuted {
            trade: Box::new(TradeRecord {
                id: 3,
                position_id: 7,
                leg: Leg::Yes,
                action: Action::Buy,
                purpose: Purpose::Entry,
                client_id: "c".into(),
                order_id: "o".into(),
                exchange_trade_ids: vec![],
                price: dec!(0.5),
                shares: dec!(100),
                notional: dec!(50),
                fee: Decimal::ZERO,
                status: Settlement::Matched,
                tx_hash: None,
                at_ms: 9,
                reason: "entry".into(),
                decided_by: None,
            }),
        };
        let v = json(&engine_event(&trade, &Fixed, 1));
        assert_eq!(v["type"], "trade_executed");
        assert_eq!(
            (v["trade"]["question"].as_str(), v["trade"]["market_id"].as_str()),
            (Some("Will it rain?"), Some("0xm7"))
        );
        assert_eq!(
            (v["trade"]["side"].as_str(), v["trade"]["status"].as_str()),
            (Some("yes"), Some("matched"))
        );

        let opportunity = Opportunity {
            market_id: "0xheld".into(),
            question: "Q".into(),
            category: "c".into(),
            score: 7.5,
            factors: vec![Factor { name: "spread".into(), value: 0.5, weight: Some(("w".into(), 2.0)) }],
            yes_bid: None,
            yes_ask: Some(dec!(0.4)),
            no_bid: None,
            no_ask: Some(dec!(0.61)),
            yes_depth: Decimal::ZERO,
            no_depth: Decimal::ZERO,
            liquidity: dec!(1000),
            volume_24h: dec!(10),
            end_ms: None,
            scan_id: 1,
            detected_at_ms: 2,
            scorer: "s@1".into(),
        };
        let e = engine_event(&EngineEvent::NewOpportunity { opportunity: Box::new(opportunity) }, &Fixed, 1);
        assert_eq!(e.topic, Topic::Opportunities);
        let v = json(&e);
        assert_eq!(
            (v["type"].as_str(), v["opportunity"]["held"].as_bool()),
            (Some("new_opportunity"), Some(true))
        );
        assert_eq!(v["opportunity"]["factors"][0]["weight"], 2.0);

        let scan = ScanRecord {
            id: 4,
            started_at_ms: 10,
            duration_us: 12_500,
            listed: 300,
            candidates: 20,
            scored: 20,
            scorer: None,
            error: None,
            protocol_v2: 0,
            failed_pages: 0,
        };
        let v = json(&engine_event(&EngineEvent::ScanCompleted { scan }, &Fixed, 1));
        assert_eq!(
            (v["type"].as_str(), v["scan"]["duration_ms"].as_u64()),
            (Some("scan_completed"), Some(12))
        );

        let e = engine_event(
            &EngineEvent::RulesSource { source: RulesSource::BuiltIn { reason: "faulting".into() } },
            &Fixed,
            1,
        );
        assert_eq!(e.topic, Topic::Plugins);
        let v = json(&e);
        assert_eq!((v["type"].as_str(), v["builtin"].as_bool()), (Some("rules_source"), Some(true)));
        assert_eq!(v["rules"], "built-in rule (faulting)");

        let e = engine_event(
            &EngineEvent::Error { source: "scanner", message: "<b>down</b>".into(), at_ms: 3 },
            &Fixed,
            8,
        );
        assert_eq!(e.topic, Topic::System);
        let v = json(&e);
        assert_eq!(
            (v["type"].as_str(), v["message"].as_str(), v["sent_at_ms"].as_i64()),
            (Some("error"), Some("<b>down</b>"), Some(8))
        );
    }

    #[test]
    fn plugin_events_go_to_the_plugins_topic() {
        let cases = [
            (
                PluginEvent::Loaded {
                    kind: PluginKind::Scorer,
                    name: "s".into(),
                    version: "1.0.0".into(),
                    file: "scorer.wasm".into(),
                    generation: 2,
                },
                "plugin_loaded",
            ),
            (PluginEvent::Rejected { file: "bad.wasm".into(), error: "nope".into() }, "plugin_rejected"),
            (
                PluginEvent::Unloaded {
                    kind: PluginKind::Scorer,
                    name: "s".into(),
                    file: "scorer.wasm".into(),
                },
                "plugin_unloaded",
            ),
            (
                PluginEvent::Fault {
                    kind: PluginKind::LiquidationRules,
                    name: "r".into(),
                    error: "trap".into(),
                },
                "plugin_fault",
            ),
        ];
        for (event, kind) in cases {
            let e = plugin_event(&event, 77);
            assert_eq!(e.topic, Topic::Plugins);
            let v = json(&e);
            assert_eq!((v["type"].as_str(), v["sent_at_ms"].as_i64()), (Some(kind), Some(77)), "{v}");
        }
        let v = json(&plugin_event(
            &PluginEvent::Fault {
                kind: PluginKind::LiquidationRules,
                name: "r".into(),
                error: "trap".into(),
            },
            1,
        ));
        assert_eq!((v["kind"].as_str(), v["error"].as_str()), (Some("liquidation-rules"), Some("trap")));
    }

    #[tokio::test]
    async fn the_bridge_forwards_skips_what_it_missed_and_stops_with_its_sources() {
        let (engine_tx, engine_rx) = broadcast::channel(2);
        let (plugin_tx, plugin_rx) = broadcast::channel(4);
        let (out, mut seen) = broadcast::channel(16);
        let lookup = Arc::new(Fixed);
        // Three errors into a channel of two: the first is missed, the bridge goes on.
        for i in 0..3 {
            engine_tx.send(EngineEvent::Error { source: "t", message: format!("e{i}"), at_ms: i }).unwrap();
        }
        plugin_tx.send(PluginEvent::Rejected { file: "x.wasm".into(), error: "bad".into() }).unwrap();
        drop((engine_tx, plugin_tx));
        bridge(Arc::downgrade(&lookup), engine_rx, plugin_rx, out).await;
        let mut got = Vec::new();
        while let Ok(e) = seen.try_recv() {
            got.push(json(&e));
        }
        let messages: Vec<&str> = got.iter().filter_map(|v| v["message"].as_str()).collect();
        assert_eq!(messages, ["e1", "e2"]);
        assert!(got.iter().any(|v| v["type"] == "plugin_rejected"));
    }
}
