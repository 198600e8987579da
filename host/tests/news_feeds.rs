//! The news aggregator against a local feed server on 127.0.0.1 (no network): RSS 2.0 and Atom
//! with odd encodings and broken entries, deduplication, conditional GET, per-source backoff, a
//! malformed feed, the JSON news API and its key; and feed items all the way to the dashboard.

#[path = "support/feed_server.rs"]
mod feed_server;
mod support;

use equilibrage::config::Config;
use equilibrage::exchange::Exchange as _;
use equilibrage::exchange::sim::{SimConfig, SimExchange};
use equilibrage::feeds::news::{API_KEY_VAR, NewsAggregator, NewsFeedsConfig, Poll, SourceKind};
use equilibrage::store::{NewsRecord, Store};
use feed_server::{Answer, FeedServer};
use rust_decimal_macros::dec;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

/// 2026-11-24T12:00:00Z.
const NOW: i64 = 1_795_521_600_000;
const MINUTE: i64 = 60_000;
const RSS: &str = "application/rss+xml";
const ATOM: &str = "application/atom+xml";

/// RSS 2.0 in ISO-8859-1 (declared in the prolog; "é" is the single byte 0xE9), with CDATA, HTML
/// entities, an item without a title, one with an unreadable date, and one whose title is markup.
fn latin1_rss() -> Vec<u8> {
    let text = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0"><channel><title>Wire &amp; Co</title><link>https://news.test/</link><description>d</description>
<item><title><![CDATA[Senate passes <b>infrastructure</b> bill]]></title><link>https://news.test/senate</link>
  <description>&lt;p&gt;The vote was 60&#8211;40.&lt;/p&gt;</description><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>CafÉ owners &amp; unions win &#8220;living wage&#8221; deal</title><link>https://news.test/cafe</link><pubDate>not a date</pubDate></item>
<item><description>An item without a title</description><link>https://news.test/untitled</link></item>
<item><title>&lt;script&gt;alert(1)&lt;/script&gt; Lakers win</title><link>https://news.test/xss</link><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"#;
    // The one non-ASCII character, as ISO-8859-1 encodes it.
    let mut bytes = Vec::new();
    for part in text.split('É').enumerate().map(|(i, p)| (i, p.as_bytes())) {
        if part.0 > 0 {
            bytes.push(0xE9);
        }
        bytes.extend_from_slice(part.1);
    }
    bytes
}

const ATOM_FEED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Wire</title><id>urn:atom-wire</id><updated>2026-11-24T11:00:00Z</updated>
<entry><title>Bitcoin rallies as funds pour in</title><id>urn:1</id><link href="https://news.test/btc"/>
  <updated>2026-11-24T11:00:00Z</updated><summary type="html">&lt;p&gt;Funds &amp;amp; more&lt;/p&gt;</summary></entry>
<entry><title>Regulator approves Ether product</title><id>urn:2</id><link href="https://news.test/eth"/>
  <published>2026-11-24T08:00:00+01:00</published><updated>2026-11-24T08:00:00+01:00</updated></entry>
<entry><id>urn:3</id><link href="https://news.test/untitled-atom"/><updated>2026-11-24T11:00:00Z</updated></entry>
</feed>"#;

fn rss_with(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(title, link)| {
            format!("<item><title>{title}</title><link>{link}</link><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>")
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Other Wire</title>{items}</channel></rss>"#
    )
}

fn config(feeds: &[String]) -> NewsFeedsConfig {
    let mut c = Config::load(None).expect("defaults").signals.news;
    c.feeds = feeds.to_vec();
    c.interval_secs = 60;
    c.max_backoff_secs = 600;
    c.timeout_ms = 2_000;
    c
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("bot.redb")).expect("store");
    (dir, store)
}

fn stored(store: &Store) -> Vec<NewsRecord> {
    store.read().expect("read").news(1_000).expect("news")
}

fn titles(poll: &Poll) -> Vec<&str> {
    poll.fresh.iter().map(|n| n.title.as_str()).collect()
}

