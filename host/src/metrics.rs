//! Prometheus metrics of the running bot: what the engine, plugins, venue and recorder count as
//! they work, and the account gauges read when `/metrics` is scraped.
//!
//! One registry per process, as a Prometheus client library keeps it: the counters are moved
//! where things happen (an order answered, a plugin called, a request sent), so no layer has to
//! carry a handle through every constructor. Backtests move them too; nobody scrapes those.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder, exponential_buckets,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::sync::LazyLock;
use std::time::Duration;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    // engine
    pub orders: IntCounterVec,
    pub tick_to_order: Histogram,
    pub scans: IntCounterVec,
    pub scan_seconds: Histogram,
    pub exits: IntCounterVec,
    pub errors: IntCounterVec,
    account: AccountGauges,
    // plugins
    pub plugin_call_seconds: HistogramVec,
    pub plugin_faults: IntCounterVec,
    pub plugin_errors: IntCounterVec,
    pub plugin_reloads: IntCounterVec,
    pub plugin_rejected_files: IntCounter,
    // venue
    pub venue_requests: IntCounterVec,
    pub venue_limiter_waits: IntCounterVec,
    pub venue_limiter_wait_seconds: prometheus::CounterVec,
    pub venue_ws_connects: IntCounterVec,
    pub venue_heartbeat_failures: IntCounter,
    // lab
    pub recorder_bytes: IntCounter,
    pub recorder_records: IntCounter,
    pub recorder_dropped: IntCounter,
    // notifications
    pub notifications: IntCounterVec,
}

/// Gauges set from the account at each scrape. Money is exported as a float: the exposition
/// format has no other number type, and a gauge is for watching, never for accounting.
struct AccountGauges {
    equity: prometheus::Gauge,
    cash: prometheus::Gauge,
    realised: prometheus::Gauge,
    unrealised: prometheus::Gauge,
    open_positions: IntGauge,
    pending_intents: IntGauge,
    auto_trading: IntGauge,
}

