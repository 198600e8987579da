//! The `equilibrage` command: run the bot, manage the wallet, scaffold and list plugins, reset
//! the dashboard's access token.

mod lab_cli;
mod notify_cli;
mod venue_start;
mod wallet_cli;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use equilibrage::access::{self, Keys};
use equilibrage::config::{Config, ExchangeMode};
use equilibrage::engine::{Engine, EngineOptions, SignalFeeds};
use equilibrage::plugins::{self, PluginKind, PluginOptions, Plugins};
use equilibrage::store::{Store, StoreError};
use equilibrage::wallet::signer;
use equilibrage::wallet::{self, WalletDir, input};
use equilibrage::web_backend::{Venue, WalletInfo};
use equilibrage::{scaffold, web_backend};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use venue_start::{Prior, start_venue};

#[derive(Debug, Parser)]
#[command(
    name = "equilibrage",
    version,
    about = "A self-hosted Polymarket trading bot with hot-reloadable WebAssembly strategy plugins."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// Configuration file, merged over the embedded config/default.toml.
    #[arg(long, global = true, env = "EQUILIBRAGE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (database, compile cache, default plugin directory).
    #[arg(long, global = true, env = "EQUILIBRAGE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Plugin directory to load and watch.
    #[arg(long, global = true, env = "EQUILIBRAGE_PLUGIN_DIR", value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
    /// Dashboard and API address.
    #[arg(long, global = true, env = "EQUILIBRAGE_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log format: text (coloured only on a terminal) or json (a JSON object a line); over the
    /// config's `[log] format`.
    #[arg(long, global = true, env = "EQUILIBRAGE_LOG_FORMAT", value_name = "text|json")]
    log_format: Option<equilibrage::logging::LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot (what a bare `equilibrage` does).
    Run,
    /// Write and inspect plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// The dashboard's access token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Backtest plugins and settings on a recording or on the simulator (see docs/lab.md).
    Backtest(Box<lab_cli::BacktestArgs>),
    /// Sweep settings and plugin parameters over a grid or random draws, in parallel, chosen
    /// on the first part of the data and reported on the held-out rest (see docs/lab.md).
    Sweep(Box<lab_cli::SweepArgs>),
    /// Export a recording, a backtest run or a sweep as Parquet files (see docs/lab.md).
    Export(lab_cli::ExportArgs),
    /// Record market data (simulator or paper) without trading, for backtests; Ctrl-C stops.
    Record {
        /// Stop after this many seconds.
        #[arg(long = "for", value_name = "SECS")]
        for_secs: Option<u64>,
    },
    /// The trading wallet: an encrypted keystore in the data directory. Passwords come from a
    /// hidden prompt or EQUILIBRAGE_WALLET_PASSWORD, never from the command line.
    #[command(subcommand)]
    Wallet(wallet_cli::WalletCommand),
    /// Notifications (`[[notify.channels]]`): store a channel's secret encrypted, or send a
    /// test message on every channel.
    #[command(subcommand)]
    Notify(notify_cli::NotifyCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a new access token, print it once, and log every browser out (the bot must be
    /// stopped: it holds the database).
    Reset,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Scaffold a new plugin crate in the current directory (or --dir).
    New {
        /// Crate and plugin name: lowercase letters, digits and dashes.
        name: String,
        /// scorer, whale-analyzer, news-aggregator or liquidation-rules.
        #[arg(long, default_value = "scorer")]
        kind: PluginKind,
        /// Where to create the crate.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// rust (a cargo crate) or python (a componentize-py project: scorer or liquidation-rules).
        #[arg(long, default_value = "rust")]
        lang: equilibrage::scaffold::Lang,
    },
    /// Rebuild a plugin project on every save and install it in the running bot's plugin
    /// directory; prints the version the bot runs and, for a scorer, what moved. The bot's
    /// token comes from EQUILIBRAGE_TOKEN.
    Dev {
        /// The project: a Rust crate or a Python project (`plugin new`).
        #[arg(default_value = ".")]
        project: PathBuf,
        /// Install as a shadow (`shadow/`: compared with the active plugin, never obeyed).
        #[arg(long)]
        shadow: bool,
        /// Build and install once, then exit.
        #[arg(long)]
        once: bool,
        /// The running bot's dashboard, e.g. http://127.0.0.1:8080 (default: web.listen).
        #[arg(long, value_name = "URL")]
        bot: Option<String>,
    },
    /// Load the plugin directory and show what loads, and what does not and why.
    List,
}

#[global_allocator]
static ALLOCATOR: equilibrage::allocator::Allocator = equilibrage::allocator::Allocator;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bot and the recorder run for days within a memory budget; other runs end and keep freed
    // memory a little longer, a backtest to its end (docs/benchmarks.md).
    if let None | Some(Command::Run | Command::Record { .. }) = cli.command {
        equilibrage::allocator::return_freed_memory_at_once();
    } else if let Some(Command::Backtest(_)) = cli.command {
        equilibrage::allocator::keep_freed_memory();
    }
    // The `[log]` table when the configuration loads (a command that needs it says why not).
    let mut log = load_config(&cli.common).map(|c| c.log).unwrap_or_default();
    if let Some(format) = cli.common.log_format {
        log.format = format;
    }
    if let Some(Command::Plugin(PluginCommand::Dev { .. })) = cli.command {
        // The terminal is for the build and what the bot did, not the HTTP client's chatter.
        "warn".clone_into(&mut log.level);
    }
    if let Some(Command::Backtest(_) | Command::Sweep(_)) = cli.command {
        // The engine's warnings (an entry skipped for thin books, …) are the strategy at work.
        "warn,equilibrage::engine=error".clone_into(&mut log.level);
    }
    equilibrage::logging::init_with(&log);
    match cli.command {
        None | Some(Command::Run) => run(&cli.common),
        Some(Command::Plugin(PluginCommand::New { name, kind, dir, lang: scaffold::Lang::Python })) => {
            let root = scaffold::new_python_plugin(&dir, &name, kind)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "created {kind} plugin {name} (Python) in {}", root.display())?;
            writeln!(out, "test it:    cd {} && python3 -m unittest", root.display())?;
            writeln!(
                out,
                "build it:   componentize-py -d wit -w {kind} componentize app -o build/{name}.wasm  (componentize-py {})",
                scaffold::python::COMPONENTIZE_PY
            )?;
            writeln!(
                out,
                "or let it rebuild and install on every save: equilibrage plugin dev {}",
                root.display()
            )?;
            Ok(())
        }
        Some(Command::Plugin(PluginCommand::Dev { project, shadow, once, bot })) => {
            plugin_dev(&cli.common, &project, shadow, once, bot)
        }
        Some(Command::Plugin(PluginCommand::New { name, kind, dir, lang: scaffold::Lang::Rust })) => {
            let root = scaffold::new_plugin(&dir, &name, kind)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "created {kind} plugin {name} in {}", root.display())?;
            writeln!(out, "build it:   cd {} && cargo build --release", root.display())?;
            writeln!(
                out,
                "install it: cp target/wasm32-wasip2/release/{}.wasm <plugin dir>/",
                name.replace('-', "_")
            )?;
            Ok(())
        }
        Some(Command::Plugin(PluginCommand::List)) => list(&cli.common),
        Some(Command::Token(TokenCommand::Reset)) => token_reset(&cli.common),
        Some(Command::Wallet(command)) => wallet_cli::wallet_command(&cli.common, command),
        Some(Command::Notify(command)) => notify_cli::notify_command(&cli.common, command),
        Some(Command::Backtest(args)) => {
            let config = load_config(&cli.common)?;
            // The data directory's plugins, as `run` would have them on a first start.
            plugins::install_defaults(&config.plugin_dir())?;
            lab_cli::backtest(&config, plugin_options(&config), &args)
        }
        Some(Command::Sweep(args)) => {
            let config = load_config(&cli.common)?;
            plugins::install_defaults(&config.plugin_dir())?;
            lab_cli::sweep(&config, plugin_options(&config), &args)
        }
        Some(Command::Export(args)) => lab_cli::export(&load_config(&cli.common)?, &args),
        Some(Command::Record { for_secs }) => lab_cli::record(&load_config(&cli.common)?, for_secs),
    }
}

