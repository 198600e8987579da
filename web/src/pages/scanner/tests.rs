//! The Scanner page against the fake backend.

use crate::fake::{Call, Fake, dec};
use crate::pages::test_util::{assert_escaped, assert_safe, get, post_form};
use axum::http::StatusCode;
use std::sync::Arc;

#[tokio::test]
async fn scanner_lists_opportunities_with_factors_and_signals() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    for needle in [
        "<form id=\"scan-now\" method=\"post\" action=\"/scan\"",
        "Scan now",
        "id=\"last-scan\"",
        "<table id=\"opportunities\"",
        "<tr class=\"opportunity\" data-market-id=\"0xa\"",
        "<td class=\"score num\">8.5</td>",
        "<span class=\"factor\" data-name=\"spread\">spread 0.80 × 2</span>",
        "<span class=\"factor\" data-name=\"depth\">depth 0.50</span>",
        "class=\"enter-position\" method=\"post\" action=\"/positions\"",
        "<input type=\"hidden\" name=\"market_id\" value=\"0xa\">",
        "name=\"capital\"",
        "Enter position",
        "id=\"news\"",
        "id=\"whales\"",
        "id=\"trends\"",
        "data-live-src=\"/partials/opportunities\"",
        "3 Protocol-V2 markets left out: this version does not trade them.",
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    assert!(!body.contains("href=\"javascript:"), "a javascript: news url is not a link");
    assert!(body.contains("<strong>&lt;script&gt;"), "its title is shown as text");
    assert!(
        body.contains("data-market-id=\"0xa\"") && body.contains("(relevance 0.75, sentiment -0.50)"),
        "why a news item matched a market is shown"
    );
    let whales = whales_section(&body);
    assert!(whales.contains("<td class=\"num weight\">0.60</td>"), "the analyzer's weight: {whales}");
    assert!(whales.contains("<td class=\"num flow\">-42000.50</td>"), "its net YES flow: {whales}");
}

#[tokio::test]
async fn news_sources_show_success_and_failure_with_the_error_escaped() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    let news = &body[body.find("<section id=\"news\"").unwrap()..];
    let news = &news[..news.find("</section>").unwrap()];
    for needle in [
        "<ul id=\"news-sources\" class=\"items\">",
        "<li class=\"news-source\" data-kind=\"feed\" data-failures=\"0\">",
        "<span class=\"mono\">https://news.test/rss.xml</span>",
        "<span class=\"tag ok\">ok</span>",
        "Last success 2023-11-14 22:13:20 UTC: 12 items, 3 new",
        "<li class=\"news-source\" data-kind=\"json-api\" data-failures=\"3\">",
        "<span class=\"mono\">https://api.test/v2/top?apiKey=[redacted]</span>",
        "<span class=\"tag warn\">failing</span>",
        "No success yet",
        "3 failures in a row; next attempt 2023-11-14 22:21:20 UTC",
        "Last error: malformed news API answer: &lt;script&gt;alert(1)&lt;/script&gt;",
    ] {
        assert!(news.contains(needle), "missing {needle}: {news}");
    }
    assert!(!news.contains("No news feeds configured"));

    // None configured: the simulator's headlines are what there is; elsewhere, nothing.
    let none = Arc::new(Fake { news_sources: Vec::new(), ..Fake::default() });
    let (status, _, body) = get(none, "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(
            "<p id=\"news-sources\" class=\"muted\">No news feeds configured; the simulator's headlines are used.</p>"
        ),
        "{body}"
    );
    assert!(!body.contains("class=\"news-source\""));
    let remote = super::news_sources(&[], false).into_string();
    assert!(remote.contains("no news is fetched") && !remote.contains("simulator"), "{remote}");
    let never = crate::model::NewsSourceView {
        last_attempt_ms: None,
        last_success_ms: None,
        ..crate::fake::news_sources().remove(0)
    };
    let markup = super::news_sources(&[never], true).into_string();
    assert!(markup.contains("Not fetched yet") && !markup.contains("tag ok"), "{markup}");
}

/// The Whales section of a Scanner page.
fn whales_section(body: &str) -> &str {
    let whales = &body[body.find("<section id=\"whales\"").unwrap()..];
    &whales[..whales.find("</section>").unwrap()]
}

