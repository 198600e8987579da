//! Orders and credentials through the official SDK: L1 API-key creation or derivation, and V2
//! orders built and EIP-712-signed by `polymarket_client_sdk_v2`, serialized for our own
//! L2-signed `POST /order` (the SDK's own post may poll for up to 30 s after a match).

use super::http::L2Credentials;
use crate::exchange::book::{Amount, FillPolicy, Side};
use crate::exchange::error::{ExchangeError, Result};
use polymarket_client_sdk_v2::auth::ExposeSecret as _;
use polymarket_client_sdk_v2::auth::state::Authenticated;
use polymarket_client_sdk_v2::auth::{Credentials, Normal, SecretString, Signer as _};
use polymarket_client_sdk_v2::clob::types::{self as sdk, SignableOrder, SignatureType, TickSize};
use polymarket_client_sdk_v2::clob::{Client, Config};
use polymarket_client_sdk_v2::types::{Address, U256};
use rust_decimal::Decimal;
use std::str::FromStr;

/// The wallet behind the orders. Polymarket refuses an order whose type does not match the account
/// (new accounts are pushed to the deposit wallet); the operator chooses, the bot never guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalletType {
    /// The key's own address holds the funds (signature type 0).
    Eoa = 0,
    /// A Polymarket proxy wallet (1); the funder defaults to the key's derived proxy.
    Proxy = 1,
    /// A Gnosis Safe (2); the funder defaults to the key's derived Safe.
    Safe = 2,
    /// A deposit wallet, EIP-1271 (3); the funder (the deposit wallet) is required.
    Deposit = 3,
}

impl WalletType {
    fn sdk(self) -> SignatureType {
        match self {
            Self::Eoa => SignatureType::Eoa,
            Self::Proxy => SignatureType::Proxy,
            Self::Safe => SignatureType::GnosisSafe,
            Self::Deposit => SignatureType::Poly1271,
        }
    }
}

/// How to sign in.
#[derive(Clone)]
pub struct SignerConfig {
    pub clob_url: String,
    /// 137 (Polygon) or 80002 (Amoy).
    pub chain_id: u64,
    pub private_key: SecretString,
    pub wallet: WalletType,
    /// The address holding the funds, when it is not the key's own (or derived) one.
    pub funder: Option<String>,
    /// Configured API credentials; without them they are created or derived with the key (L1).
    pub credentials: Option<(String, SecretString, SecretString)>,
    /// The API-key nonce (L1): another nonce gives another key. `None` is 0, as Polymarket's
    /// own apps use.
    pub nonce: Option<u32>,
    /// Fixed salts, for known-answer tests only.
    pub fixed_salt: Option<fn() -> u64>,
}

impl std::fmt::Debug for SignerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerConfig")
            .field("clob_url", &self.clob_url)
            .field("chain_id", &self.chain_id)
            .field("wallet", &self.wallet)
            .field("funder", &self.funder)
            .finish_non_exhaustive()
    }
}

type Key = alloy_signer_local::PrivateKeySigner;

type Sdk = Client<Authenticated<Normal>>;

/// Builds and signs V2 orders for one account.
pub struct OrderSigner {
    /// Replaced whole when the exchange's protocol version changes: the SDK caches the version
    /// it first read and offers no public way to read it again.
    client: std::sync::RwLock<Sdk>,
    key: Key,
    credentials: L2Credentials,
    /// What signing in again needs.
    sign_in: SignIn,
}

/// The settings a sign-in with known credentials repeats.
#[derive(Clone)]
struct SignIn {
    clob_url: String,
    wallet: WalletType,
    funder: Option<Address>,
    fixed_salt: Option<fn() -> u64>,
}

impl std::fmt::Debug for OrderSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSigner").field("address", &self.credentials.address).finish_non_exhaustive()
    }
}

fn sdk_error(what: &str, e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::Rejected { reason: format!("{what}: {e}") }
}

fn token(id: &str) -> Result<U256> {
    U256::from_str(id).map_err(|e| sdk_error(&format!("token id {id:?}"), e))
}