/// Everything logged (every level, every crate, unscrubbed) while the guard lives.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The whole test binary's log, captured by one global subscriber: per-test (thread-local)
    /// subscribers race with tracing's global callsite interest cache when tests run in parallel.
    /// Tests pick out their own lines by their feed server's unique address.
    fn global() -> Self {
        static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let captured = Self::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
            captured
        })
        .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[tokio::test]
async fn rss_and_atom_are_parsed_with_odd_encodings_and_broken_entries() {
    let server = FeedServer::start().await;
    server.set("/rss.xml", Answer::ok(RSS, latin1_rss()));
    server.set("/atom.xml", Answer::ok(ATOM, ATOM_FEED));
    let (_dir, store) = store();
    let mut news =
        NewsAggregator::new(config(&[server.url("/rss.xml"), server.url("/atom.xml")]), store.clone())
            .unwrap();
    let poll = news.poll_at(NOW).await;
    assert_eq!((poll.fetched, poll.failed, poll.skipped), (2, 0, 2), "{poll:?}");
    assert_eq!(
        titles(&poll),
        [
            "Senate passes <b>infrastructure</b> bill",
            "Café owners & unions win \u{201c}living wage\u{201d} deal",
            "<script>alert(1)</script> Lakers win",
            "Bitcoin rallies as funds pour in",
            "Regulator approves Ether product",
        ],
        "CDATA kept as written, ISO-8859-1 and entities decoded, untitled entries skipped"
    );
    let senate = &poll.fresh[0];
    assert_eq!((senate.source.as_str(), senate.url.as_str()), ("Wire & Co", "https://news.test/senate"));
    assert_eq!(senate.summary, "The vote was 60\u{2013}40.", "summary markup dropped");
    assert_eq!(senate.published_ms, NOW - 2 * 60 * MINUTE);
    assert_eq!(poll.fresh[1].published_ms, NOW, "an unreadable date is the fetch time");
    assert_eq!(poll.fresh[3].summary, "Funds & more");
    assert_eq!(poll.fresh[4].published_ms, NOW - 5 * 60 * MINUTE, "offsets honoured");
    assert_eq!(poll.fresh[4].source, "Atom Wire");

    let records = stored(&store);
    assert_eq!(records.len(), 5);
    let xss = records.iter().find(|r| r.url == "https://news.test/xss").unwrap();
    assert_eq!(xss.title, "<script>alert(1)</script> Lakers win", "stored as is");
    assert_eq!(xss.fetched_ms, NOW);
}

#[tokio::test]
async fn duplicates_across_fetches_feeds_and_restarts_are_kept_once() {
    let server = FeedServer::start().await;
    server.set("/rss.xml", Answer::ok(RSS, latin1_rss()));
    // The Senate story again, under another title and source, and one story of its own.
    server.set(
        "/other.xml",
        Answer::ok(
            RSS,
            rss_with(&[
                ("Infrastructure bill clears the Senate", "https://news.test/senate"),
                ("Mayor opens bridge", "https://news.test/bridge"),
            ]),
        ),
    );
    let (_dir, store) = store();
    let feeds = [server.url("/rss.xml"), server.url("/other.xml")];
    let mut news = NewsAggregator::new(config(&feeds), store.clone()).unwrap();
    let first = news.poll_at(NOW).await;
    assert_eq!((first.fresh.len(), first.duplicates), (4, 1), "{first:?}");
    let second = news.poll_at(NOW + MINUTE).await;
    assert_eq!((second.fetched, second.fresh.len(), second.duplicates), (2, 0, 5), "{second:?}");
    // A restart remembers what the store holds.
    let mut again = NewsAggregator::new(config(&feeds), store.clone()).unwrap();
    let third = again.poll_at(NOW + 2 * MINUTE).await;
    assert_eq!((third.fresh.len(), third.duplicates), (0, 5), "{third:?}");
    assert_eq!(stored(&store).len(), 4);
}

