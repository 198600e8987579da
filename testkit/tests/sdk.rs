//! Tests the mock with the official SDK.
use polymarket_client_sdk_v2 as _;
#[test]
fn builds() {}
