//! Record values as JSON bytes: self-describing, so fields can be added without a migration
//! (serde fills or ignores them), and decimals stay exact (they are JSON strings).

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Result, StoreError};

/// The JSON bytes of `value`, to store in `table` at `key`.
///
/// # Errors
/// [`StoreError::Invalid`] if the value does not serialize.
pub(crate) fn encode<T: Serialize + ?Sized>(table: &str, key: &dyn Debug, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| invalid(table, key, e.to_string()))
}

/// The record stored in `table` at `key`.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the table and key if the bytes are not a `T`.
pub(crate) fn decode<T: DeserializeOwned>(table: &str, key: &dyn Debug, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.to_owned(),
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

/// Refuses a float that is not finite: JSON writes NaN and infinities as `null`, which would not
/// decode again.
///
/// # Errors
/// [`StoreError::Invalid`] naming the field.
pub(crate) fn check_finite(table: &str, key: &dyn Debug, field: &str, value: f64) -> Result<()> {
    if value.is_finite() { Ok(()) } else { Err(invalid(table, key, format!("{field} is {value}"))) }
}

/// [`StoreError::Invalid`] for `table` at `key`.
pub(crate) fn invalid(table: &str, key: &dyn Debug, reason: String) -> StoreError {
    StoreError::Invalid { table: table.to_owned(), key: format!("{key:?}"), reason }
}

/// [`StoreError::Corrupt`] for `table` at `key`.
pub(crate) fn corrupt(table: &str, key: &dyn Debug, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table: table.to_owned(), key: format!("{key:?}"), reason: reason.into() }
}