#[tokio::test]
async fn conditional_get_is_honoured_and_a_304_changes_nothing() {
    let server = FeedServer::start().await;
    let modified = "Tue, 24 Nov 2026 10:00:00 GMT";
    server.set("/rss.xml", Answer::ok(RSS, latin1_rss()).validated("\"v1\"", modified));
    let (_dir, store) = store();
    let mut news = NewsAggregator::new(config(&[server.url("/rss.xml")]), store.clone()).unwrap();
    assert_eq!(news.poll_at(NOW).await.fresh.len(), 3);
    let before = stored(&store);
    let status = &news.sources()[0];
    assert_eq!((status.etag.as_deref(), status.last_modified.as_deref()), (Some("\"v1\""), Some(modified)));

    let poll = news.poll_at(NOW + MINUTE).await;
    assert_eq!((poll.not_modified, poll.fetched, poll.fresh.len()), (1, 0, 0), "{poll:?}");
    let requests = server.requests("/rss.xml");
    assert_eq!(requests.len(), 2);
    assert!(requests[0].get("if-none-match").is_none(), "the first request is plain");
    assert_eq!(requests[1].get("if-none-match").unwrap(), "\"v1\"");
    assert_eq!(requests[1].get("if-modified-since").unwrap(), modified);
    assert_eq!(stored(&store), before, "a 304 changes nothing");

    // New content, new validators: fetched in full again, only the new item is new.
    server.set(
        "/rss.xml",
        Answer::ok(
            RSS,
            rss_with(&[("Fresh story", "https://news.test/fresh"), ("x", "https://news.test/cafe")]),
        )
        .validated("\"v2\"", "Tue, 24 Nov 2026 11:00:00 GMT"),
    );
    let poll = news.poll_at(NOW + 2 * MINUTE).await;
    assert_eq!(titles(&poll), ["Fresh story"]);
    assert_eq!(news.sources()[0].etag.as_deref(), Some("\"v2\""));
    assert_eq!(stored(&store).len(), 4);
}

#[tokio::test]
async fn a_failing_feed_backs_off_longer_each_time_while_the_others_keep_being_fetched() {
    let server = FeedServer::start().await;
    server.set("/good.xml", Answer::ok(RSS, rss_with(&[("Good story", "https://news.test/good")])));
    server.set("/fail.xml", Answer::status(500));
    server.set("/garbage.xml", Answer::ok(RSS, "\u{0}\u{1} this is not a feed <<<"));
    let feeds = [server.url("/good.xml"), server.url("/fail.xml"), server.url("/garbage.xml")];
    let (_dir, store) = store();
    let mut news = NewsAggregator::new(config(&feeds), store).unwrap();
    let count = |path: &str| server.requests(path).len();

    let poll = news.poll_at(NOW).await;
    assert_eq!((poll.fetched, poll.failed, titles(&poll)), (1, 2, vec!["Good story"]));
    let failing = &news.sources()[1];
    assert_eq!((failing.failures, failing.next_attempt_ms), (1, NOW + 2 * MINUTE), "{failing:?}");
    assert_eq!(failing.last_error.as_deref(), Some("HTTP status 500"));

    // One interval on: the good feed is fetched, the failing ones wait.
    let poll = news.poll_at(NOW + MINUTE).await;
    assert_eq!((poll.fetched, poll.waiting, poll.failed), (1, 2, 0), "{poll:?}");
    assert_eq!((count("/good.xml"), count("/fail.xml"), count("/garbage.xml")), (2, 1, 1));

    // Tried again after two intervals, failing again: the wait doubles.
    news.poll_at(NOW + 2 * MINUTE).await;
    assert_eq!((count("/good.xml"), count("/fail.xml")), (3, 2));
    assert_eq!(news.sources()[1].next_attempt_ms, NOW + 2 * MINUTE + 4 * MINUTE);
    for t in 3..6 {
        news.poll_at(NOW + t * MINUTE).await;
    }
    assert_eq!((count("/good.xml"), count("/fail.xml")), (6, 2), "still waiting");

    // Once it recovers, its next answer is used and its backoff forgotten.
    server.set("/fail.xml", Answer::ok(RSS, rss_with(&[("Back again", "https://news.test/back")])));
    let poll = news.poll_at(NOW + 6 * MINUTE).await;
    assert_eq!(titles(&poll), ["Back again"]);
    assert_eq!(news.sources()[1].failures, 0);
    assert!(news.sources()[2].failures >= 2, "the garbage feed keeps backing off");
}