impl OrderSigner {
    /// Signs in: checks the key and the wallet settings, and creates or derives API credentials
    /// unless they are configured.
    ///
    /// # Errors
    /// A bad key, funder or chain, a wallet type the SDK refuses, or credentials that cannot be
    /// obtained — each with a message saying which.
    pub async fn connect(config: SignerConfig) -> Result<Self> {
        let key = Key::from_str(config.private_key.expose_secret().trim())
            .map_err(|_| ExchangeError::Rejected {
                reason: "the private key is not a valid secp256k1 key".into(),
            })?
            .with_chain_id(Some(config.chain_id));
        let funder = match &config.funder {
            Some(funder) => Some(
                Address::from_str(funder.trim())
                    .map_err(|e| sdk_error(&format!("funder address {funder:?}"), e))?,
            ),
            None => None,
        };
        let sign_in = SignIn {
            clob_url: config.clob_url.clone(),
            wallet: config.wallet,
            funder,
            fixed_salt: config.fixed_salt,
        };
        let mut auth = sign_in.builder(&key)?;
        if let Some((api_key, secret, passphrase)) = &config.credentials {
            let api_key = polymarket_client_sdk_v2::auth::Uuid::from_str(api_key.trim())
                .map_err(|e| sdk_error("API key (a UUID)", e))?;
            let creds = Credentials::new(
                api_key,
                secret.expose_secret().to_owned(),
                passphrase.expose_secret().to_owned(),
            );
            auth = auth.credentials(creds);
        }
        if let (Some(nonce), None) = (config.nonce, &config.credentials) {
            auth = auth.nonce(nonce);
        }
        let client = auth.authenticate().await.map_err(|e| classify_sdk("sign-in", &e))?;
        let creds = client.credentials();
        // From here on no log line or panic message can carry these (configured or derived).
        for secret in [
            config.private_key.expose_secret(),
            creds.secret().expose_secret(),
            creds.passphrase().expose_secret(),
        ] {
            crate::logging::register_secret(secret);
        }
        let credentials = L2Credentials {
            address: key.address().to_checksum(None),
            api_key: creds.key().to_string(),
            secret: creds.secret().clone(),
            passphrase: creds.passphrase().clone(),
        };
        Ok(Self { client: std::sync::RwLock::new(client), key, credentials, sign_in })
    }

    /// Signs in again with the same key and credentials (no L1 call), so the next order is built
    /// for the exchange's protocol version as it is now. For after `order_version_mismatch`.
    ///
    /// # Errors
    /// The sign-in failing, as in [`OrderSigner::connect`].
    pub async fn refresh_version(&self) -> Result<()> {
        let creds = self.client().credentials().clone();
        let client = self
            .sign_in
            .builder(&self.key)?
            .credentials(creds)
            .authenticate()
            .await
            .map_err(|e| classify_sdk("sign-in", &e))?;
        let version = client.version().await.map_err(|e| classify_sdk("the exchange's version", &e))?;
        tracing::info!(version, "signing orders for the exchange's protocol version");
        *self.client.write().unwrap_or_else(std::sync::PoisonError::into_inner) = client;
        Ok(())
    }

    /// The L2 credentials for our own signed requests.
    #[must_use]
    pub fn credentials(&self) -> &L2Credentials {
        &self.credentials
    }

    /// Tells the SDK a token's tick size and neg-risk flag, so building and signing its orders
    /// makes no network call.
    ///
    /// # Errors
    /// A token id that is not a U256, or a tick size the SDK does not know.
    pub fn note_token(&self, token_id: &str, tick_size: Decimal, neg_risk: bool) -> Result<()> {
        let id = token(token_id)?;
        let tick = TickSize::try_from(tick_size.normalize()).map_err(|e| sdk_error("tick size", e))?;
        let client = self.client();
        client.set_tick_size(id, tick);
        client.set_neg_risk(id, neg_risk);
        Ok(())
    }

    /// A limit (GTC) order, signed, as the JSON body of `POST /order`.
    ///
    /// # Errors
    /// The SDK's validation (price off tick or out of range, size) as `Rejected`.
    pub async fn limit(
        &self,
        token_id: &str,
        side: Side,
        price: Decimal,
        shares: Decimal,
        post_only: bool,
    ) -> Result<String> {
        let order = self
            .client()
            .limit_order()
            .token_id(token(token_id)?)
            .side(sdk_side(side))
            .price(price)
            .size(shares)
            .order_type(sdk::OrderType::GTC)
            .post_only(post_only)
            .build()
            .await
            .map_err(|e| classify_sdk("limit order", &e))?;
        self.sign(order).await
    }

    /// A market order (FOK or FAK) limited at `worst_price`, the last level the caller's walk of
    /// the book reached, signed, as the JSON body of `POST /order`.
    ///
    /// # Errors
    /// The SDK's validation as `Rejected`.
    pub async fn market(
        &self,
        token_id: &str,
        side: Side,
        amount: Amount,
        policy: FillPolicy,
        worst_price: Decimal,
    ) -> Result<String> {
        let amount = match amount {
            // The pUSD side goes out as given: whole cents only (see `fence_market_amounts`).
            Amount::Usd(usd) => {
                let cents = usd.trunc_with_scale(MARKET_MAKER_DECIMALS);
                if cents <= Decimal::ZERO {
                    return Err(ExchangeError::Rejected {
                        reason: format!("a market buy of {usd} pUSD is less than a cent"),
                    });
                }
                sdk::Amount::usdc(cents)
            }
            Amount::Shares(shares) => sdk::Amount::shares(shares),
        }
        .map_err(|e| sdk_error("order amount", e))?;
        let order_type = match policy {
            FillPolicy::FillOrKill => sdk::OrderType::FOK,
            FillPolicy::FillAndKill => sdk::OrderType::FAK,
        };
        let order = self
            .client()
            .market_order()
            .token_id(token(token_id)?)
            .side(sdk_side(side))
            .amount(amount)
            .price(worst_price)
            .order_type(order_type)
            .build()
            .await
            .map_err(|e| classify_sdk("market order", &e))?;
        self.sign(fence_market_amounts(order)?).await
    }

