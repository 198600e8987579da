//! L1 header presence checks and L2 HMAC verification, as the CLOB does them.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::engine::ApiError;
use crate::model::MockCredentials;

/// The L2 rejection message.
pub(crate) const UNAUTHORIZED: &str = "Unauthorized/Invalid api key";

/// The L1 headers every `/auth/*` call must carry.
pub(crate) const L1_HEADERS: [&str; 4] = ["POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_NONCE"];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `base64url(HMAC_SHA256(base64url_decode(secret), message))`.
pub(crate) fn sign(secret: &str, message: &[u8]) -> Option<String> {
    let key =
        URL_SAFE.decode(secret).or_else(|_| URL_SAFE_NO_PAD.decode(secret.trim_end_matches('='))).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(message);
    Some(URL_SAFE.encode(mac.finalize().into_bytes()))
}

/// Checks that the L1 headers are present.
pub(crate) fn check_l1(headers: &HeaderMap) -> Result<(), ApiError> {
    if L1_HEADERS.iter().all(|h| header(headers, h).is_some_and(|v| !v.is_empty())) {
        Ok(())
    } else {
        Err(ApiError::new(401, "Invalid L1 Request headers"))
    }
}

/// Verifies the L2 headers of one request: key, passphrase and
/// `POLY_SIGNATURE == base64url(HMAC(secret, timestamp + METHOD + path + body))`.
/// The SDKs sign the body with `'` replaced by `"`; that form is accepted too.
pub(crate) fn check_l2(
    creds: &MockCredentials,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let unauthorized = || ApiError::new(401, UNAUTHORIZED);
    let key = header(headers, "POLY_API_KEY").ok_or_else(unauthorized)?;
    let passphrase = header(headers, "POLY_PASSPHRASE").ok_or_else(unauthorized)?;
    let timestamp = header(headers, "POLY_TIMESTAMP").ok_or_else(unauthorized)?;
    let signature = header(headers, "POLY_SIGNATURE").ok_or_else(unauthorized)?;
    header(headers, "POLY_ADDRESS").ok_or_else(unauthorized)?;
    if key != creds.api_key || passphrase != creds.passphrase {
        return Err(unauthorized());
    }
    let mut message = format!("{timestamp}{method}{path}").into_bytes();
    let raw_len = message.len();
    message.extend_from_slice(body);
    if sign(&creds.secret, &message).is_some_and(|s| s == signature) {
        return Ok(());
    }
    let quoted = String::from_utf8_lossy(&message[raw_len..]).replace('\'', "\"");
    message.truncate(raw_len);
    message.extend_from_slice(quoted.as_bytes());
    if sign(&creds.secret, &message).is_some_and(|s| s == signature) {
        return Ok(());
    }
    Err(unauthorized())
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn hmac_known_answers() {
        let secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(
            sign(secret, br#"1000000test-sign/orders{"hash":"0x123"}"#).as_deref(),
            Some("4gJVbox-R6XlDK4nlaicig0_ANVL1qdcahiL8CXfXLM=")
        );
        assert_eq!(sign(secret, b"1GET/").as_deref(), Some("eHaylCwqRSOa2LFD77Nt_SaTpbsxzN8eTEI3LryhEj4="));
    }
}
