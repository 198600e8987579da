//! The frame every page shares (head, nav, live status, logout) and the small formatting and
//! form helpers the pages use, so money, statuses and errors look and behave the same everywhere.

use crate::auth::{CSRF_FIELD, Identity};
use crate::backend::{BackendError, FieldError};
use crate::model::VenueView;
use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;

/// The page a nav link points to; the current one is marked for the reader and the eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Scanner,
    History,
    Settings,
    Plugins,
    Lab,
}

const LINKS: [(Nav, &str, &str); 6] = [
    (Nav::Dashboard, "/", "Dashboard"),
    (Nav::Scanner, "/scanner", "Scanner"),
    (Nav::History, "/history", "History"),
    (Nav::Settings, "/settings", "Settings"),
    (Nav::Plugins, "/plugins", "Plugins"),
    (Nav::Lab, "/lab", "Lab"),
];

/// A whole page: `main` inside the common head, header and nav.
pub(crate) fn page(
    title: &str,
    current: Nav,
    identity: &Identity,
    venue: &VenueView,
    main: &Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(identity.csrf());
                // No favicon request (it would need a login).
                link rel="icon" href="data:,";
                title { (title) " · equilibrage" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/" { "equilibrage" }
                    span class="venue" title="Venue mode" { (venue.mode) }
                    nav aria-label="Main" {
                        ul {
                            @for (nav, href, label) in LINKS {
                                li {
                                    @if nav == current {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    span id="live-status" data-state="offline" role="status" { "offline" }
                    form class="logout" method="post" action="/logout" {
                        (csrf_field(identity))
                        button type="submit" { "Log out" }
                    }
                }
                main { (main) }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf_field(identity: &Identity) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(identity.csrf()); }
}

/// An error for the reader, announced by screen readers.
pub(crate) fn alert(message: &str) -> Markup {
    html! { p class="error" role="alert" { (message) } }
}

/// Each field error naming `field`, placed right after that field.
pub(crate) fn field_errors(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| e.field == field) {
            p class="field-error" data-field=(field) { (e.message) }
        }
    }
}

/// The HTTP status a backend error is answered with.
pub(crate) const fn status_of(error: &BackendError) -> StatusCode {
    match error {
        BackendError::NotFound(_) => StatusCode::NOT_FOUND,
        BackendError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        BackendError::Conflict(_) => StatusCode::CONFLICT,
        BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        BackendError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The field errors a backend error carries (none unless it is `Invalid`).
pub(crate) fn fields_of(error: &BackendError) -> Vec<FieldError> {
    match error {
        BackendError::Invalid { fields, .. } => fields.clone(),
        _ => Vec::new(),
    }
}

/// The last value of `name` in a posted form: a checkbox posts after its hidden `false`, so the
/// last one is what the person chose.
pub(crate) fn last<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A long id (hash, condition id, address) for a table cell: its first `head` characters and
/// last 6, the whole id on hover; an id short enough anyway shows whole.
pub(crate) fn shortened(id: &str, head: usize) -> Markup {
    let count = id.chars().count();
    if count <= head + 8 {
        return html! { span class="mono" { (id) } };
    }
    let start: String = id.chars().take(head).collect();
    let end: String = id.chars().skip(count - 6).collect();
    html! { span class="mono" title=(id) { (start) "…" (end) } }
}

/// Where a live transaction is looked up: Polygon's block explorer.
pub(crate) const EXPLORER_TX: &str = "https://polygonscan.com/tx/";

/// A transaction hash for a table cell: shortened to its start and end (the whole hash on
/// hover), a button that copies it, and with `explorer` a link to the block explorer. Only a
/// well-formed hash (`0x` and 64 hex digits) is linked: it came from outside.
pub(crate) fn tx_hash(hash: &str, explorer: bool) -> Markup {
    let well_formed =
        hash.len() == 66 && hash.starts_with("0x") && hash.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    html! {
        span class="tx" {
            (shortened(hash, 8))
            " "
            button type="button" class="copy" data-copy=(hash) title="Copy the transaction hash"
                aria-label="Copy the transaction hash" { "Copy" }
            @if explorer && well_formed {
                " "
                a class="explorer" href={ (EXPLORER_TX) (hash) } target="_blank" rel="noopener noreferrer"
                    title="The transaction on Polygonscan" { "Polygonscan ↗" }
            }
        }
    }
}

/// Money for display: in cents, two decimals always. Where that rounded the value, the exact
/// value shows on hover (the API keeps it exact).
pub(crate) fn money(value: Decimal) -> Markup {
    let cents = value.round_dp(2);
    exact_on_hover(value, cents, format!("{cents:.2}"))
}

/// Decimals a price shows at most: Polymarket's finest tick is 0.0001. Book prices sit on their
/// tick and show as given; a mean entry price (often 28 digits) shows at the finest tick.
const PRICE_DECIMALS: u32 = 4;

/// A price without trailing zeros, at most [`PRICE_DECIMALS`] decimals; the exact value on hover
/// where rounded. `—` when there is none.
pub(crate) fn price(value: Option<Decimal>) -> Markup {
    match value {
        None => html! { "—" },
        Some(p) => {
            let shown = p.round_dp(PRICE_DECIMALS).normalize();
            exact_on_hover(p, shown, shown.to_string())
        }
    }
}

/// `text`, with `exact` in its title when `shown` (the number `text` reads as) differs from it.
fn exact_on_hover(exact: Decimal, shown: Decimal, text: String) -> Markup {
    if shown == exact {
        html! { (text) }
    } else {
        html! { span.exact title=(exact.normalize()) { (text) } }
    }
}

/// `pos`, `neg` or nothing: how a P&L is coloured.
pub(crate) fn pnl_class(value: Decimal) -> Option<&'static str> {
    if value.is_zero() {
        None
    } else if value.is_sign_negative() {
        Some("neg")
    } else {
        Some("pos")
    }
}

/// A P&L value, coloured by its sign.
pub(crate) fn pnl_span(value: Decimal) -> Markup {
    html! { span class=[pnl_class(value)] { (money(value)) } }
}

/// A duration in the two largest units that matter ("2d 3h", "5m 12s").
pub(crate) fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// A path segment with everything but unreserved characters percent-encoded, so a plugin named
/// `a/b?c` still lands on its own route.
pub(crate) fn path_segment(text: &str) -> String {
    use std::fmt::Write as _;
    text.bytes().fold(String::with_capacity(text.len()), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// The pairs of a query string, in order (a malformed one yields what it can, never an error).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// One query-string value, encoded.
pub(crate) fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_hash_is_shortened_copyable_and_linked_only_live_and_well_formed() {
        let hash = format!("0x{}", "ab".repeat(32));
        let live = tx_hash(&hash, true).into_string();
        assert!(
            live.contains(&format!("<span class=\"mono\" title=\"{hash}\">0xababab…ababab</span>")),
            "{live}"
        );
        assert!(
            live.contains(&format!("<button type=\"button\" class=\"copy\" data-copy=\"{hash}\"")),
            "{live}"
        );
        assert!(
            live.contains(&format!(
                "href=\"https://polygonscan.com/tx/{hash}\" target=\"_blank\" rel=\"noopener noreferrer\""
            )),
            "{live}"
        );
        assert!(!tx_hash(&hash, false).into_string().contains("polygonscan"), "no link off live mode");
        for odd in ["0x12", "<script>", &format!("0x{}", "zz".repeat(32))] {
            let html = tx_hash(odd, true).into_string();
            assert!(!html.contains("polygonscan"), "{odd}: {html}");
            assert!(!html.contains("<script>"), "escaped: {html}");
        }
    }
    use std::str::FromStr as _;

    #[test]
    fn helpers_format_and_pick() {
        let d = |s| Decimal::from_str(s).unwrap();
        let shown = |m: Markup| m.into_string();
        assert_eq!(shown(money(d("9997.004"))), r#"<span class="exact" title="9997.004">9997.00</span>"#);
        assert_eq!(shown(money(d("-3"))), "-3.00");
        assert_eq!(shown(money(d("0.1"))), "0.10");
        assert_eq!(shown(price(Some(d("0.400")))), "0.4");
        assert_eq!(
            shown(price(Some(d("0.4748109645051755942240133473")))),
            r#"<span class="exact" title="0.4748109645051755942240133473">0.4748</span>"#
        );
        assert_eq!(shown(price(None)), "—");
        assert_eq!(pnl_class(d("-0.01")), Some("neg"));
        assert_eq!(pnl_class(d("0.00")), None);
        assert_eq!(pnl_class(d("1")), Some("pos"));
        assert_eq!(duration(360), "6m 0s");
        assert_eq!(duration(90_000), "1d 1h");
        assert_eq!(path_segment("<b>x</b>/y"), "%3Cb%3Ex%3C%2Fb%3E%2Fy");
        let form = vec![("t".to_owned(), "false".to_owned()), ("t".to_owned(), "true".to_owned())];
        assert_eq!(last(&form, "t"), Some("true"));
        assert_eq!(last(&form, "u"), None);
        assert_eq!(status_of(&BackendError::Conflict(String::new())), StatusCode::CONFLICT);
    }
}
