//! The Meta login's browser binding. The signed state binds a login to tenant and user, not to
//! the browser that asked for it: a manager's login link opened by someone else would store that
//! person's Meta token in the manager's tenant. So `GET /crm/auth/meta/url` also sets
//!
//! `crm_meta_oauth=<base64url(SHA-256(nonce))>; Max-Age=600; Path=<callback path>; HttpOnly; Secure; SameSite=Lax`
//!
//! — the hash of the state's nonce, never the nonce — and the callback refuses a state whose
//! browser does not present it (`?error=invalid_state`). The callback clears it on every answer.
//!
//! Where browsers keep and send it:
//! - **Stored** from the response to the frontend's credentialed `fetch` of `/url` only when that
//!   request is *same-site* (the API on the frontend's registrable domain, e.g.
//!   `api.crm.example.com` for `crm.example.com`, or `localhost:8080` for `localhost:5173`):
//!   browsers drop a `SameSite=Lax` cookie set by a cross-site subresource response (RFC 6265bis,
//!   storage model; Chrome reports it as "blocked … came from a cross-site response which was not
//!   the response to a top-level navigation"). `SameSite=None` would not help: browsers that
//!   block or partition third-party cookies (Safari, Firefox) would still not send it to the
//!   callback. So the API must be served on the frontend's site (a custom domain), not on a
//!   bare `execute-api` host — docs/META.md, "Meta login".
//! - **Sent** on the top-level `GET` navigation Meta's dialog redirects to (`Lax` allows
//!   cross-site top-level GETs), and only to the callback path. `Secure` cookies are accepted on
//!   `http://localhost` by Chrome and Firefox (the local stack).
//! - One login at a time per browser: a second `/url` replaces the cookie, so the first tab's
//!   dialog then ends in `invalid_state`.

use base64::Engine;
use http::header::COOKIE;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::platform::auth::B64URL;
use crate::platform::config::MetaConfig;
use crate::platform::crypto::constant_time_eq;

/// The cookie's name.
pub const COOKIE_NAME: &str = "crm_meta_oauth";

/// The callback's route: the cookie's path when `META_REDIRECT_URI` is not configured.
const DEFAULT_CALLBACK_PATH: &str = "/crm/auth/meta/callback";

/// What the cookie carries for a state's nonce.
pub fn binding(nonce: &str) -> String {
    B64URL.encode(Sha256::digest(nonce.as_bytes()))
}

/// The cookie's `Path`: the path of `META_REDIRECT_URI` (where Meta sends the browser).
pub fn cookie_path(meta: &MetaConfig) -> String {
    meta.redirect_uri
        .as_ref()
        .map(|u| u.path().to_string())
        .filter(|p| p.starts_with('/') && !p.contains([';', ',', ' ']))
        .unwrap_or_else(|| DEFAULT_CALLBACK_PATH.to_string())
}

/// The `Set-Cookie` value binding the browser to the state with `nonce` for `max_age_secs`.
pub fn set_cookie(nonce: &str, path: &str, max_age_secs: i64) -> String {
    format!("{COOKIE_NAME}={}; Max-Age={max_age_secs}; Path={path}; HttpOnly; Secure; SameSite=Lax", binding(nonce))
}

/// The `Set-Cookie` value that removes the cookie (every callback answer carries it).
pub fn clear_cookie(path: &str) -> String {
    format!("{COOKIE_NAME}=; Max-Age=0; Path={path}; HttpOnly; Secure; SameSite=Lax")
}

/// Whether the request presents the cookie for the state with `nonce` (constant-time compare).
pub fn presented(headers: &HeaderMap, nonce: &str) -> bool {
    let want = binding(nonce);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE_NAME && constant_time_eq(value.trim().as_bytes(), want.as_bytes()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with_cookies(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(COOKIE, HeaderValue::from_str(v).expect("ascii"));
        }
        h
    }

    #[test]
    fn the_cookie_carries_a_hash_of_the_nonce_never_the_nonce() {
        let nonce = "n0nce-value_that-is-secret";
        let cookie = set_cookie(nonce, "/crm/auth/meta/callback", 600);
        assert!(!cookie.contains(nonce));
        assert_eq!(binding(nonce).len(), 43, "base64url of 32 bytes");
        assert_eq!(
            cookie,
            format!(
                "crm_meta_oauth={}; Max-Age=600; Path=/crm/auth/meta/callback; HttpOnly; Secure; SameSite=Lax",
                binding(nonce)
            )
        );
        assert_eq!(clear_cookie("/cb"), "crm_meta_oauth=; Max-Age=0; Path=/cb; HttpOnly; Secure; SameSite=Lax");
    }

    #[test]
    fn only_the_matching_cookie_is_accepted() {
        let good = format!("{COOKIE_NAME}={}", binding("n1"));
        assert!(presented(&with_cookies(&[&good]), "n1"));
        assert!(presented(&with_cookies(&[&format!("access_token=jwt; {good}; theme=dark")]), "n1"));
        assert!(presented(&with_cookies(&["a=b", &good]), "n1"), "any Cookie header");
        assert!(!presented(&with_cookies(&[&good]), "n2"), "another state's browser");
        assert!(!presented(&with_cookies(&[&format!("{COOKIE_NAME}=n1")]), "n1"), "the raw nonce is not the binding");
        assert!(!presented(&with_cookies(&[&format!("x{COOKIE_NAME}={}", binding("n1"))]), "n1"));
        assert!(!presented(&HeaderMap::new(), "n1"));
    }

    #[test]
    fn the_path_is_the_callbacks() {
        let mut meta = crate::testing::unit_app(&[]).0.config.meta.clone();
        assert_eq!(cookie_path(&meta), "/crm/auth/meta/callback");
        meta.redirect_uri = url::Url::parse("https://api.crm.example.com/prod/crm/auth/meta/callback").ok();
        assert_eq!(cookie_path(&meta), "/prod/crm/auth/meta/callback");
    }
}
