//! Access control: the access token (kept only as its SHA-256) and the limit on wrong guesses of
//! it, signed session cookies for the browser, CSRF tokens for everything that changes state, and
//! the security headers every response carries.

use crate::error::AppError;
use crate::limit::{FailureLimiter, Limited};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, REFERRER_POLICY,
    RETRY_AFTER, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "eq_session";
/// The header scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field pages send the CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";
/// Largest request body accepted anywhere (forms and JSON are small).
pub const MAX_BODY: usize = 64 * 1024;

/// Every response's Content-Security-Policy: only the binary's own scripts, styles and images;
/// no inline script, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who may use the dashboard and API: the holder of the access token, and browsers it logged in.
/// Clones share one budget of wrong tokens (see [`Access::check_token`]).
#[derive(Clone)]
pub struct Access {
    token_sha256: [u8; 32],
    session_key: [u8; 32],
    session_ttl: Duration,
    secure_cookies: bool,
    failures: Arc<FailureLimiter>,
    /// Sessions logged out before they expired: nonce → when the session would have expired
    /// (Unix seconds), and who keeps the list across restarts.
    revoked: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
    keep_revoked: Option<Arc<KeepRevoked>>,
    /// Host names answered besides IP addresses and `localhost` (see [`Access::host_allowed`]).
    hosts: Arc<Vec<String>>,
}

/// Where the list of logged-out sessions (nonce, expiry) goes after each logout.
type KeepRevoked = dyn Fn(Vec<(String, u64)>) + Send + Sync;

