//! Store and engine records as the dashboard shows them: the one place they are converted.

use crate::engine::{HistoryStats, RulesSource, mark, mark_leg};
use crate::plugins::PluginStatus;
use crate::store::{
    Action, Leg, NewsRecord, Opportunity, Position, PositionStatus, PricePoint, Purpose, ScanRecord,
    Settlement, TradeRecord, WhaleRecord,
};
use equilibrage_web::{
    FactorView, LegView, NewsSourceView, NewsView, OpportunityView, ParamView, PluginView, PositionView,
    QuickStats, ScanView, Side, TradeView, TrendView, WhaleTrackerView, WhaleView,
};
use rust_decimal::Decimal;

/// YES or NO.
#[must_use]
pub(crate) fn side(leg: Leg) -> Side {
    match leg {
        Leg::Yes => Side::Yes,
        Leg::No => Side::No,
    }
}

/// The status a person reads: the stored one, except a close under way (`closing`) and a close
/// by the market's resolution (`resolved`).
fn status(p: &Position) -> &'static str {
    if p.status.is_open() && p.closing.is_some() {
        "closing"
    } else if p.status == PositionStatus::Closed && p.legs.iter().any(|l| l.exit == Some(Purpose::Settlement))
    {
        "resolved"
    } else {
        p.status.as_str()
    }
}

/// A position marked at the given best bids and asks (YES, NO). A position no longer open has
/// nothing left to mark: its P&L is what it realised.
#[must_use]
pub(crate) fn position(p: &Position, bids: [Option<Decimal>; 2], asks: [Option<Decimal>; 2]) -> PositionView {
    let open = p.status.is_open();
    let bids = if open { bids } else { [None, None] };
    let pnl = mark(p, bids);
    let unrealised = if open { pnl.unrealised } else { Decimal::ZERO };
    let legs = Leg::BOTH.map(|l| {
        let state = p.leg(l);
        let (realised, leg_unrealised) = mark_leg(p, l, bids[l.index()]);
        LegView {
            side: side(l),
            outcome: state.outcome.clone(),
            token: state.token.clone(),
            entry_price: (!state.bought.is_zero()).then(|| state.entry_price()),
            cost: state.cost,
            bought: state.bought,
            held: state.held(),
            best_bid: bids[l.index()],
            best_ask: if open { asks[l.index()] } else { None },
            realised_pnl: realised,
            unrealised_pnl: if open { leg_unrealised } else { Decimal::ZERO },
            fees: state.fees,
            exit: state.exit.map(|e| e.as_str().to_owned()),
        }
    });
    PositionView {
        id: p.id,
        market_id: p.market_id.clone(),
        question: p.question.clone(),
        status: status(p).to_owned(),
        open,
        opened_at_ms: p.opened_at_ms,
        closed_at_ms: if open { None } else { Some(p.closed_at_ms.unwrap_or(p.updated_at_ms)) },
        capital: p.capital,
        legs,
        liquidated: p.liquidated.map(side),
        close_reason: p.close_reason.clone(),
        score: p.score,
        scorer: p.scorer.clone(),
        realised_pnl: pnl.realised,
        unrealised_pnl: unrealised,
        pnl: pnl.realised + unrealised,
        fees: p.legs.iter().map(|l| l.fees).sum(),
    }
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Buy => "buy",
        Action::Sell => "sell",
        Action::Settle => "settle",
    }
}

fn settlement(s: Settlement) -> &'static str {
    match s {
        Settlement::Matched => "matched",
        Settlement::Mined => "mined",
        Settlement::Confirmed => "confirmed",
        Settlement::Retrying => "retrying",
        Settlement::Failed => "failed",
    }
}

/// A fill, with its position's market and question.
#[must_use]
pub(crate) fn trade(t: &TradeRecord, market_id: &str, question: &str) -> TradeView {
    TradeView {
        id: t.id,
        position_id: t.position_id,
        market_id: market_id.to_owned(),
        question: question.to_owned(),
        at_ms: t.at_ms,
        side: side(t.leg),
        action: action(t.action).to_owned(),
        purpose: t.purpose.as_str().to_owned(),
        price: t.price,
        shares: t.shares,
        notional: t.notional,
        fee: t.fee,
        status: settlement(t.status).to_owned(),
        tx_hash: t.tx_hash.clone(),
        reason: t.reason.clone(),
        decided_by: t.decided_by.clone(),
    }
}