    /// Signs an order the SDK built and serializes it exactly as it will be sent.
    ///
    /// # Errors
    /// The SDK refusing to sign (no contract for the chain) as `Rejected`.
    pub async fn sign(&self, order: SignableOrder) -> Result<String> {
        let signed = self.client().sign(&self.key, order).await.map_err(|e| classify_sdk("signing", &e))?;
        serde_json::to_string(&signed).map_err(|e| sdk_error("serializing the order", e))
    }

    /// The SDK client, for the calls it does well (server time, API keys).
    #[must_use]
    pub fn client(&self) -> Sdk {
        self.client.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Decimals the exchange accepts on a market order's maker amount (pUSD for a buy, shares for a
/// sell) and on its taker amount, whatever the market's tick.
const MARKET_MAKER_DECIMALS: u32 = 2;
const MARKET_TAKER_DECIMALS: u32 = 4;

/// Rounds a market order's amounts down to what the exchange accepts before it is signed.
///
/// The SDK (0.9.0) computes the taker side with the tick's decimals plus two: five on a 0.001
/// tick, six on 0.0001, which the exchange refuses ("invalid amounts, the market buy orders
/// maker amount supports a max accuracy of 2 decimals, taker amount a max of 4 decimals").
/// Rounding the taker side down asks for a hair fewer shares (a buy) or less pUSD (a sell) for
/// the same maker amount: the order stays inside the price the walk of the book chose.
///
/// # Errors
/// An amount that rounds down to nothing, or an order of a protocol version the SDK did not know.
fn fence_market_amounts(mut order: SignableOrder) -> Result<SignableOrder> {
    let (maker, taker) = match &mut order.payload {
        sdk::OrderPayload::V2(p) | sdk::OrderPayload::V3(p) => {
            (&mut p.order.makerAmount, &mut p.order.takerAmount)
        }
        sdk::OrderPayload::V1(p) => (&mut p.order.makerAmount, &mut p.order.takerAmount),
        _ => return Err(sdk_error("market order", "the SDK built an order of an unknown protocol version")),
    };
    // Amounts are in micro units (six decimals).
    let unit = |decimals: u32| U256::from(10_u64.pow(6 - decimals));
    *maker -= *maker % unit(MARKET_MAKER_DECIMALS);
    *taker -= *taker % unit(MARKET_TAKER_DECIMALS);
    if maker.is_zero() || taker.is_zero() {
        return Err(ExchangeError::Rejected {
            reason: "the market order's amounts round down to nothing at the exchange's precision".into(),
        });
    }
    Ok(order)
}

impl SignIn {
    /// An authentication builder for the key with these settings; credentials are the caller's.
    fn builder<'k>(
        &self,
        key: &'k Key,
    ) -> Result<polymarket_client_sdk_v2::clob::client::AuthenticationBuilder<'k, Key, Normal>> {
        let client = Client::new(&self.clob_url, Config::builder().use_server_time(true).build())
            .map_err(|e| sdk_error("CLOB host", e))?;
        let mut auth = client.authentication_builder(key).signature_type(self.wallet.sdk());
        if let Some(funder) = self.funder {
            auth = auth.funder(funder);
        }
        if let Some(salt) = self.fixed_salt {
            auth = auth.salt_generator(salt);
        }
        Ok(auth)
    }
}

fn sdk_side(side: Side) -> sdk::Side {
    match side {
        Side::Buy => sdk::Side::Buy,
        Side::Sell => sdk::Side::Sell,
    }
}

