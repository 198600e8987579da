//! `equilibrage sweep`: a grid or random draws over settings and plugin parameters, chosen on
//! the training part of the data and reported on the held-out rest, as a table in the terminal.

use super::{DataArgs, LateBar, OutputArgs};
use anyhow::Context as _;
use clap::Args;
use equilibrage::config::Config;
use equilibrage::lab::{Axis, Objective, Range, ResultsStore, Space, Sweep, SweepReport};
use equilibrage::plugins::PluginOptions;
use rust_decimal::Decimal;
use std::io::Write as _;

/// `equilibrage sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A grid axis, KEY=V1,V2,… with KEY engine.<setting> or <plugin>.<param>; every
    /// combination of the axes runs (repeatable).
    #[arg(long = "grid", value_name = "KEY=V1,V2,…", conflicts_with = "random")]
    grid: Vec<String>,
    /// A random axis, KEY=LO..HI, drawn in steps of the bounds' last decimal place
    /// (repeatable).
    #[arg(long = "random", value_name = "KEY=LO..HI")]
    random: Vec<String>,
    /// How many random variants.
    #[arg(long, default_value_t = 20)]
    draws: usize,
    /// The seed of the random draws.
    #[arg(long, default_value_t = 1)]
    draw_seed: u64,
    /// What the variants are ranked by: pnl, return, sharpe or drawdown-adjusted.
    #[arg(long, default_value = "pnl", value_parser = parse_objective)]
    objective: Objective,
    /// Percent of the data's time held out at its end; 0 runs every variant on all of it.
    #[arg(long, default_value_t = 30)]
    holdout: u8,
    /// How many of the best variants on the training part run on the held-out part.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Runs at once (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Keep every run's decisions (each scan's scored candidates) in the results store.
    #[arg(long)]
    keep_decisions: bool,
    /// Rows of the table to print (every variant is stored).
    #[arg(long, default_value_t = 20)]
    show: usize,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    Objective::parse(s).map_err(|e| e.to_string())
}