/// Most logged-out sessions remembered until they expire; past it, those expiring first are
/// forgotten (their cookies were cleared by the browsers that logged out).
const MAX_REVOKED: usize = 10_000;

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Access for the token whose SHA-256 is `token_sha256`; sessions are signed with
    /// `session_key` (keep it across restarts so browsers stay logged in).
    #[must_use]
    pub fn new(token_sha256: [u8; 32], session_key: [u8; 32]) -> Self {
        Self {
            token_sha256,
            session_key,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_cookies: true,
            failures: Arc::default(),
            revoked: Arc::default(),
            keep_revoked: None,
            hosts: Arc::default(),
        }
    }

    /// Names the dashboard answers to besides IP addresses and `localhost` (`[web] hosts`).
    #[must_use]
    pub fn with_hosts(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.hosts = Arc::new(names.into_iter().map(|n| n.to_ascii_lowercase()).collect());
        self
    }

    /// Whether a request's `Host` is one this dashboard answers to: an IP address, `localhost`,
    /// or a configured name, with or without a port. A page that made its own name point here
    /// (DNS rebinding) sends that name, and is refused before anything else runs.
    #[must_use]
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if let Some(v6) = host.strip_prefix('[') {
            return v6.split_once(']').is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host.as_str(),
        };
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || self.hosts.iter().any(|h| h == name)
    }

    /// Sessions logged out earlier (nonce, expiry in Unix seconds), and where each new logout's
    /// list goes (the host stores it, so a logged-out cookie stays refused after a restart).
    #[must_use]
    pub fn with_revoked(
        mut self,
        revoked: impl IntoIterator<Item = (String, u64)>,
        keep: impl Fn(Vec<(String, u64)>) + Send + Sync + 'static,
    ) -> Self {
        let now = unix_secs();
        self.revoked = Arc::new(std::sync::Mutex::new(
            revoked.into_iter().filter(|(_, expiry)| *expiry > now).collect(),
        ));
        self.keep_revoked = Some(Arc::new(keep));
        self
    }

    fn revoked(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u64>> {
        self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs a session out on the server: its cookie is refused from now on, even if a copy of
    /// it was kept.
    pub(crate) fn revoke(&self, session: &str) {
        if !self.session_valid(session) {
            return;
        }
        let mut parts = session.split('.');
        let (Some(issued), Some(nonce)) = (parts.next(), parts.next()) else { return };
        let expiry = issued.parse::<u64>().unwrap_or(0).saturating_add(self.session_ttl.as_secs());
        let list = {
            let mut revoked = self.revoked();
            let now = unix_secs();
            revoked.retain(|_, e| *e > now);
            revoked.insert(nonce.to_owned(), expiry);
            if revoked.len() > MAX_REVOKED {
                let mut by_expiry: Vec<(String, u64)> = revoked.drain().collect();
                by_expiry.sort_by_key(|(_, e)| std::cmp::Reverse(*e));
                by_expiry.truncate(MAX_REVOKED);
                revoked.extend(by_expiry);
            }
            revoked.iter().map(|(n, e)| (n.clone(), *e)).collect::<Vec<_>>()
        };
        if let Some(keep) = &self.keep_revoked {
            keep(list);
        }
    }

    /// The SHA-256 of a token, as [`Access::new`] takes it. The token is random and long, so a
    /// fast hash is enough: there is nothing to brute-force from the digest.
    #[must_use]
    pub fn hash_token(token: &str) -> [u8; 32] {
        Sha256::digest(token.trim().as_bytes()).into()
    }

    /// How long a browser session lasts (default 7 days).
    #[must_use]
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Whether session cookies carry `Secure` (default on; browsers accept it on
    /// http://127.0.0.1 and http://localhost, and behind a TLS proxy).
    #[must_use]
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Whether `token` is the access token (constant time).
    #[must_use]
    pub fn token_matches(&self, token: &str) -> bool {
        let digest = Self::hash_token(token);
        digest.iter().zip(&self.token_sha256).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Whether `token` is the access token, as a guess the login page or the API gets: a wrong
    /// one spends the global budget of failures, and once that is spent no token is checked
    /// (not even the right one) until it refills. The right token costs nothing.
    pub(crate) fn check_token(&self, token: &str) -> Result<bool, Limited> {
        self.failures.attempt(|| self.token_matches(token))
    }

    /// The same access with its budget of failures on a test's clock.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn with_clock(mut self, clock: crate::limit::Clock) -> Self {
        self.failures = Arc::new(FailureLimiter::with_clock(clock));
        self
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.session_key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
            mac.update(b"|");
        }
        mac
    }

    /// A new session cookie value: issue time, a random nonce and their MAC.
    pub(crate) fn new_session(&self) -> String {
        let mut nonce = [0_u8; 16];
        getrandom::fill(&mut nonce).expect("the operating system's random source");
        let issued = unix_secs().to_string();
        let nonce = hex(&nonce);
        let mac = self.mac(&[b"session", issued.as_bytes(), nonce.as_bytes()]).finalize().into_bytes();
        format!("{issued}.{nonce}.{}", hex(&mac))
    }

    /// Whether a session cookie value was issued by us and has not expired.
    pub(crate) fn session_valid(&self, value: &str) -> bool {
        let mut parts = value.split('.');
        let (Some(issued), Some(nonce), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(issued_secs) = issued.parse::<u64>() else { return false };
        let Some(mac) = unhex(mac) else { return false };
        if self.mac(&[b"session", issued.as_bytes(), nonce.as_bytes()]).verify_slice(&mac).is_err() {
            return false;
        }
        let now = unix_secs();
        issued_secs <= now + 60
            && now - issued_secs.min(now) <= self.session_ttl.as_secs()
            && !self.revoked().contains_key(nonce)
    }

    /// The CSRF token bound to a session: forms and scripts of that session must send it back.
    pub(crate) fn csrf_for(&self, session: &str) -> String {
        hex(&self.mac(&[b"csrf", session.as_bytes()]).finalize().into_bytes())
    }

    fn csrf_valid(&self, session: &str, sent: &str) -> bool {
        unhex(sent).is_some_and(|sent| self.mac(&[b"csrf", session.as_bytes()]).verify_slice(&sent).is_ok())
    }

    /// The `Set-Cookie` value that logs a browser in.
    pub(crate) fn session_cookie(&self, value: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.session_ttl.as_secs()
        )
    }

    /// The `Set-Cookie` value that logs a browser out.
    pub(crate) fn clear_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `Authorization: Bearer <token>`: automation; no CSRF token needed (browsers never send it
    /// on their own).
    Token,
    /// A browser session; `csrf` is the token its forms and scripts must send back.
    Session { csrf: String },
}

impl Identity {
    /// The CSRF token pages embed in forms ("" for token-authenticated requests).
    #[must_use]
    pub fn csrf(&self) -> &str {
        match self {
            Self::Token => "",
            Self::Session { csrf } => csrf,
        }
    }
}

/// The session cookie's value in a request's headers.
pub(crate) fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == SESSION_COOKIE).then_some(value))
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Why a request's bearer token was refused.
pub(crate) enum Refused {
    /// Not the access token: 401.
    WrongToken,
    /// Too many wrong tokens lately; this one was not checked: 429 with `Retry-After`.
    Limited(Limited),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::WrongToken => {
                AppError::new(StatusCode::UNAUTHORIZED, "invalid access token").into_response()
            }
            Self::Limited(limited) => (
                [(RETRY_AFTER, limited.secs().to_string())],
                AppError::new(StatusCode::TOO_MANY_REQUESTS, limited.message()),
            )
                .into_response(),
        }
    }
}

