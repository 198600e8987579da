//! Write access: the operations available inside one write transaction, on the writer thread.

use std::collections::BTreeMap;
use std::fmt;

use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, TableHandle, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{check_finite, corrupt, encode};
use super::memory_prices::PriceChange;
use super::query::{self, TradeOwner};
use super::tables::{
    CHAIN_TXS, CONFIG, INTENTS, MARKET_MAKERS, MAX_SCANS, NEWS, OPPORTUNITIES, PLUGIN_PARAMS,
    PLUGIN_VERSIONS, POSITIONS, PRICES, SCANS, SEQUENCES, TRADES, TRADES_BY_POSITION, WHALES,
};
use super::{
    ActivePeriod, ChainTx, Intent, NewsRecord, Opportunity, PluginVersionRecord, Position, PricePoint,
    Result, ScanRecord, StoreError, TradeRecord, WhaleRecord,
};
use super::{InMemory, Staged};

/// A counter of ids, one per kind of record the bot numbers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sequence {
    /// [`Position::id`].
    Position,
    /// [`TradeRecord::id`].
    Trade,
    /// [`ScanRecord::id`].
    Scan,
}

impl Sequence {
    /// The counter's key in the sequences table; never change it.
    fn key(self) -> &'static str {
        match self {
            Self::Position => "position",
            Self::Trade => "trade",
            Self::Scan => "scan",
        }
    }
}

/// A write transaction of `db` with `durability`, begun when first needed.
pub(super) struct LazyTxn<'a> {
    db: &'a redb::Database,
    durability: redb::Durability,
    txn: std::cell::OnceCell<WriteTransaction>,
}

impl<'a> LazyTxn<'a> {
    pub(super) fn new(db: &'a redb::Database, durability: redb::Durability) -> Self {
        Self { db, durability, txn: std::cell::OnceCell::new() }
    }

    /// The transaction, begun now if it was not yet.
    fn get(&self) -> Result<&WriteTransaction> {
        if let Some(txn) = self.txn.get() {
            return Ok(txn);
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(self.durability).map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(self.txn.get_or_init(|| txn))
    }

    /// The transaction, if one was begun.
    pub(super) fn begun(self) -> Option<WriteTransaction> {
        self.txn.into_inner()
    }
}

/// The open write transaction, as a write closure sees it. Everything done through it commits
/// together when the closure returns `Ok`, or not at all.
pub struct Writer<'a> {
    /// The database's transaction, begun when the write first opens a table: a write that only
    /// changes an in-memory store's price history or whale records begins none (most of a
    /// backtest's writes).
    txn: &'a LazyTxn<'a>,
    /// An in-memory store's price history and whale records; `None` for a file store, which
    /// keeps them in its `PRICES` and `WHALES` tables.
    memory: Option<&'a InMemory>,
    /// This write's changes to `memory`, applied when it commits.
    staged: Staged,
    /// Whether this write put or removed an intent (the journal's cache then reads it again).
    journal_changed: bool,
    /// Whether this write put a trade ([`Store::trade_writes`](super::Store::trade_writes)).
    trades_changed: bool,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<'a> Writer<'a> {
    pub(super) fn new(txn: &'a LazyTxn<'a>, memory: Option<&'a InMemory>) -> Self {
        Self { txn, memory, staged: Staged::default(), journal_changed: false, trades_changed: false }
    }

    /// Whether this write put or removed an intent.
    pub(super) fn changed_journal(&self) -> bool {
        self.journal_changed
    }

    /// Whether this write put a trade.
    pub(super) fn changed_trades(&self) -> bool {
        self.trades_changed
    }

    /// The in-memory changes this write made, for its commit.
    pub(super) fn take_staged(&mut self) -> Staged {
        std::mem::take(&mut self.staged)
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<K, V>,
    ) -> Result<Table<'a, K, V>> {
        Ok(self.txn.get()?.open_table(definition)?)
    }