/// `EQUILIBRAGE_TOKEN`, when set.
fn env_token() -> Option<String> {
    std::env::var(access::TOKEN_VAR).ok().filter(|t| !t.trim().is_empty())
}

/// Opens the database, saying so plainly when a running bot holds it.
fn open_store(db: &std::path::Path) -> anyhow::Result<Store> {
    match Store::open(db) {
        Ok(store) => Ok(store),
        Err(StoreError::Open { reason, .. }) if reason.contains("already open") => anyhow::bail!(
            "the database {} is in use: another equilibrage is running on this data directory; stop it first",
            db.display()
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!("opening the database {}", db.display()))),
    }
}

fn token_reset(common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let db = config.data.dir.join("equilibrage.redb");
    let store = open_store(&db)?;
    let token = Keys::reset(&store).context("resetting the access token")?;
    drop(store);
    let mut out = std::io::stdout().lock();
    write!(out, "{}", access::announcement(&token, &format!("http://{}/login", config.web.listen)))?;
    writeln!(out, "Every browser session has ended: log in again with the new token.")?;
    if env_token().is_some() {
        writeln!(
            out,
            "Note: {} is set; while it is, the bot takes that token instead of this one.",
            access::TOKEN_VAR
        )?;
    }
    Ok(())
}

fn load_config(common: &Common) -> anyhow::Result<Config> {
    let mut config = Config::load(common.config.as_deref())?;
    if let Some(dir) = &common.data_dir {
        config.data.dir.clone_from(dir);
    }
    if let Some(dir) = &common.plugin_dir {
        config.plugins.dir.clone_from(dir);
    }
    if let Some(listen) = common.listen {
        config.web.listen = listen;
    }
    Ok(config)
}

