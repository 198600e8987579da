//! The lab's commands: `equilibrage backtest` (one run, several seeds, or A against B with the
//! per-decision diff), `equilibrage sweep`, `equilibrage export` (Parquet), `equilibrage record`
//! (data only, no trading), and the recorder every run starts.

mod export;
mod sweep;

pub use export::{ExportArgs, export};
pub use sweep::{SweepArgs, sweep};

use super::plugin_options;
use crate::venue_start::{Prior, start_venue};
use anyhow::Context as _;
use clap::Args;
use equilibrage::config::{Config, ExchangeMode};
use equilibrage::engine::{Engine, EngineOptions, SignalFeeds};
use equilibrage::lab::{
    Backtest, DataSource, Overrides, Recorder, ResultsStore, RunReport, Schedule, ShadowRunner, diff_runs,
};
use equilibrage::plugins::{self, PluginOptions, Plugins};
use equilibrage::store::Store;
use equilibrage::web_backend::Venue;
use rust_decimal::Decimal;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// The data, plugins and settings of a backtest or sweep.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// A recording directory (or one segment) under <data dir>/recordings.
    #[arg(long, value_name = "PATH", conflicts_with = "sim")]
    recording: Option<PathBuf>,
    /// The embedded simulator as the data source.
    #[arg(long)]
    sim: bool,
    /// Simulator seeds; several give a distribution (repeat the flag or use commas).
    #[arg(long, value_delimiter = ',', default_value = "42")]
    seed: Vec<u64>,
    /// Simulated days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Simulated markets.
    #[arg(long, default_value_t = 300)]
    markets: usize,
    /// Plugin directory (default: the data directory's).
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// A setting, e.g. engine.max_positions=5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A plugin parameter, e.g. default-scorer.weight-liquidity=0.4 (repeatable).
    #[arg(long = "param", value_name = "PLUGIN.PARAM=VALUE")]
    param: Vec<String>,
    /// Start of the data used: RFC 3339 or Unix milliseconds.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the data used: RFC 3339 or Unix milliseconds.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// The simulated wallet's pUSD.
    #[arg(long, default_value = "10000")]
    cash: Decimal,
    /// When a replay scans and sweeps: where the recording did (as-recorded), or every
    /// scan/sweep interval of recorded time (interval).
    #[arg(long, default_value = "as-recorded", value_parser = parse_schedule)]
    schedule: Schedule,
}

impl DataArgs {
    /// One backtest per data source (one per seed on the simulator), labelled `label`.
    fn backtests(
        &self,
        config: &Config,
        options: PluginOptions,
        label: &str,
    ) -> anyhow::Result<Vec<Backtest>> {
        anyhow::ensure!(
            self.recording.is_some() || self.sim,
            "choose the data: --recording PATH (a directory under {}) or --sim [--seed N] [--days D]",
            config.data.dir.join("recordings").display()
        );
        let mut overrides = Overrides::default();
        for s in &self.set {
            overrides.set(s)?;
        }
        for p in &self.param {
            overrides.param(p)?;
        }
        let mut plugins = options;
        if let Some(dir) = &self.plugins {
            plugins.dir.clone_from(dir);
        }
        let from_ms = self.from.as_deref().map(parse_time).transpose()?;
        let to_ms = self.to.as_deref().map(parse_time).transpose()?;
        let sources: Vec<DataSource> = match &self.recording {
            Some(path) => vec![DataSource::Recording(path.clone())],
            None => self
                .seed
                .iter()
                .map(|seed| DataSource::Sim {
                    seed: *seed,
                    days: self.days,
                    markets: self.markets,
                    start_ms: equilibrage::exchange::sim::SimConfig::default().start_ms,
                })
                .collect(),
        };
        Ok(sources
            .into_iter()
            .map(|source| Backtest {
                source,
                plugins: plugins.clone(),
                settings: config.engine.clone(),
                overrides: overrides.clone(),
                trends: config.signals.trends.clone(),
                from_ms,
                to_ms,
                cash: self.cash,
                schedule: self.schedule,
                label: label.to_owned(),
                calibrate: true,
                keep_decisions: true,
                world: None,
            })
            .collect())
    }
}