#[tokio::test]
async fn the_whale_tracker_shows_its_last_poll_and_a_failure_escaped() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    let whales = whales_section(&body);
    for needle in [
        "<h3 class=\"sub\">Tracker</h3>",
        "<div id=\"whale-tracker\" data-failures=\"2\">",
        "<span class=\"mono\">https://data-api.test</span>",
        "<span class=\"tag warn\">failing</span>",
        "Last poll 2023-11-14 22:33:20 UTC (310 ms): 52 markets, 0 trades received, 0 new, 0 holders, 0 pages.",
        "Last success 2023-11-14 22:13:20 UTC; polls every 10 min, next 2023-11-14 22:43:20 UTC.",
        "<p class=\"warn\">2 failed polls in a row; 4 requests failed in the last poll",
        "Last error: Data API /holders: HTTP 403: &lt;script&gt;alert(1)&lt;/script&gt;",
    ] {
        assert!(whales.contains(needle), "missing {needle}: {whales}");
    }
    assert!(!whales.contains("tag ok") && !whales.contains("simulator"), "{whales}");

    // Healthy: its counts, paging capped, no warning.
    let healthy = Arc::new(Fake { whale_tracker: Some(crate::fake::healthy_tracker()), ..Fake::default() });
    let (_, _, body) = get(healthy, "/scanner").await;
    let whales = whales_section(&body);
    for needle in [
        "<div id=\"whale-tracker\" data-failures=\"0\">",
        "<span class=\"tag ok\">ok</span>",
        "Last poll 2023-11-14 22:13:20 UTC (2.5 s): 52 markets, 140 trades received, 37 new, 18 holders, \
         12 pages (paging capped), 1 malformed skipped.",
        "Last success 2023-11-14 22:13:20 UTC; polls every 10 min, next 2023-11-14 22:23:20 UTC.",
    ] {
        assert!(whales.contains(needle), "missing {needle}: {whales}");
    }
    assert!(!whales.contains("tag warn") && !whales.contains("class=\"warn\""), "{whales}");

    // Some requests failed, the poll still got answers: tagged, not failing.
    let partial = crate::model::WhaleTrackerView {
        failed_requests: 1,
        last_error: Some("Data API /holders: HTTP 500: boom".into()),
        ..crate::fake::healthy_tracker()
    };
    let markup = super::whale_tracker(Some(&partial)).into_string();
    assert!(markup.contains("<span class=\"tag warn\">partial</span>"), "{markup}");
    assert!(
        markup
            .contains("<p class=\"warn\">1 request failed in the last poll<br>Last error: Data API /holders"),
        "{markup}"
    );
    // Not polled yet, nothing to poll.
    let waiting = crate::model::WhaleTrackerView {
        last_poll_ms: None,
        last_poll_duration_ms: None,
        last_success_ms: None,
        idle: true,
        ..crate::fake::healthy_tracker()
    };
    let markup = super::whale_tracker(Some(&waiting)).into_string();
    assert!(
        markup.contains(
            "Not polled yet. No market to poll now (no scan yet, nothing held).<br>No success yet;"
        ),
        "{markup}"
    );
    assert!(!markup.contains("tag"), "{markup}");

    // No tracker: the simulator's own trades.
    let sim = Arc::new(Fake { whale_tracker: None, ..Fake::default() });
    let (status, _, body) = get(sim, "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        whales_section(&body).contains(
            "<p id=\"whale-tracker\" class=\"muted\">The simulator brings its own whale trades; \
             the Data API tracker runs in paper and live mode.</p>"
        ),
        "{body}"
    );
    assert!(!body.contains("<h3 class=\"sub\">Tracker</h3>"));
}

#[tokio::test]
async fn trends_show_momentum_volatility_and_volume_over_a_chosen_window() {
    let fake = Arc::new(Fake::default());
    let (status, _, body) = get(Arc::clone(&fake), "/scanner").await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "Trends (last 1 h)",
        "<strong aria-current=\"true\">1 h</strong>",
        "<a href=\"/scanner?window=86400#trends\">24 h</a>",
        "<th scope=\"col\" class=\"num\">Momentum</th>",
        "<th scope=\"col\" class=\"num\">Volume change</th>",
        "<td class=\"num pos\">0.05</td>",
        "<td class=\"num\">0.0100</td>",
        "<td class=\"num\">12500.50</td>",
        "<td class=\"num neg\">-250.00</td>",
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    let (status, _, body) = get(Arc::clone(&fake), "/scanner?min_score=5&window=86400").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Trends (last 24 h)"));
    assert!(body.contains("<a href=\"/scanner?min_score=5&amp;window=3600#trends\">1 h</a>"));
    let (_, _, body) = get(Arc::clone(&fake), "/scanner?window=604800").await;
    assert!(
        body.contains("Trends (last 7 d)") && body.contains("<strong aria-current=\"true\">7 d</strong>")
    );
    for bad in ["/scanner?window=59", "/scanner?window=an-hour", "/scanner?window=2592001"] {
        let (status, _, body) = get(Arc::clone(&fake), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.contains("`window` must be a number of seconds"), "{bad}");
    }
}

