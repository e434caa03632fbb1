//! `GET /openapi.json`: the OpenAPI 3.1 document of every route ([`doc`]), public (no JWT, no
//! admin token) and cacheable: `Cache-Control: public, max-age=300` and a strong `ETag`
//! (`If-None-Match` → `304`). The document is static, so the function needs no configuration,
//! secret, table or `App` at all.

pub mod doc;

use std::sync::OnceLock;

use crm_shared::api::http::{render_error, Endpoint};
use crm_shared::api::wiring::Wiring;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::SecretNeeds;
use crm_shared::ApiError;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

/// The secrets this function resolves: none (it builds no `App`; declared so the template drift
/// test holds its environment and grants to nothing).
pub const SECRETS: SecretNeeds = &[];

/// The AWS clients it builds: none (no `App`).
pub const WIRING: Wiring = Wiring::NONE;

pub const ENDPOINT: Endpoint =
    Endpoint { name: "openapi", method: Method::GET, path: "/openapi.json", access: Access::Public };

pub const CACHE: &str = "public, max-age=300";

struct Served {
    body: String,
    etag: String,
}

fn served() -> &'static Served {
    static DOC: OnceLock<Served> = OnceLock::new();
    DOC.get_or_init(|| {
        let body = doc::document().to_string();
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(body.as_bytes()))[..32]);
        Served { body, etag }
    })
}

/// Answers one request (the same bytes on every call; built once per container).
pub fn handle(req: &Request) -> Response<Body> {
    if req.method() != Method::GET {
        return render_error(&ApiError::MethodNotAllowed);
    }
    let doc = served();
    let fresh = req.headers().get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == doc.etag
        })
    });
    let mut resp = if fresh {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::Text(doc.body.clone()));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    if let Ok(v) = HeaderValue::from_str(&doc.etag) {
        h.insert(ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(if_none_match: Option<&str>) -> Response<Body> {
        let mut b = lambda_http::http::Request::builder().method("GET").uri("/openapi.json");
        if let Some(tag) = if_none_match {
            b = b.header("if-none-match", tag);
        }
        handle(&b.body(Body::Empty).expect("request"))
    }

    #[test]
    fn serves_an_openapi_3_1_document_that_caches() {
        let resp = get(None);
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], CACHE);
        let doc: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/openapi.json"]["get"].is_object());
        let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
        let again = get(Some(&etag));
        assert_eq!(again.status(), 304);
        assert!(again.body().as_ref().is_empty());
        assert_eq!(get(Some("\"other\"")).status(), 200);
    }

    #[test]
    fn other_methods_are_refused() {
        let req = lambda_http::http::Request::builder().method("POST").uri("/openapi.json").body(Body::Empty);
        assert_eq!(handle(&req.expect("request")).status(), 405);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc::document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            let mut node = &doc["components"];
            for seg in target.split('/') {
                node = &node[seg];
            }
            assert!(node.is_object(), "dangling $ref #/components/{target}");
        }
    }
}
