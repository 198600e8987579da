//! Settings (`/settings`): the form the host describes field by field (sliders, number boxes,
//! toggles), posted as a JSON patch the host validates; and the wallet key, posted once and never
//! shown back.

use super::layout::{self, Nav, alert, csrf_field, field_errors, fields_of, last, status_of};
use crate::auth::Identity;
use crate::backend::{BackendError, FieldError};
use crate::model::{FieldInput, SettingField, SettingsView, WalletForm};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::Value;

/// The signature types the venue knows, as the host names them.
const SIGNATURE_TYPES: [(&str, &str); 4] = [
    ("eoa", "EOA (the key's own address)"),
    ("proxy", "Polymarket proxy (email / magic login)"),
    ("gnosis-safe", "Gnosis Safe (browser wallet login)"),
    ("deposit", "Deposit wallet"),
];

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/settings", get(settings_page::<B>).post(save::<B>))
        .route("/settings/wallet", post(save_wallet::<B>))
}

/// What the page shows besides the settings in force: a refusal and what was typed.
#[derive(Default)]
struct Shown {
    saved: bool,
    failure: Option<(StatusCode, String)>,
    /// Errors of the settings form, and the values typed into it.
    errors: Vec<FieldError>,
    typed: Vec<(String, String)>,
    /// Errors of the wallet form, and its typed signature type and funder (never the key).
    wallet_errors: Vec<FieldError>,
    wallet_typed: Option<(String, String)>,
}

impl Shown {
    fn refused(error: &BackendError) -> Self {
        Self { failure: Some((status_of(error), error.to_string())), ..Self::default() }
    }
}

async fn settings_page<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = layout::query_pairs(raw.as_deref());
    let shown = Shown { saved: last(&pairs, "saved") == Some("1"), ..Shown::default() };
    render(&*state.backend, &identity, shown)
}

async fn save<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let current = state.backend.settings();
    // Only the fields the host described are sent; numbers go as the typed text, so the host
    // parses them exactly (a decimal setting never passes through a float here).
    let mut patch = serde_json::Map::new();
    for field in &current.fields {
        let Some(value) = last(&form, &field.name) else { continue };
        let value = match field.input {
            FieldInput::Toggle => Value::Bool(matches!(value, "true" | "on")),
            FieldInput::Range { .. } | FieldInput::Number { .. } => Value::String(value.trim().to_owned()),
        };
        patch.insert(field.name.clone(), value);
    }
    match state.backend.update_settings(patch).await {
        Ok(_) => Redirect::to("/settings?saved=1").into_response(),
        Err(e) => {
            let shown = Shown {
                errors: fields_of(&e),
                typed: form.into_iter().filter(|(k, _)| k != crate::auth::CSRF_FIELD).collect(),
                ..Shown::refused(&e)
            };
            render(&*state.backend, &identity, shown)
        }
    }
}

async fn save_wallet<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let text = |name| last(&form, name).unwrap_or_default().trim().to_owned();
    let (key, signature_type, funder) = (text("private_key"), text("signature_type"), text("funder"));
    let typed = Some((signature_type.clone(), funder.clone()));
    if key.is_empty() {
        let message = "Paste the wallet's private key.";
        let shown = Shown {
            failure: Some((StatusCode::UNPROCESSABLE_ENTITY, message.to_owned())),
            wallet_errors: vec![FieldError { field: "private_key".into(), message: message.into() }],
            wallet_typed: typed,
            ..Shown::default()
        };
        return render(&*state.backend, &identity, shown);
    }
    let wallet = WalletForm {
        private_key: key,
        signature_type: (!signature_type.is_empty()).then_some(signature_type),
        funder: (!funder.is_empty()).then_some(funder),
    };
    match state.backend.set_wallet(wallet).await {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(e) => {
            let shown = Shown { wallet_errors: fields_of(&e), wallet_typed: typed, ..Shown::refused(&e) };
            render(&*state.backend, &identity, shown)
        }
    }
}

fn render<B: Backend>(backend: &B, identity: &Identity, shown: Shown) -> Response {
    let view = backend.settings();
    let status = shown.failure.as_ref().map_or(StatusCode::OK, |f| f.0);
    let unplaced: Vec<&FieldError> =
        shown.errors.iter().filter(|e| !view.fields.iter().any(|f| f.name == e.field)).collect();
    let main = html! {
        h1 { "Settings" }
        @if let Some((_, message)) = &shown.failure { (alert(message)) }
        @if shown.saved { p class="flash" { "Saved." } }
        section class="panel" aria-labelledby="settings-title" {
            h2 id="settings-title" { "Trading" }
            form id="settings-form" method="post" action="/settings" {
                (csrf_field(identity))
                @for e in unplaced { p class="field-error" data-field=(e.field) { (e.field) ": " (e.message) } }
                @for f in &view.fields {
                    (field(f, last(&shown.typed, &f.name), &shown.errors))
                }
                div class="actions" { button type="submit" { "Save" } }
            }
        }
        (wallet(&view, identity, &shown))
    };
    (status, layout::page("Settings", Nav::Settings, identity, &backend.venue(), &main)).into_response()
}