    /// The next id of `seq`: 1, 2, 3… Ids are never handed out twice once the transaction that
    /// took them commits; an aborted transaction gives its ids back.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if the counter is exhausted.
    pub fn next_id(&mut self, seq: Sequence) -> Result<u64> {
        let mut table = self.table(SEQUENCES)?;
        let last = table.get(seq.key())?.map_or(0, |v| v.value());
        let next = last.checked_add(1).ok_or_else(|| corrupt(table.name(), &seq.key(), "exhausted"))?;
        table.insert(seq.key(), next)?;
        Ok(next)
    }

    /// Stores a position under its id, replacing any previous version.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Invalid`](super::StoreError::Invalid) for a score that is not finite.
    pub fn put_position(&mut self, p: &Position) -> Result<()> {
        let mut table = self.table(POSITIONS)?;
        if let Some(score) = p.score {
            check_finite(table.name(), &p.id, "score", f64::from(score))?;
        }
        let bytes = encode(table.name(), &p.id, p)?;
        table.insert(p.id, bytes.as_slice())?;
        if let Some(memory) = self.memory
            && memory.prices.is_lean()
        {
            self.staged.prices.push(PriceChange::Hold(std::sync::Arc::from(p.market_id.as_str())));
        }
        Ok(())
    }

    /// Stores a trade under its id, replacing any previous version, and keeps the by-position
    /// index in step: a trade stored again under another position moves its index entry.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_trade(&mut self, t: &TradeRecord) -> Result<()> {
        self.trades_changed = true;
        let mut trades = self.table(TRADES)?;
        let bytes = encode(trades.name(), &t.id, t)?;
        // `None` inside: a previous version that does not decode, whose index entry is unknown.
        let previous: Option<Option<u64>> = trades
            .insert(t.id, bytes.as_slice())?
            .map(|old| serde_json::from_slice::<TradeOwner>(old.value()).ok().map(|owner| owner.position_id));
        drop(trades);
        let mut index = self.table(TRADES_BY_POSITION)?;
        match previous {
            Some(Some(old)) if old != t.position_id => {
                index.remove((old, t.id))?;
            }
            Some(None) => index.retain(|(_, trade), ()| trade != t.id)?,
            _ => {}
        }
        index.insert((t.position_id, t.id), ())?;
        Ok(())
    }

    /// Journals an order intent under its client id.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_intent(&mut self, i: &Intent) -> Result<()> {
        self.journal_changed = true;
        let mut table = self.table(INTENTS)?;
        let bytes = encode(table.name(), &i.client_id, i)?;
        table.insert(i.client_id.as_str(), bytes.as_slice())?;
        Ok(())
    }

    /// Journals a transaction (or its new status).
    ///
    /// # Errors
    /// redb failures.
    pub fn put_chain_tx(&mut self, tx: &ChainTx) -> Result<()> {
        let mut table = self.table(CHAIN_TXS)?;
        let bytes = encode(table.name(), &tx.hash, tx)?;
        table.insert(tx.hash.as_str(), bytes.as_slice())?;
        Ok(())
    }

    /// Removes an intent once its outcome is recorded; whether it was there.
    ///
    /// # Errors
    /// redb failures.
    pub fn remove_intent(&mut self, client_id: &str) -> Result<bool> {
        self.journal_changed = true;
        Ok(self.table(INTENTS)?.remove(client_id)?.is_some())
    }

    /// Stores a scan and makes `opportunities` the whole opportunities table: markets the scan did
    /// not return are gone. Two with the same market id: the later wins.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Invalid`](super::StoreError::Invalid) for a score, factor value
    /// or weight that is not finite.
    pub fn replace_opportunities(&mut self, scan: &ScanRecord, opportunities: &[Opportunity]) -> Result<()> {
        self.put_scan(scan)?;
        let mut table = self.table(OPPORTUNITIES)?;
        table.retain(|_, _| false)?;
        for o in opportunities {
            let key = o.market_id.as_str();
            check_finite(table.name(), &key, "score", f64::from(o.score))?;
            for factor in &o.factors {
                check_finite(table.name(), &key, &factor.name, f64::from(factor.value))?;
                if let Some((name, weight)) = &factor.weight {
                    check_finite(table.name(), &key, name, *weight)?;
                }
            }
            let bytes = encode(table.name(), &key, o)?;
            table.insert(key, bytes.as_slice())?;
        }
        Ok(())
    }

    /// Stores a scan, then drops the oldest beyond the newest 1,000.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_scan(&mut self, scan: &ScanRecord) -> Result<()> {
        let mut table = self.table(SCANS)?;
        let bytes = encode(table.name(), &scan.id, scan)?;
        table.insert(scan.id, bytes.as_slice())?;
        let excess = table.len()?.saturating_sub(MAX_SCANS);
        for _ in 0..excess {
            table.pop_first()?;
        }
        Ok(())
    }

    /// Stores a setting as JSON under `key`.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Invalid`](super::StoreError::Invalid) if it does not serialize.
    pub fn put_config<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        let mut table = self.table(CONFIG)?;
        let bytes = encode(table.name(), &key, value)?;
        table.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Stores a plugin's parameter values, replacing what was stored for it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Invalid`](super::StoreError::Invalid) for a value that is not finite.
    /// Notes which plugin version of each kind is active at `at_ms`: `active` holds (kind,
    /// name, version, sha256) per kind that has one. A version no longer active has its period
    /// closed; one newly active gets a period opened (and a record, the first time). Returns
    /// whether anything changed.
    ///
    /// # Errors
    /// redb failures; a stored record that does not decode.
    pub fn note_active_plugins(&mut self, at_ms: i64, active: &[(&str, &str, &str, &str)]) -> Result<bool> {
        let mut table = self.table(PLUGIN_VERSIONS)?;
        let mut records: Vec<PluginVersionRecord> = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            records.push(super::codec::decode(table.name(), &key.value(), value.value())?);
        }
        let mut changed = Vec::new();
        for r in &mut records {
            let still = active.iter().any(|(kind, _, _, sha)| *kind == r.kind && *sha == r.sha256);
            if let Some(open) = r.periods.last_mut().filter(|p| p.to_ms.is_none())
                && !still
            {
                open.to_ms = Some(at_ms);
                changed.push(r.clone());
            }
        }
        for (kind, name, version, sha) in active {
            let known = records.iter_mut().find(|r| r.sha256 == *sha && r.kind == *kind);
            let record = match known {
                Some(r) if r.is_active() => continue,
                Some(r) => {
                    r.periods.push(ActivePeriod { from_ms: at_ms, to_ms: None });
                    r.clone()
                }
                None => PluginVersionRecord {
                    sha256: (*sha).to_owned(),
                    kind: (*kind).to_owned(),
                    name: (*name).to_owned(),
                    version: (*version).to_owned(),
                    periods: vec![ActivePeriod { from_ms: at_ms, to_ms: None }],
                },
            };
            changed.retain(|c| c.sha256 != record.sha256);
            changed.push(record);
        }
        for r in &changed {
            let bytes = encode(table.name(), &r.sha256.as_str(), r)?;
            table.insert(r.sha256.as_str(), bytes.as_slice())?;
        }
        Ok(!changed.is_empty())
    }

    pub fn put_plugin_params(
        &mut self,
        kind: &str,
        name: &str,
        values: &BTreeMap<String, f64>,
    ) -> Result<()> {
        let mut table = self.table(PLUGIN_PARAMS)?;
        for (param, value) in values {
            check_finite(table.name(), &(kind, name), param, *value)?;
        }
        let bytes = encode(table.name(), &(kind, name), values)?;
        table.insert((kind, name), bytes.as_slice())?;
        Ok(())
    }

    /// Stores a whale under its address.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_whale(&mut self, w: WhaleRecord) -> Result<()> {
        let mut makers = self.table(MARKET_MAKERS)?;
        if w.market_maker {
            makers.insert(w.address.as_str(), ())?;
        } else {
            makers.remove(w.address.as_str())?;
        }
        drop(makers);
        if self.memory.is_some() {
            self.staged.whales.insert(w.address.clone(), w);
        } else {
            let mut table = self.table(WHALES)?;
            let bytes = encode(table.name(), &w.address, &w)?;
            table.insert(w.address.as_str(), bytes.as_slice())?;
        }
        Ok(())
    }

    /// Stores a news item under its id; the same id again overwrites it.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_news(&mut self, n: &NewsRecord) -> Result<()> {
        let mut table = self.table(NEWS)?;
        let bytes = encode(table.name(), &n.id, n)?;
        table.insert(n.id.as_str(), bytes.as_slice())?;
        Ok(())
    }

    /// Removes news published before `before_ms`, looking at no more than `scan` items after the
    /// id `after` (exclusive; `None` from the first): bounded work per transaction. Returns how
    /// many went and where to go on from (`None` when the table is done).
    ///
    /// # Errors
    /// redb failures; a record that does not decode.
    pub fn prune_news_chunk(
        &mut self,
        before_ms: i64,
        after: Option<String>,
        scan: usize,
    ) -> Result<(u64, Option<String>)> {
        use redb::ReadableTable as _;
        use std::ops::Bound;
        let mut table = self.table(NEWS)?;
        let (old, last, seen) = {
            let start = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let (mut old, mut last, mut seen) = (Vec::new(), None, 0_usize);
            for entry in table.range::<&str>((start, Bound::Unbounded))?.take(scan) {
                let (key, value) = entry?;
                seen += 1;
                let item: NewsRecord = super::codec::decode(NEWS.name(), &key.value(), value.value())?;
                if item.published_ms < before_ms {
                    old.push(key.value().to_owned());
                }
                last = Some(key.value().to_owned());
            }
            (old, last, seen)
        };
        for id in &old {
            table.remove(id.as_str())?;
        }
        Ok((old.len() as u64, if seen < scan { None } else { last }))
    }

    /// Stores a market's price point under its time; a point at the same millisecond overwrites.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_price(&mut self, market_id: &str, p: &PricePoint) -> Result<()> {
        self.put_prices(std::iter::once((market_id, p)))
    }

    /// Stores several markets' price points, as [`Writer::put_price`] each, the table opened once.
    ///
    /// # Errors
    /// redb failures.
    pub fn put_prices<M, P>(&mut self, points: impl IntoIterator<Item = (M, P)>) -> Result<()>
    where
        M: AsRef<str> + Into<std::sync::Arc<str>>,
        P: std::borrow::Borrow<PricePoint>,
    {
        if self.memory.is_some() {
            // Market ids given shared (`Arc<str>`) are kept as they are, not copied.
            self.staged
                .prices
                .extend(points.into_iter().map(|(m, p)| PriceChange::Put(m.into(), *p.borrow())));
            return Ok(());
        }
        let mut table = self.table(PRICES)?;
        for (market_id, p) in points {
            let (market_id, p) = (market_id.as_ref(), p.borrow());
            let bytes = encode(table.name(), &(market_id, p.at_ms), p)?;
            table.insert((market_id, p.at_ms), bytes.as_slice())?;
        }
        Ok(())
    }

    /// Removes price points older than `before_ms`, looking at no more than `scan` points after
    /// `after` (exclusive; `None` from the first): bounded work per transaction, so a large table
    /// never holds the writer long. Returns how many went and where to go on from (`None` when
    /// the table is done).
    ///
    /// # Errors
    /// redb failures.
    pub fn prune_prices_chunk(
        &mut self,
        before_ms: i64,
        after: Option<(String, i64)>,
        scan: usize,
    ) -> Result<(u64, Option<(String, i64)>)> {
        use redb::ReadableTable as _;
        use std::ops::Bound;
        if let Some(memory) = self.memory {
            let (old, last, seen) = memory.prices.old_points(before_ms, after.as_ref(), scan);
            let removed = old.len() as u64;
            self.staged.prices.extend(old.into_iter().map(|(m, at)| PriceChange::Remove(m, at)));
            return Ok((removed, if seen < scan { None } else { last }));
        }
        let mut table = self.table(PRICES)?;
        let (old, last, seen) = {
            let start = after.as_ref().map_or(Bound::Unbounded, |(m, t)| Bound::Excluded((m.as_str(), *t)));
            let mut old = Vec::new();
            let mut last = None;
            let mut seen = 0_usize;
            for entry in table.range::<(&str, i64)>((start, Bound::Unbounded))?.take(scan) {
                let (key, _) = entry?;
                let (market, at_ms) = key.value();
                seen += 1;
                if at_ms < before_ms {
                    old.push((market.to_owned(), at_ms));
                }
                last = Some((market.to_owned(), at_ms));
            }
            (old, last, seen)
        };
        for (market, at_ms) in &old {
            table.remove((market.as_str(), *at_ms))?;
        }
        Ok((old.len() as u64, if seen < scan { None } else { last }))
    }

    /// Removes every market's price points older than `before_ms`; how many went.
    ///
    /// # Errors
    /// redb failures.
    pub fn prune_prices(&mut self, before_ms: i64) -> Result<u64> {
        if let Some(memory) = self.memory {
            let old = memory.prices.all_old_points(before_ms);
            let removed = old.len() as u64;
            self.staged.prices.extend(old.into_iter().map(|(m, at)| PriceChange::Remove(m, at)));
            return Ok(removed);
        }
        let mut removed = 0_u64;
        self.table(PRICES)?.retain(|(_, at_ms), _| {
            let keep = at_ms >= before_ms;
            if !keep {
                removed += 1;
            }
            keep
        })?;
        Ok(removed)
    }

    /// The position with this id as this transaction sees it (its own writes included).
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn position(&self, id: u64) -> Result<Option<Position>> {
        query::get(&self.table(POSITIONS)?, &id)
    }

    /// Pending intents as this transaction sees them, oldest first (ties by client id).
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) for one that does not decode.
    pub fn intents(&self) -> Result<Vec<Intent>> {
        query::intents(&self.table(INTENTS)?)
    }

    /// A position's trades as this transaction sees them, ascending id.
    ///
    /// # Errors
    /// As [`Writer::intents`], and if the index names a missing trade.
    pub fn trades_of(&self, position_id: u64) -> Result<Vec<TradeRecord>> {
        query::trades_of(&self.table(TRADES_BY_POSITION)?, &self.table(TRADES)?, position_id)
    }

    /// A trade as this transaction sees it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn trade(&self, id: u64) -> Result<Option<TradeRecord>> {
        query::get(&self.table(TRADES)?, &id)
    }

    /// A whale as this transaction sees it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn whale(&self, address: &str) -> Result<Option<WhaleRecord>> {
        if let Some(memory) = self.memory {
            return Ok(self.staged.whales.get(address).cloned().or_else(|| memory.whales.get(address)));
        }
        query::get(&self.table(WHALES)?, &address)
    }

    /// As [`Reader::market_makers`](super::Reader::market_makers), inside this transaction.
    ///
    /// # Errors
    /// redb failures.
    pub fn market_makers<'k>(
        &self,
        addresses: impl IntoIterator<Item = &'k str>,
    ) -> Result<std::collections::HashSet<String>> {
        query::market_makers(&self.table(MARKET_MAKERS)?, addresses)
    }

    /// A stored news item as this transaction sees it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
    pub fn news_item(&self, id: &str) -> Result<Option<NewsRecord>> {
        query::get(&self.table(NEWS)?, &id)
    }

    /// A setting as this transaction sees it.
    ///
    /// # Errors
    /// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it is not a `T`.
    pub fn config<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        query::get(&self.table(CONFIG)?, &key)
    }
}
