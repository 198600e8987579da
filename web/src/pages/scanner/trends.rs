//! The Scanner's trends section: momentum, volatility and volume over a chosen window.

use super::super::layout::{alert, money, pnl_class, price};
use crate::backend::BackendResult;
use crate::model::TrendView;
use maud::{Markup, html};

/// A window in words: `45 min`, `1 h`, `24 h`, `7 d`.
pub(super) fn window_label(secs: u64) -> String {
    if secs.is_multiple_of(86_400) && secs > 86_400 {
        format!("{} d", secs / 86_400)
    } else if secs.is_multiple_of(3_600) {
        format!("{} h", secs / 3_600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// The window chooser: a link per configured window (and the one shown, if another), keeping
/// the opportunities' view (`query`, a query string).
pub(super) fn trend_windows(windows: &[u64], shown: u64, query: &str) -> Markup {
    let mut all = windows.to_vec();
    if !all.contains(&shown) {
        all.push(shown);
    }
    let min = if query.is_empty() { String::new() } else { format!("{query}&") };
    html! {
        nav class="trend-windows" aria-label="Trend window" {
            @for w in all {
                @if w == shown {
                    strong aria-current="true" { (window_label(w)) }
                } @else {
                    a href={ "/scanner?" (min) "window=" (w) "#trends" } { (window_label(w)) }
                }
                " "
            }
        }
    }
}

pub(super) fn trends(items: &BackendResult<Vec<TrendView>>) -> Markup {
    html! {
        @match items {
            Ok(items) if items.is_empty() => { p { "No price history yet." } }
            Ok(items) => {
                div class="table-wrap" {
                    table class="trends" {
                        thead { tr {
                            th scope="col" { "Market" } th scope="col" class="num" { "YES mid" }
                            th scope="col" class="num" { "Momentum" } th scope="col" class="num" { "Volatility" }
                            th scope="col" class="num" { "Volume 24 h" } th scope="col" class="num" { "Volume change" }
                            th scope="col" class="num" { "Points" }
                        } }
                        tbody {
                            @for t in items {
                                tr data-market-id=(t.market_id) {
                                    td class="question" { (t.question) }
                                    td class="num" { (price(t.yes_mid)) }
                                    td class={ "num " (t.change.and_then(pnl_class).unwrap_or("")) } {
                                        (price(t.change))
                                    }
                                    td class="num" {
                                        @match t.volatility { Some(v) => (format!("{v:.4}")), None => "—" }
                                    }
                                    td class="num" { (t.volume_24h.map_or_else(|| html! { "—" }, money)) }
                                    td class={ "num " (t.volume_change.and_then(pnl_class).unwrap_or("")) } {
                                        (t.volume_change.map_or_else(|| html! { "—" }, money))
                                    }
                                    td class="num" { (t.points) }
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => { (alert(&format!("Trends are not available: {e}"))) }
        }
    }
}