#[tokio::test]
async fn a_malformed_feed_logs_a_clear_error_and_loses_no_stored_item() {
    let server = FeedServer::start().await;
    server.set("/rss.xml", Answer::ok(RSS, latin1_rss()));
    let (_dir, store) = store();
    let mut news = NewsAggregator::new(config(&[server.url("/rss.xml")]), store.clone()).unwrap();
    news.poll_at(NOW).await;
    let before = stored(&store);
    assert_eq!(before.len(), 3);

    // Cut off mid-item.
    let truncated = latin1_rss()[..300].to_vec();
    server.set("/rss.xml", Answer::ok(RSS, truncated));
    let logs = Captured::global();
    let poll = news.poll_at(NOW + MINUTE).await;
    assert_eq!((poll.failed, poll.fresh.len()), (1, 0), "{poll:?}");
    let logs = logs.text();
    let url = server.url("/rss.xml");
    let line = logs
        .lines()
        .find(|l| l.contains("news source failed") && l.contains(&url))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("WARN") && line.contains("malformed feed"), "{line}");
    assert!(news.sources()[0].last_error.as_deref().unwrap().starts_with("malformed feed"));
    assert_eq!(stored(&store), before, "nothing stored is lost");

    // A body over the cap is refused, not read.
    let mut capped = config(&[server.url("/rss.xml")]);
    capped.max_body_bytes = 1_024;
    server.set("/rss.xml", Answer::ok(RSS, rss_with(&[("Long", "https://news.test/long")]).repeat(20)));
    let mut small = NewsAggregator::new(capped, store.clone()).unwrap();
    let poll = small.poll_at(NOW).await;
    assert_eq!(poll.failed, 1);
    assert_eq!(small.sources()[0].last_error.as_deref(), Some("response larger than 1024 bytes"));
}

#[tokio::test]
async fn the_json_api_gets_its_key_as_configured_and_never_logs_it() {
    const KEY: &str = "nk-test-4f1c2a9be07d44e1a6";
    let server = FeedServer::start().await;
    let page = serde_json::json!({
        "status": "ok",
        "articles": [
            {"title": "Senate passes infrastructure bill", "description": "<p>After a long debate</p>",
             "url": "https://api.test/a1", "publishedAt": "2026-11-24T10:30:00Z", "source": {"name": "Api Wire"}},
            {"title": null, "url": "https://api.test/a2"},
            {"title": "Dated oddly", "url": "https://api.test/a3", "publishedAt": "yesterday"},
            42
        ]
    });
    server.set("/v2/everything", Answer::ok("application/json", page.to_string()));
    let mut c = config(&[]);
    c.json_api_url = server.url("/v2/everything");
    c.json_api_key = KEY.into();
    c.json_api_key_header = "X-Api-Key".into();
    assert!(!format!("{c:?}").contains(KEY), "Debug redacts the key");
    let (_dir, store) = store();

    let logs = Captured::global();
    let mut news = NewsAggregator::new(c.clone(), store.clone()).unwrap();
    let poll = news.poll_at(NOW).await;
    assert_eq!((titles(&poll), poll.skipped), (vec!["Senate passes infrastructure bill", "Dated oddly"], 2));
    let first = &poll.fresh[0];
    assert_eq!((first.source.as_str(), first.summary.as_str()), ("Api Wire", "After a long debate"));
    assert_eq!(first.published_ms, NOW - 90 * MINUTE);
    assert_eq!(poll.fresh[1].published_ms, NOW);
    let sent = server.requests("/v2/everything");
    assert_eq!(sent[0].get("x-api-key").unwrap(), KEY, "sent in the configured header");
    assert_eq!(stored(&store).len(), 2);

    // Refused: the error says so without the key.
    server.set("/v2/everything", Answer::status(401));
    let poll = news.poll_at(NOW + MINUTE).await;
    assert_eq!(poll.failed, 1);
    let error = news.sources()[0].last_error.clone().unwrap();
    assert_eq!(error, "HTTP status 401");
    assert!(!format!("{news:?}").contains(KEY));
    let logs = logs.text();
    assert!(logs.lines().any(|l| l.contains("news source failed") && l.contains(&server.base)), "{logs}");
    assert!(!logs.contains(KEY), "the key is never logged: {logs}");
}

