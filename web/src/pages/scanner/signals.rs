//! The Scanner's signal sections: news (with the sources' health), whales and the whale tracker.

use super::super::layout::{alert, money};
use super::trends::window_label;
use crate::backend::BackendResult;
use crate::model::{NewsSourceView, NewsView, WhaleTrackerView, WhaleView};
use crate::query::utc_time;
use maud::{Markup, html};
use std::time::Duration;

/// Whether a link may point there: only web pages, never `javascript:` or `data:`.
fn is_web_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

pub(super) fn news(items: &BackendResult<Vec<NewsView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No news yet." } }
            Ok(items) => {
                ul class="items" {
                    @for n in items {
                        li data-news-id=(n.id) {
                            @if is_web_url(&n.url) {
                                a href=(n.url.trim_start()) rel="noopener noreferrer" target="_blank" { (n.title) }
                            } @else {
                                strong { (n.title) }
                            }
                            br;
                            small class="muted" {
                                (n.source) " · " (utc_time(n.published_ms))
                                @if !n.matches.is_empty() {
                                    " · markets: "
                                    @for (i, m) in n.matches.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        span class="news-match" data-market-id=(m.market)
                                            title="relevance 0..1, sentiment -1..1 (bad to good news for YES)" {
                                            (m.market) " (relevance " (format!("{:.2}", m.relevance))
                                            ", sentiment " (format!("{:+.2}", m.sentiment)) ")"
                                        }
                                    }
                                } @else if !n.markets.is_empty() { " · markets: " (n.markets.join(", ")) }
                            }
                            @if !n.summary.is_empty() { p { (n.summary) } }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("News is not available: {e}"))) }
        }
    }
}

