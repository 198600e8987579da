//! Shared setup for the mock's tests: one listed market with a two-level book, a funded
//! account, and an SDK CLOB client authenticated with the mock's credentials.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::str::FromStr as _;
use std::time::Duration;

use equilibrage_testkit::{MockMarket, MockPolymarket};
use polymarket_client_sdk_v2::POLYGON;
use polymarket_client_sdk_v2::auth::state::Authenticated;
use polymarket_client_sdk_v2::auth::{Credentials, LocalSigner, Normal, Signer, Uuid};
use polymarket_client_sdk_v2::clob::{Client, Config};
use polymarket_client_sdk_v2::types::U256;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Anvil's first key (address `0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266`).
pub const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const ADDRESS: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
pub const CONDITION: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
pub const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";
pub const NO: &str = "52114319501245915516055106046884209969926127482827954674443846427813813222426";

pub type Clob = Client<Authenticated<Normal>>;

pub fn signer() -> impl Signer + Send + Sync {
    LocalSigner::from_str(KEY).expect("valid key").with_chain_id(Some(POLYGON))
}

pub fn u256(s: &str) -> U256 {
    U256::from_str(s).expect("decimal token id")
}

/// The mock with one market: YES bids 0.48×100, 0.47×200; asks 0.52×100, 0.53×200; 1000 pUSD.
pub async fn mock() -> MockPolymarket {
    let mock = MockPolymarket::start().await;
    mock.add_market(MockMarket::binary("501", CONDITION, YES, NO));
    mock.set_book(
        YES,
        &[(dec!(0.48), dec!(100)), (dec!(0.47), dec!(200))],
        &[(dec!(0.52), dec!(100)), (dec!(0.53), dec!(200))],
    );
    mock.set_balance(dec!(1000));
    mock
}

pub fn credentials(mock: &MockPolymarket) -> Credentials {
    let c = mock.credentials();
    Credentials::new(Uuid::parse_str(&c.api_key).expect("uuid api key"), c.secret, c.passphrase)
}

/// An SDK CLOB client authenticated with the mock's credentials (no key derivation calls).
pub async fn clob(mock: &MockPolymarket) -> Clob {
    let signer = signer();
    Client::new(&mock.http_url(), Config::builder().use_server_time(false).build())
        .expect("client")
        .authentication_builder(&signer)
        .credentials(credentials(mock))
        .authenticate()
        .await
        .expect("authenticate")
}

/// Waits for a condition, polling, up to 5 s.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn status_of(err: &polymarket_client_sdk_v2::error::Error) -> Option<(u16, String)> {
    err.downcast_ref::<polymarket_client_sdk_v2::error::Status>()
        .map(|s| (s.status_code.as_u16(), s.message.clone()))
}

pub const ZERO: Decimal = Decimal::ZERO;