/// A value in force as the text an input shows.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One setting: its label, its input(s), its unit and help, and its errors right after it.
fn field(f: &SettingField, typed: Option<&str>, errors: &[FieldError]) -> Markup {
    let value = typed.map_or_else(|| value_text(&f.value), str::to_owned);
    let help_id = format!("{}-help", f.name);
    let invalid = errors.iter().any(|e| e.field == f.name).then_some("true");
    html! {
        div class="field" data-field=(f.name) {
            @match &f.input {
                FieldInput::Toggle => {
                    div class="toggle" {
                        input type="hidden" name=(f.name) value="false";
                        input type="checkbox" name=(f.name) id=(f.name) value="true"
                            checked[value == "true"] aria-describedby=(help_id) aria-invalid=[invalid];
                        label for=(f.name) { (f.label) }
                    }
                }
                FieldInput::Range { min, max, step } => {
                    label for=(f.name) { (f.label) }
                    div class="range" {
                        input type="range" id={ (f.name) "-range" } data-mirror=(f.name) min=(min) max=(max)
                            step=(step) value=(value) aria-label={ (f.label) " (slider)" };
                        input type="number" name=(f.name) id=(f.name) min=(min) max=(max) step=(step) value=(value)
                            aria-describedby=(help_id) aria-invalid=[invalid];
                        @if !f.unit.is_empty() { span class="unit" { (f.unit) } }
                    }
                }
                FieldInput::Number { min, max, step } => {
                    label for=(f.name) { (f.label) }
                    div class="number" {
                        input type="number" name=(f.name) id=(f.name) min=(min) max=[max] step=(step) value=(value)
                            aria-describedby=(help_id) aria-invalid=[invalid];
                        @if !f.unit.is_empty() { span class="unit" { (f.unit) } }
                    }
                }
            }
            (field_errors(errors, &f.name))
            p class="help" id=(help_id) { (f.help) }
        }
    }
}