/// The configured news sources and how their fetches go: when each last succeeded with how many
/// items, and for a failing one its failures, error and next attempt (times are wall-clock UTC).
pub(super) fn news_sources(sources: &[NewsSourceView], simulator: bool) -> Markup {
    html! {
        @if sources.is_empty() {
            p id="news-sources" class="muted" {
                @if simulator {
                    "No news feeds configured; the simulator's headlines are used."
                } @else {
                    "No news feeds configured, so no news is fetched: list feeds under [signals.news] \
                     (docs/operations.md)."
                }
            }
        } @else {
            h3 class="sub" { "Sources" }
            ul id="news-sources" class="items" {
                @for s in sources {
                    li class="news-source" data-kind=(s.kind) data-failures=(s.failures) {
                        span class="mono" { (s.url) }
                        " " span class="tag" { (s.kind) }
                        @if s.failures > 0 {
                            " " span class="tag warn" { "failing" }
                        } @else if s.last_success_ms.is_some() {
                            " " span class="tag ok" { "ok" }
                        }
                        br;
                        small class="muted" {
                            @match (s.last_success_ms, s.last_attempt_ms) {
                                (Some(ms), _) => {
                                    "Last success " (utc_time(ms)) " UTC: "
                                    @if s.not_modified {
                                        "not modified"
                                    } @else {
                                        (s.last_items) " items, " (s.last_new) " new"
                                    }
                                }
                                (None, Some(_)) => "No success yet",
                                (None, None) => "Not fetched yet",
                            }
                        }
                        @if s.failures > 0 {
                            p class="warn" {
                                (s.failures) @if s.failures == 1 { " failure" } @else { " failures" } " in a row"
                                @if let Some(at) = s.retry_at_ms { "; next attempt " (utc_time(at)) " UTC" }
                                @if let Some(e) = &s.last_error { br; "Last error: " (e) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn whales(items: &BackendResult<Vec<WhaleView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No whales tracked yet." } }
            Ok(items) => {
                div class="table-wrap" {
                    table class="whales" {
                        thead { tr {
                            th scope="col" { "Address" } th scope="col" class="num" { "Volume" }
                            th scope="col" class="num" { "Trades" } th scope="col" class="num" { "Markets" }
                            th scope="col" class="num" { "Win rate" }
                            th scope="col" class="num" title="The whale analyzer's weight of its moves, 0..1" { "Weight" }
                            th scope="col" class="num" title="Net pUSD into YES in the analysed day (negative: into NO)" { "Net YES flow" }
                            th scope="col" { "Last trade" }
                        } }
                        tbody {
                            @for w in items {
                                tr data-address=(w.address) {
                                    td class="mono" {
                                        (w.address)
                                        @if w.market_maker { " " span class="tag" { "market maker" } }
                                    }
                                    td class="num" { (money(w.total_volume)) }
                                    td class="num" { (w.trade_count) }
                                    td class="num" { (w.markets) }
                                    td class="num" {
                                        @match w.win_rate_percent {
                                            Some(r) => { (format!("{r:.1}")) "%" }
                                            None => "—"
                                        }
                                    }
                                    td class="num weight" {
                                        @match w.weight { Some(x) => { (format!("{x:.2}")) } None => "—" }
                                    }
                                    td class="num flow" {
                                        @match w.net_yes_flow { Some(f) => { (money(f)) } None => "—" }
                                    }
                                    td { (utc_time(w.last_trade_ms)) }
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("Whales are not available: {e}"))) }
        }
    }
}

/// `n` and the word for that many.
fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration in milliseconds, as read: `310 ms`, `2.5 s`.
fn took(ms: u64) -> String {
    if ms < 1_000 { format!("{ms} ms") } else { format!("{:.1} s", Duration::from_millis(ms).as_secs_f64()) }
}

/// The Data API whale tracker: what it reads, how its last poll went (counts, paging), when it
/// last succeeded and polls next, and for a failing one its failed polls in a row and last
/// error (times are UTC). `None`: it does not run, the simulator bringing its own trades.
pub(super) fn whale_tracker(tracker: Option<&WhaleTrackerView>) -> Markup {
    let Some(t) = tracker else {
        return html! {
            p id="whale-tracker" class="muted" {
                "The simulator brings its own whale trades; the Data API tracker runs in paper and live mode."
            }
        };
    };
    let as_usize = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    html! {
        h3 class="sub" { "Tracker" }
        div id="whale-tracker" data-failures=(t.failures) {
            p {
                span class="mono" { (t.data_url) }
                @if t.failures > 0 {
                    " " span class="tag warn" { "failing" }
                } @else if t.failed_requests > 0 {
                    " " span class="tag warn" { "partial" }
                } @else if t.last_success_ms.is_some() {
                    " " span class="tag ok" { "ok" }
                }
                br;
                small class="muted" {
                    @if let Some(ms) = t.last_poll_ms {
                        "Last poll " (utc_time(ms)) " UTC"
                        @if let Some(d) = t.last_poll_duration_ms { " (" (took(d)) ")" }
                        ": " (count(as_usize(t.markets), "market", "markets")) ", "
                        (count(as_usize(t.trades_received), "trade", "trades")) " received, "
                        (t.trades_new) " new, " (count(as_usize(t.holders), "holder", "holders")) ", "
                        (count(as_usize(t.pages), "page", "pages"))
                        @if t.capped > 0 { " (paging capped)" }
                        @if t.skipped > 0 { ", " (t.skipped) " malformed skipped" }
                        "."
                    } @else {
                        "Not polled yet."
                    }
                    @if t.idle { " No market to poll now (no scan yet, nothing held)." }
                    br;
                    @match t.last_success_ms {
                        Some(ms) => { "Last success " (utc_time(ms)) " UTC" }
                        None => { "No success yet" }
                    }
                    "; polls every " (window_label(t.interval_secs))
                    @if let Some(ms) = t.next_poll_ms { ", next " (utc_time(ms)) " UTC" }
                    "."
                }
            }
            @if t.failures > 0 || t.failed_requests > 0 {
                p class="warn" {
                    @if t.failures > 0 { (count(t.failures, "failed poll", "failed polls")) " in a row" }
                    @if t.failures > 0 && t.failed_requests > 0 { "; " }
                    @if t.failed_requests > 0 {
                        (count(as_usize(t.failed_requests), "request", "requests")) " failed in the last poll"
                    }
                    @if let Some(e) = &t.last_error { br; "Last error: " (e) }
                }
            }
        }
    }
}