fn plugin_options(config: &Config) -> PluginOptions {
    let cache = config.plugins.compile_cache.then(|| config.data.dir.join("cache").join("plugins"));
    let mut options = PluginOptions::new(config.plugin_dir(), cache);
    options.limits = config.limits();
    options.quiet_period = std::time::Duration::from_millis(config.plugins.quiet_period_ms);
    options.max_file_bytes = config.plugins.max_file_mib << 20;
    options.prefer = config.preferred_plugins();
    options
}

/// On-chain settlement (`[chain]`, live mode): every round, transactions left open are followed
/// up; with `redeem` on, resolved markets are then redeemed as their results reach the chain.
/// Returns the wallet on chain, shared with the dashboard (History's Redeem button, balances).
fn start_settlement(
    chain_config: equilibrage::chain::ChainConfig,
    key: &secrecy::SecretString,
    store: Store,
    settings: &equilibrage::config::ChainSettings,
    notifier: equilibrage::notify::Notifier,
) -> anyhow::Result<std::sync::Arc<equilibrage::chain::Chain>> {
    let signer: alloy::signers::local::PrivateKeySigner =
        secrecy::ExposeSecret::expose_secret(key).trim().parse().context("the signing key, for the chain")?;
    let chain = std::sync::Arc::new(
        equilibrage::chain::Chain::connect(chain_config, signer, store).context("[chain]")?,
    );
    let shared = std::sync::Arc::clone(&chain);
    tracing::info!(address = %chain.address(), redeem = settings.redeem, "on-chain settlement on");
    let (redeem, every) = (settings.redeem, std::time::Duration::from_secs(settings.redeem_every_secs));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            // Transactions a crash or a lost receipt left open are followed up every round,
            // before anything new is sent.
            match chain.reconcile().await {
                Ok(txs) if !txs.is_empty() => {
                    tracing::info!(followed_up = txs.len(), "journalled transactions reconciled");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "following up journalled transactions failed; tried again later");
                    continue;
                }
            }
            if !redeem {
                continue;
            }
            match chain.redeem_due().await {
                Ok(done) => {
                    for tx in done {
                        tracing::info!(hash = %tx.hash, what = %tx.what, "redeemed: the capital is back in the wallet");
                        notifier.notify(&equilibrage::notify::redemption_note(&tx));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "redemption round failed; tried again later"),
            }
        }
    });
    Ok(shared)
}

