//! Read access: a consistent snapshot of the whole store, taken without waiting for the writer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};
use serde::de::DeserializeOwned;

use super::InMemory;
use super::codec::{corrupt, decode};
use super::migrate::read_version;
use super::query;
use super::tables::{
    CHAIN_TXS, CONFIG, INTENTS, MARKET_MAKERS, NEWS, OPPORTUNITIES, PLUGIN_PARAMS, PLUGIN_VERSIONS,
    POSITIONS, PRICES, SCANS, TRADES, TRADES_BY_POSITION, WHALES,
};
use super::{
    ChainTx, Intent, NewsRecord, Opportunity, PluginVersionRecord, Position, PricePoint, Result, ScanRecord,
    TradeRecord, WhaleRecord,
};

/// One plugin's stored parameters: (kind, name, parameter name → value).
pub type StoredPluginParams = (String, String, BTreeMap<String, f64>);

/// A snapshot of the store as of the last commit before [`Store::read`](super::Store::read):
/// later writes are invisible to it, and holding it never delays them. Drop it when done, since
/// redb cannot reuse the pages a snapshot still sees. One exception: an in-memory store's price
/// history ([`Reader::prices`], [`Reader::price_histories`]) and whale records
/// ([`Reader::whales`], [`Reader::whale`]) are read as of each call.
pub struct Reader {
    txn: ReadTransaction,
    /// An in-memory store's price history and whale records (read as of each call).
    memory: Option<Arc<InMemory>>,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    pub(super) fn new(txn: ReadTransaction, memory: Option<Arc<InMemory>>) -> Self {
        Self { txn, memory }
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>> {
        Ok(self.txn.open_table(definition)?)
    }

    /// The layout version of the file (always the current one once [`Store::open`](super::Store::open)
    /// has returned).
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if the version is missing.
    pub fn schema_version(&self) -> Result<u32> {
        let meta = self.table(super::tables::META)?;
        read_version(&meta)?.ok_or_else(|| corrupt(meta.name(), &super::migrate::VERSION_KEY, "missing"))
    }

    /// The position with this id.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn position(&self, id: u64) -> Result<Option<Position>> {
        query::get(&self.table(POSITIONS)?, &id)
    }

    /// Every position, ascending id.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) for a record that does
    /// not decode.
    pub fn positions(&self) -> Result<Vec<Position>> {
        query::all(&self.table(POSITIONS)?)
    }

