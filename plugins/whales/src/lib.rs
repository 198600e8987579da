//! The default whale analyzer: wallets with large volume or single large trades are whales;
//! per market it reports whale activity strength and net flow into YES.

use equilibrage_plugin_sdk::prelude::*;
use std::collections::HashMap;

/// The default whale analyzer.
#[derive(Debug)]
pub struct DefaultWhales;

const MIN_TRADE: usize = 0;
const MIN_VOLUME: usize = 1;
const ACTIVITY_SCALE: usize = 2;
const LOOKBACK_HOURS: usize = 3;

impl WhaleAnalyzer for DefaultWhales {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "default-whales",
            env!("CARGO_PKG_VERSION"),
            "A wallet is a whale when its volume in the lookback window, or any single trade, \
             is large. Market activity is whale volume against a scale; flow is signed toward YES.",
        )
        .param(
            "min-trade",
            5_000.0,
            1.0,
            10_000_000.0,
            "A single trade of at least this many pUSD makes its wallet a whale.",
        )
        .param(
            "min-volume",
            20_000.0,
            1.0,
            100_000_000.0,
            "Total pUSD traded in the window that makes a wallet a whale.",
        )
        .param(
            "activity-scale",
            50_000.0,
            1.0,
            100_000_000.0,
            "Whale pUSD in one market that counts as full activity.",
        )
        .param("lookback-hours", 24.0, 1.0, 720.0, "Only trades this recent count.")
    }

    fn analyze(params: &Params, now_ms: i64, input: &AnalysisInput) -> Result<Analysis, String> {
        Ok(analyze(params.values(), now_ms, input))
    }
}

export_whale_analyzer!(DefaultWhales);

