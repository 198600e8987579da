//! The JSON API end to end through the router (access control, body limit and security headers
//! included), over the fake backend.

use crate::fake::http::{TOKEN, authed, browser, router_on, send, send_to};
use crate::fake::{Call, Fake, dec};
use crate::limit::{FAILURE_BURST, FAILURE_REFILL, ManualClock};
use axum::body::Body;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Builder;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) fn fake() -> Arc<Fake> {
    Arc::new(Fake::default())
}

pub(crate) fn empty(builder: Builder) -> Request<Body> {
    builder.body(Body::empty()).unwrap()
}

pub(crate) fn with_json(builder: Builder, body: &str) -> Request<Body> {
    builder.header(CONTENT_TYPE, "application/json").body(Body::from(body.to_owned())).unwrap()
}

/// Sends a request; answers the status, headers and body as JSON (a non-JSON body fails).
pub(crate) async fn call(fake: &Arc<Fake>, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let (status, headers, body) = send(Arc::clone(fake), request).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body:?}"));
    (status, headers, json)
}

async fn get(uri: &str) -> (StatusCode, Value) {
    let (status, _, json) = call(&fake(), empty(authed("GET", uri))).await;
    (status, json)
}

/// The error answer's shape: a message, and the named fields when given.
pub(crate) fn assert_error(json: &Value, fields: &[&str]) {
    assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
    let named: Vec<&str> = json["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(named, fields, "{json}");
}

/// A check of an answer's JSON.
type Check = fn(&Value);

/// Every GET endpoint: its shape with the token, and 401 without or with a wrong one.
#[tokio::test]
async fn reads_answer_their_shapes() {
    let cases: [(&str, Check); 20] = [
        ("/api/positions", |j| assert_eq!(j["positions"][0]["id"], 1)),
        ("/api/wallet/chain", |j| assert_eq!(j["chain"]["balances"]["pol"], "0.012")),
        ("/api/positions/2", |j| assert_eq!(j["position"]["status"], "closed")),
        ("/api/positions/history?market=closed&outcome=win&limit=9999&offset=0", |j| {
            assert_eq!(j["total"], 1);
            assert_eq!(j["positions"][0]["id"], 2);
            assert_eq!(j["limit"], 500, "capped");
            assert_eq!(j["total_pnl"], "12.34");
        }),
        ("/api/positions/history?limit=&offset=", |j| assert_eq!(j["limit"], 50, "default")),
        ("/api/trades?from=2023-11-14&to=1800000000000&limit=2", |j| {
            assert_eq!(j["trades"].as_array().unwrap().len(), 2);
            assert_eq!(j["trades"][0]["id"], 3, "newest first");
            assert_eq!(j["trades"][0]["price"], "0.4", "decimals as strings");
            assert_eq!(j["complete"], true);
        }),
        ("/api/opportunities?min_score=6", |j| {
            let scores: Vec<f64> =
                j["opportunities"].as_array().unwrap().iter().map(|o| o["score"].as_f64().unwrap()).collect();
            assert_eq!(scores, [8.5, 6.0]);
        }),
        ("/api/config", |j| {
            assert_eq!(
                j["config"],
                json!({"auto_trading": false, "stop_loss_percent": "0", "scan_interval_secs": 300})
            );
            assert_eq!(
                j["fields"][1]["input"],
                json!({"input": "range", "min": 0.0, "max": 99.0, "step": 1.0})
            );
            assert_eq!(j["wallet"]["signature_type"], "eoa");
        }),
        ("/api/dashboard/overview", |j| {
            assert_eq!(j["total_capital"], "9997.00");
            assert_eq!(j["stats"]["win_rate_percent"], "100");
            assert_eq!(j["health"]["plugins_loaded"], 4);
        }),
        ("/api/dashboard/performance", |j| {
            assert_eq!(j["equity"][1], json!([1_700_000_360_000_i64, "10012.34"]));
        }),
        ("/api/whales?limit=5", |j| assert_eq!(j["whales"][0]["address"], "0xwhale")),
        ("/api/whales/0xwhale", |j| {
            assert_eq!(j["whale"]["total_volume"], "250000");
            assert_eq!(j["markets"][0][1], crate::fake::HOSTILE, "JSON carries text as is");
        }),
        ("/api/info/news", |j| assert_eq!(j["news"][0]["id"], "n1")),
        ("/api/info/news?market=0xa", |j| {
            assert_eq!(j["news"][0]["matches"][0]["market"], "0xa", "why it matched: {j}");
            assert_eq!(j["news"][0]["matches"][0]["relevance"], 0.75);
            assert_eq!(j["news"][0]["title"], crate::fake::HOSTILE, "JSON carries text as is");
        }),
        ("/api/info/news?market=0xnone", |j| assert_eq!(j["news"].as_array().map(Vec::len), Some(0))),
        ("/api/info/news/sources", |j| {
            assert_eq!(j["sources"].as_array().map(Vec::len), Some(2), "{j}");
            let (good, failing) = (&j["sources"][0], &j["sources"][1]);
            assert_eq!((&good["kind"], &good["failures"]), (&json!("feed"), &json!(0)));
            assert_eq!(
                (&good["last_success_ms"], &good["last_items"]),
                (&json!(1_700_000_000_000_i64), &json!(12))
            );
            assert_eq!((&good["last_error"], &good["retry_at_ms"]), (&Value::Null, &Value::Null));
            assert_eq!(failing["url"], "https://api.test/v2/top?apiKey=[redacted]");
            assert_eq!((&failing["failures"], &failing["last_success_ms"]), (&json!(3), &Value::Null));
            assert_eq!(failing["retry_at_ms"], 1_700_000_480_000_i64);
            let error = format!("malformed news API answer: {}", crate::fake::HOSTILE);
            assert_eq!(failing["last_error"], error.as_str(), "JSON carries text as is");
        }),
        ("/api/info/whales/tracker", |j| {
            let t = &j["tracker"];
            assert_eq!((&t["data_url"], &t["interval_secs"]), (&json!("https://data-api.test"), &json!(600)));
            assert_eq!((&t["failures"], &t["failed_requests"]), (&json!(2), &json!(4)));
            assert_eq!(
                (&t["last_poll_ms"], &t["last_success_ms"]),
                (&json!(1_700_001_200_000_i64), &json!(1_700_000_000_000_i64))
            );
            assert_eq!(t["next_poll_ms"], 1_700_001_800_000_i64);
            let error = format!("Data API /holders: HTTP 403: {}", crate::fake::HOSTILE);
            assert_eq!(t["last_error"], error.as_str(), "JSON carries text as is");
        }),
        ("/api/info/trends?window=600&limit=1", |j| assert_eq!(j["trends"][0]["window_secs"], 600)),
        ("/api/info/trends", |j| {
            // The first configured window is the default; volume figures are exact decimals.
            assert_eq!(j["trends"][0]["window_secs"], 3600);
            assert_eq!(j["trends"][0]["change"], "0.05");
            assert_eq!(j["trends"][0]["volatility_24h"], 0.04);
            assert_eq!(j["trends"][0]["volume_24h"], "12500.5");
            assert_eq!(j["trends"][0]["volume_change"], "-250");
        }),
        ("/api/plugins", |j| {
            assert_eq!(j["venue"]["mode"], "sim");
            assert_eq!(j["plugins"][0]["params"][0]["name"], "w_spread");
            assert_eq!(j["rejected"][0]["file"], "bad.wasm");
        }),
    ];
    for (uri, check) in cases {
        let (status, json) = get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {json}");
        check(&json);

        let (status, _, json) = call(&fake(), empty(Request::builder().uri(uri))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} without a token");
        assert_error(&json, &[]);
        let wrong = Request::builder().uri(uri).header("authorization", format!("Bearer {TOKEN}x"));
        let (status, _, json) = call(&fake(), empty(wrong)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} with a wrong token");
        assert_eq!(json["error"], "invalid access token");
    }
}

/// Every field of the tracker's status, as docs/api.md lists them; `null` without a tracker, and
/// the path is not taken for a whale's address.
#[tokio::test]
async fn whale_tracker_status_has_its_documented_fields_and_is_null_without_a_tracker() {
    let healthy = Arc::new(Fake { whale_tracker: Some(crate::fake::healthy_tracker()), ..Fake::default() });
    let (status, _, json) = call(&healthy, empty(authed("GET", "/api/info/whales/tracker"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json,
        json!({"tracker": {
            "data_url": "https://data-api.test", "interval_secs": 600,
            "last_poll_ms": 1_700_000_000_000_i64, "last_poll_duration_ms": 2_500,
            "last_success_ms": 1_700_000_000_000_i64, "idle": false, "markets": 52,
            "trades_received": 140, "trades_new": 37, "skipped": 1, "holders": 18, "pages": 12,
            "capped": 1, "failed_requests": 0, "failures": 0, "last_error": null,
            "next_poll_ms": 1_700_000_600_000_i64
        }})
    );
    let sim = Arc::new(Fake { whale_tracker: None, ..Fake::default() });
    let (status, _, json) = call(&sim, empty(authed("GET", "/api/info/whales/tracker"))).await;
    assert_eq!((status, json), (StatusCode::OK, json!({"tracker": null})));
    // `/api/whales/tracker` stays a whale's address (none by that name here).
    let (status, _, json) = call(&sim, empty(authed("GET", "/api/whales/tracker"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&json, &[]);
}

#[tokio::test]
async fn healthz_is_public_and_headers_are_set() {
    let (status, headers, json) = call(&fake(), empty(Request::builder().uri("/healthz"))).await;
    assert_eq!((status, json), (StatusCode::OK, json!({"status": "ok"})));
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    for uri in ["/api/positions", "/api/positions/99", "/api/nope"] {
        let (_, headers, _) = call(&fake(), empty(authed("GET", uri))).await;
        assert_eq!(headers[CONTENT_SECURITY_POLICY], crate::CSP, "{uri}");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[REFERRER_POLICY], "same-origin");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
    }
}

/// On a runtime with one async worker, a trades search that blocks does not hold up other
/// requests: it runs on the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_trades_search_runs_off_the_async_workers() {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let fake = Arc::new(Fake {
        slow_trades: Some((started_tx, std::sync::Mutex::new(release_rx))),
        ..Fake::default()
    });
    let search = tokio::spawn({
        let fake = Arc::clone(&fake);
        async move { call(&fake, empty(authed("GET", "/api/trades?market=nothing&offset=900000"))).await }
    });
    // The search has started and is blocked...
    tokio::task::spawn_blocking(move || started.recv_timeout(std::time::Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("the search started");
    // ...and the one worker still answers.
    let (status, _, json) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        call(&fake, empty(Request::builder().uri("/healthz"))),
    )
    .await
    .expect("healthz answered while the search was blocked");
    assert_eq!((status, json["status"].as_str()), (StatusCode::OK, Some("ok")));
    release.send(()).unwrap();
    let (status, _, json) = search.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["complete"], true);
}

#[tokio::test]
async fn healthz_answers_503_with_the_reason_while_the_safety_net_is_down() {
    let down = Arc::new(Fake {
        down: Some("the feed loop is down (panicked: boom); restarting".into()),
        ..Fake::default()
    });
    let (status, _, json) = call(&down, empty(Request::builder().uri("/healthz"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json,
        json!({"status": "down", "reason": "the feed loop is down (panicked: boom); restarting"})
    );
    let (_, _, json) = call(&down, empty(authed("GET", "/api/dashboard/overview"))).await;
    assert_eq!(json["health"]["safety_net_down"], "the feed loop is down (panicked: boom); restarting");
    assert_eq!(json["health"]["loops"][2]["restarts"], 1);
}

#[tokio::test]
async fn a_browser_session_reads_without_csrf() {
    let (status, _, json) = call(&fake(), empty(browser("GET", "/api/positions", false))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["positions"][0]["id"], 1);
}

#[tokio::test]
async fn missing_things_are_404_as_json() {
    for uri in ["/api/positions/99", "/api/whales/0xnobody", "/api/nope", "/api/positions/1/extra"] {
        let (status, json) = get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_error(&json, &[]);
    }
}

#[tokio::test]
async fn malformed_queries_are_400() {
    for uri in [
        "/api/positions/history?from=yesterday",
        "/api/positions/history?outcome=maybe",
        "/api/positions/history?limit=ten",
        "/api/positions/history?from=2024-03-02&to=2024-03-01",
        "/api/trades?offset=-1",
        "/api/opportunities?min_score=high",
        "/api/opportunities?limit=1.5",
        "/api/whales?limit=x",
        "/api/info/news?limit=-3",
        "/api/info/trends?window=an-hour",
        "/api/positions/abc",
        "/api/positions/-1",
    ] {
        let (status, json) = get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {json}");
        assert_error(&json, &[]);
    }
    let (_, json) = get("/api/positions/history?limit=ten").await;
    assert!(json["error"].as_str().unwrap().contains("limit"), "names the parameter: {json}");
}

#[tokio::test]
async fn out_of_range_queries_are_422() {
    for (uri, field) in [
        ("/api/opportunities?min_score=11", "min_score"),
        ("/api/opportunities?min_score=-0.5", "min_score"),
        ("/api/opportunities?min_score=NaN", "min_score"),
        ("/api/info/trends?window=0", "window"),
        ("/api/info/trends?window=99999999", "window"),
    ] {
        let (status, json) = get(uri).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {json}");
        assert_error(&json, &[field]);
    }
    let (status, json) = get("/api/opportunities?min_score=10&limit=99999").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["opportunities"], json!([]));
}

#[tokio::test]
async fn entering_a_position() {
    let fake = fake();
    for (body, capital) in [
        (r#"{"market_id":"0xa","capital_amount":"250.5"}"#, Some(dec("250.5"))),
        (r#"{"market_id":" 0xa ","capital_amount":100.1}"#, Some(dec("100.1"))),
        (r#"{"market_id":"0xa","capital_amount":0.000001}"#, Some(dec("0.000001"))),
        (r#"{"market_id":"0xa","capital_amount":null}"#, None),
        (r#"{"market_id":"0xa"}"#, None),
    ] {
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/positions"), body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {json}");
        assert_eq!(json["position"]["id"], 3);
        assert_eq!(fake.calls().pop(), Some(Call::Enter("0xa".into(), capital)), "{body}");
    }
    let (status, _, json) =
        call(&fake, with_json(authed("POST", "/api/positions"), r#"{"market_id":"0xfull"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&json, &[]);
    let (status, _, _) =
        call(&fake, with_json(authed("POST", "/api/positions"), r#"{"market_id":"0xzz"}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn entering_refuses_bad_bodies_without_calling_the_bot() {
    let fake = fake();
    for (body, field) in [
        (r#"{"market_id":"0xa","capital_amount":0}"#, "capital_amount"),
        (r#"{"market_id":"0xa","capital_amount":-10}"#, "capital_amount"),
        (r#"{"market_id":"0xa","capital_amount":"NaN"}"#, "capital_amount"),
        (r#"{"market_id":"0xa","capital_amount":"ten"}"#, "capital_amount"),
        (r#"{"market_id":"0xa","capital_amount":1.1234567}"#, "capital_amount"),
        (r#"{"market_id":"0xa","capital_amount":true}"#, "capital_amount"),
        (r#"{"market_id":"  "}"#, "market_id"),
    ] {
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/positions"), body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_error(&json, &[field]);
    }
    for body in
        ["{", "", "[]", r#"{"capital_amount":5}"#, r#"{"market_id":5}"#, r#"{"market_id":"0xa","capital":5}"#]
    {
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/positions"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_error(&json, &[]);
    }
    let no_type = authed("POST", "/api/positions").body(Body::from(r#"{"market_id":"0xa"}"#)).unwrap();
    let (status, _, json) = call(&fake, no_type).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].as_str().unwrap().contains("application/json"), "{json}");
    assert_eq!(fake.calls(), []);
}

#[tokio::test]
async fn closing_a_position() {
    let fake = fake();
    let (status, _, json) = call(&fake, empty(authed("DELETE", "/api/positions/1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["success"], true);
    assert_eq!(json["position"]["open"], false);
    assert_eq!(fake.calls(), [Call::Close(1)]);
    for (uri, expected) in [
        ("/api/positions/2", StatusCode::CONFLICT),
        ("/api/positions/99", StatusCode::NOT_FOUND),
        ("/api/positions/one", StatusCode::BAD_REQUEST),
        ("/api/positions/1.5", StatusCode::BAD_REQUEST),
        ("/api/positions/99999999999999999999", StatusCode::BAD_REQUEST),
    ] {
        let (status, _, json) = call(&fake, empty(authed("DELETE", uri))).await;
        assert_eq!(status, expected, "{uri}");
        assert_error(&json, &[]);
    }
    assert_eq!(fake.calls(), [Call::Close(1), Call::Close(2), Call::Close(99)]);
}

#[tokio::test]
async fn scanning_now() {
    let fake = fake();
    let (status, _, json) = call(&fake, empty(authed("POST", "/api/opportunities/scan"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["scan"]["listed"], 300);
    assert_eq!(json["scan"]["protocol_v2"], 3);
    assert_eq!(fake.calls(), [Call::Scan]);
}

#[tokio::test]
async fn changing_settings() {
    let fake = fake();
    let (status, _, json) = call(
        &fake,
        with_json(authed("PUT", "/api/config"), r#"{"stop_loss_percent": 20, "auto_trading": true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["config"]["stop_loss_percent"], "20");
    assert_eq!(json["fields"].as_array().unwrap().len(), 3);
    let Some(Call::Settings(patch)) = fake.calls().pop() else { panic!("no call") };
    assert_eq!(Value::Object(patch), json!({"stop_loss_percent": 20, "auto_trading": true}));

    let (status, _, json) =
        call(&fake, with_json(authed("PUT", "/api/config"), r#"{"stop_loss_percent": 150, "colour": 1}"#))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, &["colour", "stop_loss_percent"]);
    let calls = fake.calls().len();
    for body in ["[1, 2]", "\"x\"", "7", "{", "null"] {
        let (status, _, json) = call(&fake, with_json(authed("PUT", "/api/config"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error(&json, &[]);
    }
    assert_eq!(fake.calls().len(), calls, "malformed bodies never reach the bot");
}

#[tokio::test]
async fn storing_a_wallet_key() {
    let fake = fake();
    let key = "ab".repeat(32);
    let body = json!({"private_key": key, "password": "a long password"}).to_string();
    let (status, _, text) =
        send(Arc::clone(&fake), with_json(authed("POST", "/api/config/wallet"), &body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains(&key) && !text.contains("a long password"), "neither is ever echoed");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["wallet"]["address"], "0x00000000000000000000000000000000000000aa");

    let (status, _, json) = call(
        &fake,
        with_json(authed("POST", "/api/config/wallet"), r#"{"private_key":"short","password":"x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, &["private_key", "password"]);
    for body in [r#"{"funder":"0x1"}"#, r#"{"private_key":"ab","password":"long enough","funder":"0x1"}"#] {
        let (status, _, _) = call(&fake, with_json(authed("POST", "/api/config/wallet"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: missing and unknown fields are refused");
    }
    assert_eq!(fake.calls(), [Call::Wallet, Call::Wallet]);
}

#[tokio::test]
async fn running_the_wallet_doctor() {
    let fake = fake();
    let (status, _, json) =
        call(&fake, with_json(authed("POST", "/api/wallet/doctor"), r#"{"test_order": true}"#)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let doctor = &json["doctor"];
    assert_eq!(doctor["ok"], false);
    assert_eq!(doctor["signature_type"], "eoa");
    assert_eq!(
        doctor["checks"][2],
        json!({"id": "balance", "name": "balance", "status": "fail",
        "detail": "0 pUSD", "fix": "Deposit pUSD"})
    );
    assert_eq!(doctor["checks"][4]["status"], "pass");
    for body in [r#"{"test_order": false}"#, "{}"] {
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/wallet/doctor"), body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json["doctor"]["checks"][4]["status"], "skipped", "{body}: no test order");
    }
    assert_eq!(fake.calls(), [Call::Doctor(true), Call::Doctor(false), Call::Doctor(false)]);

    for body in [r#"{"test_order": "yes"}"#, r#"{"test_order": 1}"#, r#"{"test-order": true}"#, "[true]", "{"]
    {
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/wallet/doctor"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_error(&json, &[]);
    }
    let (status, _, json) = call(&fake, empty(authed("POST", "/api/wallet/doctor"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no JSON body: {json}");
    assert_eq!(fake.calls().len(), 3, "refused before reaching the bot");

    let anonymous = Request::builder().method("POST").uri("/api/wallet/doctor");
    let (status, _, json) = call(&fake, with_json(anonymous, r#"{"test_order": true}"#)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&json, &[]);
    let (status, _, json) =
        call(&fake, with_json(browser("POST", "/api/wallet/doctor", false), r#"{"test_order": true}"#)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a browser session needs the CSRF token");
    assert_error(&json, &[]);
    assert_eq!(fake.calls().len(), 3, "neither reaches the bot");
}

const PARAMS: &str = "/api/plugins/scorer/%3Cb%3Ex%3C%2Fb%3E/params";

#[tokio::test]
async fn setting_plugin_parameters() {
    let fake = fake();
    let (status, _, json) = call(&fake, with_json(authed("PUT", PARAMS), r#"{"w_spread": 2.5}"#)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json, json!({"values": {"w_spread": 2.5}}));
    assert_eq!(
        fake.calls(),
        [Call::Params("scorer".into(), "<b>x</b>".into(), vec![("w_spread".into(), 2.5)])]
    );

    let (status, _, json) = call(&fake, with_json(authed("PUT", PARAMS), r#"{"w_spread": 9}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the bot's own range check");
    assert_error(&json, &["w_spread"]);
    let called = fake.calls().len();

    for (body, fields) in [
        (r#"{"w_spread": "high"}"#, &["w_spread"][..]),
        (r#"{"w_spread": null}"#, &["w_spread"]),
        (r#"{"w_spread": "NaN"}"#, &["w_spread"]),
        (r#"{"w_spread": 1, "w_depth": 1}"#, &["w_depth"]),
        ("{}", &[]),
    ] {
        let (status, _, json) = call(&fake, with_json(authed("PUT", PARAMS), body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_error(&json, fields);
    }
    for body in ["[2.5]", "{\"w_spread\": NaN}", "2"] {
        let (status, _, _) = call(&fake, with_json(authed("PUT", PARAMS), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _, json) =
        call(&fake, with_json(authed("PUT", "/api/plugins/scorer/other/params"), r#"{"w_spread": 1}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&json, &[]);
    assert_eq!(fake.calls().len(), called, "refused before reaching the bot");
}

/// Every state-changing endpoint, as (method, path, JSON body, the call it makes).
fn actions() -> Vec<(&'static str, &'static str, String, Call)> {
    vec![
        ("POST", "/api/positions", r#"{"market_id":"0xa"}"#.into(), Call::Enter("0xa".into(), None)),
        ("DELETE", "/api/positions/1", String::new(), Call::Close(1)),
        ("POST", "/api/opportunities/scan", String::new(), Call::Scan),
        (
            "PUT",
            "/api/config",
            r#"{"auto_trading":true}"#.into(),
            Call::Settings(json!({"auto_trading": true}).as_object().unwrap().clone()),
        ),
        (
            "POST",
            "/api/config/wallet",
            json!({"private_key": "cd".repeat(32), "password": "a long password"}).to_string(),
            Call::Wallet,
        ),
        ("POST", "/api/wallet/doctor", r#"{"test_order":false}"#.into(), Call::Doctor(false)),
        (
            "POST",
            "/api/wallet/redeem",
            format!(r#"{{"condition_id":"{}"}}"#, crate::fake::DUE),
            Call::Redeem(crate::fake::DUE.into()),
        ),
        (
            "PUT",
            PARAMS,
            r#"{"w_spread":1}"#.into(),
            Call::Params("scorer".into(), "<b>x</b>".into(), vec![("w_spread".into(), 1.0)]),
        ),
    ]
}

#[tokio::test]
async fn browser_sessions_need_the_csrf_token_and_our_origin() {
    for (method, uri, body, expected) in actions() {
        let fake = fake();
        let (status, _, json) = call(&fake, with_json(browser(method, uri, false), &body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri} without CSRF");
        assert_error(&json, &[]);
        assert_eq!(fake.calls(), [], "{method} {uri}: the bot is not called");

        let cross = browser(method, uri, true).header("origin", "http://evil.example");
        let (status, _, _) = call(&fake, with_json(cross, &body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri} from another origin");
        assert_eq!(fake.calls(), [], "{method} {uri}: the bot is not called");

        let ours = browser(method, uri, true).header("origin", "http://127.0.0.1:8080");
        let (status, _, json) = call(&fake, with_json(ours, &body)).await;
        assert!(status.is_success(), "{method} {uri} with CSRF: {status} {json}");
        assert_eq!(fake.calls(), [expected], "{method} {uri}");

        let anonymous = Request::builder().method(method).uri(uri);
        let (status, _, _) = call(&fake, with_json(anonymous, &body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} without credentials");
        assert_eq!(fake.calls().len(), 1);
    }
}

#[tokio::test]
async fn bearer_tokens_need_no_csrf() {
    for (method, uri, body, expected) in actions() {
        let fake = fake();
        let (status, _, json) = call(&fake, with_json(authed(method, uri), &body)).await;
        assert!(status.is_success(), "{method} {uri}: {status} {json}");
        assert_eq!(fake.calls(), [expected]);
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let big = json!({"market_id": "0xa", "pad": "x".repeat(crate::MAX_BODY)}).to_string();
    for request in [
        with_json(authed("POST", "/api/positions"), &big),
        with_json(browser("POST", "/api/positions", true), &big),
        with_json(authed("PUT", "/api/config"), &big),
        with_json(authed("PUT", PARAMS), &big),
    ] {
        let fake = fake();
        let (status, _, json) = call(&fake, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_error(&json, &[]);
        assert_eq!(fake.calls(), []);
    }
}

/// A request with the bearer token `token`.
fn bearer(uri: &str, token: &str) -> Request<Body> {
    empty(Request::builder().uri(uri).header("authorization", format!("Bearer {token}")))
}

/// Sends through `app`, whose state (the budget of wrong tokens) the requests share.
async fn call_to(app: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let (status, headers, body) = send_to(app, request).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body:?}"));
    (status, headers, json)
}

#[tokio::test]
async fn wrong_bearer_tokens_are_rate_limited() {
    let clock = ManualClock::new();
    let fake = fake();
    let app = router_on(Arc::clone(&fake), &clock);
    let wrong = format!("{TOKEN}x");
    for _ in 0..FAILURE_BURST {
        let (status, _, json) = call_to(&app, bearer("/api/positions", &wrong)).await;
        assert_eq!((status, &json["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid access token")));
    }
    for uri in ["/api/positions", "/api/config", "/api/ws"] {
        let (status, headers, json) = call_to(&app, bearer(uri, TOKEN)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{uri}: the right token is not even checked");
        assert_eq!(headers[RETRY_AFTER], "6", "{uri}");
        assert_eq!(json, json!({"error": "too many failed attempts; try again in 6 seconds"}));
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert_eq!(headers[CONTENT_SECURITY_POLICY], crate::CSP);
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[REFERRER_POLICY], "same-origin");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
    }
    let (status, _, _) = call_to(&app, empty(authed("POST", "/api/opportunities/scan"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fake.calls(), [], "the bot is not called");

    let (status, _, json) = call_to(&app, empty(browser("GET", "/api/positions", false))).await;
    assert_eq!(status, StatusCode::OK, "a logged-in browser is not limited: {json}");
    let login = Request::post("/login")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={TOKEN}")))
        .unwrap();
    let (status, headers, _) = send_to(&app, login).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the login page shares the budget");
    assert_eq!(headers[RETRY_AFTER], "6");

    clock.advance(FAILURE_REFILL);
    let (status, _, json) = call_to(&app, bearer("/api/positions", TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, _, _) = call_to(&app, bearer("/api/positions", &wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "one failure was regained");
    let (status, _, _) = call_to(&app, bearer("/api/positions", TOKEN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "and spent");
}

#[tokio::test]
async fn right_bearer_tokens_cost_nothing() {
    let app = router_on(fake(), &ManualClock::new());
    for _ in 0..3 * FAILURE_BURST {
        assert_eq!(call_to(&app, bearer("/api/positions", TOKEN)).await.0, StatusCode::OK);
    }
    for _ in 1..FAILURE_BURST {
        assert_eq!(call_to(&app, bearer("/api/positions", "guess")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call_to(&app, bearer("/api/positions", TOKEN)).await.0, StatusCode::OK);
    }
    assert_eq!(call_to(&app, bearer("/api/positions", "guess")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call_to(&app, bearer("/api/positions", TOKEN)).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn metrics_need_the_token_and_speak_the_text_format() {
    let (status, headers, body) = send(fake(), empty(authed("GET", "/metrics"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains("# TYPE equilibrage_open_positions gauge\nequilibrage_open_positions 1\n"),
        "{body}"
    );
    // A scraper without the token gets a 401, not the login page.
    let (status, _, json) = call(&fake(), empty(Request::builder().uri("/metrics"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&json, &[]);
}

#[tokio::test]
async fn the_metrics_listener_serves_only_the_metrics_without_a_token() {
    let app = crate::metrics_router(fake());
    let (status, headers, body) = send_to(&app, empty(Request::builder().uri("/metrics"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("equilibrage_open_positions 1\n"), "{body}");
    for uri in ["/", "/api/positions", "/api/config"] {
        let (status, _, _) = send_to(&app, empty(Request::builder().uri(uri))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn choosing_a_channels_notification_events() {
    let fake = fake();
    let (status, json) = get("/api/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["channels"][0]["name"], "phone");
    assert_eq!(json["channels"][0]["events"][0], json!({"event": "entry", "label": "Entries", "on": true}));

    let path = "/api/notifications/phone";
    let (status, _, json) =
        call(&fake, with_json(authed("PUT", path), r#"{"events": ["liquidation", "daily_summary"]}"#)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let on: Vec<&str> = json["channels"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["on"] == true)
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(on, ["liquidation", "daily_summary"]);
    assert_eq!(
        fake.calls(),
        [Call::NotifyEvents("phone".into(), vec!["liquidation".into(), "daily_summary".into()])]
    );

    let (status, _, json) = call(&fake, with_json(authed("PUT", path), r#"{"events": ["pager"]}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, &["events"]);
    let (status, _, json) = call(&fake, with_json(authed("PUT", path), r#"{"events": [3]}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, &["events"]);
    for body in [r#"["entry"]"#, r#"{"events": "entry"}"#, r#"{"events": [], "more": 1}"#] {
        let (status, _, _) = call(&fake, with_json(authed("PUT", path), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _, _) =
        call(&fake, with_json(authed("PUT", "/api/notifications/nobody"), r#"{"events": []}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