#[tokio::test]
async fn config_names_a_bad_news_key() {
    let mut c = config(&["ftp://example.com/feed".into()]);
    assert_eq!(c.validate().unwrap_err().0, "signals.news.feeds");
    c.feeds.clear();
    c.json_api_url = "https://api.test/".into();
    c.json_api_key = "secret-value-123".into();
    c.json_api_key_header = "bad header".into();
    let (key, message) = c.validate().unwrap_err();
    assert_eq!(key, "signals.news.json_api_key_header");
    assert!(!message.contains("secret-value-123"));
    c.json_api_key_header = "X-Api-Key".into();
    c.interval_secs = 5;
    assert_eq!(c.validate().unwrap_err().0, "signals.news.interval_secs");
    c.interval_secs = 600;
    c.max_backoff_secs = 60;
    assert_eq!(c.validate().unwrap_err().0, "signals.news.max_backoff_secs");
    let defaults = Config::load(None).unwrap().signals.news;
    assert!(defaults.validate().is_ok() && !defaults.enabled(), "off by default: {defaults:?}");
}

/// Waits (polling, generously bounded) until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `run` itself: it polls on its interval, cycle after cycle, and an item that appears between
/// two cycles reaches the sink once, however often the feed serves it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_polls_every_interval_and_hands_each_new_item_on_once() {
    let server = FeedServer::start().await;
    server.set("/rss.xml", Answer::ok(RSS, rss_with(&[("First story", "https://news.test/1")])));
    let mut c = config(&[server.url("/rss.xml")]);
    c.interval_secs = 1; // below the configurable minimum: only a test wants cycles this fast
    let (_dir, store) = store();
    let news = NewsAggregator::new(c, store.clone()).unwrap();
    let status = news.status();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    let task = tokio::spawn(news.run(move |items| {
        let _ = tx.send(items.into_iter().map(|n| n.title).collect());
    }));
    let wait = std::time::Duration::from_secs(60);
    // One request per cycle; a cycle's items are handed on before the next cycle starts, so
    // once request n+1 is counted, cycle n is complete.
    let cycles = || server.requests("/rss.xml").len();

    let first = tokio::time::timeout(wait, rx.recv()).await.expect("the first cycle in time").unwrap();
    assert_eq!(first, ["First story"]);
    wait_until("a second cycle to complete", || cycles() >= 3).await;
    assert!(rx.try_recv().is_err(), "served again, handed on once");

    server.set(
        "/rss.xml",
        Answer::ok(
            RSS,
            rss_with(&[("Second story", "https://news.test/2"), ("First story", "https://news.test/1")]),
        ),
    );
    let second = tokio::time::timeout(wait, rx.recv()).await.expect("the new item in time").unwrap();
    assert_eq!(second, ["Second story"], "only the new item");
    let seen = cycles();
    wait_until("two more cycles to complete", || cycles() >= seen + 2).await;
    let again = rx.try_recv();
    assert!(again.is_err(), "each item once, whatever the cycles: {again:?}");
    assert_eq!(stored(&store).len(), 2);
    let shown = status.sources();
    assert_eq!((shown[0].failures, shown[0].last_items, shown[0].last_new), (0, 2, 0), "{shown:?}");
    assert!(shown[0].last_success_ms.is_some());
    assert!(!task.is_finished(), "it runs until stopped");
    task.abort();
}

