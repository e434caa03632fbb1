//! The AWS SDK's HTTP client: the process's reqwest client ([`HttpClient::shared`]) behind the
//! SDK's [`HttpClient`](SdkHttpClient) trait.
//!
//! The SDK's default client is a hyper + h2 stack with its own connection pool and rustls
//! connector: a second HTTP stack beside reqwest's, ~1 MB per binary. The SDK signs, retries and
//! times out above the connector, so the connector only sends an in-memory request and reads the
//! whole answer (no SDK call we make streams; a streaming body is refused, not silently buffered).
//!
//! Timeouts: the SDK's attempt and operation timeouts bound every call; connecting is bounded by
//! the shared client's [`CONNECT_TIMEOUT`] (one client, so the SDK's `connect_timeout` setting is
//! set to the same value in `sdk_config`). The shared client's default whole-request timeout (for
//! peers that set none) does not apply to SDK calls: each is given [`SDK_REQUEST_CAP`] instead.
//!
//! Errors map to the SDK's retry classes as its own client does: timeouts → timeout, failures to
//! connect, send or read → I/O (transient, retried), a request reqwest cannot build → user.

use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient as SdkHttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::platform::http_client::HttpClient;
#[cfg(doc)]
use crate::platform::http_client::CONNECT_TIMEOUT;

/// Whole-request bound on one SDK attempt at the HTTP layer (Lambda's longest run): the SDK's own
/// attempt and operation timeouts are the ones that apply.
pub const SDK_REQUEST_CAP: Duration = Duration::from_secs(900);

/// The SDK's HTTP client over the process's shared reqwest client.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestSdkClient)
}

#[derive(Debug)]
struct ReqwestSdkClient;

impl SdkHttpClient for ReqwestSdkClient {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        // `App::from_env` builds the shared client at init, so this is a clone; an error here was
        // already a failed cold start, and is answered per call rather than by a panic.
        SharedHttpConnector::new(Connector(HttpClient::shared().map(|c| c.get().clone()).map_err(|e| e.to_string())))
    }
}

#[derive(Debug)]
struct Connector(Result<reqwest::Client, String>);

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match &self.0 {
            Ok(client) => client.clone(),
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.clone().into()))),
        };
        let request = match to_reqwest(request) {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e))),
        };
        HttpConnectorFuture::new(async move {
            let response = client.execute(request).await.map_err(connector_error)?;
            to_sdk(response).await
        })
    }
}

fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, BoxError> {
    let (parts, body) = request.try_into_http1x()?.into_parts();
    let body = body.bytes().ok_or("streaming request bodies are not supported by this client")?.to_vec();
    let mut request = reqwest::Request::try_from(http::Request::from_parts(parts, body))?;
    *request.timeout_mut() = Some(SDK_REQUEST_CAP);
    Ok(request)
}

async fn to_sdk(mut response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = response.bytes().await.map_err(connector_error)?;
    let mut answer = http::Response::new(SdkBody::from(body));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    HttpResponse::try_from(answer).map_err(|e| ConnectorError::other(e.into(), None))
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_builder() {
        ConnectorError::user(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
    use aws_sdk_dynamodb::types::AttributeValue;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// What the stand-in server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        head: String,
        body: String,
    }

    /// An HTTP/1.1 server on loopback answering each request with the next of `answers` (status,
    /// body), over kept-alive connections; returns its URL and what it saw.
    async fn server(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answers) = (log.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut head = String::new();
                        while !head.ends_with("\r\n\r\n") {
                            if stream.read_line(&mut head).await.unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        let _ = stream.read_exact(&mut body).await;
                        log.lock().unwrap().push(Seen { head, body: String::from_utf8_lossy(&body).into() });
                        let Some((status, text)) = answers.lock().unwrap().next() else { return };
                        let reply = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: rid-{status}\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        let _ = stream.get_mut().write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        (url, seen)
    }

    fn dynamo(endpoint: &str) -> aws_sdk_dynamodb::Client {
        let sdk = crate::platform::sdk_config::sdk_config_from(|name| match name {
            "AWS_REGION" => Some("eu-west-1".into()),
            "AWS_ENDPOINT_URL" => Some(endpoint.into()),
            _ => None,
        })
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "secret", None, None, "test")))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .build();
        aws_sdk_dynamodb::Client::new(&sdk)
    }

    #[tokio::test]
    async fn a_signed_call_goes_out_and_its_answer_is_parsed() {
        let (url, seen) = server(vec![(200, r#"{"Item":{"pk":{"S":"T#1"},"n":{"N":"7"}}}"#)]).await;
        let out = dynamo(&url).get_item().table_name("t").key("pk", AttributeValue::S("T#1".into())).send().await;
        let item = out.expect("get_item").item.expect("item");
        assert_eq!(item.get("n"), Some(&AttributeValue::N("7".into())));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let head = seen[0].head.to_ascii_lowercase();
        assert!(head.starts_with("post / http/1.1\r\n"), "{head}");
        assert!(head.contains("x-amz-target: dynamodb_20120810.getitem"), "{head}");
        assert!(head.contains("authorization: aws4-hmac-sha256 credential=akid/"), "{head}");
        assert!(seen[0].body.contains(r#""TableName":"t""#), "{}", seen[0].body);
    }

    #[tokio::test]
    async fn a_5xx_is_handed_to_the_sdk_which_retries_it() {
        let (url, seen) = server(vec![
            (500, r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}"#),
            (200, r#"{}"#),
        ])
        .await;
        let out = dynamo(&url).get_item().table_name("t").key("pk", AttributeValue::S("x".into())).send().await;
        assert!(out.expect("retried").item.is_none());
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_4xx_service_error_keeps_its_code() {
        let (url, _) = server(vec![(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#,
        )])
        .await;
        let err = dynamo(&url).get_item().table_name("t").key("pk", AttributeValue::S("x".into())).send().await;
        let err = err.expect_err("not found");
        assert!(err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{err:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        // A port that was just free: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
        let err = dynamo(&format!("http://127.0.0.1:{port}"))
            .get_item()
            .table_name("t")
            .key("pk", AttributeValue::S("x".into()))
            .send()
            .await
            .expect_err("refused");
        let aws_sdk_dynamodb::error::SdkError::DispatchFailure(dispatch) = &err else {
            panic!("not a dispatch failure: {err:?}")
        };
        assert!(dispatch.is_io(), "{err:?}");
    }
}
