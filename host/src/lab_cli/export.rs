//! `equilibrage export`: a recording, a stored backtest run or a stored sweep as Parquet files.

use anyhow::Context as _;
use clap::Args;
use equilibrage::config::Config;
use equilibrage::lab::{ResultsStore, export_recording, export_run, export_sweep};
use std::io::Write as _;
use std::path::PathBuf;

/// `equilibrage export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["recording", "run", "sweep"])))]
pub struct ExportArgs {
    /// A recording directory (or one segment).
    #[arg(long, value_name = "PATH")]
    recording: Option<PathBuf>,
    /// A backtest run of the results store, by id.
    #[arg(long, value_name = "ID")]
    run: Option<u64>,
    /// A sweep of the results store, by id.
    #[arg(long, value_name = "ID")]
    sweep: Option<u64>,
    /// Directory for the Parquet files (created when missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `equilibrage export`.
pub fn export(config: &Config, args: &ExportArgs) -> anyhow::Result<()> {
    let files = if let Some(path) = &args.recording {
        export_recording(path, &args.out).with_context(|| format!("exporting {}", path.display()))?
    } else {
        let store = ResultsStore::open(&config.data.dir)?;
        let missing = |what: &str, id: u64| {
            anyhow::anyhow!(
                "no {what} {id} in {} (`backtest` and `sweep` print the ids they store)",
                store.path().display()
            )
        };
        match (args.run, args.sweep) {
            (Some(id), _) => export_run(&store.get(id)?.ok_or_else(|| missing("run", id))?, &args.out)?,
            (_, Some(id)) => export_sweep(&store.sweep(id)?.ok_or_else(|| missing("sweep", id))?, &args.out)?,
            (None, None) => anyhow::bail!("choose what to export: --recording PATH, --run ID or --sweep ID"),
        }
    };
    let mut out = std::io::stdout().lock();
    for f in files {
        writeln!(out, "{:>10} rows  {}", f.rows, f.path.display())?;
    }
    Ok(())
}
