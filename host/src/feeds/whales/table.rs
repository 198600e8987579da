//! The whale table's rules: what a trade, a top-holder entry and a market's resolution change
//! in a wallet's [`WhaleRecord`], when a wallet counts as a market maker, and its realised win
//! rate. Pure functions over a store transaction, shared by the engine (trades, resolutions) and
//! the tracker (holders), so both keep the table the same way.

use crate::exchange::Side;
use crate::exchange::sim::WhaleTrade;
use crate::store::{Result, WhaleMarket, WhaleProfile, WhaleRecord, Writer};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Most markets whose per-market detail is kept for one wallet: a market maker touching
/// thousands of markets must not grow its record without bound. Beyond it, totals still count.
pub const MAX_ACTIVITY: usize = 2_000;

/// When a wallet looks like a market maker rather than a trader with a view: it is active in at
/// least `min_markets` markets AND trades both sides in at least `min_two_sided_percent` % of
/// them. "Both sides" in a market means buying YES and NO, or buying and selling the same
/// outcome: quoting, not conviction. Such wallets are flagged and left out of the signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketMakerRule {
    pub min_markets: usize,
    pub min_two_sided_percent: u32,
}

impl Default for MarketMakerRule {
    fn default() -> Self {
        Self { min_markets: 20, min_two_sided_percent: 50 }
    }
}

/// Whether the wallet traded both sides of this market.
#[must_use]
pub fn two_sided(m: &WhaleMarket) -> bool {
    let [bought_yes, bought_no] = m.bought.map(|b| b > Decimal::ZERO);
    let [sold_yes, sold_no] = m.sold.map(|s| s > Decimal::ZERO);
    (bought_yes && (bought_no || sold_yes)) || (bought_no && sold_no)
}

impl MarketMakerRule {
    /// Whether `w` is market-maker-like under this rule.
    #[must_use]
    pub fn is_market_maker(&self, w: &WhaleRecord) -> bool {
        let markets = w.activity.len();
        if markets == 0 || markets < self.min_markets {
            return false;
        }
        let both = w.activity.iter().filter(|m| two_sided(m)).count();
        both.saturating_mul(100) >= markets.saturating_mul(self.min_two_sided_percent as usize)
    }
}

/// Realised win rate, percent: wins / (wins + losses) over resolved markets the wallet bought
/// into; `None` while none has resolved.
#[must_use]
pub fn win_rate_percent(w: &WhaleRecord) -> Option<f64> {
    let total = w.wins + w.losses;
    (total > 0).then(|| 100.0 * f64::from(w.wins) / f64::from(total))
}

fn activity<'a>(w: &'a mut WhaleRecord, market: &str) -> Option<&'a mut WhaleMarket> {
    if let Some(i) = w.activity.iter().position(|m| *m.market == *market) {
        return w.activity.get_mut(i);
    }
    if w.activity.len() >= MAX_ACTIVITY {
        return None;
    }
    w.activity.push(WhaleMarket { market: market.into(), ..WhaleMarket::default() });
    w.activity.last_mut()
}

/// Notes a market in the wallet's list, most recent last; past [`MAX_ACTIVITY`] the longest
/// unseen is forgotten (a market maker touching thousands of markets must not grow it forever).
fn note_market(w: &mut WhaleRecord, market: &str) {
    if let Some(i) = w.markets.iter().position(|m| **m == *market) {
        let seen = w.markets.remove(i);
        w.markets.push(seen);
        return;
    }
    if w.markets.len() >= MAX_ACTIVITY {
        w.markets.remove(0);
    }
    w.markets.push(market.into());
}

/// Adds `trades` (each seen once) to their wallets' records; returns the wallets seen for the
/// first time.
///
/// # Errors
/// Storage errors.
pub fn record_trades(
    w: &mut Writer<'_>,
    trades: &[WhaleTrade],
    rule: MarketMakerRule,
) -> Result<Vec<String>> {
    let mut by_wallet: BTreeMap<&str, Vec<&WhaleTrade>> = BTreeMap::new();
    for t in trades {
        by_wallet.entry(t.wallet.as_str()).or_default().push(t);
    }
    let mut new = Vec::new();
    for (address, theirs) in by_wallet {
        let mut r = match w.whale(address)? {
            Some(r) => r,
            None => {
                new.push(address.to_owned());
                WhaleRecord {
                    address: address.to_owned(),
                    first_seen_ms: theirs.iter().map(|t| t.at_ms).min().unwrap_or(0),
                    ..WhaleRecord::default()
                }
            }
        };
        for t in theirs {
            r.total_volume += t.price * t.shares;
            r.trade_count += 1;
            r.first_seen_ms = r.first_seen_ms.min(t.at_ms);
            r.last_trade_ms = r.last_trade_ms.max(t.at_ms);
            note_market(&mut r, &t.market);
            let o = t.outcome.min(1);
            if let Some(m) = activity(&mut r, &t.market) {
                match t.side {
                    Side::Buy => m.bought[o] += t.shares,
                    Side::Sell => m.sold[o] += t.shares,
                }
            }
        }
        r.market_maker = rule.is_market_maker(&r);
        w.put_whale(r)?;
    }
    Ok(new)
}

