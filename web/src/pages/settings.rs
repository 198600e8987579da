//! Settings (`/settings`): the form the host describes field by field (sliders, number boxes,
//! toggles), posted as a JSON patch the host validates; the wallet key, posted once and never
//! shown back; the wallet on chain; and the wallet check (the wallet doctor), run on demand.

use super::layout::{self, Nav, alert, csrf_field, field_errors, fields_of, last, status_of};
use super::settlement::balances_panel;
use crate::auth::Identity;
use crate::backend::{BackendError, FieldError};
use crate::model::{DoctorStatus, DoctorView, FieldInput, SettingField, SettingsView, WalletForm};
use crate::{AppState, Backend};
use axum::Router;
use axum::extract::{Extension, Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::Value;

pub(crate) fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/settings", get(settings_page::<B>).post(save::<B>))
        .route("/settings/wallet", post(save_wallet::<B>))
        .route("/settings/doctor", post(run_doctor::<B>))
        .route("/settings/notifications", post(save_notifications::<B>))
}

/// What the page shows besides the settings in force: a refusal and what was typed.
#[derive(Default)]
struct Shown {
    saved: bool,
    failure: Option<(StatusCode, String)>,
    /// Errors of the settings form, and the values typed into it.
    errors: Vec<FieldError>,
    typed: Vec<(String, String)>,
    /// Errors of the wallet form (the key and password are never shown again).
    wallet_errors: Vec<FieldError>,
    /// The wallet check just run.
    doctor: Option<DoctorView>,
    /// The notification channel whose events were just saved.
    notified: Option<String>,
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
    let shown = Shown {
        saved: last(&pairs, "saved") == Some("1"),
        notified: last(&pairs, "notified").map(str::to_owned),
        ..Shown::default()
    };
    render(&*state.backend, &identity, shown).await
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
            render(&*state.backend, &identity, shown).await
        }
    }
}

async fn save_wallet<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let text = |name| last(&form, name).unwrap_or_default().to_owned();
    let (key, password, again) = (text("private_key"), text("password"), text("password_confirm"));
    let mut errors = Vec::new();
    if key.trim().is_empty() {
        errors.push(("private_key", "Paste the wallet's private key."));
    }
    if password.is_empty() {
        errors.push(("password", "Choose a password: it encrypts the key."));
    } else if password != again {
        errors.push(("password_confirm", "The two passwords differ."));
    }
    if !errors.is_empty() {
        let shown = Shown {
            failure: Some((StatusCode::UNPROCESSABLE_ENTITY, errors[0].1.to_owned())),
            wallet_errors: errors
                .iter()
                .map(|(field, message)| FieldError { field: (*field).into(), message: (*message).into() })
                .collect(),
            ..Shown::default()
        };
        return render(&*state.backend, &identity, shown).await;
    }
    let wallet = WalletForm { private_key: key.trim().to_owned(), password };
    match state.backend.set_wallet(wallet).await {
        Ok(_) => Redirect::to("/settings").into_response(),
        Err(e) => {
            let shown = Shown { wallet_errors: fields_of(&e), ..Shown::refused(&e) };
            render(&*state.backend, &identity, shown).await
        }
    }
}

/// Saves the events a notification channel is told: the checked `event` boxes.
async fn save_notifications<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let channel = last(&form, "channel").unwrap_or_default().to_owned();
    let events: Vec<String> = form.iter().filter(|(k, _)| k == "event").map(|(_, v)| v.clone()).collect();
    match state.backend.set_notification_events(channel.clone(), events).await {
        Ok(_) => Redirect::to(&super::notifications::saved_location(&channel)).into_response(),
        Err(e) => render(&*state.backend, &identity, Shown::refused(&e)).await,
    }
}

/// Runs the wallet doctor and shows its result in the page (it is not kept: a reload forgets it).
async fn run_doctor<B: Backend>(
    State(state): State<AppState<B>>,
    Extension(identity): Extension<Identity>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let test_order = matches!(last(&form, "test_order"), Some("true" | "on"));
    let shown = match state.backend.wallet_doctor(test_order).await {
        Ok(report) => Shown { doctor: Some(report), ..Shown::default() },
        Err(e) => Shown::refused(&e),
    };
    render(&*state.backend, &identity, shown).await
}

