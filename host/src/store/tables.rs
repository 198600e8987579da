//! Every redb table of the store as a typed constant: the one place that names them and their key types.

use redb::{TableDefinition, WriteTransaction};

use super::Result;

/// Schema bookkeeping: `schema_version` → the layout version the file is in.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The last id handed out per [`Sequence`](super::Sequence), by its name.
pub(crate) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
/// Position id → JSON [`Position`](super::Position).
pub(crate) const POSITIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("positions");
/// Trade id → JSON [`TradeRecord`](super::TradeRecord).
pub(crate) const TRADES: TableDefinition<u64, &[u8]> = TableDefinition::new("trades");
/// (position id, trade id) → nothing: the trades of a position without scanning all trades.
/// Added in schema version 2.
pub(crate) const TRADES_BY_POSITION: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("trades_by_position");
/// Client id → JSON [`Intent`](super::Intent): orders sent or about to be, whose answer is not
/// recorded yet.
pub(crate) const INTENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("intents");
/// Market id → JSON [`Opportunity`](super::Opportunity), as the last scan left them.
pub(crate) const OPPORTUNITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("opportunities");
/// Scan id → JSON [`ScanRecord`](super::ScanRecord), the newest [`MAX_SCANS`] only.
pub(crate) const SCANS: TableDefinition<u64, &[u8]> = TableDefinition::new("scans");
/// Setting name → JSON of any serde value the operator changed at run time.
pub(crate) const CONFIG: TableDefinition<&str, &[u8]> = TableDefinition::new("config");
/// (plugin kind, plugin name) → JSON map of parameter name → value.
pub(crate) const PLUGIN_PARAMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_params");
/// Wallet address → JSON [`WhaleRecord`](super::WhaleRecord).
pub(crate) const WHALES: TableDefinition<&str, &[u8]> = TableDefinition::new("whales");
/// Wallet address → nothing: the whales flagged as market makers, so a scan learns which of
/// the day's wallets to leave out without decoding their records. Kept by `put_whale`; added in
/// schema version 3.
pub(crate) const MARKET_MAKERS: TableDefinition<&str, ()> = TableDefinition::new("market_makers");
/// News id → JSON [`NewsRecord`](super::NewsRecord).
pub(crate) const NEWS: TableDefinition<&str, &[u8]> = TableDefinition::new("news");
/// (market id, time in ms) → JSON [`PricePoint`](super::PricePoint).
pub(crate) const PRICES: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("prices");

/// Transactions the bot signed (JSON [`ChainTx`](super::ChainTx)) by hash: journalled before
/// they are sent, reconciled on start.
pub(crate) const CHAIN_TXS: TableDefinition<&str, &[u8]> = TableDefinition::new("chain_txs");

/// Every plugin version the bot has had active (JSON [`PluginVersionRecord`](super::PluginVersionRecord))
/// by the SHA-256 of its component, with the periods it was active.
pub(crate) const PLUGIN_VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("plugin_versions");

/// How many scans are kept; older ones are dropped as new ones are stored.
pub(crate) const MAX_SCANS: u64 = 1_000;

/// Creates every table of the current schema that does not exist yet (opening a table in a write
/// transaction creates it), so readers never meet a missing table.
///
/// # Errors
/// A redb error opening a table, including a table that exists with other key or value types.
pub(crate) fn create_all(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(META)?;
    txn.open_table(SEQUENCES)?;
    txn.open_table(POSITIONS)?;
    txn.open_table(TRADES)?;
    txn.open_table(TRADES_BY_POSITION)?;
    txn.open_table(INTENTS)?;
    txn.open_table(OPPORTUNITIES)?;
    txn.open_table(SCANS)?;
    txn.open_table(CONFIG)?;
    txn.open_table(PLUGIN_PARAMS)?;
    txn.open_table(WHALES)?;
    txn.open_table(MARKET_MAKERS)?;
    txn.open_table(NEWS)?;
    txn.open_table(PRICES)?;
    txn.open_table(CHAIN_TXS)?;
    txn.open_table(PLUGIN_VERSIONS)?;
    Ok(())
}
