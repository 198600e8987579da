//! The Lab's pages and API over the fake lab.

use crate::fake::Fake;
use crate::fake::http::{authed, send};
use crate::pages::test_util::{assert_escaped, assert_safe, get, post_form};
use axum::body::Body;
use axum::http::{StatusCode, header};
use std::sync::Arc;

#[tokio::test]
async fn the_lab_page_lists_everything_and_offers_a_new_run() {
    let fake = Arc::new(Fake::default());
    let (status, _, body) = get(Arc::clone(&fake), "/lab").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    for needle in [
        "href=\"/lab\" aria-current=\"page\"",
        "<form id=\"lab-job\" class=\"lab-job\" method=\"post\" action=\"/lab/jobs\"",
        "name=\"_csrf\"",
        "<option value=\"plugins/default_scorer.wasm\"",
        "(active)",
        "data-live-src=\"/partials/lab-jobs\"",
        "data-poll=\"on\"",
        "<progress max=\"100\" value=\"40\"",
        "href=\"/lab/runs/1\"",
        "href=\"/lab/comparisons/1\"",
        "href=\"/lab/sweeps/1\"",
        "<table id=\"recording-list\"",
        "3.0 MiB",
        "377347",
        "Liquidation against holding to resolution",
        "<table id=\"pnl-by-version\">",
        "<td class=\"mono\">&lt;script&gt;alert(1)&lt;/script&gt;@1.0.0#0123456789ab</td>",
        "<td class=\"mono\">no exit by the rules</td>",
    ] {
        assert!(body.contains(needle), "the Lab page lacks {needle}");
    }
}

#[tokio::test]
async fn the_jobs_region_stops_asking_to_be_polled_once_nothing_runs() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/partials/lab-jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("<html") && body.contains("data-poll=\"on\""));
    let quiet = super::pages::jobs_region(&[]).into_string();
    assert!(quiet.contains("data-poll=\"off\""));
}

#[tokio::test]
async fn starting_a_job_goes_to_its_progress_and_a_refusal_keeps_what_was_typed() {
    let fake = Arc::new(Fake::default());
    let (status, headers, _) = post_form(
        Arc::clone(&fake),
        "/lab/jobs",
        &[("kind", "compare"), ("days", "2"), ("b_overrides", "engine.max_positions=5")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/lab#job-3");
    let started = fake.lab.as_ref().unwrap().started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0].kind.as_str(), started[0].b_overrides.as_str()),
        ("compare", "engine.max_positions=5")
    );

    let (status, _, body) = post_form(
        Arc::clone(&fake),
        "/lab/jobs",
        &[("kind", "sweep"), ("days", "0"), ("grid", "engine.max_positions=1,2")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"days\"") && body.contains("`days` must be 1 or more"));
    assert!(body.contains("aria-invalid=\"true\""));
    assert!(body.contains(">engine.max_positions=1,2</textarea>"), "what was typed stays");
    assert!(body.contains("<option value=\"sweep\" selected>"));
    assert_safe(&body);
}

#[tokio::test]
async fn a_comparison_shows_both_curves_the_metrics_and_the_diff_linked_to_positions() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/lab/comparisons/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    for needle in [
        "<svg id=\"equity-chart\"",
        "data-series=\"A\"",
        "data-series=\"B\"",
        "<svg id=\"drawdown-chart\"",
        "<svg id=\"daily-chart\"",
        "<table class=\"metrics\" id=\"metrics\"",
        "<table id=\"diff-table\"",
        "href=\"/lab/runs/1/positions/1\"",
    ] {
        assert!(body.contains(needle), "the comparison lacks {needle}");
    }
    assert_eq!(body.matches("<tr data-market-id=").count(), 1);
    let (status, _, body) = get(Arc::new(Fake::default()), "/lab/comparisons/9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no comparison 9"));
    let (status, _, _) = get(Arc::new(Fake::default()), "/lab/comparisons/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_run_page_draws_its_curves_and_attributes_its_positions() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/lab/runs/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    for needle in [
        "<svg id=\"equity-chart\"",
        "<svg id=\"attribution-chart\"",
        "<table id=\"run-positions\"",
        ">-19.00<",
        ">49.00<",
    ] {
        assert!(body.contains(needle), "the run lacks {needle}");
    }
}

#[tokio::test]
async fn the_bot_s_own_history_has_its_calibration_page() {
    let (status, _, body) = get(Arc::new(Fake::default()), "/lab/live/calibration").await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped(&body);
    assert_eq!(body.matches("<g class=\"bucket\"").count(), 10);
    let (_, _, lab) = get(Arc::new(Fake::default()), "/lab").await;
    assert!(lab.contains("href=\"/lab/live/calibration\""));
}