/// `with_env_key` reads `EQUILIBRAGE_NEWS_API_KEY` from the environment: checked in child
/// processes of this test binary, where the variable is set for the child alone (setting it here
/// would race the other tests). The rules themselves are `with_key_override`'s unit test.
#[test]
fn the_news_api_key_is_taken_from_the_environment() {
    const EXPECT: &str = "EQUILIBRAGE_TEST_EXPECT_NEWS_KEY";
    let mut c = config(&[]);
    c.json_api_key = "from-file".into();
    if let Ok(expected) = std::env::var(EXPECT) {
        // The child: the variable is what the parent set, or absent.
        assert_eq!(c.with_env_key().json_api_key, expected);
        return;
    }
    assert_eq!(c.clone().with_key_override(Some(" from-env ")).json_api_key, "from-env");
    assert_eq!(c.clone().with_key_override(Some(" ")).json_api_key, "from-file");
    let name = "the_news_api_key_is_taken_from_the_environment";
    for (value, expected) in
        [(Some(" nk-from-env-1234 "), "nk-from-env-1234"), (Some("  "), "from-file"), (None, "from-file")]
    {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", name, "--test-threads=1"]).env(EXPECT, expected).env_remove(API_KEY_VAR);
        if let Some(value) = value {
            child.env(API_KEY_VAR, value);
        }
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "the child ran the check: {stdout}");
    }
}