/// Runs `equilibrage sweep`.
pub fn sweep(config: &Config, options: PluginOptions, args: &SweepArgs) -> anyhow::Result<()> {
    let mut bases = args.data.backtests(config, options, &args.output.label)?;
    anyhow::ensure!(bases.len() == 1, "a sweep runs on one data source: give one --seed");
    let space = if args.random.is_empty() {
        Space::Grid(args.grid.iter().map(|g| Axis::parse(g)).collect::<Result<_, _>>()?)
    } else {
        Space::Random {
            ranges: args.random.iter().map(|r| Range::parse(r)).collect::<Result<_, _>>()?,
            draws: args.draws,
            seed: args.draw_seed,
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    anyhow::ensure!(threads > 0, "--threads: at least 1");
    let sweep = Sweep {
        base: bases.remove(0),
        space,
        objective: args.objective,
        holdout_percent: args.holdout,
        top: args.top,
        threads,
        keep_decisions: args.keep_decisions,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "sweep: {}", sweep.base.source)?;
    let bar = LateBar::new("{spinner} {bar:40} {pos}/{len} runs {elapsed_precise} eta {eta}");
    let mut outcome = sweep.run(&|d, t| bar.update(d, t)).context("sweep")?;
    bar.finish();
    if !args.output.no_store {
        let store = ResultsStore::open(&config.data.dir)?;
        store.put_sweep(&mut outcome)?;
    }
    write!(out, "{}", table(&outcome.report, args.show))?;
    let m = outcome.memo;
    if m.hits + m.misses > 0 {
        writeln!(
            out,
            "  whale and news plugins asked {} times; {} answers shared between variants",
            m.misses, m.hits
        )?;
    }
    if let Some(id) = outcome.report.id {
        writeln!(
            out,
            "stored as sweep {id} (with its runs) in {}",
            config.data.dir.join("lab/results.redb").display()
        )?;
    }
    if let Some(path) = &args.output.json {
        std::fs::write(path, serde_json::to_string_pretty(&outcome.report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "sweep written to {}", path.display())?;
    }
    Ok(())
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn score(s: Option<Decimal>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| s.round_dp(2).to_string())
}

/// The sweep as a terminal table: best on the training part first.
fn table(r: &SweepReport, show: usize) -> String {
    let mut s = String::new();
    let objective = r.objective.name();
    match r.split_ms {
        Some(split) => s.push_str(&format!(
            "  {} variants on {} → {} UTC, ranked by {objective}; the best {} re-run on the held-out {} % ({} → {})\n",
            r.rows.len(),
            when(r.span.0),
            when(split),
            r.rows.iter().filter(|row| row.holdout.is_some()).count(),
            r.holdout_percent,
            when(split),
            when(r.span.1),
        )),
        None => s.push_str(&format!(
            "  {} variants on {} → {} UTC, ranked by {objective}; nothing held out\n",
            r.rows.len(),
            when(r.span.0),
            when(r.span.1)
        )),
    }
    let keys: Vec<&str> =
        r.rows.first().map(|row| row.set.iter().map(|(k, _)| k.as_str()).collect()).unwrap_or_default();
    let widths: Vec<usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| r.rows.iter().map(|row| row.set[i].1.len()).max().unwrap_or(0).max(k.len()))
        .collect();
    let mut head = format!("  {:>4} {:>4}", "rank", "var");
    for (k, w) in keys.iter().zip(&widths) {
        head.push_str(&format!("  {k:>w$}"));
    }
    // P&L is always shown; the objective gets its own column when it is something else.
    let own = r.objective != Objective::Pnl;
    let obj = |v: String| if own { format!(" {v:>10}") } else { String::new() };
    head.push_str(&format!(
        "  │{} {:>10} {:>8} {:>7} {:>4}",
        obj(objective.into()),
        "P&L",
        "return%",
        "maxDD%",
        "pos"
    ));
    if r.split_ms.is_some() {
        head.push_str(&format!(
            "  │ held out:{} {:>10} {:>8} {:>7}",
            obj(objective.into()),
            "P&L",
            "return%",
            "maxDD%"
        ));
    }
    s.push_str(&head);
    s.push('\n');
    for (rank, row) in r.rows.iter().enumerate().take(show) {
        let mut line = format!("  {:>4} {:>4}", rank + 1, row.variant);
        for ((_, v), w) in row.set.iter().zip(&widths) {
            line.push_str(&format!("  {v:>w$}"));
        }
        let m = &row.train;
        line.push_str(&format!(
            "  │{} {:>10} {:>8} {:>7} {:>4}",
            obj(score(row.train_score)),
            m.pnl.round_dp(2),
            m.return_percent.round_dp(2),
            m.max_drawdown_percent.round_dp(2),
            m.positions
        ));
        if let Some(h) = &row.holdout {
            line.push_str(&format!(
                "  │          {} {:>10} {:>8} {:>7}",
                obj(score(row.holdout_score)),
                h.pnl.round_dp(2),
                h.return_percent.round_dp(2),
                h.max_drawdown_percent.round_dp(2)
            ));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    if r.rows.len() > show {
        // Only stored or written where asked (`--no-store`, `--json`): say how to see them here.
        s.push_str(&format!("  … {} more (--show {} lists them all)\n", r.rows.len() - show, r.rows.len()));
    }
    if let Some(best) = r.rows.first() {
        let set: Vec<String> = best.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!("  chosen on training: variant {} ({})", best.variant, set.join(" ")));
        match &best.holdout {
            Some(h) => s.push_str(&format!(
                "; on held-out data {objective} {} (P&L {}): the figure to expect\n",
                score(best.holdout_score),
                h.pnl.round_dp(2)
            )),
            None => s.push('\n'),
        }
    }
    let threads = if r.threads == 1 { "thread" } else { "threads" };
    s.push_str(&format!("  {} {threads}, {}.{:03} s\n", r.threads, r.wall_ms / 1000, r.wall_ms % 1000));
    s
}
