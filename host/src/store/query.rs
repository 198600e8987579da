//! Reads shared by [`Reader`](super::Reader) (a snapshot) and [`Writer`](super::Writer) (inside the
//! write transaction): generic over redb's `ReadableTable`, so both decode the same way.

use redb::{AccessGuard, Key, Range, ReadableTable, TableHandle};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::codec::{corrupt, decode};
use super::{Intent, Result, TradeRecord};

/// A table of JSON values under keys of type `K`.
pub(crate) trait JsonTable<K: Key + 'static>: ReadableTable<K, &'static [u8]> + TableHandle {}

impl<K: Key + 'static, T: ReadableTable<K, &'static [u8]> + TableHandle> JsonTable<K> for T {}

/// The record at `key`, if any.
///
/// # Errors
/// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) if it does not decode.
pub(crate) fn get<'k, K: Key + 'static, T: DeserializeOwned>(
    table: &impl JsonTable<K>,
    key: &K::SelfType<'k>,
) -> Result<Option<T>> {
    match table.get(key)? {
        Some(value) => decode(table.name(), key, value.value()).map(Some),
        None => Ok(None),
    }
}

/// Decodes every record of a range of `table`, in key order, at most `limit` of them.
///
/// # Errors
/// redb failures; [`StoreError::Corrupt`](super::StoreError::Corrupt) for the first record that
/// does not decode.
pub(crate) fn collect<'a, K: Key + 'static, T: DeserializeOwned>(
    name: &str,
    range: impl Iterator<Item = redb::Result<(AccessGuard<'a, K>, AccessGuard<'a, &'static [u8]>)>>,
    limit: usize,
) -> Result<Vec<T>> {
    range
        .take(limit)
        .map(|entry| {
            let (key, value) = entry?;
            decode(name, &key.value(), value.value())
        })
        .collect()
}

/// Every record of `table`, in key order.
///
/// # Errors
/// As [`collect`].
pub(crate) fn all<K: Key + 'static, T: DeserializeOwned>(table: &impl JsonTable<K>) -> Result<Vec<T>> {
    let range: Range<'_, K, &'static [u8]> = table.iter()?;
    collect(table.name(), range, usize::MAX)
}

/// Pending intents, oldest first (ties by client id), the order to reconcile them in.
///
/// # Errors
/// As [`collect`].
pub(crate) fn intents(table: &impl JsonTable<&'static str>) -> Result<Vec<Intent>> {
    let mut intents: Vec<Intent> = all(table)?;
    intents.sort_by(|a, b| (a.created_at_ms, &a.client_id).cmp(&(b.created_at_ms, &b.client_id)));
    Ok(intents)
}

/// The trades of a position through the index, ascending id.
///
/// # Errors
/// As [`collect`], and [`StoreError::Corrupt`](super::StoreError::Corrupt) if the index names a
/// trade that does not exist.
pub(crate) fn trades_of(
    index: &(impl ReadableTable<(u64, u64), ()> + TableHandle),
    trades: &impl JsonTable<u64>,
    position_id: u64,
) -> Result<Vec<TradeRecord>> {
    let mut out = Vec::new();
    for entry in index.range((position_id, 0)..=(position_id, u64::MAX))? {
        let (key, ()) = entry.map(|(k, v)| (k.value(), v.value()))?;
        match get(trades, &key.1)? {
            Some(trade) => out.push(trade),
            None => return Err(corrupt(index.name(), &key, "the indexed trade does not exist")),
        }
    }
    Ok(out)
}

/// Just the position a stored trade belongs to, without decoding the whole record.
#[derive(Deserialize)]
pub(crate) struct TradeOwner {
    pub(crate) position_id: u64,
}

/// The wallets among `addresses` in the market-maker index; unknown wallets are not.
///
/// # Errors
/// redb failures.
pub(crate) fn market_makers<'k>(
    index: &impl ReadableTable<&'static str, ()>,
    addresses: impl IntoIterator<Item = &'k str>,
) -> Result<std::collections::HashSet<String>> {
    let mut makers = std::collections::HashSet::new();
    for address in addresses {
        if index.get(address)?.is_some() {
            makers.insert(address.to_owned());
        }
    }
    Ok(makers)
}