/// pUSD value of a trade in micro-units (price and shares are both micro-units).
fn notional(t: &Trade) -> i64 {
    let v = i128::from(t.price) * i128::from(t.shares) / 1_000_000;
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Signed flow toward YES: buying YES or selling NO pushes YES up.
fn yes_flow(t: &Trade) -> i64 {
    let v = notional(t);
    match (t.outcome, t.side) {
        (Outcome::Yes, TradeSide::Buy) | (Outcome::No, TradeSide::Sell) => v,
        (Outcome::Yes, TradeSide::Sell) | (Outcome::No, TradeSide::Buy) => -v,
    }
}

#[derive(Default, Clone, Copy)]
struct Wallet {
    volume: i64,
    trades: u32,
    flow: i64,
    largest: i64,
}

#[derive(Default, Clone, Copy)]
struct Market {
    volume: i64,
    flow: i64,
    whales: u32,
    /// Σ of each whale's volume squared, in pUSD² (for the Herfindahl index).
    squares: f64,
}

#[allow(clippy::cast_possible_truncation, reason = "parameters are bounded pUSD amounts and hours")]
fn to_micros(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

/// The Herfindahl index of the whales' volume in a market: Σ share², 1 for a single whale, 1/n
/// for n equal ones; 0 when no volume was traded.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "a 0..1 index")]
fn concentration(m: &Market) -> f32 {
    let total = m.volume as f64 / 1_000_000.0;
    if total <= 0.0 {
        return 0.0;
    }
    (m.squares / (total * total)).clamp(0.0, 1.0) as f32
}

/// The analysis on parameter values in declaration order.
#[must_use]
pub fn analyze(params: &[f64], now_ms: i64, input: &AnalysisInput) -> Analysis {
    let p = |i: usize| params.get(i).copied().unwrap_or(0.0);
    let (min_trade, min_volume) = (to_micros(p(MIN_TRADE)), to_micros(p(MIN_VOLUME)));
    #[allow(clippy::cast_possible_truncation, reason = "bounded to 720 hours")]
    let since = now_ms.saturating_sub((p(LOOKBACK_HOURS) * 3_600_000.0) as i64);
    let recent = |t: &&Trade| t.at >= since && t.at <= now_ms;
    let in_range = |t: &&Trade| t.wallet < input.wallet_count && t.market < input.market_count;

    let mut wallets: HashMap<u32, Wallet> = HashMap::new();
    for t in input.trades.iter().filter(recent).filter(in_range) {
        let w = wallets.entry(t.wallet).or_default();
        let v = notional(t);
        w.volume = w.volume.saturating_add(v);
        w.trades += 1;
        w.flow = w.flow.saturating_add(yes_flow(t));
        w.largest = w.largest.max(v);
    }
    let is_whale = |w: &Wallet| w.volume >= min_volume || w.largest >= min_trade;

    let mut markets: HashMap<u32, Market> = HashMap::new();
    // Each whale's volume per market, for the count and the concentration.
    let mut shares: HashMap<(u32, u32), i64> = HashMap::new();
    for t in input.trades.iter().filter(recent).filter(in_range) {
        if !wallets.get(&t.wallet).is_some_and(is_whale) {
            continue;
        }
        let m = markets.entry(t.market).or_default();
        let v = notional(t);
        m.volume = m.volume.saturating_add(v);
        m.flow = m.flow.saturating_add(yes_flow(t));
        let share = shares.entry((t.market, t.wallet)).or_default();
        *share = share.saturating_add(v);
    }
    #[allow(clippy::cast_precision_loss, reason = "pUSD amounts, for a 0..1 index")]
    for ((market, _), v) in shares {
        if let Some(m) = markets.get_mut(&market) {
            m.whales += 1;
            let usd = v as f64 / 1_000_000.0;
            m.squares += usd * usd;
        }
    }

    let scale = to_micros(p(ACTIVITY_SCALE)).max(1);
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "a 0..1 weight")]
    let frac = |num: i64, den: i64| ((num as f64 / den as f64).clamp(0.0, 1.0)) as f32;
    let mut whales: Vec<WalletProfile> = wallets
        .iter()
        .filter(|(_, w)| is_whale(w))
        .map(|(&wallet, w)| WalletProfile {
            wallet,
            volume: w.volume,
            trades: w.trades,
            net_yes_flow: w.flow,
            weight: frac(w.volume, min_volume.saturating_mul(4).max(1)),
        })
        .collect();
    whales.sort_by(|a, b| b.volume.cmp(&a.volume).then(a.wallet.cmp(&b.wallet)));
    let mut markets: Vec<MarketSignal> = markets
        .into_iter()
        .map(|(market, m)| MarketSignal {
            market,
            activity: frac(m.volume, scale),
            net_yes_flow: m.flow,
            whale_count: m.whales,
            concentration: concentration(&m),
        })
        .collect();
    markets.sort_by_key(|m| m.market);
    Analysis { whales, markets }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn trade(wallet: u32, market: u32, outcome: Outcome, side: TradeSide, usd: i64, at: i64) -> Trade {
        // price 0.5, so shares = 2 * usd
        Trade { wallet, market, outcome, side, price: 500_000, shares: usd * 2_000_000, at }
    }

    fn run(trades: Vec<Trade>) -> Analysis {
        let input = AnalysisInput { wallet_count: 10, market_count: 5, trades };
        analyze(DefaultWhales::info().defaults().values(), 100 * HOUR, &input)
    }

    #[test]
    fn a_single_large_trade_or_large_total_volume_makes_a_whale() {
        let now = 100 * HOUR;
        let a = run(vec![
            trade(1, 0, Outcome::Yes, TradeSide::Buy, 6_000, now - HOUR),
            trade(2, 0, Outcome::Yes, TradeSide::Buy, 100, now - HOUR),
            trade(3, 1, Outcome::No, TradeSide::Buy, 4_000, now - HOUR),
            trade(3, 1, Outcome::No, TradeSide::Buy, 4_000, now - HOUR),
            trade(3, 2, Outcome::No, TradeSide::Buy, 4_000, now - HOUR),
            trade(3, 2, Outcome::No, TradeSide::Buy, 4_000, now - HOUR),
            trade(3, 2, Outcome::Yes, TradeSide::Sell, 4_000, now - HOUR),
        ]);
        let ids: Vec<u32> = a.whales.iter().map(|w| w.wallet).collect();
        assert_eq!(ids, vec![3, 1], "sorted by volume, small wallet 2 is no whale");
        assert_eq!(a.whales[0].volume, 20_000_000_000);
        assert_eq!(a.whales[0].net_yes_flow, -20_000_000_000);
        assert_eq!(a.whales[1].net_yes_flow, 6_000_000_000);
    }

    #[test]
    fn market_signals_count_distinct_whales_and_sign_the_flow() {
        let now = 100 * HOUR;
        let a = run(vec![
            trade(1, 4, Outcome::Yes, TradeSide::Buy, 10_000, now - 1),
            trade(1, 4, Outcome::Yes, TradeSide::Buy, 10_000, now - 1),
            trade(2, 4, Outcome::No, TradeSide::Sell, 30_000, now - 1),
            trade(5, 4, Outcome::Yes, TradeSide::Buy, 10, now - 1),
        ]);
        assert_eq!(a.markets.len(), 1);
        let m = &a.markets[0];
        assert_eq!((m.market, m.whale_count), (4, 2));
        assert_eq!(m.net_yes_flow, 50_000_000_000);
        assert!((m.activity - 1.0).abs() < 1e-6);
        // Whale 1 traded 20,000 and whale 2 30,000 of 50,000: 0.4² + 0.6².
        assert!((m.concentration - 0.52).abs() < 1e-6, "{}", m.concentration);
    }

    #[test]
    fn concentration_is_one_for_a_lone_whale_and_falls_as_volume_spreads() {
        let now = 100 * HOUR;
        let lone = run(vec![trade(1, 0, Outcome::Yes, TradeSide::Buy, 30_000, now - 1)]);
        assert!((lone.markets[0].concentration - 1.0).abs() < 1e-6);
        let four = run((1..=4).map(|w| trade(w, 0, Outcome::No, TradeSide::Buy, 25_000, now - 1)).collect());
        assert_eq!(four.markets[0].whale_count, 4);
        assert!((four.markets[0].concentration - 0.25).abs() < 1e-6);
    }

    #[test]
    fn old_future_and_out_of_range_trades_are_ignored() {
        let now = 100 * HOUR;
        let a = run(vec![
            trade(1, 0, Outcome::Yes, TradeSide::Buy, 50_000, now - 25 * HOUR),
            trade(1, 0, Outcome::Yes, TradeSide::Buy, 50_000, now + 1),
            trade(11, 0, Outcome::Yes, TradeSide::Buy, 50_000, now - 1),
            trade(1, 9, Outcome::Yes, TradeSide::Buy, 50_000, now - 1),
        ]);
        assert!(a.whales.is_empty());
        assert!(a.markets.is_empty());
    }
}