/// What the operator sees of each feed: a good one's last success and items, a failing one's
/// failures, error and next attempt, credentials in URLs and errors redacted, in the status
/// handle, the JSON API and the Scanner page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_feeds_status_shows_success_or_failure_and_backoff_without_credentials() {
    const KEY: &str = "nk-status-9d1e3b7c55aa";
    const URL_KEY: &str = "url-key-5f0c8e21d9";
    let server = FeedServer::start().await;
    server.set(
        "/good.xml",
        Answer::ok(
            RSS,
            rss_with(&[("Good story", "https://news.test/g1"), ("Another", "https://news.test/g2")]),
        ),
    );
    server.set("/fail.xml", Answer::status(500));
    server.set("/v2/top", Answer::status(401));
    // Nothing listens there: the error names the URL, credential and all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("http://{closed}/feed.xml?apiKey={URL_KEY}&q=election");
    let mut c = config(&[server.url("/good.xml"), server.url("/fail.xml"), unreachable]);
    c.json_api_url = server.url("/v2/top");
    c.json_api_key = KEY.into();
    c.json_api_key_header = "X-Api-Key".into();
    let (dir, store) = store();
    let mut news = NewsAggregator::new(c, store.clone()).unwrap();
    let status = news.status();
    let before = status.sources();
    assert_eq!(before.len(), 4, "every configured source is listed from the start");
    assert!(before.iter().all(|s| s.last_attempt_ms.is_none() && s.failures == 0), "{before:?}");

    news.poll_at(NOW).await;
    let shown = status.sources();
    let (good, failing, unreachable, api) = (&shown[0], &shown[1], &shown[2], &shown[3]);
    assert_eq!(
        (good.kind, good.last_success_ms, good.last_items, good.last_new),
        (SourceKind::Feed, Some(NOW), 2, 2)
    );
    assert_eq!((good.failures, good.last_error.as_deref(), good.retry_at_ms()), (0, None, None));
    assert_eq!((failing.failures, failing.last_error.as_deref()), (1, Some("HTTP status 500")));
    assert_eq!((failing.last_attempt_ms, failing.last_success_ms), (Some(NOW), None));
    assert_eq!(failing.retry_at_ms(), Some(NOW + 2 * MINUTE), "backing off two intervals");
    assert_eq!(unreachable.url, format!("http://{closed}/feed.xml?apiKey=[redacted]&q=election"));
    assert_eq!(unreachable.failures, 1);
    let error = unreachable.last_error.as_deref().unwrap();
    assert!(error.starts_with("request failed"), "{error}");
    assert!(
        error.contains(&format!("{closed}/feed.xml?apiKey=[redacted]&q=election")),
        "the URL, redacted: {error}"
    );
    assert_eq!((api.kind, api.last_error.as_deref()), (SourceKind::JsonApi, Some("HTTP status 401")));
    for s in &shown {
        let text = format!("{s:?}");
        assert!(!text.contains(KEY) && !text.contains(URL_KEY), "no credential shown: {text}");
    }
    assert!(news.sources()[2].url.contains(URL_KEY), "the aggregator itself keeps the URL it fetches");

    // An interval on: the good feed answers again (nothing new), the failing one waits.
    news.poll_at(NOW + MINUTE).await;
    let shown = status.sources();
    assert_eq!(
        (shown[0].last_success_ms, shown[0].last_items, shown[0].last_new),
        (Some(NOW + MINUTE), 2, 0)
    );
    assert_eq!((shown[1].last_attempt_ms, shown[1].retry_at_ms()), (Some(NOW), Some(NOW + 2 * MINUTE)));

    // The dashboard, over the real backend.
    let sim = SimExchange::new(SimConfig { seed: 3, markets: 10, ..SimConfig::default() }, dec!(10000));
    let (_plugin_dir, plugins) = support::runtime(&[]);
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    let wallet = equilibrage::web_backend::WalletInfo::for_mode("sim");
    let venue = equilibrage::web_backend::Venue::Sim(sim.clone());
    let without = equilibrage::web_backend::HostBackend::new(
        plugins.clone(),
        venue.clone(),
        engine.clone(),
        wallet.clone(),
    );
    assert!(equilibrage_web::Backend::news_sources(&without).is_empty(), "no handle: none configured");
    let backend = equilibrage::web_backend::HostBackend::new(plugins, venue, engine, wallet)
        .with_news_status(status.clone());
    let views = equilibrage_web::Backend::news_sources(&backend);
    assert_eq!(views.len(), 4);
    assert_eq!((views[1].failures, views[1].retry_at_ms), (1, Some(NOW + 2 * MINUTE)));
    assert_eq!((views[3].kind.as_str(), views[0].kind.as_str()), ("json-api", "feed"));

    let page_of = |backend| async move {
        let access =
            equilibrage_web::Access::new(equilibrage_web::Access::hash_token("news-test-token"), [3; 32]);
        let app = equilibrage_web::router(backend, access);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for path in ["/api/info/news/sources", "/scanner"] {
            let response =
                client.get(format!("{base}{path}")).bearer_auth("news-test-token").send().await.unwrap();
            assert!(response.status().is_success(), "{path}: {}", response.status());
            answers.push(response.text().await.unwrap());
        }
        answers
    };
    let answers = page_of(backend).await;
    let json: serde_json::Value = serde_json::from_str(&answers[0]).unwrap();
    assert_eq!(json["sources"].as_array().map(Vec::len), Some(4), "{json}");
    assert_eq!(json["sources"][0]["last_items"], 2);
    assert_eq!(json["sources"][1]["last_error"], "HTTP status 500");
    assert_eq!(json["sources"][1]["retry_at_ms"], NOW + 2 * MINUTE);
    assert_eq!(json["sources"][2]["url"], format!("http://{closed}/feed.xml?apiKey=[redacted]&q=election"));
    let page = &answers[1];
    assert!(page.contains("1 failure in a row; next attempt 2026-11-24 12:02:00 UTC"), "{page}");
    assert!(page.contains("Last error: HTTP status 500"));
    assert!(page.contains("2 items, 0 new"));
    for text in &answers {
        assert!(!text.contains(KEY) && !text.contains(URL_KEY), "no credential on the dashboard");
    }
    let empty = page_of(without).await;
    assert_eq!(empty[0], r#"{"sources":[]}"#);
    assert!(
        empty[1].contains("No news feeds configured; the simulator's headlines are used."),
        "{}",
        empty[1]
    );
    drop(dir);
}

