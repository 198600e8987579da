//! Dashboard and JSON API of equilibrage, over a [`Backend`] the host implements (so this crate
//! never depends on the host).

#![deny(unsafe_code)]

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;
use std::sync::Arc;

/// A loaded plugin as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginView {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub active: bool,
    pub file: String,
    pub sha256: String,
    pub loaded_at_ms: i64,
    pub calls: u64,
    pub faults: u64,
    pub errors: u64,
    pub mean_us: u64,
    pub last_error: Option<String>,
    /// (name, value, min, max, help)
    pub params: Vec<ParamView>,
}

/// One parameter of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamView {
    pub name: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub help: String,
}

/// A file of the plugin directory that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedFile {
    pub file: String,
    pub error: String,
}

/// The venue the bot trades on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueView {
    /// `sim`, `paper` or `live`.
    pub mode: String,
    pub open_markets: usize,
    /// The venue's clock (simulated time for the simulator), Unix milliseconds.
    pub now_ms: i64,
    /// pUSD available, as an exact decimal string.
    pub cash: String,
}

/// An open position on the dashboard; money and prices as exact decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionRow {
    pub id: u64,
    pub question: String,
    pub status: String,
    /// Entry price, shares held and best bid, YES then NO ("" where there is none).
    pub entry: [String; 2],
    pub held: [String; 2],
    pub bid: [String; 2],
    pub unrealised: String,
    pub realised: String,
}

/// An opportunity of the last scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpportunityRow {
    pub market_id: String,
    pub question: String,
    pub score: f32,
    /// (factor, value, weight) — why it scored what it did.
    pub factors: Vec<(String, f32, Option<f64>)>,
}

/// The trading engine as the dashboard shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TradingView {
    /// (label, value) pairs: total, available, allocated, P&L, fees…
    pub figures: Vec<(String, String)>,
    /// Who decides exits: the liquidation-rules plugin or the built-in rule, and why.
    pub rules: String,
    pub last_error: Option<String>,
    pub positions: Vec<PositionRow>,
    pub opportunities: Vec<OpportunityRow>,
}

/// What the web layer needs from the running bot.
pub trait Backend: Send + Sync + 'static {
    /// Capital, P&L, open positions and the best opportunities.
    fn trading(&self) -> TradingView;
    /// The venue.
    fn venue(&self) -> VenueView;
    /// Loaded plugins.
    fn plugins(&self) -> Vec<PluginView>;
    /// Plugin files that were rejected, with why.
    fn rejected_files(&self) -> Vec<RejectedFile>;
}

/// The dashboard and API routes.
pub fn router<B: Backend>(backend: B) -> Router {
    Router::new()
        .route("/", get(plugins_page::<B>))
        .route("/api/dashboard/overview", get(api_overview::<B>))
        .route("/plugins", get(plugins_page::<B>))
        .route("/api/plugins", get(api_plugins::<B>))
        .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .with_state(Arc::new(backend))
}

#[derive(Serialize)]
struct PluginsBody {
    venue: VenueView,
    plugins: Vec<PluginView>,
    rejected: Vec<RejectedFile>,
}

async fn api_plugins<B: Backend>(State(backend): State<Arc<B>>) -> impl IntoResponse {
    Json(PluginsBody {
        venue: backend.venue(),
        plugins: backend.plugins(),
        rejected: backend.rejected_files(),
    })
}

async fn api_overview<B: Backend>(State(backend): State<Arc<B>>) -> impl IntoResponse {
    Json(backend.trading())
}