/// What a scrape reads from the engine.
#[derive(Debug, Clone, Default)]
pub struct AccountSnapshot {
    pub equity: Decimal,
    pub cash: Decimal,
    pub realised_pnl: Decimal,
    pub unrealised_pnl: Decimal,
    pub open_positions: usize,
    pub pending_intents: usize,
    pub auto_trading: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Latency buckets from 10 µs to about 5 s, doubling.
fn latency_buckets(start: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, 2.0, count).unwrap_or_default()
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new_custom(Some("equilibrage".to_owned()), None).unwrap_or_default();
        let m = Self {
            orders: counter_vec(&registry, "orders_total", "Orders sent to the venue, by side and outcome.", &["side", "result"]),
            tick_to_order: histogram(&registry, HistogramOpts::new(
                "tick_to_order_seconds",
                "From a market event reaching the monitor to the exit order it triggered handed to the venue.",
            ).buckets(latency_buckets(0.000_1, 16))),
            scans: counter_vec(&registry, "scans_total", "Market scans, by outcome.", &["result"]),
            scan_seconds: histogram(&registry, HistogramOpts::new("scan_seconds", "Duration of a market scan.")
                .buckets(latency_buckets(0.01, 12))),
            exits: counter_vec(&registry, "exits_total", "Exit decisions carried out, by action (liquidate, stop_loss, take_profit, close).", &["action"]),
            errors: counter_vec(&registry, "errors_total", "Errors shown to the operator, by source.", &["source"]),
            account: AccountGauges {
                equity: gauge(&registry, "equity_pusd", "Cash plus open positions marked at the best bid, pUSD."),
                cash: gauge(&registry, "cash_pusd", "Available cash, pUSD."),
                realised: gauge(&registry, "realised_pnl_pusd", "Realised P&L of all positions, open and closed, fees included, pUSD."),
                unrealised: gauge(&registry, "unrealised_pnl_pusd", "Unrealised P&L of open positions at the best bid, pUSD."),
                open_positions: int_gauge(&registry, "open_positions", "Positions open now."),
                pending_intents: int_gauge(&registry, "journal_pending_intents", "Order intents journalled and not yet resolved."),
                auto_trading: int_gauge(&registry, "auto_trading", "1 when the bot enters positions by itself."),
            },
            plugin_call_seconds: histogram_vec(&registry, HistogramOpts::new(
                "plugin_call_seconds",
                "Duration of a plugin call (instantiation, call and validation), by kind and plugin.",
            ).buckets(latency_buckets(0.000_01, 20)), &["kind", "plugin"]),
            plugin_faults: counter_vec(&registry, "plugin_faults_total", "Plugin calls that trapped, timed out, hit the memory limit or returned invalid output.", &["kind", "plugin"]),
            plugin_errors: counter_vec(&registry, "plugin_errors_total", "Plugin calls answered with the plugin's own error.", &["kind", "plugin"]),
            plugin_reloads: counter_vec(&registry, "plugin_loads_total", "Plugin versions loaded (the first load and every hot reload).", &["kind", "plugin"]),
            plugin_rejected_files: int_counter(&registry, "plugin_rejected_files_total", "Plugin files refused at load (the previous version kept serving)."),
            venue_requests: counter_vec(&registry, "venue_requests_total", "HTTP requests to the exchange, by route class and status (`error`: no answer).", &["route", "status"]),
            venue_limiter_waits: counter_vec(&registry, "venue_rate_limit_waits_total", "Requests that waited for the client-side rate limiter, by route class.", &["route"]),
            venue_limiter_wait_seconds: float_counter_vec(&registry, "venue_rate_limit_wait_seconds_total", "Time requests spent waiting for the rate limiter, by route class.", &["route"]),
            venue_ws_connects: counter_vec(&registry, "venue_websocket_connects_total", "Websocket connections opened to the exchange, by channel (each one after the first is a reconnect).", &["channel"]),
            venue_heartbeat_failures: int_counter(&registry, "venue_heartbeat_failures_total", "Heartbeats the exchange did not accept."),
            recorder_bytes: int_counter(&registry, "recorder_bytes_total", "Bytes the recorder wrote to segment files."),
            recorder_records: int_counter(&registry, "recorder_records_total", "Records the recorder wrote."),
            recorder_dropped: int_counter(&registry, "recorder_dropped_total", "Records dropped because the recorder fell behind."),
            notifications: counter_vec(&registry, "notifications_total", "Notifications by channel and outcome (sent, failed after retries, dropped when the queue was full).", &["channel", "result"]),
            registry,
        };
        let info = IntGauge::with_opts(
            Opts::new("build_info", "The running version; always 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        );
        if let Ok(info) = info {
            info.set(1);
            register(&m.registry, info);
        }
        m
    }

    /// Counts an order's outcome.
    pub fn order(&self, side: &str, result: &str) {
        self.orders.with_label_values(&[side, result]).inc();
    }

    /// Records one plugin call.
    pub fn plugin_call(&self, kind: &str, plugin: &str, took: Duration) {
        self.plugin_call_seconds.with_label_values(&[kind, plugin]).observe(took.as_secs_f64());
    }

    /// The text exposition of every metric, the account gauges set from `account` first.
    #[must_use]
    pub fn render(&self, account: &AccountSnapshot) -> String {
        let a = &self.account;
        a.equity.set(float(account.equity));
        a.cash.set(float(account.cash));
        a.realised.set(float(account.realised_pnl));
        a.unrealised.set(float(account.unrealised_pnl));
        a.open_positions.set(i64::try_from(account.open_positions).unwrap_or(i64::MAX));
        a.pending_intents.set(i64::try_from(account.pending_intents).unwrap_or(i64::MAX));
        a.auto_trading.set(i64::from(account.auto_trading));
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The text exposition of every metric (see [`Metrics::render`]).
#[must_use]
pub fn render(account: &AccountSnapshot) -> String {
    get().render(account)
}

fn float(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn register<C: prometheus::core::Collector + 'static>(registry: &Registry, c: C) {
    if let Err(e) = registry.register(Box::new(c)) {
        tracing::warn!(error = %e, "registering a metric");
    }
}

// The constructors below only fail on a malformed name or help text, which are constants here
// (and tested); a metric that could not be made is replaced by an unregistered one.

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, c.clone());
    c
}

fn float_counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::CounterVec {
    let c = prometheus::CounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, c.clone());
    c
}

fn int_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, c.clone());
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Gauge {
    let g = prometheus::Gauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, g.clone());
    g
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, g.clone());
    g
}

fn histogram(registry: &Registry, opts: HistogramOpts) -> Histogram {
    let name = opts.common_opts.name.clone();
    let h = Histogram::with_opts(opts).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, h.clone());
    h
}

fn histogram_vec(registry: &Registry, opts: HistogramOpts, labels: &[&str]) -> HistogramVec {
    let name = opts.common_opts.name.clone();
    let h = HistogramVec::new(opts, labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(registry, h.clone());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn every_metric_is_exposed_with_its_help_and_type() {
        let m = get();
        m.order("sell", "filled");
        m.plugin_call("scorer", "default-scorer", Duration::from_micros(120));
        m.tick_to_order.observe(0.000_8);
        let text = render(&AccountSnapshot {
            equity: dec!(1000.25),
            cash: dec!(900),
            open_positions: 2,
            auto_trading: true,
            ..AccountSnapshot::default()
        });
        for line in [
            "# TYPE equilibrage_orders_total counter",
            "equilibrage_orders_total{result=\"filled\",side=\"sell\"}",
            "# TYPE equilibrage_tick_to_order_seconds histogram",
            "equilibrage_plugin_call_seconds_bucket{kind=\"scorer\",plugin=\"default-scorer\",le=\"0.00016\"}",
            "equilibrage_equity_pusd 1000.25",
            "equilibrage_cash_pusd 900",
            "equilibrage_open_positions 2",
            "equilibrage_auto_trading 1",
            "# HELP equilibrage_venue_heartbeat_failures_total Heartbeats the exchange did not accept.",
            "equilibrage_build_info{version=",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }
}