/// An SDK failure: HTTP statuses keep their meaning (429/5xx retryable), the rest is a refusal.
fn classify_sdk(what: &str, e: &polymarket_client_sdk_v2::error::Error) -> ExchangeError {
    if let Some(status) = e.downcast_ref::<polymarket_client_sdk_v2::error::Status>() {
        let code = status.status_code.as_u16();
        let reason = format!("{what}: {} {}", code, status.message);
        return match code {
            429 | 425 | 500..=599 => ExchangeError::Retryable { reason, retry_after: None },
            _ => ExchangeError::Rejected { reason },
        };
    }
    sdk_error(what, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polymarket_client_sdk_v2::clob::types::{OrderPayload, OrderV2};

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const TOKEN: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";

    /// Signs in with configured credentials: no network call is made.
    async fn signer() -> OrderSigner {
        OrderSigner::connect(SignerConfig {
            clob_url: "http://127.0.0.1:9".into(),
            chain_id: 137,
            private_key: KEY.into(),
            wallet: WalletType::Eoa,
            funder: None,
            credentials: Some((
                "00000000-0000-0000-0000-000000000001".into(),
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                "pass".into(),
            )),
            nonce: None,
            fixed_salt: None,
        })
        .await
        .unwrap()
    }

    /// The signature in a serialized `POST /order` body.
    fn signature(body: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["order"]["signature"].as_str().unwrap().to_owned()
    }

    fn order(o: OrderV2) -> SignableOrder {
        let mut signable = SignableOrder::default();
        signable.payload = OrderPayload::new(o, U256::ZERO);
        signable.order_type = sdk::OrderType::GTC;
        signable
    }

    fn vector_order(signer: &OrderSigner) -> OrderV2 {
        let me = signer.key.address();
        let mut o = OrderV2::default();
        o.salt = U256::from(479_249_096_354_u64);
        o.maker = me;
        o.signer = me;
        o.tokenId = U256::from_str(TOKEN).unwrap();
        o.makerAmount = U256::from(11_782_400_u64);
        o.takerAmount = U256::from(21_040_000_u64);
        o.timestamp = U256::from(1_710_000_000_000_u64);
        // side 0 (BUY), signature type 0 (EOA), zero metadata and builder: the defaults.
        o
    }

    #[tokio::test]
    async fn v2_order_vectors_from_the_api_notes_sign_through_the_bots_signer() {
        let s = signer().await;
        assert_eq!(s.credentials().address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        s.note_token(TOKEN, Decimal::new(1, 2), false).unwrap();
        let body = s.sign(order(vector_order(&s))).await.unwrap();
        assert_eq!(
            signature(&body),
            "0xbe22dcae8bdbbedc588720605918c2bc6c556e19ff9c4089c706982b9202e0fe776c191f60767acd28e6420bce71edec0397c0b356458113130a37c5a0dd03501c"
        );
        // The body is what the exchange expects: amounts as strings, the side by name.
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["order"]["makerAmount"], "11782400");
        assert_eq!(v["order"]["side"], "BUY");
        assert_eq!(v["order"]["salt"], 479_249_096_354_u64);
        assert_eq!(v["owner"], "00000000-0000-0000-0000-000000000001");

        // The same order on a neg-risk market signs against the neg-risk exchange.
        s.note_token(TOKEN, Decimal::new(1, 2), true).unwrap();
        let body = s.sign(order(vector_order(&s))).await.unwrap();
        assert_eq!(
            signature(&body),
            "0xf6b4e114305e8736a9d75380c09c61369cb1020e45faf2fe88c40a6718dfe058651ed0e7679a82f78ca88b91e967d930dee4df7a306252ac76f9ba37f9766eed1c"
        );

        // All fields zero on the V2 exchange.
        s.note_token("0", Decimal::new(1, 2), false).unwrap();
        assert_eq!(
            signature(&s.sign(order(OrderV2::default())).await.unwrap()),
            "0x8a6edfe94a2169c3d05673521b53b7aee2205288f1363f1c9e24716317eebe6a17ca4bc397b85a5f39be21f32d0d8b38e0fd6de6af091dc0f4ba1f667d1883981c"
        );
    }

    #[tokio::test]
    async fn bad_keys_funders_and_wallet_settings_are_refused_with_a_reason() {
        let base = SignerConfig {
            clob_url: "http://127.0.0.1:9".into(),
            chain_id: 137,
            private_key: "0x1234".into(),
            wallet: WalletType::Eoa,
            funder: None,
            credentials: Some(("00000000-0000-0000-0000-000000000001".into(), "AAAA".into(), "p".into())),
            nonce: None,
            fixed_salt: None,
        };
        let e = OrderSigner::connect(base.clone()).await.unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        let with_key = SignerConfig { private_key: KEY.into(), ..base };
        let e = OrderSigner::connect(SignerConfig { funder: Some("0xnope".into()), ..with_key.clone() })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("funder"), "{e}");
        let deposit_without_funder = SignerConfig { wallet: WalletType::Deposit, ..with_key.clone() };
        let e = OrderSigner::connect(deposit_without_funder).await.unwrap_err();
        assert!(e.to_string().contains("deposit wallet funder"), "{e}");
        let e = OrderSigner::connect(SignerConfig { chain_id: 1, ..with_key }).await.unwrap_err();
        assert!(e.to_string().contains("Polygon"), "{e}");
    }
}
