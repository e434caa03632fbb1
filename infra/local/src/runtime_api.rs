//! A stand-in of the AWS Lambda Runtime API (`/2018-06-01/runtime/...`) that hands one event to a
//! function binary and reports when the binary first asked for work (end of init) and when it
//! posted its response. Later `GET /next` calls hang, as a frozen Lambda sandbox would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

#[derive(Debug)]
pub enum RuntimeEvent {
    /// The function's first `GET /invocation/next`: init is over.
    FirstNext(Instant),
    Response {
        at: Instant,
        body: Bytes,
    },
    Error {
        at: Instant,
        body: Bytes,
    },
}

struct State {
    event: Mutex<Option<Bytes>>,
    tx: mpsc::UnboundedSender<RuntimeEvent>,
}

pub const REQUEST_ID: &str = "00000000-0000-4000-8000-000000000001";

/// Serves one invocation of `event`; returns the address and the channel of what happened.
pub async fn start(event: Bytes) -> std::io::Result<(SocketAddr, mpsc::UnboundedReceiver<RuntimeEvent>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(State { event: Mutex::new(Some(event)), tx });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(state.clone(), req));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    Ok((addr, rx))
}

async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let at = Instant::now();
    if path.ends_with("/runtime/invocation/next") {
        let event = state.event.lock().await.take();
        let Some(event) = event else {
            // The sandbox is "frozen" after one invocation.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let _ = state.tx.send(RuntimeEvent::FirstNext(at));
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        let resp = hyper::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", REQUEST_ID)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000001;Sampled=0")
            .body(Full::new(event));
        return Ok(resp.unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()))));
    }
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    if path.ends_with("/response") {
        let _ = state.tx.send(RuntimeEvent::Response { at, body });
    } else {
        let _ = state.tx.send(RuntimeEvent::Error { at, body });
    }
    let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *resp.status_mut() = hyper::StatusCode::ACCEPTED;
    Ok(resp)
}
