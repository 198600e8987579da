//! What the live venue knows of markets: the listing (which also decides what the feed
//! follows), markets looked up by token when a listing has not brought them, and the account's
//! trades with each fee at its market's schedule.

use super::{LiveExchange, lock};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::polymarket::http::{Call, Route};
use crate::exchange::polymarket::trading::{Me, parse_trades};
use crate::exchange::types::{Market, TokenId, TradeReport};
use reqwest::Method;
use rust_decimal::Decimal;

impl LiveExchange {
    pub(super) async fn list(&self) -> Result<Vec<Market>> {
        let config = &self.shared.config;
        let listing = crate::exchange::polymarket::listing::list(
            &self.shared.rest.http,
            &config.gamma_url,
            config.max_markets,
            config.page_size,
        )
        .await?;
        {
            let mut health = lock(&self.shared.health);
            health.listing_protocol_v2 = listing.protocol_v2 as u64;
            health.listing_bad_pages = listing.bad_pages as u64;
        }
        let markets = listing.markets;
        let gone = {
            let mut interest = lock(&self.shared.interest);
            let gone =
                interest.next_listing(markets.iter().flat_map(|m| m.outcomes.iter().map(|o| &o.token_id)));
            let mut known = lock(&self.shared.markets);
            let mut meta = lock(&self.shared.rest.meta);
            for m in &markets {
                for o in &m.outcomes {
                    known.insert(o.token_id.clone(), m.clone());
                    meta.insert(o.token_id.clone(), (m.tick_size, m.neg_risk));
                }
            }
            // Markets no longer listed, held or read: forgotten (they would pile up otherwise).
            known.retain(|t, _| interest.follows(t));
            meta.retain(|t, _| interest.follows(t));
            gone
        };
        self.shared.feed.unwatch(&gone);
        let watch: Vec<TokenId> = markets
            .iter()
            .flat_map(|m| m.outcomes.iter().map(|o| o.token_id.clone()))
            .take(config.watch_limit)
            .collect();
        self.shared.feed.watch(watch);
        Ok(markets)
    }

    /// Makes sure the markets of `tokens` are known (fee schedule, tick size, neg-risk): a token
    /// no listing has brought (a market held from before a restart whose first listing failed,
    /// or one no longer listed) is looked up on Gamma by its id.
    ///
    /// # Errors
    /// Gamma unreachable, or a token it does not know: nothing may be priced or recorded without
    /// its market's fee schedule.
    pub(super) async fn know_markets(&self, tokens: &[String]) -> Result<()> {
        let missing: Vec<String> = {
            let known = lock(&self.shared.markets);
            tokens.iter().filter(|t| !known.contains_key(*t)).cloned().collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let found = crate::exchange::polymarket::listing::by_tokens(
            &self.shared.rest.http,
            &self.shared.config.gamma_url,
            &missing,
        )
        .await?;
        let mut interest = lock(&self.shared.interest);
        let mut known = lock(&self.shared.markets);
        let mut meta = lock(&self.shared.rest.meta);
        for m in &found {
            for o in &m.outcomes {
                interest.mark([&o.token_id]);
                known.insert(o.token_id.clone(), m.clone());
                meta.entry(o.token_id.clone()).or_insert((m.tick_size, m.neg_risk));
            }
        }
        match missing.iter().find(|t| !known.contains_key(*t)) {
            Some(t) => {
                Err(ExchangeError::Rejected { reason: format!("Gamma knows no market with token {t}") })
            }
            None => Ok(()),
        }
    }

    /// The account's trades since `since_ms`, each taker trade's fee at its market's schedule.
    /// A trade of a market the listings have not brought has that market looked up first: a
    /// fee is never taken as zero for want of a schedule.
    pub(super) async fn trades_now(&self, since_ms: i64) -> Result<Vec<TradeReport>> {
        let trades = self.trades_read(since_ms).await?;
        let unknown: Vec<String> = {
            let known = lock(&self.shared.markets);
            let mut unknown: Vec<String> =
                trades.iter().filter(|t| !known.contains_key(&t.token)).map(|t| t.token.clone()).collect();
            unknown.sort();
            unknown.dedup();
            unknown
        };
        if unknown.is_empty() {
            return Ok(trades);
        }
        self.know_markets(&unknown).await?;
        self.trades_read(since_ms).await
    }

    async fn trades_read(&self, since_ms: i64) -> Result<Vec<TradeReport>> {
        let creds = self.creds()?;
        let fee_of = |token: &str| lock(&self.shared.markets).get(token).map(|m| m.fee).unwrap_or_default();
        let me = Me { api_key: &creds.api_key, address: &creds.address, fee_of: &fee_of };
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            // A second early: whether `after` is strict is not documented; the filter below is exact.
            let mut query = vec![("after", (since_ms / 1_000 - 1).max(0).to_string())];
            if let Some(c) = &cursor {
                query.push(("next_cursor", c.clone()));
            }
            let body =
                self.signed(Method::GET, "/data/trades", &query, None, Route::DataOrders, Call::Read).await?;
            let (page, next) = parse_trades(&body, me)?;
            all.extend(page.into_iter().filter(|t| t.at_ms >= since_ms));
            match next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// The fee of an order's trades, once they add up to what the order filled.
    pub(super) async fn fee_of_order(
        &self,
        order_id: &str,
        sent_ms: i64,
        filled: Decimal,
    ) -> Option<Decimal> {
        // The trades are stamped on the venue's clock; picked by the order's id, so a wide
        // window costs nothing in precision.
        let offset = crate::exchange::Exchange::clock_offset_ms(self).unwrap_or(0);
        let trades = self.trades_now(sent_ms.saturating_add(offset) - 60_000).await.ok()?;
        let mine: Vec<&TradeReport> = trades.iter().filter(|t| t.order_id == order_id).collect();
        let shares: Decimal = mine.iter().map(|t| t.shares).sum();
        (shares == filled).then(|| mine.iter().map(|t| t.fee).sum())
    }
}
