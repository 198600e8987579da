//! Prometheus metrics end to end (issue 20): the real binary on a fast simulator with
//! auto-trading, scraped at the dashboard's `/metrics` (with the token) and on `[metrics] listen`
//! (without). Every scrape passes `promtool check metrics`, and the counters move with what the
//! engine does: scans, plugin calls, orders, exits. A backtest in the bot's process (a lab job)
//! moves none of them.
//!
//! Needs `promtool` on PATH (Debian: `prometheus`; .ci/run installs it); without it the test
//! fails and says so.

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use support::browser::{Bot, eventually, http, on_path};

const TOKEN: &str = "metrics-access-token-0d9c1e7b4a2f48e6b5c3d1a0f9e8d7c6";

/// Simulated time at 10 minutes a second, auto-trading on anything scoring 1 or more, exits as
/// soon as a side has lost 1 %: entries and liquidations within seconds.
fn config() -> String {
    "[exchange.sim]\nseed = 11\nmarkets = 120\nspeed = 600.0\n\
     [engine]\nauto_trading = true\nopportunity_threshold = 1\nmax_positions = 3\n\
     scan_interval_secs = 10\nsweep_interval_secs = 5\nliquidation_drop_percent = \"1\"\n\
     max_slippage_percent = \"10\"\n\
     [metrics]\nlisten = \"127.0.0.1:0\"\n"
        .to_owned()
}

/// Series → value, from a text exposition.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l:?}"));
            (series.to_owned(), value.parse().unwrap_or_else(|e| panic!("{l:?}: {e}")))
        })
        .collect()
}

/// The sum of every series of `name` whose labels contain each of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            n == name && labels.iter().all(|l| rest.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

