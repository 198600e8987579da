//! Gamma listings: keyset pages (`/markets/keyset` with `after_cursor`) as Polymarket documents
//! them, offset pages only when keyset paging is refused, and a bad page that costs its own
//! markets, not the listing.

use super::gamma::{GammaError, PROTOCOL_V2, parse_keyset_page, parse_markets};
use super::http::{Http, Request, Route};
use crate::exchange::error::{ExchangeError, Result};
use crate::exchange::types::Market;

/// Most markets a keyset page may hold.
const KEYSET_PAGE: usize = 100;
/// Offset pages in a row that may fail before the listing stops with what it has.
const BAD_PAGES_IN_A_ROW: usize = 3;

/// The tradeable markets of one listing, and what was left out.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub markets: Vec<Market>,
    /// Protocol-V2 markets, not traded by this version.
    pub protocol_v2: usize,
    /// Other markets that are not binary, open and tradeable.
    pub skipped: usize,
    /// Pages that failed (their markets are missing from this listing).
    pub bad_pages: usize,
}

impl Listing {
    fn add(&mut self, page: Vec<Market>, rejected: &[GammaError]) {
        for e in rejected {
            match e {
                GammaError::Unusable { reason, .. } if reason == PROTOCOL_V2 => self.protocol_v2 += 1,
                _ => self.skipped += 1,
            }
        }
        self.markets.extend(page.into_iter().filter(|m| m.accepting_orders));
    }
}

/// Lists open markets, at most `max_markets`.
///
/// # Errors
/// When the first page cannot be had; later pages that fail are counted in `bad_pages`.
pub(super) async fn list(http: &Http, gamma: &str, max_markets: usize, page_size: usize) -> Result<Listing> {
    let mut listing = match keyset(http, gamma, max_markets, page_size).await {
        Err(e @ (ExchangeError::NotFound(_) | ExchangeError::Rejected { .. })) => {
            tracing::warn!(error = %e, "gamma: keyset paging refused; listing with offset pages");
            offset(http, gamma, max_markets, page_size).await?
        }
        other => other?,
    };
    listing.markets.truncate(max_markets);
    if listing.skipped + listing.protocol_v2 > 0 {
        tracing::debug!(
            skipped = listing.skipped,
            protocol_v2 = listing.protocol_v2,
            "gamma: markets that are not binary, open and tradeable were left out"
        );
    }
    Ok(listing)
}

fn open_markets(limit: usize) -> Vec<(&'static str, String)> {
    vec![("active", "true".to_owned()), ("closed", "false".to_owned()), ("limit", limit.to_string())]
}

async fn keyset(http: &Http, gamma: &str, max_markets: usize, page_size: usize) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut cursor: Option<String> = None;
    let mut pages = 0_usize;
    while listing.markets.len() < max_markets {
        let mut query = open_markets(page_size.clamp(1, KEYSET_PAGE));
        query.extend(cursor.iter().map(|c| ("after_cursor", c.clone())));
        let request = Request::get(gamma, "/markets/keyset", &query, Route::GammaMarkets);
        let page = match http.send(&request, None).await {
            Ok(body) => {
                parse_keyset_page(&body).map_err(|e| ExchangeError::Malformed { reason: e.to_string() })
            }
            Err(e) => Err(e),
        };
        let super::gamma::KeysetPage { markets, skipped: rejected, next_cursor: next } = match page {
            Ok(page) => page,
            Err(e) if pages == 0 => return Err(e),
            // Without the page there is no cursor to go on with: keep what was listed.
            Err(e) => {
                tracing::warn!(error = %e, listed = listing.markets.len(), "gamma: a keyset page failed; the listing stops there");
                listing.bad_pages += 1;
                break;
            }
        };
        pages += 1;
        listing.add(markets, &rejected);
        match next {
            Some(next) if cursor.as_ref() != Some(&next) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(listing)
}

async fn offset(http: &Http, gamma: &str, max_markets: usize, page_size: usize) -> Result<Listing> {
    let mut listing = Listing::default();
    let (mut offset, mut bad_in_a_row, mut pages) = (0_usize, 0_usize, 0_usize);
    while listing.markets.len() < max_markets {
        let mut query = open_markets(page_size);
        query.push(("offset", offset.to_string()));
        let request = Request::get(gamma, "/markets", &query, Route::GammaMarkets);
        let page = match http.send(&request, None).await {
            Ok(body) => parse_markets(&body).map_err(|e| ExchangeError::Malformed { reason: e.to_string() }),
            Err(e) => Err(e),
        };
        match page {
            Ok((markets, rejected)) => {
                let n = markets.len() + rejected.len();
                listing.add(markets, &rejected);
                (pages, bad_in_a_row) = (pages + 1, 0);
                if n < page_size {
                    break;
                }
                offset += n;
            }
            Err(e) if pages == 0 && bad_in_a_row == 0 && offset == 0 => return Err(e),
            // One bad page costs its own markets: skip past it.
            Err(e) => {
                tracing::warn!(error = %e, offset, "gamma: a listing page failed; skipping it");
                listing.bad_pages += 1;
                bad_in_a_row += 1;
                if bad_in_a_row >= BAD_PAGES_IN_A_ROW {
                    break;
                }
                offset += page_size;
            }
        }
    }
    Ok(listing)
}

/// The markets of `tokens`, looked up on Gamma by token id whatever their state (closed ones
/// included): for a token the listings have not brought, whose fee schedule and tick size an
/// order or a trade still needs.
///
/// # Errors
/// Gamma unreachable or its answer malformed.
pub(super) async fn by_tokens(http: &Http, gamma: &str, tokens: &[String]) -> Result<Vec<Market>> {
    let mut query: Vec<(&str, String)> = tokens.iter().map(|t| ("clob_token_ids", t.clone())).collect();
    query.push(("limit", tokens.len().max(1).to_string()));
    let request = Request::get(gamma, "/markets", &query, Route::GammaMarkets);
    let body = http.send(&request, None).await?;
    let (markets, rejected) =
        parse_markets(&body).map_err(|e| ExchangeError::Malformed { reason: e.to_string() })?;
    for e in rejected {
        tracing::warn!(error = %e, "gamma: a market looked up by token was left out");
    }
    Ok(markets)
}