/// `equilibrage backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Compare with the plugins of this directory (B), on the same data.
    #[arg(long, value_name = "DIR")]
    vs: Option<PathBuf>,
    /// B's plugin parameter (repeatable); B otherwise runs A's plugins and settings.
    #[arg(long = "vs-param", value_name = "PLUGIN.PARAM=VALUE")]
    vs_param: Vec<String>,
    /// B's setting (repeatable).
    #[arg(long = "vs-set", value_name = "KEY=VALUE")]
    vs_set: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Where a backtest's or a sweep's results go besides the terminal.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Do not keep the results in <data dir>/lab/results.redb.
    #[arg(long)]
    no_store: bool,
    /// A name for the results in the results store.
    #[arg(long, default_value = "")]
    label: String,
}

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    match s {
        "as-recorded" => Ok(Schedule::AsRecorded),
        "interval" => Ok(Schedule::Interval),
        _ => Err(format!("{s:?}: as-recorded or interval")),
    }
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("{s:?} is neither Unix milliseconds nor an RFC 3339 time"))?;
    Ok(t.timestamp_millis())
}

/// Starts the recorder (`[lab.recording]`) into `<data dir>/recordings` and makes it the
/// engine's observer: what the engine sees and decides, off its path.
pub fn start_recorder(config: &Config, engine: &Engine) -> anyhow::Result<Recorder> {
    let recorder = new_recorder(config, engine)?;
    if engine.set_observer(recorder.sink()).is_err() {
        anyhow::bail!("the engine is observed already");
    }
    Ok(recorder)
}

fn new_recorder(config: &Config, engine: &Engine) -> anyhow::Result<Recorder> {
    let root = config.data.dir.join("recordings");
    Recorder::start(&root, engine.venue(), &config.lab.recording).context("starting the recorder")
}

/// The bot's observers: the recorder when `[lab.recording]` is on, behind the shadow plugins'
/// runner, which repeats the active plugins' calls on their shadows (`docs/plugins.md`).
pub fn start_observers(
    config: &Config,
    engine: &Engine,
    plugins: &Plugins,
) -> anyhow::Result<(Option<Recorder>, Arc<ShadowRunner>)> {
    let recorder = if config.lab.recording.enabled { Some(new_recorder(config, engine)?) } else { None };
    let next = recorder.as_ref().map(|r| r.sink() as Arc<dyn equilibrage::engine::Observer>);
    let shadows =
        ShadowRunner::start(plugins.clone(), config.data.dir.join("lab").join("shadows.json"), next)
            .context("starting the shadow plugins' thread")?;
    if engine.set_observer(Arc::clone(&shadows) as Arc<dyn equilibrage::engine::Observer>).is_err() {
        anyhow::bail!("the engine is observed already");
    }
    Ok((recorder, shadows))
}

/// `equilibrage record`: the venue's data through an engine that scans but never trades, into a
/// recording; nothing is stored besides the recording.
pub fn record(config: &Config, for_secs: Option<u64>) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.exchange.mode != ExchangeMode::Live,
        "`record` records without trading: use exchange.mode = \"paper\" (live data, no keys) or \"sim\""
    );
    let plugin_dir = config.plugin_dir();
    plugins::install_defaults(&plugin_dir)?;
    let runtime = Plugins::new(plugin_options(config))?;
    runtime.load_dir()?;
    let store = Store::in_memory()?;
    let prior = Prior { cash: None, holdings: Vec::new(), last_ms: 0 };
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(async move {
        let (venue, exchange, clock, _driver, _link) = start_venue(config, &prior, None).await?;
        let mut settings = config.engine.clone();
        settings.auto_trading = false;
        let engine =
            Engine::open(exchange, runtime, store, EngineOptions { settings, clock, metrics: true }).await?;
        engine.set_trends_config(config.signals.trends.clone());
        let recorder = start_recorder(config, &engine)?;
        let mut tasks = engine.spawn();
        if let Venue::Sim(sim) = &venue {
            engine.follow_signals(SignalFeeds { whales: sim.whale_trades(), news: sim.news() }, &mut tasks);
        }
        tracing::info!(dir = %recorder.dir().display(), "recording without trading; Ctrl-C stops");
        match for_secs {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(secs)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tasks.abort();
        drop(engine);
        let dir = recorder.dir().to_owned();
        let (records, bytes) = {
            let s = recorder.stats();
            (
                s.records.load(std::sync::atomic::Ordering::Relaxed),
                s.bytes.load(std::sync::atomic::Ordering::Relaxed),
            )
        };
        recorder.close()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "recorded {records} records ({bytes} bytes) in {}", dir.display())?;
        anyhow::Ok(())
    })
}