async fn render<B: Backend>(backend: &B, identity: &Identity, shown: Shown) -> Response {
    let chain = backend.chain(true).await;
    let view = backend.settings();
    let venue = backend.venue();
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
        (super::notifications::section(&backend.notification_events(), identity, shown.notified.as_deref()))
        (wallet(&view, identity, &shown))
        (balances_panel(&chain, &venue.mode))
        (doctor(identity, &venue.mode, shown.doctor.as_ref()))
    };
    (status, layout::page("Settings", Nav::Settings, identity, &venue, &main)).into_response()
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
            @if !w.key_present {
                form id="wallet-form" method="post" action="/settings/wallet" autocomplete="off" {
                    (csrf_field(identity))
                    div class="field" {
                        label for="private_key" { "Private key" }
                        input type="password" id="private_key" name="private_key" autocomplete="off" spellcheck="false";
                        (field_errors(errors, "private_key"))
                        p class="help" { "Stored encrypted in the data directory; it is never shown again. Only the address is." }
                    }
                    div class="field" {
                        label for="password" { "Keystore password" }
                        input type="password" id="password" name="password" autocomplete="new-password";
                        (field_errors(errors, "password"))
                        p class="help" { "At least 8 characters. Live mode asks for it at start (or reads EQUILIBRAGE_WALLET_PASSWORD)." }
                    }
                    div class="field" {
                        label for="password_confirm" { "Repeat the password" }
                        input type="password" id="password_confirm" name="password_confirm" autocomplete="new-password";
                        (field_errors(errors, "password_confirm"))
                    }
                    div class="actions" { button type="submit" { "Store key" } }
                }
            } @else {
                p class="help" {
                    "The signature type and funder come from the configuration file ([exchange.polymarket]). "
                    "To replace the key, stop the bot and run "
                    code { "equilibrage wallet import --replace" } "."
                }
            }
        }
    }
}