/// Who the request is from, if anyone we know. A wrong bearer token is not retried as a
/// session: it is refused.
pub(crate) fn identify(access: &Access, headers: &HeaderMap) -> Result<Option<Identity>, Refused> {
    if let Some(token) = bearer_of(headers) {
        return match access.check_token(token) {
            Ok(true) => Ok(Some(Identity::Token)),
            Ok(false) => Err(Refused::WrongToken),
            Err(limited) => Err(Refused::Limited(limited)),
        };
    }
    Ok(session_of(headers)
        .filter(|s| access.session_valid(s))
        .map(|s| Identity::Session { csrf: access.csrf_for(s) }))
}

/// Whether the request's `Origin`, when a browser sent one, is this server. Browsers send it on
/// every cross-site POST and WebSocket handshake, so a page elsewhere cannot pass as ours.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let (Ok(origin), Some(host)) = (origin.to_str(), headers.get(HOST).and_then(|h| h.to_str().ok())) else {
        return false;
    };
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Paths anyone may reach: the login page, health, and the binary's static assets.
fn is_public(path: &str) -> bool {
    path == "/login" || path == "/healthz" || path.starts_with("/assets/")
}

/// Paths answered with 401 rather than a redirect to the login page (scripts and scrapers).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/metrics"
}

/// Refuses a request whose `Host` this dashboard does not answer to (see
/// [`Access::host_allowed`]) before anything else runs: no page, and no guess at the token that
/// would spend the operator's budget of failed logins.
pub(crate) async fn require_known_host(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(host) = request.headers().get(HOST) {
        let known = host.to_str().is_ok_and(|h| access.host_allowed(h));
        if !known {
            return AppError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "this dashboard answers to its IP address, localhost and the names in `[web] hosts` only",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Requires an identity on every path but the public ones, and a valid CSRF token (header
/// `X-CSRF-Token`, or form field `_csrf`) on every state-changing request of a browser session.
/// The [`Identity`] is put in the request's extensions for the handlers.
pub(crate) async fn require_access(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if is_public(&path) {
        return next.run(request).await;
    }
    let identity = match identify(&access, request.headers()) {
        Ok(identity) => identity,
        Err(refused) => return refused.into_response(),
    };
    let Some(identity) = identity else {
        if is_api(&path) || !is_safe(request.method()) {
            return AppError::new(
                StatusCode::UNAUTHORIZED,
                "an access token is required: `Authorization: Bearer <token>`, or log in at /login",
            )
            .into_response();
        }
        let next_path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!("/login?next={}", urlencoding(next_path));
        return (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response();
    };
    let mut request = request;
    if let Identity::Session { csrf } = &identity {
        if (!is_safe(request.method()) || path == "/api/ws") && !same_origin(request.headers()) {
            return AppError::new(StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
        if !is_safe(request.method()) {
            let (ok, rebuilt) = csrf_check(&access, csrf, request).await;
            match rebuilt {
                Some(r) if ok => request = r,
                Some(_) => {
                    return AppError::new(
                        StatusCode::FORBIDDEN,
                        "missing or invalid CSRF token: reload the page and try again",
                    )
                    .into_response();
                }
                None => {
                    return AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                        .into_response();
                }
            }
        }
    }
    request.extensions_mut().insert(identity);
    next.run(request).await
}

/// Checks the CSRF token of a state-changing session request: the header, or else the form
/// field (the body is read, within [`MAX_BODY`], and put back). `None` when the body is too big.
async fn csrf_check(access: &Access, csrf: &str, request: Request) -> (bool, Option<Request>) {
    let session = session_of(request.headers()).unwrap_or_default().to_owned();
    if let Some(sent) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let ok = access.csrf_valid(&session, sent);
        return (ok, Some(request));
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (false, Some(request));
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else { return (false, None) };
    let ok = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .is_some_and(|(_, v)| v == csrf && access.csrf_valid(&session, &v));
    (ok, Some(Request::from_parts(parts, Body::from(bytes))))
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Adds the security headers to every response.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it browsers send `Origin: null` on our own form posts, which the
    // origin check must refuse. `same-origin` still sends nothing to other sites.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(axum::http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `next` when it is a path on this site whatever a browser does to it, else `/`. Browsers
/// drop tabs and newlines from URLs, read `\` as `/`, and decode `%2F`/`%5C` in some places: so
/// only printable ASCII without backslashes, starting with one `/` and not followed by `/`, `\`
/// or an encoded slash, is taken.
fn local_path(next: &str) -> &str {
    let bytes = next.as_bytes();
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b'\\') || bytes.first() != Some(&b'/') {
        return "/";
    }
    // Printable ASCII from here: slicing by bytes is slicing by characters.
    let lower = next.to_ascii_lowercase();
    let second_is_slash = lower[1..].starts_with('/') || lower[1..].starts_with("%2f");
    if second_is_slash || lower.contains("%5c") { "/" } else { next }
}

/// A response that logs the browser in and sends it on to `next` (a local path only).
pub(crate) fn logged_in(access: &Access, next: &str) -> Response {
    let target = local_path(next);
    let cookie = access.session_cookie(&access.new_session());
    (StatusCode::SEE_OTHER, [(SET_COOKIE, cookie), (LOCATION, target.to_owned())]).into_response()
}

/// A response that logs the browser out.
pub(crate) fn logged_out(access: &Access) -> Response {
    (StatusCode::SEE_OTHER, [(SET_COOKIE, access.clear_cookie()), (LOCATION, "/login".to_owned())])
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_login_redirect_stays_on_this_site_whatever_browsers_make_of_it() {
        for local in ["/", "/history?market=x&page=2", "/settings#doctor", "/whales/0xab%20cd"] {
            assert_eq!(local_path(local), local);
        }
        for hostile in [
            "//evil.test",
            "/\\evil.test",
            "\\\\evil.test",
            "/\t/evil.test",
            "/\n/evil.test",
            "/\r/evil.test",
            "/ /evil.test",
            "/%2Fevil.test",
            "/%2fevil.test",
            "/%5Cevil.test",
            "/x/%5c..%5c",
            "https://evil.test",
            "evil.test",
            "javascript:alert(1)",
            "/\u{00a0}/evil.test",
            "",
        ] {
            assert_eq!(local_path(hostile), "/", "{hostile:?}");
        }
    }

    fn access() -> Access {
        Access::new(Access::hash_token("secret-token"), [7; 32])
    }

    #[test]
    fn tokens_compare_by_hash() {
        let a = access();
        assert!(a.token_matches("secret-token"));
        assert!(a.token_matches(" secret-token\n"), "whitespace around a pasted token is ignored");
        assert!(!a.token_matches("secret-tokeN"));
        assert!(!a.token_matches(""));
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let a = access();
        let s = a.new_session();
        assert!(a.session_valid(&s));
        let other = Access::new(Access::hash_token("secret-token"), [8; 32]);
        assert!(!other.session_valid(&s), "another key did not sign it");
        let mut forged = s.clone();
        forged.replace_range(0..1, if s.starts_with('1') { "2" } else { "1" });
        assert!(!a.session_valid(&forged), "the issue time is signed");
        let old = format!("{}.{}", unix_secs() - 8 * 24 * 3600, "00");
        let mac =
            a.mac(&[b"session", old.split('.').next().unwrap().as_bytes(), b"00"]).finalize().into_bytes();
        assert!(!a.session_valid(&format!("{old}.{}", hex(&mac))), "older than the TTL");
        assert!(!a.session_valid("garbage") && !a.session_valid("1.2.zz"));
    }

    #[test]
    fn csrf_is_bound_to_the_session() {
        let a = access();
        let (s1, s2) = (a.new_session(), a.new_session());
        let t1 = a.csrf_for(&s1);
        assert!(a.csrf_valid(&s1, &t1));
        assert!(!a.csrf_valid(&s2, &t1));
        assert!(!a.csrf_valid(&s1, ""));
    }

    #[test]
    fn origin_must_be_this_host() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin: not a cross-site browser request");
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