/// An opportunity of the last scan; `held` when a position on its market is open.
#[must_use]
pub(crate) fn opportunity(o: &Opportunity, held: bool) -> OpportunityView {
    OpportunityView {
        market_id: o.market_id.clone(),
        question: o.question.clone(),
        category: o.category.clone(),
        score: o.score,
        factors: o
            .factors
            .iter()
            .map(|f| FactorView {
                name: f.name.to_string(),
                value: f.value,
                weight: f.weight.as_ref().map(|(_, w)| *w),
            })
            .collect(),
        yes_ask: o.yes_ask,
        no_ask: o.no_ask,
        liquidity: o.liquidity,
        volume_24h: o.volume_24h,
        end_ms: o.end_ms,
        detected_at_ms: o.detected_at_ms,
        scorer: o.scorer.clone(),
        held,
    }
}

/// One scan.
#[must_use]
pub(crate) fn scan(s: &ScanRecord) -> ScanView {
    ScanView {
        id: s.id,
        started_at_ms: s.started_at_ms,
        duration_ms: s.duration_us / 1_000,
        listed: s.listed,
        candidates: s.candidates,
        scored: s.scored,
        error: s.error.clone(),
        protocol_v2: s.protocol_v2,
        failed_pages: s.failed_pages,
    }
}

/// Who decides exits, in words, and whether it is the built-in rule.
#[must_use]
pub(crate) fn rules(source: &RulesSource) -> (String, bool) {
    match source {
        RulesSource::Plugin { name } => (format!("plugin {name}"), false),
        RulesSource::BuiltIn { reason } => (format!("built-in rule ({reason})"), true),
    }
}

/// Open positions a side of which the liquidation rule sold.
#[must_use]
pub(crate) fn liquidated_legs(open: &[crate::engine::PositionView]) -> u64 {
    u64::try_from(open.iter().filter(|v| v.position.liquidated.is_some()).count()).unwrap_or(u64::MAX)
}

/// Statistics over closed positions.
#[must_use]
pub(crate) fn stats(s: &HistoryStats) -> QuickStats {
    QuickStats {
        closed_positions: s.closed,
        wins: s.wins,
        losses: s.losses,
        win_rate_percent: s.win_rate_percent(),
        liquidations: s.liquidations,
        avg_hold_secs: s.avg_hold_ms.and_then(|ms| u64::try_from(ms / 1_000).ok()),
        best_pnl: s.best,
        worst_pnl: s.worst,
    }
}

/// A loaded plugin.
#[must_use]
pub(crate) fn plugin(p: &PluginStatus) -> PluginView {
    PluginView {
        kind: p.info.kind.to_string(),
        name: p.info.name.clone(),
        version: p.info.version.clone(),
        active: p.active,
        file: p.file.display().to_string(),
        sha256: p.sha256.clone(),
        loaded_at_ms: p.loaded_at_ms,
        calls: p.stats.calls,
        faults: p.stats.faults,
        errors: p.stats.errors,
        mean_us: p.stats.mean_us,
        last_error: p.last_error.as_ref().map(|(_, e)| e.clone()),
        params: p
            .info
            .params
            .iter()
            .zip(&p.params)
            .map(|(s, v)| ParamView {
                name: s.name.clone(),
                value: *v,
                default: s.default,
                min: s.min,
                max: s.max,
                help: s.help.clone(),
            })
            .collect(),
    }
}

/// A whale as stored, with its realised win rate (`None` until a market it bought into
/// resolved) and the market-maker flag (see `feeds::whales::table`).
#[must_use]
pub(crate) fn whale(w: &WhaleRecord) -> WhaleView {
    WhaleView {
        address: w.address.clone(),
        total_volume: w.total_volume,
        trade_count: w.trade_count,
        markets: w.markets.len(),
        first_seen_ms: w.first_seen_ms,
        last_trade_ms: w.last_trade_ms,
        win_rate_percent: crate::feeds::whales::table::win_rate_percent(w),
        market_maker: w.market_maker,
        wins: w.wins,
        losses: w.losses,
        two_sided_markets: w.activity.iter().filter(|m| crate::feeds::whales::table::two_sided(m)).count(),
        top_holding: w.top_holding,
        weight: w.profile.as_ref().map(|p| p.weight),
        net_yes_flow: w.profile.as_ref().map(|p| p.net_yes_flow),
    }
}

/// A whale's per-market activity.
#[must_use]
pub(crate) fn whale_activity(w: &WhaleRecord) -> Vec<equilibrage_web::WhaleMarketView> {
    w.activity
        .iter()
        .map(|m| equilibrage_web::WhaleMarketView {
            market: m.market.to_string(),
            bought: m.bought,
            sold: m.sold,
            settled: m.settled,
        })
        .collect()
}