/// Feed items reach the engine's news path: the news-aggregator plugin matches them to the
/// market they are about during a scan, the matches (relevance, sentiment) are stored, and the
/// dashboard shows a title carrying markup as text, with why it matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_items_are_matched_to_markets_and_shown_as_text() {
    let server = FeedServer::start().await;
    server.set(
        "/rss.xml",
        Answer::ok(
            RSS,
            rss_with(&[
                (
                    "&lt;img src=x onerror=alert(1)&gt; Harbor Lakers win the championship",
                    "https://news.test/l",
                ),
                ("Unrelated weather report", "https://news.test/w"),
            ]),
        ),
    );
    let (dir, store) = store();
    let question = "Will the Harbor Lakers win the championship?";
    let sim = SimExchange::new(
        SimConfig { seed: 5, markets: 20, questions: vec![question.into()], ..SimConfig::default() },
        dec!(10000),
    );
    let (_plugin_dir, plugins) = support::runtime(&[]);
    let engine = support::engine_on_sim(&sim, &plugins, &store).await;
    let mut news = NewsAggregator::new(config(&[server.url("/rss.xml")]), store.clone()).unwrap();
    let poll = news.poll_at(sim.now_ms()).await;
    assert_eq!(poll.fresh.len(), 2);
    (engine.news_sink())(poll.fresh);
    engine.scan().await.unwrap();

    let market =
        sim.markets().await.unwrap().into_iter().find(|m| m.question == question).unwrap().id.clone();
    let records = stored(&store);
    let lakers = records.iter().find(|r| r.url == "https://news.test/l").unwrap();
    assert_eq!(lakers.title, "<img src=x onerror=alert(1)> Harbor Lakers win the championship");
    // Other championship markets share words with it too; the one it names matches best.
    assert!(lakers.markets.contains(&market), "{lakers:?}");
    assert_eq!(lakers.matches[0].market, market, "most relevant first");
    assert_eq!(lakers.markets.len(), lakers.matches.len());
    assert!(lakers.matches[0].relevance > 0.5 && lakers.matches[0].sentiment > 0.0, "{:?}", lakers.matches);
    let weather = records.iter().find(|r| r.url == "https://news.test/w").unwrap();
    assert!(weather.markets.is_empty());

    // The dashboard: the API carries the text as is, the page escapes it.
    let wallet = equilibrage::web_backend::WalletInfo::for_mode("sim");
    let backend = equilibrage::web_backend::HostBackend::new(
        plugins,
        equilibrage::web_backend::Venue::Sim(sim.clone()),
        engine,
        wallet,
    );
    let access =
        equilibrage_web::Access::new(equilibrage_web::Access::hash_token("news-test-token"), [3; 32]);
    let app = equilibrage_web::router(backend, access);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client.get(format!("{base}{path}")).bearer_auth("news-test-token");
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{path}: {}", response.status());
            response.text().await.unwrap()
        }
    };
    let json: serde_json::Value =
        serde_json::from_str(&get(format!("/api/info/news?market={market}")).await).unwrap();
    assert_eq!(json["news"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(json["news"][0]["title"], lakers.title);
    assert_eq!(json["news"][0]["matches"][0]["market"], market.as_str());
    let page = get("/scanner".into()).await;
    assert!(!page.contains("<img src=x"), "markup is never rendered");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; Harbor Lakers win the championship"));
    assert!(page.contains("(relevance "), "why it matched is shown");
    let _ = std::io::stderr().flush();
    drop(dir);
}

/// Stored news is kept `keep_days` (by publication), then removed, in small transactions.
#[tokio::test]
async fn news_older_than_keep_days_is_removed() {
    let server = FeedServer::start().await;
    server.set("/rss.xml", Answer::ok(RSS, rss_with(&[("Fresh one", "https://news.test/fresh")])));
    let (_dir, store) = store();
    let old = |i: i64| NewsRecord {
        id: format!("old-{i}"),
        title: format!("Old {i}"),
        summary: String::new(),
        source: "wire".into(),
        url: format!("https://news.test/old/{i}"),
        published_ms: NOW - 40 * 86_400_000 - i,
        fetched_ms: NOW - 40 * 86_400_000,
        markets: Vec::new(),
        matches: Vec::new(),
    };
    store
        .write(move |w| {
            for i in 0..12_000 {
                w.put_news(&old(i))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let mut c = config(&[server.url("/rss.xml")]);
    c.keep_days = 30;
    let mut news = NewsAggregator::new(c, store.clone()).unwrap();
    news.poll_at(NOW).await;
    let left = stored(&store);
    assert!(left.iter().all(|n| n.published_ms >= NOW - 30 * 86_400_000), "only the last 30 days stay");
    assert_eq!(left.len(), 1, "the 12,000 old items went (over several transactions); the fresh one stays");
}