#[tokio::test]
async fn a_sweep_sorts_and_filters_with_the_holdout_next_to_the_sample() {
    let order = |body: &str| -> Vec<String> {
        body.match_indices("<tr data-variant=\"").map(|(i, _)| body[i + 18..i + 19].to_owned()).collect()
    };
    let (status, _, body) = get(Arc::new(Fake::default()), "/lab/sweeps/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order(&body), ["1", "2"], "by rank");
    assert!(body.contains("P&amp;L held out"));
    let (_, _, body) = get(Arc::new(Fake::default()), "/lab/sweeps/1?sort=holdout").await;
    assert_eq!(order(&body), ["2", "1"], "by held-out P&L");
    let (_, _, body) = get(Arc::new(Fake::default()), "/lab/sweeps/1?filter=max_positions%3D6").await;
    assert_eq!(order(&body), ["2"]);
    assert_safe(&body);
}

#[tokio::test]
async fn a_position_shows_its_quotes_markers_trades_and_attribution() {
    for path in ["/lab/runs/1/positions/1", "/history/positions/1"] {
        let (status, _, body) = get(Arc::new(Fake::default()), path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_escaped(&body);
        assert!(body.contains("<svg id=\"price-chart\""), "{path}");
        assert_eq!(body.matches("<g class=\"marker ").count(), 3, "{path}");
        for needle in ["<table id=\"attribution\"", "<table id=\"position-trades\"", "(YES won)", ">27.75<"] {
            assert!(body.contains(needle), "{path} lacks {needle}");
        }
    }
    let (status, _, _) = get(Arc::new(Fake::default()), "/lab/runs/1/positions/5").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_answers_the_same_as_json() {
    let fake = Arc::new(Fake::default());
    let (status, _, body) =
        send(Arc::clone(&fake), authed("GET", "/api/lab").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["runs"][0]["id"], 2);
    assert_eq!(v["live_attribution"]["pnl"], "27.75");
    assert_eq!(v["live_by_version"][0]["pnl"], "-4.5");
    let (status, _, body) = send(
        Arc::clone(&fake),
        authed("POST", "/api/lab/jobs")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"kind":"backtest","days":"1"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body.contains("\"state\":\"queued\""));
    let (status, _, body) = send(
        Arc::clone(&fake),
        authed("POST", "/api/lab/jobs")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"kind":"backtest","days":"0"}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("\"field\":\"days\""));
    for (path, expect) in [
        ("/api/lab/comparisons/1", StatusCode::OK),
        ("/api/lab/runs/1", StatusCode::OK),
        ("/api/lab/sweeps/1", StatusCode::OK),
        ("/api/lab/jobs/2", StatusCode::OK),
        ("/api/lab/runs/1/positions/1", StatusCode::OK),
        ("/api/lab/runs/1/calibration", StatusCode::OK),
        ("/api/lab/live/calibration", StatusCode::OK),
        ("/api/positions/1/detail", StatusCode::OK),
        ("/api/lab/runs/9", StatusCode::NOT_FOUND),
        ("/api/lab/runs/x", StatusCode::BAD_REQUEST),
    ] {
        let (status, _, _) = send(Arc::clone(&fake), authed("GET", path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, expect, "{path}");
    }
    let (status, _, _) =
        send(Arc::clone(&fake), axum::http::Request::get("/api/lab").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "behind the token");
}

#[tokio::test]
async fn without_a_lab_the_pages_say_so() {
    let fake = Arc::new(Fake { lab: None, ..Fake::default() });
    let (status, _, body) = get(Arc::clone(&fake), "/lab").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("The lab is not available: the strategy lab is not running"));
}

#[tokio::test]
async fn a_plugin_upload_is_checked_and_refused_with_why() {
    let fake = Arc::new(Fake::default());
    let put = |body: &'static [u8]| {
        crate::fake::http::browser("PUT", "/api/lab/plugins/up.wasm", true).body(Body::from(body)).unwrap()
    };
    let (status, _, body) = send(Arc::clone(&fake), put(b"\0asm\x0d\0\x01\0")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.contains("\"choice\":\"lab/up.wasm\""));
    let (status, _, body) = send(Arc::clone(&fake), put(b"not wasm")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("not a WebAssembly component"));
    let no_csrf =
        crate::fake::http::browser("PUT", "/api/lab/plugins/up.wasm", false).body(Body::from("x")).unwrap();
    let (status, _, _) = send(Arc::clone(&fake), no_csrf).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a browser session needs its CSRF token");
    // Larger than the global body limit, within the upload's.
    let big = vec![0_u8; 200 * 1024];
    let request =
        crate::fake::http::browser("PUT", "/api/lab/plugins/big.wasm", true).body(Body::from(big)).unwrap();
    let (status, _, body) = send(Arc::clone(&fake), request).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "read whole and refused by the lab, not by size: {body}"
    );
    let (_, _, page) = get(fake, "/lab").await;
    assert!(page.contains("<form id=\"lab-upload\"") && page.contains("data-upload=\"/api/lab/plugins/\""));
}