/// A news item and the markets it was matched to.
#[must_use]
pub(crate) fn news(n: &NewsRecord) -> NewsView {
    NewsView {
        id: n.id.clone(),
        title: n.title.clone(),
        summary: n.summary.clone(),
        source: n.source.clone(),
        url: n.url.clone(),
        published_ms: n.published_ms,
        markets: n.markets.clone(),
        matches: n
            .matches
            .iter()
            .map(|m| equilibrage_web::NewsMatchView {
                market: m.market.to_string(),
                relevance: m.relevance,
                sentiment: m.sentiment,
            })
            .collect(),
    }
}

/// A news source's status as the dashboard shows it; `s` is already redacted (it comes from
/// [`crate::feeds::news::NewsStatus`]).
#[must_use]
pub(crate) fn news_source(s: &crate::feeds::news::SourceStatus) -> NewsSourceView {
    NewsSourceView {
        kind: s.kind.label().to_owned(),
        url: s.url.clone(),
        last_attempt_ms: s.last_attempt_ms,
        last_success_ms: s.last_success_ms,
        last_items: s.last_items,
        last_new: s.last_new,
        not_modified: s.not_modified,
        failures: s.failures,
        last_error: s.last_error.clone(),
        retry_at_ms: s.retry_at_ms(),
    }
}

/// The whale tracker's status as the dashboard shows it; `s` is already scrubbed (it comes
/// from [`crate::feeds::whales::WhaleStatus`]).
#[must_use]
pub(crate) fn whale_tracker(s: &crate::feeds::whales::TrackerStatus) -> WhaleTrackerView {
    WhaleTrackerView {
        data_url: s.data_url.clone(),
        interval_secs: s.interval_secs,
        last_poll_ms: s.last_poll_ms,
        last_poll_duration_ms: s.last_poll_duration_ms,
        last_success_ms: s.last_success_ms,
        idle: s.idle,
        markets: s.markets,
        trades_received: s.trades_received,
        trades_new: s.trades_new,
        skipped: s.skipped,
        holders: s.holders,
        pages: s.pages,
        capped: s.capped,
        failed_requests: s.failed_requests,
        failures: s.failures,
        last_error: s.last_error.clone(),
        next_poll_ms: s.next_poll_ms,
    }
}

/// A market's movement from its price points over a window (oldest first), as the engine's
/// trends module measures it (see [`crate::engine::Trend`]): the YES mid now, its change
/// (momentum), the spread of its moves, and the change of the 24 h volume. Each is `None` where
/// the points do not allow it.
#[must_use]
pub(crate) fn trend(market_id: &str, question: &str, points: &[PricePoint], window_secs: u64) -> TrendView {
    let t = crate::engine::Trend::from_points(points, window_secs);
    TrendView {
        market_id: market_id.to_owned(),
        question: question.to_owned(),
        yes_mid: t.yes_mid,
        change: t.momentum,
        volatility: t.volatility,
        points: t.points,
        window_secs,
        volatility_24h: t.volatility_24h,
        volume_24h: t.volume_24h,
        volume_change: t.volume_change,
    }
}

/// A supervised loop as the dashboard shows it.
pub(super) fn loop_view(l: &crate::engine::LoopStatus) -> equilibrage_web::LoopView {
    equilibrage_web::LoopView {
        name: l.name.to_owned(),
        safety_net: l.safety_net,
        running: l.running,
        restarts: l.restarts,
        last_failure: l.last_failure.as_ref().map(|(_, why)| why.clone()),
        last_failure_ms: l.last_failure.as_ref().map(|(at, _)| *at),
    }
}

pub(super) fn notify_events(
    channels: &[crate::notify::ChannelEvents],
) -> Vec<equilibrage_web::NotifyEventsView> {
    channels
        .iter()
        .map(|c| equilibrage_web::NotifyEventsView {
            name: c.name.clone(),
            kind: c.kind.to_owned(),
            events: crate::notify::EventKind::ALL
                .iter()
                .map(|k| equilibrage_web::NotifyEventChoice {
                    event: k.as_str().to_owned(),
                    label: k.label().to_owned(),
                    on: c.events.contains(k),
                })
                .collect(),
        })
        .collect()
}

