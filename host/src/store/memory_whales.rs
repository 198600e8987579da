//! An in-memory store's whale table: each wallet's record kept decoded, by address, in place of
//! the redb table's JSON, so a scan that records whale trades does not decode and encode again
//! every record it touches (a long backtest's wallets come to trade hundreds of markets each).
//!
//! As with the price history (`memory_prices`), a write's records are staged and applied when
//! its transaction commits, so an aborted or panicking write leaves the table as it was; a
//! [`Reader`](super::Reader) sees the records as of its call, not as of its snapshot. The
//! market-maker index stays in redb (keys only, nothing to decode).

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use super::WhaleRecord;

/// Every wallet's record, by address.
#[derive(Debug, Default)]
pub(crate) struct MemoryWhales {
    records: RwLock<BTreeMap<String, WhaleRecord>>,
}

/// The records a write puts, by address (the last put of an address wins), for its commit.
pub(crate) type StagedWhales = BTreeMap<String, WhaleRecord>;

impl MemoryWhales {
    /// One wallet's record as last committed.
    pub(crate) fn get(&self, address: &str) -> Option<WhaleRecord> {
        self.records.read().unwrap_or_else(PoisonError::into_inner).get(address).cloned()
    }

    /// Every record, by address (the table's order).
    pub(crate) fn all(&self) -> Vec<WhaleRecord> {
        self.records.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect()
    }

    /// Shows `visit` every record, by address.
    pub(crate) fn for_each(&self, visit: impl FnMut(&WhaleRecord)) {
        self.records.read().unwrap_or_else(PoisonError::into_inner).values().for_each(visit);
    }

    /// Takes in a committed write's records.
    pub(crate) fn apply(&self, staged: StagedWhales) {
        if staged.is_empty() {
            return;
        }
        self.records.write().unwrap_or_else(PoisonError::into_inner).extend(staged);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Result, Store, StoreError, WhaleRecord};
    use rust_decimal_macros::dec;

    fn whale(address: &str, trades: u64, market_maker: bool) -> WhaleRecord {
        WhaleRecord {
            address: address.into(),
            trade_count: trades,
            total_volume: dec!(1500.25),
            markets: vec!["0xm1".into(), "0xm2".into()],
            market_maker,
            ..WhaleRecord::default()
        }
    }

    /// What a reader sees of the whale table: every record, one record, the market makers, the
    /// wallets of more than one trade.
    fn seen(store: &Store) -> (Vec<WhaleRecord>, Option<WhaleRecord>, Vec<String>, Vec<String>) {
        let r = store.read().expect("read");
        let mut makers: Vec<String> =
            r.market_makers(["0xa", "0xb", "0xc"]).expect("makers").into_iter().collect();
        makers.sort();
        let mut busy = Vec::new();
        r.for_each_whale(|w| {
            if w.trade_count > 1 {
                busy.push(w.address.clone());
            }
        })
        .expect("visit");
        (r.whales().expect("whales"), r.whale("0xb").expect("whale"), makers, busy)
    }

    /// The in-memory store's decoded records behave as the file store's JSON table: a write sees
    /// its own puts, a failed or panicking write leaves nothing, a committed one shows at the next
    /// read, records come by address, and the market-maker index follows; so does a visit of every
    /// record.
    #[test]
    fn in_memory_whale_records_read_and_roll_back_as_the_file_stores_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = Store::open(&dir.path().join("equilibrage.redb")).expect("open");
        let memory = Store::in_memory().expect("in memory");
        let mut transcripts = Vec::new();
        for store in [file, memory] {
            let mut transcript = Vec::new();
            store
                .write_blocking(|w| {
                    w.put_whale(whale("0xc", 1, true))?;
                    w.put_whale(whale("0xa", 1, false))?;
                    // A write reads what it put, the last put of an address winning.
                    w.put_whale(whale("0xa", 2, false))?;
                    assert_eq!(w.whale("0xa")?.map(|r| r.trade_count), Some(2));
                    Ok(())
                })
                .expect("write");
            transcript.push(seen(&store));
            let failed = store.write_blocking(|w| {
                w.put_whale(whale("0xb", 1, true))?;
                w.put_whale(whale("0xa", 9, true))?;
                Err::<(), _>(StoreError::Database("refused".into()))
            });
            assert!(failed.is_err());
            let panicked = store.write_blocking(|w| -> Result<()> {
                w.put_whale(whale("0xb", 1, true))?;
                panic!("a write closure panics");
            });
            assert!(matches!(panicked, Err(StoreError::WritePanicked)), "{panicked:?}");
            let (all, b, makers, busy) = seen(&store);
            assert_eq!(
                all.iter().map(|r| (r.address.as_str(), r.trade_count)).collect::<Vec<_>>(),
                [("0xa", 2), ("0xc", 1)]
            );
            assert_eq!(b, None, "nothing of the failed writes");
            assert_eq!(makers, ["0xc"]);
            assert_eq!(busy, ["0xa"]);
            transcript.push((all, b, makers, busy));
            store.write_blocking(|w| w.put_whale(whale("0xb", 3, true))).expect("write");
            store
                .write_blocking(|w| {
                    w.put_whale(whale("0xc", 2, false))?;
                    // Over a committed record, the write still reads its own put.
                    w.put_whale(whale("0xb", 4, true))?;
                    assert_eq!(w.whale("0xb")?.map(|r| r.trade_count), Some(4));
                    Ok(())
                })
                .expect("write");
            let (all, b, makers, busy) = seen(&store);
            assert_eq!(b.map(|r| r.trade_count), Some(4));
            assert_eq!(makers, ["0xb"], "the index follows the records");
            assert_eq!(busy, ["0xa", "0xb", "0xc"], "by address");
            assert_eq!(all.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["0xa", "0xb", "0xc"]);
            transcript.push(seen(&store));
            transcripts.push(transcript);
        }
        assert_eq!(transcripts[0], transcripts[1], "the file store and the in-memory store agree");
    }
}