fn run(common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    wallet::files::private_dir(&config.data.dir).context("the data directory")?;
    let wallet_dir = WalletDir::in_data_dir(&config.data.dir);
    // Live mode unlocks the keystore before anything else starts: a wrong password stops here.
    // The password is kept for the notification secrets, which the same password encrypts.
    let typed_password = std::cell::RefCell::new(None);
    let live = if config.exchange.mode == ExchangeMode::Live {
        let live = signer::live_signer(&config.exchange.polymarket, &wallet_dir, || {
            let password = input::password("Keystore password", false)?;
            equilibrage::logging::register_secret(secrecy::ExposeSecret::expose_secret(&password));
            *typed_password.borrow_mut() = Some(password.clone());
            Ok(password)
        })
        .context("live mode cannot sign in")?;
        if live.source == signer::KeySource::Environment {
            tracing::warn!(
                var = signer::PRIVATE_KEY_VAR,
                "the signing key comes from the environment; `equilibrage wallet import` keeps it encrypted instead"
            );
        }
        Some(live)
    } else {
        None
    };
    if let Some(token) = env_token() {
        equilibrage::logging::register_secret(&token);
    }
    let plugin_dir = config.plugin_dir();
    for written in plugins::install_defaults(&plugin_dir)? {
        tracing::info!(file = %written.display(), "installed default plugin");
    }
    // The bot's own plugins keep every version they load, for rollbacks.
    let runtime = Plugins::new(PluginOptions { keep_versions: true, ..plugin_options(&config) })?;
    let db = config.data.dir.join("equilibrage.redb");
    let store = open_store(&db)?;
    let mut keys = Keys::load(&store, env_token().as_deref()).context("the dashboard's access keys")?;
    // Parameters set from the dashboard or API in earlier runs apply from the first call.
    for (kind, name, values) in store.read()?.plugin_params()? {
        match kind.parse::<PluginKind>() {
            Ok(kind) => runtime.preset_params(kind, &name, values),
            Err(e) => tracing::warn!(%kind, %name, error = %e, "stored plugin parameters ignored"),
        }
    }
    let started = std::time::Instant::now();
    runtime.load_dir()?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), dir = %plugin_dir.display(), "plugins loaded");
    for kind in PluginKind::ALL {
        match runtime.active_info(kind) {
            Some(info) => tracing::info!(%kind, plugin = %info.name, version = %info.version, "active"),
            None => tracing::warn!(%kind, "no plugin of this kind is loaded"),
        }
    }
    let _hot_reload = plugins::watch(&runtime)?;
    let prior = Prior::read(&store)?;
    let store_for_keys = store.clone();
    let address = match &live {
        Some(live) => Some(live.address.clone()),
        None => wallet_dir.address().ok(),
    };
    let wallet = WalletInfo::from_config(&config, address);

    // On-chain settlement signs with the live key (kept only as long as the chain task runs).
    let chain = match (&live, config.chain.chain(config.exchange.polymarket.chain_id)) {
        (Some(live), Some(chain)) => Some((chain, live.config.private_key.clone())),
        _ => None,
    };

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(async move {
        let (venue, exchange, clock, _driver, link) = start_venue(&config, &prior, live).await?;
        let options = EngineOptions { settings: config.engine.clone(), clock, metrics: true };
        let engine = Engine::open(exchange, runtime.clone(), store, options)
            .await
            .context("starting the trading engine")?;
        engine.set_trends_config(config.signals.trends.clone());
        let settings = engine.settings();
        tracing::info!(
            auto_trading = settings.auto_trading,
            threshold = settings.opportunity_threshold,
            max_positions = settings.max_positions,
            open = engine.positions().len(),
            "engine ready"
        );
        // The lab's recorder (`[lab.recording]`): what the engine sees and decides, off its path;
        // and the shadow plugins, which get the active plugins' inputs and are never obeyed.
        let (recorder, shadows) = lab_cli::start_observers(&config, &engine, &runtime)?;
        // Notifications (`[notify]`): they follow the engine from before its first scan.
        let password = typed_password.borrow().clone();
        let notifier =
            notify_cli::start(&config, &wallet_dir, password, &store_for_keys, &engine, &runtime, link)?;
        let mut tasks = engine.spawn();
        let chain = match chain {
            Some((chain_config, key)) => Some(start_settlement(
                chain_config,
                &key,
                store_for_keys.clone(),
                &config.chain,
                notifier.clone(),
            )?),
            None => None,
        };
        if let Venue::Sim(sim) = &venue {
            let feeds = SignalFeeds { whales: sim.whale_trades(), news: sim.news() };
            engine.follow_signals(feeds, &mut tasks);
        }
        // Whales (`[signals.whales]`): the simulator brings its own trades; paper and live poll
        // the Data API and hand new trades to the engine.
        engine.set_market_maker_rule(config.signals.whales.market_maker_rule());
        let mut whale_status = None;
        if !matches!(venue, Venue::Sim(_)) {
            let (trades, mut whale_rx) = tokio::sync::broadcast::channel(4_096);
            let tracker = equilibrage::feeds::whales::WhaleTracker::new(
                config.signals.whales.clone(),
                store_for_keys.clone(),
                trades,
            )
            .context("starting the whale tracker")?;
            // The dashboard reads how its polls go through this handle.
            whale_status = Some(tracker.status());
            let sink = engine.clone();
            tokio::spawn(async move {
                loop {
                    match whale_rx.recv().await {
                        Ok(t) => sink.push_whale_trades([t]),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "whale trades lagged");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
            let (list, clock, limit) = (engine.clone(), engine.clone(), config.signals.whales.markets);
            tokio::spawn(tracker.run(
                move || equilibrage::feeds::whales::markets_to_poll(&list, limit),
                move || clock.now_ms(),
            ));
        }
        // News feeds (`[signals.news]`), in every mode, when any are configured; the dashboard
        // reads their status through a handle the aggregator's task publishes to.
        let news_config = config.signals.news.clone().with_env_key();
        let mut news_status = None;
        if news_config.enabled() {
            let aggregator =
                equilibrage::feeds::news::NewsAggregator::new(news_config, store_for_keys.clone())
                    .context("starting the news feeds")?;
            news_status = Some(aggregator.status());
            tokio::spawn(aggregator.run(engine.news_sink()));
        }
        let listener = tokio::net::TcpListener::bind(config.web.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.web.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!("dashboard: http://{addr}");
        // Shown once, on stdout only (never through the log), and stored as its hash only after.
        if let Some(token) = keys.new_token() {
            let mut out = std::io::stdout().lock();
            write!(out, "{}", access::announcement(token, &format!("http://{addr}/login")))?;
            out.flush()?;
        }
        keys.persist(&store_for_keys).await.context("storing the dashboard's access keys")?;
        let access = keys
            .access_kept_in(&store_for_keys, config.web.secure_cookies, config.web.session_ttl())
            .context("the dashboard's logged-out sessions")?
            .with_hosts(config.web.hosts.clone());
        // The lab (`/lab`): stored results, and backtests the dashboard starts, run at the lowest
        // priority on a thread of their own.
        let lab = web_backend::HostLab::start(
            config.data.dir.clone(),
            plugin_options(&config),
            runtime.clone(),
            engine.clone(),
            config.signals.trends.clone(),
            recorder.as_ref().map(|r| r.dir().to_owned()),
        )
        .context("starting the lab")?;
        let mut backend = web_backend::HostBackend::new(runtime, venue, engine, wallet)
            .with_shadows(shadows)
            .with_notifier(notifier)
            .with_lab(std::sync::Arc::new(lab));
        if let Some(status) = news_status {
            backend = backend.with_news_status(status);
        }
        if let Some(status) = whale_status {
            backend = backend.with_whale_status(status);
        }
        if let Some(chain) = chain {
            backend = backend.with_chain(chain, config.chain.redeem);
        }
        let backend = std::sync::Arc::new(backend);
        if let Some(listen) = config.metrics.listen {
            let metrics = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {listen}"))?;
            tracing::info!("metrics: http://{}/metrics", metrics.local_addr()?);
            let app = equilibrage_web::metrics_router(std::sync::Arc::clone(&backend));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let app = equilibrage_web::router(backend, access);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("shutting down");
            })
            .await?;
        anyhow::Ok(())
    })
}

fn list(common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let runtime = Plugins::new(plugin_options(&config))?;
    let files = runtime.load_dir()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "plugin directory: {}", runtime.dir().display())?;
    for p in runtime.list() {
        writeln!(
            out,
            "{} {:<18} {:<20} {:<8} {}",
            if p.active { "*" } else { " " },
            p.info.kind,
            p.info.name,
            p.info.version,
            p.file.file_name().unwrap_or_default().to_string_lossy(),
        )?;
    }
    for f in files.iter().filter(|f| f.result.is_err()) {
        if let Err(e) = &f.result {
            writeln!(out, "! {}: {e}", f.file.display())?;
        }
    }
    writeln!(out, "(* = active for its kind)")?;
    Ok(())
}

/// `equilibrage plugin dev`: see `equilibrage::plugin_dev`.
fn plugin_dev(
    common: &Common,
    project: &Path,
    shadow: bool,
    once: bool,
    bot: Option<String>,
) -> anyhow::Result<()> {
    use equilibrage::plugin_dev::{self, BotApi, BuildOptions, Cycle, Lang, Project, Target};
    let config = load_config(common)?;
    let project = Project::open(project)?;
    let mut out = std::io::stdout().lock();
    let componentize_py = match project.lang {
        Lang::Python => Some(plugin_dev::componentize_py(&mut out)?),
        Lang::Rust => None,
    };
    let url = bot.unwrap_or_else(|| format!("http://{}", config.web.listen));
    let bot = env_token().map(|token| BotApi::new(url, token)).transpose()?;
    if bot.is_none() {
        writeln!(out, "EQUILIBRAGE_TOKEN is not set: installing without asking the bot what it made of it")?;
    }
    let options = BuildOptions { target_dir: None, componentize_py };
    let target =
        Target { plugin_dir: config.plugin_dir(), shadow, bot, wait: std::time::Duration::from_secs(120) };
    if once {
        return match plugin_dev::cycle(&project, &options, &target, &mut out)? {
            Cycle::BuildFailed(_) => Err(anyhow::anyhow!("the build failed")),
            Cycle::Installed { loaded: Some(Err(why)), .. } => {
                Err(anyhow::anyhow!("the bot refused it: {why}"))
            }
            _ => Ok(()),
        };
    }
    plugin_dev::watch(&project, &options, &target, &mut out)?;
    Ok(())
}