#[tokio::test]
async fn min_score_filters_and_is_checked() {
    let fake = Arc::new(Fake::default());
    let (status, _, body) = get(Arc::clone(&fake), "/scanner?min_score=5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-market-id=\"0xb\"") && !body.contains("data-market-id=\"0xc\""));
    assert!(body.contains("data-live-src=\"/partials/opportunities?min_score=5\""));
    let (_, _, part) = get(Arc::clone(&fake), "/partials/opportunities?min_score=7").await;
    assert!(part.contains("data-market-id=\"0xa\"") && !part.contains("data-market-id=\"0xb\""));
    assert!(!part.contains("<html"));
    assert_safe(&part);
    let (status, _, body) = get(fake, "/scanner?min_score=11").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<p class=\"error\" role=\"alert\">`min_score` must be"));
}

#[tokio::test]
async fn search_sort_and_paging_live_in_the_url_and_the_live_refresh_keeps_them() {
    let fake = Arc::new(Fake::default());
    // Sorted by score, ascending: the worst first.
    let (status, _, body) = get(Arc::clone(&fake), "/scanner?sort=score&dir=asc").await;
    assert_eq!(status, StatusCode::OK);
    let order: Vec<usize> = ["0xc", "0xb", "0xa"]
        .iter()
        .map(|id| body.find(&format!("data-market-id=\"{id}\"")).unwrap_or_else(|| panic!("{id}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    for needle in [
        "data-live-src=\"/partials/opportunities?sort=score&amp;dir=asc\"",
        // The column sorted by says so, and its link turns the order round.
        "<th scope=\"col\" class=\"num\" aria-sort=\"ascending\"><a class=\"sort\" href=\"/scanner\" data-sort=\"score\">Score ↑</a></th>",
        "<a class=\"sort\" href=\"/scanner?sort=liquidity\" data-sort=\"liquidity\">Liquidity</a>",
        "<input type=\"hidden\" name=\"sort\" value=\"score\">",
        "Showing 1–3 of 3.",
    ] {
        assert!(body.contains(needle), "{needle} missing");
    }
    // A search narrows the list, and the partial the page refreshes from searches the same.
    let (_, _, body) = get(Arc::clone(&fake), "/scanner?q=0xb&category=politics").await;
    let table = &body[body.find("<table id=\"opportunities\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("data-market-id=\"0xb\"") && !table.contains("data-market-id=\"0xa\""));
    assert!(body.contains("Showing 1–1 of 1 matching (3 in the last scan)."));
    assert!(body.contains("<option value=\"politics\" selected>politics</option>"));
    assert!(body.contains("data-live-src=\"/partials/opportunities?q=0xb&amp;category=politics\""));
    let (_, _, part) = get(Arc::clone(&fake), "/partials/opportunities?q=0xb&category=politics").await;
    assert!(part.contains("data-market-id=\"0xb\"") && !part.contains("data-market-id=\"0xa\""));
    let (_, _, none) = get(Arc::clone(&fake), "/scanner?category=sports").await;
    assert!(none.contains("No opportunity matches (3 in the last scan)."));
    assert!(
        none.contains("<option value=\"sports\" selected>sports</option>"),
        "a bookmarked category stays"
    );
    // Bad values are refused with what was expected.
    let (status, _, body) = get(fake, "/scanner?sort=price").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("`sort` must be one of score, market"), "{body}");
}

#[tokio::test]
async fn scan_and_enter_call_the_bot_and_redirect() {
    let fake = Arc::new(Fake::default());
    let (status, headers, _) = post_form(Arc::clone(&fake), "/scan", &[]).await;
    assert_eq!((status, &headers["location"]), (StatusCode::SEE_OTHER, &"/scanner".parse().unwrap()));
    let (status, headers, _) =
        post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", "")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/");
    let (status, _, _) =
        post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", "250.10")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        fake.calls(),
        vec![Call::Scan, Call::Enter("0xa".into(), None), Call::Enter("0xa".into(), Some(dec("250.10")))]
    );
}

#[tokio::test]
async fn refused_entries_explain_why() {
    let fake = Arc::new(Fake::default());
    for (capital, message) in
        [("abc", "must be a number"), ("-5", "more than 0"), ("NaN", "must be a number")]
    {
        let (status, _, body) =
            post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xa"), ("capital", capital)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{capital}");
        assert!(body.contains("<p class=\"error\" role=\"alert\">"), "{capital}");
        let field = format!("value=\"{capital}\"><p class=\"field-error\" data-field=\"capital\">");
        assert!(body.contains(&field), "the error sits next to the typed value: {capital}");
        assert!(body.contains(message), "{capital}");
        assert_safe(&body);
    }
    assert!(fake.calls().is_empty(), "nothing invalid reaches the bot");
    let (status, _, body) = post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xfull")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("no free slot"));
    let (status, _, _) = post_form(Arc::clone(&fake), "/positions", &[("market_id", "0xnone")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = post_form(fake, "/positions", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