fn wallet(view: &SettingsView, identity: &Identity, shown: &Shown) -> Markup {
    let w = &view.wallet;
    let (signature_type, funder) = shown
        .wallet_typed
        .clone()
        .unwrap_or_else(|| (w.signature_type.clone(), w.funder.clone().unwrap_or_default()));
    let errors = &shown.wallet_errors;
    html! {
        section id="wallet" class="panel" aria-labelledby="wallet-title" {
            h2 id="wallet-title" { "Wallet" }
            dl class="facts" {
                div { dt { "Address" } dd class="mono" { (w.address.as_deref().unwrap_or("none")) } }
                div { dt { "Signature type" } dd { (w.signature_type) } }
                div { dt { "Funder" } dd class="mono" { (w.funder.as_deref().unwrap_or("—")) } }
                div { dt { "Key" } dd { @if w.key_present { "stored" } @else { "none" } } }
            }
            @if !w.note.is_empty() { p class="note" { (w.note) } }
            form id="wallet-form" method="post" action="/settings/wallet" {
                (csrf_field(identity))
                div class="field" {
                    label for="private_key" { "Private key" }
                    input type="password" id="private_key" name="private_key" autocomplete="off" spellcheck="false";
                    (field_errors(errors, "private_key"))
                    p class="help" { "Stored encrypted; it is never shown again. Only the address is." }
                }
                div class="field" {
                    label for="signature_type" { "Signature type" }
                    select id="signature_type" name="signature_type" {
                        @for (value, label) in SIGNATURE_TYPES {
                            option value=(value) selected[signature_type == value] { (label) }
                        }
                        @if !SIGNATURE_TYPES.iter().any(|(v, _)| *v == signature_type) && !signature_type.is_empty() {
                            option value=(signature_type) selected { (signature_type) }
                        }
                    }
                    (field_errors(errors, "signature_type"))
                }
                div class="field" {
                    label for="funder" { "Funder address" }
                    input type="text" id="funder" name="funder" value=(funder) spellcheck="false"
                        placeholder="0x… (proxy and Safe wallets)";
                    (field_errors(errors, "funder"))
                }
                div class="actions" { button type="submit" { "Save key" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fake::{Call, Fake};
    use crate::pages::test_util::{assert_safe, get, post_form};
    use axum::http::StatusCode;
    use serde_json::json;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_form_follows_the_fields() {
        let (status, _, body) = get(Arc::new(Fake::default()), "/settings").await;
        assert_eq!(status, StatusCode::OK);
        assert_safe(&body);
        for needle in [
            "<form id=\"settings-form\" method=\"post\" action=\"/settings\"",
            "<input type=\"hidden\" name=\"auto_trading\" value=\"false\">\
             <input type=\"checkbox\" name=\"auto_trading\" id=\"auto_trading\" value=\"true\"",
            "<input type=\"range\" id=\"stop_loss_percent-range\" data-mirror=\"stop_loss_percent\" \
             min=\"0\" max=\"99\" step=\"1\" value=\"0\"",
            "<input type=\"number\" name=\"stop_loss_percent\" id=\"stop_loss_percent\" min=\"0\" max=\"99\"",
            "<input type=\"number\" name=\"scan_interval_secs\" id=\"scan_interval_secs\" min=\"10\" \
             max=\"86400\" step=\"1\" value=\"300\"",
            "id=\"wallet\"",
            "<form id=\"wallet-form\" method=\"post\" action=\"/settings/wallet\"",
            "<input type=\"password\" id=\"private_key\" name=\"private_key\" autocomplete=\"off\"",
            "<select id=\"signature_type\" name=\"signature_type\">",
            "<option value=\"eoa\" selected>",
            "name=\"funder\"",
            "0x00000000000000000000000000000000000000aa",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let range = &body[body.find("type=\"range\"").unwrap()..];
        assert!(!range[..range.find('>').unwrap()].contains("name="), "the slider posts nothing");
        assert!(!body.contains("auto_trading\" value=\"true\" checked"), "off is unchecked");
        assert!(!body.contains("class=\"flash\""));
    }

    #[tokio::test]
    async fn saving_sends_typed_text_and_the_last_toggle_value() {
        let fake = Arc::new(Fake::default());
        let (status, headers, _) = post_form(
            Arc::clone(&fake),
            "/settings",
            &[
                ("auto_trading", "false"),
                ("auto_trading", "true"),
                ("stop_loss_percent", "12.5"),
                ("scan_interval_secs", " 300 "),
                ("not_a_setting", "x"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/settings?saved=1");
        let expected =
            json!({"auto_trading": true, "stop_loss_percent": "12.5", "scan_interval_secs": "300"});
        assert_eq!(fake.calls(), vec![Call::Settings(expected.as_object().unwrap().clone())]);
        let (_, _, body) = get(Arc::clone(&fake), "/settings?saved=1").await;
        assert!(body.contains("<p class=\"flash\">Saved.</p>"));
        assert!(body.contains("value=\"12.5\""), "the saved value is shown");
        let (_, _, _) = post_form(Arc::clone(&fake), "/settings", &[("auto_trading", "false")]).await;
        assert_eq!(
            fake.calls()[1],
            Call::Settings(json!({"auto_trading": false}).as_object().unwrap().clone())
        );
    }

    #[tokio::test]
    async fn refused_values_stay_with_their_error() {
        let fake = Arc::new(Fake::default());
        let (status, _, body) = post_form(
            Arc::clone(&fake),
            "/settings",
            &[("stop_loss_percent", "150"), ("auto_trading", "true")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_safe(&body);
        assert!(body.contains("<p class=\"error\" role=\"alert\">invalid settings</p>"));
        assert!(body.contains("id=\"stop_loss_percent\" min=\"0\" max=\"99\" step=\"1\" value=\"150\""));
        let number = body.find("name=\"stop_loss_percent\"").unwrap();
        let error = body.find("<p class=\"field-error\" data-field=\"stop_loss_percent\">").unwrap();
        assert!(error > number && error - number < 400, "the error sits right after the field");
        assert!(body.contains("auto_trading\" value=\"true\" checked"), "the typed toggle is kept");
        assert!(!body.contains("class=\"flash\""));
    }

    #[tokio::test]
    async fn the_wallet_key_is_sent_once_and_never_shown() {
        let fake = Arc::new(Fake::default());
        let key = "ab".repeat(32);
        let (status, headers, _) = post_form(
            Arc::clone(&fake),
            "/settings/wallet",
            &[("private_key", &key), ("signature_type", "proxy"), ("funder", "")],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/settings");
        let (status, _, body) = post_form(
            Arc::clone(&fake),
            "/settings/wallet",
            &[("private_key", "deadbeef"), ("signature_type", "proxy"), ("funder", "0xfund")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!body.contains("deadbeef"), "the key is never echoed");
        assert!(body.contains("<p class=\"field-error\" data-field=\"private_key\">64 hex digits</p>"));
        assert!(body.contains("<option value=\"proxy\" selected>") && body.contains("value=\"0xfund\""));
        assert_eq!(fake.calls(), vec![Call::Wallet, Call::Wallet]);
        let (status, _, body) =
            post_form(Arc::clone(&fake), "/settings/wallet", &[("private_key", " ")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("data-field=\"private_key\""));
        assert_eq!(fake.calls().len(), 2, "an empty key does not reach the bot");
    }
}