/// The wallet check: a form that runs the wallet doctor, and its result, one line per check with
/// its fix.
fn doctor(identity: &Identity, mode: &str, report: Option<&DoctorView>) -> Markup {
    html! {
        section id="doctor" class="panel" aria-labelledby="doctor-title" {
            h2 id="doctor-title" { "Wallet check" }
            p class="help" {
                "Checks at the exchange what live trading needs: the signature type against the funder, the "
                "API key, the pUSD balance and the allowances, and with " code { "[chain] rpc_url" } " the gas and "
                "approvals on chain; each problem comes with its fix. The same as "
                code { "equilibrage wallet doctor" } "."
            }
            @if mode != "live" {
                p class="note" { "Live mode only: in " (mode) " mode every check is skipped." }
            }
            form id="doctor-form" method="post" action="/settings/doctor" {
                (csrf_field(identity))
                div class="field" {
                    div class="toggle" {
                        input type="checkbox" name="test_order" id="test_order" value="true"
                            aria-describedby="test_order-help";
                        label for="test_order" { "Post a test order" }
                    }
                    p class="help" id="test_order-help" {
                        "A post-only BUY of the minimum size at the lowest price of a liquid market (a few cents "
                        "at most), cancelled at once: the only way to learn whether the exchange accepts orders "
                        "from this wallet type."
                    }
                }
                div class="actions" { button type="submit" { "Run the checks" } }
            }
            @if let Some(report) = report {
                @let failed = report.checks.iter().filter(|c| c.status == DoctorStatus::Fail).count();
                p id="doctor-summary" role="status" {
                    @if report.ok { "No check failed." } @else { (failed) " check(s) failed." }
                }
                ul id="doctor-results" class="items" {
                    @for c in &report.checks {
                        @let (mark, word, class) = match c.status {
                            DoctorStatus::Pass => ("✓", "pass", "pos"),
                            DoctorStatus::Warn => ("!", "warning", "warn"),
                            DoctorStatus::Fail => ("✗", "fail", "neg"),
                            DoctorStatus::Skipped => ("–", "skipped", "muted"),
                        };
                        li data-check=(c.id) data-status=(word) {
                            span class=(class) aria-hidden="true" { (mark) } " "
                            strong { (c.name) } " "
                            span class=(class) { "(" (word) ")" } ": " (c.detail)
                            @if let Some(fix) = &c.fix { p class="help" { strong { "Fix: " } (fix) } }
                        }
                    }
                }
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
            "<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\"",
            "name=\"password_confirm\"",
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
    async fn the_wallet_check_runs_on_demand_and_shows_each_check_with_its_fix() {
        let fake = Arc::new(Fake::default());
        let (_, _, body) = get(Arc::clone(&fake), "/settings").await;
        for needle in [
            "<section id=\"doctor\" class=\"panel\" aria-labelledby=\"doctor-title\">",
            "<form id=\"doctor-form\" method=\"post\" action=\"/settings/doctor\"><input type=\"hidden\" \
             name=\"_csrf\"",
            "<input type=\"checkbox\" name=\"test_order\" id=\"test_order\" value=\"true\"",
            "Live mode only: in sim mode every check is skipped.",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        assert!(!body.contains("id=\"doctor-results\""), "no result before a run");
        assert!(fake.calls().is_empty(), "showing the page runs nothing");

        let (status, _, body) =
            post_form(Arc::clone(&fake), "/settings/doctor", &[("test_order", "true")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_safe(&body);
        for needle in [
            "<p id=\"doctor-summary\" role=\"status\">1 check(s) failed.</p>",
            "<li data-check=\"wallet\" data-status=\"pass\"><span class=\"pos\" aria-hidden=\"true\">✓</span>",
            "<li data-check=\"balance\" data-status=\"fail\">",
            "<span class=\"neg\">(fail)</span>: 0 pUSD<p class=\"help\"><strong>Fix: </strong>Deposit pUSD</p>",
            "<li data-check=\"api_key\" data-status=\"warning\">",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "<li data-check=\"test_order\" data-status=\"pass\">",
        ] {
            assert!(body.contains(needle), "missing {needle}");
        }
        let (status, _, body) = post_form(Arc::clone(&fake), "/settings/doctor", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<li data-check=\"test_order\" data-status=\"skipped\">"));
        assert_eq!(fake.calls(), vec![Call::Doctor(true), Call::Doctor(false)]);

        // A form without the CSRF token is refused before the bot is asked.
        let request = crate::fake::http::browser("POST", "/settings/doctor", false)
            .header("origin", "http://127.0.0.1:8080")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from("test_order=true"))
            .unwrap();
        let (status, _, _) = crate::fake::http::send(Arc::clone(&fake), request).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(fake.calls().len(), 2);
    }

    #[tokio::test]
    async fn the_wallet_key_is_sent_once_and_never_shown() {
        let fake = Arc::new(Fake::default());
        let key = "ab".repeat(32);
        let (status, headers, _) = post_form(
            Arc::clone(&fake),
            "/settings/wallet",
            &[
                ("private_key", &key),
                ("password", "a long password"),
                ("password_confirm", "a long password"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/settings");
        let (status, _, body) = post_form(
            Arc::clone(&fake),
            "/settings/wallet",
            &[("private_key", "deadbeef"), ("password", "pw-short"), ("password_confirm", "pw-short")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!body.contains("deadbeef") && !body.contains("pw-short"), "nothing typed is echoed");
        assert!(body.contains("<p class=\"field-error\" data-field=\"private_key\">64 hex digits</p>"));
        assert_eq!(fake.calls(), vec![Call::Wallet, Call::Wallet]);
        for form in [
            vec![
                ("private_key", " "),
                ("password", "a long password"),
                ("password_confirm", "a long password"),
            ],
            vec![
                ("private_key", key.as_str()),
                ("password", "a long password"),
                ("password_confirm", "typo"),
            ],
            vec![("private_key", key.as_str()), ("password", ""), ("password_confirm", "")],
        ] {
            let (status, _, body) = post_form(Arc::clone(&fake), "/settings/wallet", &form).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
            assert!(body.contains("class=\"field-error\""), "{form:?}");
            assert!(!body.contains("a long password"));
        }
        assert_eq!(fake.calls().len(), 2, "an empty key or mismatched passwords do not reach the bot");
    }
}
