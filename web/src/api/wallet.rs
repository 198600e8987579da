//! The settings and the wallet in the JSON API: `/api/config`, the wallet's key and doctor, and
//! the wallet on chain (balances, redemptions and its transaction journal).

use super::ApiJson;
use crate::error::{AppError, AppResult};
use crate::model::{SettingsView, WalletForm};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub(super) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/api/config", get(config::<B>).put(update_config::<B>))
        .route("/api/config/wallet", post(set_wallet::<B>))
        .route("/api/wallet/doctor", post(wallet_doctor::<B>))
        .route("/api/wallet/chain", get(chain::<B>))
        .route("/api/wallet/redeem", post(redeem::<B>))
}

/// `GET /api/config` and the answer of `PUT /api/config`: values by name, the form's fields,
/// and the wallet (never its key).
#[derive(Serialize)]
struct ConfigBody {
    config: Map<String, Value>,
    fields: Vec<crate::model::SettingField>,
    wallet: crate::model::WalletView,
}

impl From<SettingsView> for ConfigBody {
    fn from(view: SettingsView) -> Self {
        let config = view.fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect();
        Self { config, fields: view.fields, wallet: view.wallet }
    }
}

async fn config<B: Backend>(State(state): State<AppState<B>>) -> axum::Json<ConfigBody> {
    axum::Json(state.backend.settings().into())
}

async fn update_config<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(body): ApiJson<Value>,
) -> AppResult<axum::Json<ConfigBody>> {
    let Value::Object(patch) = body else {
        return Err(AppError::bad_request(
            "the body must be a JSON object of setting name → value, e.g. {\"stop_loss_percent\": 20}",
        ));
    };
    Ok(axum::Json(state.backend.update_settings(patch).await?.into()))
}

async fn set_wallet<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(form): ApiJson<WalletForm>,
) -> AppResult<Response> {
    let wallet = state.backend.set_wallet(form).await?;
    Ok(axum::Json(json!({ "wallet": wallet })).into_response())
}

/// `POST /api/wallet/doctor`: `{"test_order": bool}` (absent is false); unknown fields are
/// refused so a typo cannot silently skip (or post) the test order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DoctorBody {
    #[serde(default)]
    test_order: bool,
}

async fn wallet_doctor<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(body): ApiJson<Value>,
) -> AppResult<Response> {
    // An object only: serde would also take `[true]` for the struct.
    if !body.is_object() {
        return Err(AppError::bad_request("the body must be a JSON object, e.g. {\"test_order\": false}"));
    }
    let body: DoctorBody = serde_json::from_value(body).map_err(|e| AppError::bad_request(e.to_string()))?;
    let doctor = state.backend.wallet_doctor(body.test_order).await?;
    Ok(axum::Json(json!({ "doctor": doctor })).into_response())
}

/// `GET /api/wallet/chain`: `{"chain": …}`, `null` when on-chain settlement is off (not live,
/// or no `[chain] rpc_url`).
async fn chain<B: Backend>(State(state): State<AppState<B>>) -> AppResult<Response> {
    let chain = state.backend.chain(true).await?;
    Ok(axum::Json(json!({ "chain": chain })).into_response())
}

/// `POST /api/wallet/redeem`: `{"condition_id": "0x…"}`, a market due for redemption.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    condition_id: String,
}

async fn redeem<B: Backend>(
    State(state): State<AppState<B>>,
    ApiJson(body): ApiJson<Value>,
) -> AppResult<Response> {
    if !body.is_object() {
        return Err(AppError::bad_request(
            "the body must be a JSON object, e.g. {\"condition_id\": \"0x…\"}",
        ));
    }
    let body: RedeemBody = serde_json::from_value(body).map_err(|e| AppError::bad_request(e.to_string()))?;
    let transaction = state.backend.redeem(body.condition_id).await?;
    Ok(axum::Json(json!({ "transaction": transaction })).into_response())
}

#[cfg(test)]
mod tests {
    use crate::api_tests::{assert_error, call, empty, fake, with_json};
    use crate::fake::http::authed;
    use crate::fake::{Call, DUE, Fake};
    use axum::http::StatusCode;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_wallet_on_chain_reads_as_exact_decimals_or_null_when_off() {
        let (status, _, json) = call(&fake(), empty(authed("GET", "/api/wallet/chain"))).await;
        assert_eq!(status, StatusCode::OK);
        let chain = &json["chain"];
        assert_eq!(chain["balances"]["pusd"], "1234.5", "money as an exact decimal string");
        assert_eq!(chain["low_gas"], true);
        assert_eq!(chain["due"][0]["condition_id"], DUE);
        assert_eq!(chain["due"][0]["payout"], "150.25");
        assert_eq!(chain["transactions"][1]["status"], "reverted");
        let off = Arc::new(Fake { chain: None, ..Fake::default() });
        let (status, _, json) = call(&off, empty(authed("GET", "/api/wallet/chain"))).await;
        assert_eq!((status, &json["chain"]), (StatusCode::OK, &serde_json::Value::Null));
    }

    #[tokio::test]
    async fn redeeming_through_the_api_names_the_market_strictly() {
        let fake = fake();
        let body = format!(r#"{{"condition_id": "{DUE}"}}"#);
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/wallet/redeem"), &body)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["transaction"]["status"], "confirmed");
        let unknown = r#"{"condition_id": "0x33"}"#;
        let (status, _, json) = call(&fake, with_json(authed("POST", "/api/wallet/redeem"), unknown)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_error(&json, &[]);
        for bad in ["{}", r#"{"condition": "0x1"}"#, r#"["0x1"]"#, r#"{"condition_id": 1}"#, "{"] {
            let (status, _, json) = call(&fake, with_json(authed("POST", "/api/wallet/redeem"), bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {json}");
        }
        assert_eq!(fake.calls(), [Call::Redeem(DUE.into()), Call::Redeem("0x33".into())]);
    }
}