fn trading_section(t: &TradingView) -> Markup {
    html! {
        h2 { "Trading" }
        p {
            @for (label, value) in &t.figures { (label) ": " strong { (value) } " · " }
        }
        p { "Exits decided by: " (t.rules) }
        @if let Some(e) = &t.last_error { p class="error" { (e) } }
        h3 { "Open positions" }
        table {
            thead { tr { th { "#" } th { "market" } th { "status" } th { "entry Y/N" } th { "held Y/N" } th { "bid Y/N" } th { "unrealised" } th { "realised" } } }
            tbody {
                @for p in &t.positions {
                    tr {
                        td { (p.id) } td { (p.question) } td { (p.status) }
                        td { (p.entry[0]) " / " (p.entry[1]) } td { (p.held[0]) " / " (p.held[1]) }
                        td { (p.bid[0]) " / " (p.bid[1]) } td { (p.unrealised) } td { (p.realised) }
                    }
                }
            }
        }
        h3 { "Best opportunities" }
        table {
            thead { tr { th { "score" } th { "market" } th { "factors (value × weight)" } } }
            tbody {
                @for o in &t.opportunities {
                    tr {
                        td { (format!("{:.1}", o.score)) } td { (o.question) }
                        td {
                            @for (name, value, weight) in &o.factors {
                                (name) " " (format!("{value:.2}"))
                                @if let Some(w) = weight { " × " (format!("{w:.2}")) }
                                " · "
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn plugins_page<B: Backend>(State(backend): State<Arc<B>>) -> Markup {
    let trading = backend.trading();
    let plugins = backend.plugins();
    let rejected = backend.rejected_files();
    let venue = backend.venue();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "equilibrage · plugins" }
                style { (STYLE) }
            }
            body {
                h1 { "equilibrage" }
                p {
                    "Venue: " strong { (venue.mode) } " · open markets: " (venue.open_markets)
                    " · cash: " (venue.cash) " pUSD · venue time (Unix ms): " (venue.now_ms)
                }
                (trading_section(&trading))
                h2 { "Plugins" }
                table {
                    thead { tr { th { "kind" } th { "name" } th { "version" } th { "active" } th { "calls" } th { "faults" } th { "mean µs" } th { "last error" } } }
                    tbody {
                        @for p in &plugins {
                            tr {
                                td { (p.kind) } td { (p.name) } td { (p.version) }
                                td { @if p.active { "yes" } @else { "" } }
                                td { (p.calls) } td { (p.faults) } td { (p.mean_us) }
                                td class="error" { (p.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                @if !rejected.is_empty() {
                    h2 { "Rejected files" }
                    ul {
                        @for r in &rejected { li { code { (r.file) } ": " span class="error" { (r.error) } } }
                    }
                }
            }
        }
    }
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd}\
.error{color:#a00}";

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    struct Fake;

    impl Backend for Fake {
        fn trading(&self) -> TradingView {
            TradingView {
                figures: vec![("available".into(), "9000.00".into())],
                rules: "plugin equilibrage".into(),
                last_error: None,
                positions: vec![PositionRow {
                    id: 1,
                    question: "<script>alert(1)</script>".into(),
                    status: "active".into(),
                    entry: ["0.40".into(), "0.62".into()],
                    held: ["1250".into(), "806.45".into()],
                    bid: ["0.39".into(), "0.60".into()],
                    unrealised: "-28.12".into(),
                    realised: "0".into(),
                }],
                opportunities: vec![],
            }
        }

        fn venue(&self) -> VenueView {
            VenueView { mode: "sim".into(), open_markets: 300, now_ms: 0, cash: "10000".into() }
        }

        fn plugins(&self) -> Vec<PluginView> {
            vec![PluginView {
                kind: "scorer".into(),
                name: "<b>x</b>".into(),
                version: "1.0.0".into(),
                active: true,
                file: "scorer.wasm".into(),
                sha256: "00".into(),
                loaded_at_ms: 0,
                calls: 3,
                faults: 1,
                errors: 0,
                mean_us: 12,
                last_error: None,
                params: vec![],
            }]
        }
        fn rejected_files(&self) -> Vec<RejectedFile> {
            vec![RejectedFile { file: "bad.wasm".into(), error: "not a WebAssembly component".into() }]
        }
    }

    async fn get(path: &str) -> (StatusCode, String) {
        let response = router(Fake).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn plugins_page_lists_plugins_escaped_and_rejected_files() {
        let (status, body) = get("/plugins").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("&lt;b&gt;x&lt;/b&gt;"), "names are escaped");
        assert!(!body.contains("<b>x</b>"));
        assert!(body.contains("bad.wasm") && body.contains("not a WebAssembly component"));
        assert!(body.contains("9000.00") && body.contains("806.45"));
        assert!(!body.contains("<script>alert(1)</script>"), "market text is escaped");
    }

    #[tokio::test]
    async fn api_and_health_answer_json() {
        let (status, body) = get("/api/plugins").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["plugins"][0]["calls"], 3);
        assert_eq!(v["rejected"][0]["file"], "bad.wasm");
        assert_eq!(v["venue"]["open_markets"], 300);
        let (status, body) = get("/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"status":"ok"}"#));
    }
}