/// Runs `equilibrage backtest`.
pub fn backtest(config: &Config, options: PluginOptions, args: &BacktestArgs) -> anyhow::Result<()> {
    let runs = args.data.backtests(config, options, "")?;
    // B: A's plugins, settings and parameters, with what `--vs…` changes.
    let b_side = args.vs.is_some() || !args.vs_param.is_empty() || !args.vs_set.is_empty();
    let b_of = |a: &Backtest| -> anyhow::Result<Backtest> {
        let mut b = a.clone();
        for s in &args.vs_set {
            b.overrides.set(s)?;
        }
        for p in &args.vs_param {
            b.overrides.param(p)?;
        }
        if let Some(dir) = &args.vs {
            b.plugins.dir.clone_from(dir);
        }
        b.label = label(&args.output.label, "B");
        Ok(b)
    };
    let store = if args.output.no_store { None } else { Some(ResultsStore::open(&config.data.dir)?) };
    let mut out = std::io::stdout().lock();
    let mut all = Vec::new();
    for mut a in runs {
        writeln!(out, "backtest: {}", a.source)?;
        a.label = label(&args.output.label, if b_side { "A" } else { "" });
        let (a, b) = if b_side {
            let b = b_of(&a)?;
            let (a, b) = a.compared_with(b);
            (a, Some(b))
        } else {
            (a, None)
        };
        let mut a = run_one(&a)?;
        let b = match &b {
            Some(b) => Some(run_one(b)?),
            None => None,
        };
        match b {
            Some(mut b) => {
                if let Some(store) = &store {
                    let c = store.put_comparison(&args.output.label, &mut a, &mut b)?;
                    writeln!(out, "stored as comparison {} (runs {} and {})", c.id, c.a, c.b)?;
                }
                write!(out, "{}", side_by_side(&a, &b))?;
                write!(out, "{}", diff_table(&a, &b))?;
                all.push(a);
                all.push(b);
            }
            None => {
                if let Some(store) = &store {
                    store.put(&mut a)?;
                }
                write!(out, "{}", summary(&a))?;
                all.push(a);
            }
        }
    }
    if all.len() > 1 && !b_side {
        write!(out, "{}", distribution(&all))?;
    }
    if store.is_some() {
        let ids: Vec<String> = all.iter().filter_map(|r| r.id).map(|i| i.to_string()).collect();
        writeln!(
            out,
            "stored as run {} in {}",
            ids.join(", "),
            config.data.dir.join("lab/results.redb").display()
        )?;
    }
    if let Some(path) = &args.output.json {
        let json = if all.len() == 1 {
            serde_json::to_string_pretty(&all[0])?
        } else {
            serde_json::to_string_pretty(&all)?
        };
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "report written to {}", path.display())?;
    }
    Ok(())
}

fn label(given: &str, side: &str) -> String {
    format!("{given} {side}").trim().to_owned()
}

/// A progress bar on stderr that shows itself once the work has taken more than a second.
struct LateBar {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl LateBar {
    fn new(template: &str) -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self { bar, started: std::time::Instant::now(), shown: std::sync::atomic::AtomicBool::new(false) }
    }