/// A top holder of one outcome of a market (Data API `/holders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub wallet: String,
    pub market: String,
    /// 0 = YES, 1 = NO.
    pub outcome: usize,
    pub shares: Decimal,
}

/// Records top holders: the market joins the wallet's markets, the holding counts as having
/// bought that outcome (at least that many shares), and the largest holding is kept. Idempotent:
/// seeing the same holding twice changes nothing. Returns the wallets seen for the first time.
///
/// # Errors
/// Storage errors.
pub fn record_holders(
    w: &mut Writer<'_>,
    holders: &[Holder],
    rule: MarketMakerRule,
    now_ms: i64,
) -> Result<Vec<String>> {
    let mut new = Vec::new();
    for h in holders {
        let mut r = match w.whale(&h.wallet)? {
            Some(r) => r,
            None => {
                new.push(h.wallet.clone());
                WhaleRecord { address: h.wallet.clone(), first_seen_ms: now_ms, ..WhaleRecord::default() }
            }
        };
        note_market(&mut r, &h.market);
        r.top_holding = r.top_holding.max(h.shares);
        if let Some(m) = activity(&mut r, &h.market) {
            let o = h.outcome.min(1);
            m.bought[o] = m.bought[o].max(h.shares);
        }
        r.market_maker = rule.is_market_maker(&r);
        w.put_whale(r)?;
    }
    Ok(new)
}

/// The whale-analyzer's profiles of the scan: each wallet's record (it exists: its trades were
/// recorded first) takes its latest profile; unknown addresses are skipped.
///
/// # Errors
/// Storage errors.
pub fn record_profiles(w: &mut Writer<'_>, profiles: &[(String, WhaleProfile)]) -> Result<()> {
    for (address, profile) in profiles {
        let Some(mut r) = w.whale(address)? else { continue };
        r.profile = Some(profile.clone());
        w.put_whale(r)?;
    }
    Ok(())
}

/// Counts a resolved market for the wallets in `addresses` that bought into it: a win when the
/// outcome they were net long is `winner`, a loss otherwise; wallets flat in it are not counted.
/// Each wallet's market is counted once.
///
/// # Errors
/// Storage errors.
pub fn record_resolution(
    w: &mut Writer<'_>,
    market: &str,
    winner: usize,
    addresses: &[String],
) -> Result<()> {
    for address in addresses {
        let Some(mut r) = w.whale(address)? else { continue };
        let Some(m) = r.activity.iter_mut().find(|m| *m.market == *market && m.settled.is_none()) else {
            continue;
        };
        let net = [m.bought[0] - m.sold[0], m.bought[1] - m.sold[1]];
        let long = if net[0] > net[1] { 0 } else { 1 };
        m.settled = Some(u8::from(winner == 1));
        if net[long] <= Decimal::ZERO || net[0] == net[1] {
            w.put_whale(r)?;
            continue;
        }
        if long == winner {
            r.wins += 1;
        } else {
            r.losses += 1;
        }
        w.put_whale(r)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallets_market_list_keeps_the_most_recent_and_is_bounded() {
        let mut w = WhaleRecord::default();
        for i in 0..MAX_ACTIVITY + 500 {
            note_market(&mut w, &format!("0x{i}"));
        }
        assert_eq!(w.markets.len(), MAX_ACTIVITY);
        assert_eq!(&*w.markets[0], "0x500", "the oldest went first");
        note_market(&mut w, "0x600");
        assert_eq!(w.markets.last().map(|m| &**m), Some("0x600"), "seen again: most recent");
        assert_eq!(w.markets.len(), MAX_ACTIVITY);
    }
}