    /// The positions that may still hold shares ([`PositionStatus::is_open`](super::PositionStatus::is_open)),
    /// ascending id.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn open_positions(&self) -> Result<Vec<Position>> {
        let mut positions = self.positions()?;
        positions.retain(|p| p.status.is_open());
        Ok(positions)
    }

    /// The trade with this id.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn trade(&self, id: u64) -> Result<Option<TradeRecord>> {
        query::get(&self.table(TRADES)?, &id)
    }

    /// Every trade, ascending id.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn trades(&self) -> Result<Vec<TradeRecord>> {
        query::all(&self.table(TRADES)?)
    }

    /// A page of trades: at most `limit` with ids above `after_id` (from the first without),
    /// ascending id. Pass the last id of a page to get the next.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn trades_after(&self, after_id: Option<u64>, limit: usize) -> Result<Vec<TradeRecord>> {
        let table = self.table(TRADES)?;
        let start = after_id.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let range = table.range::<u64>((start, std::ops::Bound::Unbounded))?;
        query::collect(table.name(), range, limit)
    }

    /// A page of trades, newest first: at most `limit` with ids below `before_id` (from the newest
    /// without). Pass the last id of a page to get the next.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn trades_before(&self, before_id: Option<u64>, limit: usize) -> Result<Vec<TradeRecord>> {
        let table = self.table(TRADES)?;
        let end = before_id.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let range = table.range::<u64>((std::ops::Bound::Unbounded, end))?.rev();
        query::collect(table.name(), range, limit)
    }

    /// The trades of one position, ascending id, found through the by-position index.
    ///
    /// # Errors
    /// As [`Reader::positions`]; [`StoreError::Corrupt`](super::StoreError::Corrupt) if the index
    /// names a missing trade.
    pub fn trades_of(&self, position_id: u64) -> Result<Vec<TradeRecord>> {
        query::trades_of(&self.table(TRADES_BY_POSITION)?, &self.table(TRADES)?, position_id)
    }

    /// Orders journalled and not yet settled, oldest first (ties by client id).
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn intents(&self) -> Result<Vec<Intent>> {
        query::intents(&self.table(INTENTS)?)
    }

    /// Every journalled transaction, oldest nonce first.
    ///
    /// # Errors
    /// redb failures; a record that does not decode.
    pub fn chain_txs(&self) -> Result<Vec<ChainTx>> {
        let table = self.table(CHAIN_TXS)?;
        let mut txs = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            txs.push(decode(table.name(), &key.value(), value.value())?);
        }
        txs.sort_by_key(|t: &ChainTx| (t.nonce, t.created_at_ms));
        Ok(txs)
    }

    /// How many orders are journalled and not yet settled, without decoding them.
    ///
    /// # Errors
    /// redb failures.
    pub fn intent_count(&self) -> Result<u64> {
        Ok(self.table(INTENTS)?.len()?)
    }

    /// The opportunities of the last scan, best score first, then by market id.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn opportunities(&self) -> Result<Vec<Opportunity>> {
        let mut opportunities: Vec<Opportunity> = query::all(&self.table(OPPORTUNITIES)?)?;
        opportunities.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.market_id.cmp(&b.market_id)));
        Ok(opportunities)
    }

    /// The opportunity of one market, if the last scan found it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn opportunity(&self, market_id: &str) -> Result<Option<Opportunity>> {
        query::get(&self.table(OPPORTUNITIES)?, &market_id)
    }

    /// The newest `limit` scans, newest first.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn scans(&self, limit: usize) -> Result<Vec<ScanRecord>> {
        let table = self.table(SCANS)?;
        let range = table.iter()?.rev();
        query::collect(table.name(), range, limit)
    }

    /// A setting stored with [`Writer::put_config`](super::Writer::put_config).
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it is not a `T`.
    pub fn config<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        query::get(&self.table(CONFIG)?, &key)
    }

    /// Every plugin's stored parameters as (kind, name, values), ordered by kind then name.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    /// Every plugin version the bot has had active, most recently active first.
    ///
    /// # Errors
    /// redb failures; a record that does not decode.
    pub fn plugin_versions(&self) -> Result<Vec<PluginVersionRecord>> {
        let table = self.table(PLUGIN_VERSIONS)?;
        let mut out: Vec<PluginVersionRecord> = table
            .iter()?
            .map(|entry| {
                let (key, value) = entry?;
                decode(table.name(), &key.value(), value.value())
            })
            .collect::<Result<_>>()?;
        let last = |r: &PluginVersionRecord| r.periods.last().map_or(0, |p| p.to_ms.unwrap_or(i64::MAX));
        out.sort_by(|a, b| last(b).cmp(&last(a)).then_with(|| a.sha256.cmp(&b.sha256)));
        Ok(out)
    }

    pub fn plugin_params(&self) -> Result<Vec<StoredPluginParams>> {
        let table = self.table(PLUGIN_PARAMS)?;
        table
            .iter()?
            .map(|entry| {
                let (key, value) = entry?;
                let (kind, name) = key.value();
                let values = decode(table.name(), &(kind, name), value.value())?;
                Ok((kind.to_owned(), name.to_owned(), values))
            })
            .collect()
    }

    /// Every whale, by address.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn whales(&self) -> Result<Vec<WhaleRecord>> {
        if let Some(memory) = &self.memory {
            return Ok(memory.whales.all());
        }
        query::all(&self.table(WHALES)?)
    }

    /// Shows `visit` every whale's record, by address, in one pass: a file store decodes the
    /// table once, an in-memory store shows its records where they are, without copying them.
    ///
    /// # Errors
    /// As [`Reader::whales`] (before any record is shown).
    pub fn for_each_whale(&self, visit: impl FnMut(&WhaleRecord)) -> Result<()> {
        if let Some(memory) = &self.memory {
            memory.whales.for_each(visit);
            return Ok(());
        }
        let all: Vec<WhaleRecord> = query::all(&self.table(WHALES)?)?;
        all.iter().for_each(visit);
        Ok(())
    }

    /// One whale.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn whale(&self, address: &str) -> Result<Option<WhaleRecord>> {
        if let Some(memory) = &self.memory {
            return Ok(memory.whales.get(address));
        }
        query::get(&self.table(WHALES)?, &address)
    }

    /// The wallets among `addresses` flagged as market makers (looked up in the index
    /// `put_whale` keeps; no record is decoded).
    ///
    /// # Errors
    /// redb failures.
    pub fn market_makers<'k>(
        &self,
        addresses: impl IntoIterator<Item = &'k str>,
    ) -> Result<std::collections::HashSet<String>> {
        query::market_makers(&self.table(MARKET_MAKERS)?, addresses)
    }

    /// The `limit` most recently published news items, newest first (ties by id).
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn news(&self, limit: usize) -> Result<Vec<NewsRecord>> {
        // Items are keyed by id for deduplication, so this sorts them all; the table holds what the
        // feeds returned over the bot's life, thousands rather than millions.
        let mut news: Vec<NewsRecord> = query::all(&self.table(NEWS)?)?;
        news.sort_by(|a, b| b.published_ms.cmp(&a.published_ms).then_with(|| a.id.cmp(&b.id)));
        news.truncate(limit);
        Ok(news)
    }

    /// A market's price points from `from_ms` to `to_ms`, both included, oldest first.
    ///
    /// # Errors
    /// As [`Reader::positions`].
    pub fn prices(&self, market_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<PricePoint>> {
        if from_ms > to_ms {
            return Ok(Vec::new());
        }
        if let Some(memory) = &self.memory {
            return Ok(memory.prices.prices(market_id, from_ms, to_ms));
        }
        let table = self.table(PRICES)?;
        let range = table.range((market_id, from_ms)..=(market_id, to_ms))?;
        query::collect(table.name(), range, usize::MAX)
    }

    /// The price points up to `to_ms` (inclusive) of every market with stored history that
    /// `from_of` asks about, each from the time `from_of` gives it (`None`: not wanted), in
    /// market order; markets without a point in their window are left out. It seeks from one
    /// market's history to the next, so its cost follows the markets that have history (a few
    /// hundred), not the number asked about (a scan's 20,000).
    ///
    /// # Errors
    /// redb failures and undecodable points.
    pub fn price_histories(
        &self,
        to_ms: i64,
        mut from_of: impl FnMut(&str) -> Option<i64>,
    ) -> Result<Vec<(String, Vec<PricePoint>)>> {
        if let Some(memory) = &self.memory {
            return Ok(memory.prices.price_histories(to_ms, from_of));
        }
        let table = self.table(PRICES)?;
        let mut out = Vec::new();
        let mut market = match table.first()? {
            Some((key, _)) => key.value().0.to_owned(),
            None => return Ok(out),
        };
        loop {
            if let Some(from_ms) = from_of(&market).filter(|from| *from <= to_ms) {
                let range = table.range((market.as_str(), from_ms)..=(market.as_str(), to_ms))?;
                let points: Vec<PricePoint> = query::collect(table.name(), range, usize::MAX)?;
                if !points.is_empty() {
                    out.push((market.clone(), points));
                }
            }
            // The next market: the first key past this market's last possible one.
            let mut after = table.range((market.as_str(), i64::MAX)..)?;
            let next = loop {
                match after.next() {
                    Some(entry) => {
                        let (key, _) = entry?;
                        let (m, _) = key.value();
                        if m != market {
                            break Some(m.to_owned());
                        }
                    }
                    None => break None,
                }
            };
            match next {
                Some(m) => market = m,
                None => return Ok(out),
            }
        }
    }
}