    fn update(&self, done: u64, total: u64) {
        if !self.shown.load(std::sync::atomic::Ordering::Relaxed) && self.started.elapsed().as_secs() >= 1 {
            self.shown.store(true, std::sync::atomic::Ordering::Relaxed);
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total.max(1));
        self.bar.set_position(done.min(total));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One run, with a progress bar on stderr once it has taken more than a second.
fn run_one(bt: &Backtest) -> anyhow::Result<RunReport> {
    let bar = LateBar::new("{spinner} {bar:40} {percent:>3}% {elapsed_precise} eta {eta}");
    let report = bt.run(&|d, t| bar.update(d, t)).with_context(|| format!("backtest on {}", bt.source))?;
    bar.finish();
    if let Some(torn) = &report.stats.torn {
        tracing::warn!(%torn, "the recording stops short: replayed up to its last whole block");
    }
    Ok(report)
}

fn opt(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn rows(r: &RunReport) -> Vec<(&'static str, String)> {
    let m = &r.metrics;
    vec![
        ("P&L (pUSD)", m.pnl.round_dp(2).to_string()),
        ("return", format!("{} %", m.return_percent.round_dp(2))),
        ("final equity", m.final_equity.round_dp(2).to_string()),
        (
            "max drawdown",
            format!("{} ({} %)", m.max_drawdown.round_dp(2), m.max_drawdown_percent.round_dp(2)),
        ),
        ("Sharpe (daily)", opt(m.sharpe.map(|s| format!("{s:.2}")))),
        ("win rate", opt(m.win_rate_percent.map(|w| format!("{} %", w.round_dp(1))))),
        ("positions", format!("{} ({} closed)", m.positions, m.closed)),
        ("liquidations", m.liquidations.to_string()),
        ("fees (pUSD)", m.fees.round_dp(2).to_string()),
        ("exposure", format!("{} %", m.exposure_percent.round_dp(1))),
        ("spread paid", r.attribution_summary.spread.round_dp(2).to_string()),
        ("liq. vs hold", estimate(r.attribution_summary.rule_vs_hold.as_ref())),
        ("liq. vs pair", estimate(r.attribution_summary.rule_vs_pair.as_ref())),
        ("days", m.days.to_string()),
        ("events / scans", format!("{} / {}", r.stats.market_events, r.stats.scans)),
        ("wall time", format!("{}.{:03} s", r.stats.wall_ms / 1000, r.stats.wall_ms % 1000)),
    ]
}

/// A mean per position with its 95 % interval and count: `+1.20 [−0.40, 2.80] n=14`.
fn estimate(e: Option<&equilibrage::lab::Estimate>) -> String {
    let Some(e) = e else { return "-".to_owned() };
    match (e.low, e.high) {
        (Some(l), Some(h)) => {
            format!("{} [{}, {}] n={}", e.mean.round_dp(2), l.round_dp(2), h.round_dp(2), e.n)
        }
        _ => format!("{} n={}", e.mean.round_dp(2), e.n),
    }
}

fn summary(r: &RunReport) -> String {
    let mut s = String::new();
    for p in &r.plugins {
        s.push_str(&format!("  plugin  {p}\n"));
    }
    for (k, v) in rows(r) {
        s.push_str(&format!("  {k:<16}{v:>24}\n"));
    }
    s.push_str(&calibration(r));
    s
}

/// The calibration table: mean simulated P&L per score bucket with its interval and count, and
/// the rank correlations with it.
fn calibration(r: &RunReport) -> String {
    let Some(c) = &r.calibration else { return String::new() };
    let sum = c.summarise();
    let mut s = format!(
        "  calibration: {} trades simulated for {} sampled candidates (one per market an hour, and every one entered); mean P&L per trade by score\n",
        sum.simulated, sum.candidates
    );
    for b in sum.buckets.iter().filter(|b| b.pnl.is_some()) {
        s.push_str(&format!("    score {:>2}  {}\n", b.score, estimate(b.pnl.as_ref())));
    }
    let rho = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:+.3}"));
    s.push_str(&format!("    rank correlation with the P&L: score {}", rho(sum.score_correlation)));
    for (name, r) in &sum.factors {
        s.push_str(&format!(", {name} {}", rho(*r)));
    }
    s.push('\n');
    s
}

fn side_by_side(a: &RunReport, b: &RunReport) -> String {
    let mut s = format!("  {:<16}{:>24}{:>24}\n", "", "A", "B");
    for ((k, va), (_, vb)) in rows(a).into_iter().zip(rows(b)) {
        s.push_str(&format!("  {k:<16}{va:>24}{vb:>24}\n"));
    }
    s
}

fn diff_table(a: &RunReport, b: &RunReport) -> String {
    let diff = diff_runs(a, b);
    let mut s = format!("per-decision diff: {} market(s) where A and B differ\n", diff.len());
    for row in diff.iter().take(20) {
        let q: String = row.question.chars().take(60).collect();
        s.push_str(&format!(
            "  {q}\n    A: {}\n    B: {}\n    realised P&L A {} / B {} (A − B {})\n",
            row.a,
            row.b,
            row.pnl_a.round_dp(2),
            row.pnl_b.round_dp(2),
            row.pnl_diff.round_dp(2)
        ));
    }
    if diff.len() > 20 {
        s.push_str(&format!("  … {} more in the JSON report and the results store\n", diff.len() - 20));
    }
    s
}

fn distribution(all: &[RunReport]) -> String {
    let mut returns: Vec<Decimal> = all.iter().map(|r| r.metrics.return_percent).collect();
    returns.sort();
    let n = Decimal::from(returns.len());
    let mean = returns.iter().copied().sum::<Decimal>() / n;
    format!(
        "over {} seeds: return mean {} %, min {} %, median {} %, max {} %\n",
        returns.len(),
        mean.round_dp(2),
        returns[0].round_dp(2),
        returns[returns.len() / 2].round_dp(2),
        returns[returns.len() - 1].round_dp(2)
    )
}