pub(super) fn notify_channel(s: &crate::notify::ChannelStatus) -> equilibrage_web::NotifyChannelView {
    equilibrage_web::NotifyChannelView {
        name: s.name.clone(),
        kind: s.kind.clone(),
        sent: s.sent,
        failed: s.failed,
        dropped: s.dropped,
        retries: s.retries,
        last_sent_ms: s.last_sent_ms,
        last_error: s.last_error.as_ref().map(|(_, e)| e.clone()),
        last_error_ms: s.last_error.as_ref().map(|(at, _)| *at),
        failing: s.failing(),
        commands: s.commands,
        ignored: s.ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LegState;
    use rust_decimal_macros::dec;

    #[test]
    fn open_positions_count_their_liquidated_legs() {
        let open = |liquidated| crate::engine::PositionView {
            position: Position { liquidated, ..Position::blank() },
            bids: [None, None],
            asks: [None, None],
            pnl: crate::engine::PositionPnl::default(),
        };
        let positions = [open(Some(Leg::Yes)), open(None), open(Some(Leg::No))];
        assert_eq!(liquidated_legs(&positions), 2);
        assert_eq!(liquidated_legs(&[]), 0);
    }

    fn active() -> Position {
        Position {
            id: 4,
            market_id: "0xm".into(),
            question: "Will it?".into(),
            opened_at_ms: 1_000,
            capital: dec!(100),
            legs: [
                LegState {
                    token: "y".into(),
                    outcome: "Yes".into(),
                    bought: dec!(100),
                    cost: dec!(40),
                    ..LegState::default()
                },
                LegState {
                    token: "n".into(),
                    outcome: "No".into(),
                    bought: dec!(100),
                    cost: dec!(60),
                    ..LegState::default()
                },
            ],
            score: Some(8.0),
            updated_at_ms: 1_000,
            version: 1,
            ..Position::blank()
        }
    }

    #[test]
    fn an_open_position_is_marked_per_side_and_a_resolved_one_shows_what_it_realised() {
        let p = active();
        let v = position(&p, [Some(dec!(0.45)), Some(dec!(0.50))], [Some(dec!(0.46)), None]);
        assert_eq!((v.status.as_str(), v.open), ("active", true));
        assert_eq!(v.legs[0].entry_price, Some(dec!(0.4)));
        assert_eq!((v.legs[0].unrealised_pnl, v.legs[1].unrealised_pnl), (dec!(5), dec!(-10)));
        assert_eq!((v.unrealised_pnl, v.pnl), (dec!(-5), dec!(-5)));
        assert_eq!(v.legs[0].best_ask, Some(dec!(0.46)));

        let mut r = p;
        for (leg, price) in [(0, dec!(1)), (1, dec!(0))] {
            r.legs[leg].sold = dec!(100);
            r.legs[leg].proceeds = dec!(100) * price;
            r.legs[leg].exit = Some(Purpose::Settlement);
        }
        r.status = PositionStatus::Closed;
        r.closed_at_ms = Some(9_000);
        let v = position(&r, [Some(dec!(0.9)), None], [None, None]);
        assert_eq!((v.status.as_str(), v.open, v.closed_at_ms), ("resolved", false, Some(9_000)));
        assert_eq!((v.realised_pnl, v.unrealised_pnl, v.pnl), (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO));
        assert_eq!((v.legs[0].realised_pnl, v.legs[1].realised_pnl), (dec!(60), dec!(-60)));
        assert_eq!(v.legs[0].best_bid, None, "a closed position is not marked");
        assert_eq!(v.legs[1].exit.as_deref(), Some("settlement"));
    }

    #[test]
    fn a_trend_is_the_mid_its_change_and_the_spread_of_its_moves() {
        let point = |at_ms, bid: Option<Decimal>, ask: Option<Decimal>| PricePoint {
            at_ms,
            yes_bid: bid,
            yes_ask: ask,
            no_bid: None,
            no_ask: None,
            volume_24h: None,
        };
        // Mids 0.40, 0.45, (no ask: skipped), 0.43, 0.50: moves +0.05, −0.02, +0.07.
        let points = [
            point(0, Some(dec!(0.39)), Some(dec!(0.41))),
            point(1, Some(dec!(0.44)), Some(dec!(0.46))),
            point(2, Some(dec!(0.10)), None),
            point(3, Some(dec!(0.42)), Some(dec!(0.44))),
            point(4, Some(dec!(0.49)), Some(dec!(0.51))),
        ];
        let t = trend("0xm", "Q", &points, 3_600);
        assert_eq!((t.yes_mid, t.change, t.points), (Some(dec!(0.50)), Some(dec!(0.10)), 5));
        // Mean move 0.0333…; deviations 0.0167, −0.0533, 0.0367: variance 0.001489, sd ≈ 0.0386.
        let sd = t.volatility.unwrap();
        assert!((sd - 0.038_59).abs() < 1e-4, "{sd}");
        let one = trend("0xm", "Q", &points[..1], 60);
        assert_eq!((one.yes_mid, one.change, one.volatility), (Some(dec!(0.40)), None, None));
    }
}