/// `promtool check metrics` on `text`: it exits non-zero on a parse error or a lint problem.
fn promtool_check(text: &str) {
    let promtool = on_path("promtool").unwrap_or_else(|| {
        panic!("promtool is not on PATH: install Debian's `prometheus` package (.ci/run does)")
    });
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\n--- the exposition:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scrape(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

#[tokio::test]
async fn metrics_pass_promtool_and_move_with_the_engine() {
    let bot = tokio::task::spawn_blocking(|| Bot::start(&config(), TOKEN)).await.expect("start");

    // The dashboard's /metrics needs the token; a scraper without it gets a 401, not a login page.
    let refused = scrape(&bot.url("/metrics"), None).await;
    assert_eq!(refused.status(), 401);
    let first = scrape(&bot.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let first = first.text().await.expect("body");
    promtool_check(&first);
    let before = samples(&first);
    assert_eq!(before.get("equilibrage_auto_trading"), Some(&1.0), "{first}");
    assert!(before.contains_key("equilibrage_equity_pusd"), "{first}");

    // The listener of its own, without the token.
    let metrics_addr = eventually("the `metrics:` log line", || {
        let tail = bot.log.tail();
        async move {
            tail.lines()
                .find_map(|l| l.split("metrics: http://").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .map(|url| url.trim_end_matches("/metrics").to_owned())
                .ok_or_else(|| "not logged yet".to_owned())
        }
    })
    .await;
    let own = format!("http://{metrics_addr}/metrics");
    assert_eq!(scrape(&own, None).await.status(), 200);
    assert_eq!(scrape(&format!("http://{metrics_addr}/api/positions"), None).await.status(), 404);

    // The engine scans, enters and liquidates; its counters follow.
    let (last, text) = eventually("scans, scorer calls, matched buys and an exit in the metrics", || {
        let own = own.clone();
        async move {
            let text = scrape(&own, None).await.text().await.map_err(|e| e.to_string())?;
            let now = samples(&text);
            let scans = sum(&now, "equilibrage_scans_total", &[r#"result="ok""#]);
            let scored = sum(&now, "equilibrage_plugin_call_seconds_count", &[r#"kind="scorer""#]);
            let buys = sum(&now, "equilibrage_orders_total", &[r#"side="buy""#, r#"result="matched""#]);
            let exits = sum(&now, "equilibrage_exits_total", &[]);
            let ticks = sum(&now, "equilibrage_tick_to_order_seconds_count", &[]);
            if scans >= 2.0 && scored >= 2.0 && buys >= 2.0 && exits >= 1.0 && ticks >= 1.0 {
                Ok((now, text))
            } else {
                Err(format!(
                    "scans {scans}, scorer calls {scored}, matched buys {buys}, exits {exits}, ticks {ticks}"
                ))
            }
        }
    })
    .await;
    promtool_check(&text);

    // Counters never go down between scrapes, and what the engine did shows up in them.
    for (series, value) in &before {
        let name = series.split('{').next().unwrap_or(series);
        if name.ends_with("_total") || name.ends_with("_count") || name.ends_with("_bucket") {
            let now = last.get(series).copied().unwrap_or_else(|| panic!("{series} disappeared"));
            assert!(now >= *value, "{series} went down: {value} → {now}");
        }
    }
    assert!(sum(&last, "equilibrage_scans_total", &[]) > sum(&before, "equilibrage_scans_total", &[]));
    assert!(sum(&last, "equilibrage_plugin_loads_total", &[r#"kind="liquidation-rules""#]) >= 1.0, "{text}");
    assert!(
        sum(&last, "equilibrage_plugin_call_seconds_count", &[r#"kind="liquidation-rules""#]) >= 1.0,
        "{text}"
    );
    // The bucket +Inf of a histogram holds every observation.
    assert_eq!(
        sum(&last, "equilibrage_tick_to_order_seconds_bucket", &[r#"le="+Inf""#]),
        sum(&last, "equilibrage_tick_to_order_seconds_count", &[]),
    );
}

/// The example scrape configuration and alert rules of docs/operations.md are valid.
#[test]
fn the_example_prometheus_config_and_alert_rules_are_valid() {
    let promtool = on_path("promtool").unwrap_or_else(|| {
        panic!("promtool is not on PATH: install Debian's `prometheus` package (.ci/run does)")
    });
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/prometheus");
    for args in
        [&["check", "config", "--syntax-only", "prometheus.yml"][..], &["check", "rules", "alerts.yml"]]
    {
        let out = Command::new(&promtool).args(args).current_dir(dir).output().expect("promtool");
        let said =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool {args:?}: {}\n{said}", out.status);
        assert!(said.contains("SUCCESS"), "{said}");
    }
    // Every metric an alert uses is one the bot exposes.
    let rules = std::fs::read_to_string(format!("{dir}/alerts.yml")).expect("alerts.yml");
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs")).expect("metrics.rs");
    for name in rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("equilibrage_"))
    {
        let bare = name.strip_prefix("equilibrage_").unwrap_or(name);
        let bare = bare.strip_suffix("_bucket").unwrap_or(bare);
        assert!(
            source.contains(&format!("\"{bare}\"")),
            "alerts.yml uses {name}, which src/metrics.rs does not define"
        );
    }
}

/// The counter values and the histogram observations of every series of a metric, summed.
fn moved(metric: &dyn prometheus::core::Collector) -> (f64, u64) {
    let families = metric.collect();
    let series = || families.iter().flat_map(|family| family.get_metric());
    (
        series().map(|m| m.get_counter().get_value()).sum(),
        series().map(|m| m.get_histogram().get_sample_count()).sum(),
    )
}

/// A backtest run inside the bot's process (the dashboard's lab jobs) trades its simulated
/// market without moving the bot's metrics: its scans would hide a stalled scanner from the
/// "no scans" alert, its orders, errors and plugin faults would count as the bot's.
#[test]
fn a_backtest_leaves_the_bots_metrics_alone() {
    use equilibrage::exchange::sim::SimConfig;
    use equilibrage::lab::{Backtest, DataSource};
    use rust_decimal::Decimal;

    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("plugins");
    equilibrage::plugins::install_defaults(&dir).expect("plugins");
    let start = SimConfig::default().start_ms;
    let mut bt = Backtest::new(
        DataSource::Sim { seed: 5, days: 1, markets: 12, start_ms: start },
        equilibrage::plugins::PluginOptions::new(&dir, None),
    );
    bt.to_ms = Some(start + 12 * 3_600_000);
    bt.settings.auto_trading = true;
    bt.settings.opportunity_threshold = 1;
    bt.settings.max_positions = 6;
    bt.settings.liquidation_drop_percent = Decimal::ONE;
    let report = bt.run(&|_, _| {}).expect("backtest");
    assert!(report.stats.scans > 0 && report.stats.market_events > 0, "{:?}", report.stats);
    assert!(
        report.positions.iter().any(|p| p.liquidated.is_some()),
        "a side was liquidated: {:?}",
        report.positions
    );

    let m = equilibrage::metrics::get();
    // The engine's series, then its plugins': their loads and calls are the backtest's too.
    let series: [(&str, &dyn prometheus::core::Collector); 10] = [
        ("scans", &m.scans),
        ("scan seconds", &m.scan_seconds),
        ("orders", &m.orders),
        ("exits", &m.exits),
        ("tick-to-order", &m.tick_to_order),
        ("errors", &m.errors),
        ("plugin loads", &m.plugin_reloads),
        ("plugin calls", &m.plugin_call_seconds),
        ("plugin faults", &m.plugin_faults),
        ("plugin errors", &m.plugin_errors),
    ];
    for (name, metric) in series {
        assert_eq!(moved(metric), (0.0, 0), "the backtest moved the bot's {name}");
    }
}
