//! Using the tenant's stored Meta connection: the Graph client of a request, the decrypted token
//! (or a 409 telling the user to reconnect), and what a Meta failure does to the connection
//! (code 190 marks it expired). Shared by the connect flow, lead ads and the spend sync.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::domain::connection::{token_status, TokenState};
use crate::domain::ids::TenantId;
use crate::meta::connection_writes::{mark_expired, SameLogin};
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{GraphClient, GraphSettings, MetaError, RetryPolicy};
use crate::meta::ports::MetaPorts;
use crate::platform::config::Config;
use crate::platform::secrets::{SecretName, SecretString};
use crate::store::{MetaConnection, MetaConnectionStore};

pub async fn app_secret(meta: MetaPorts<'_>) -> Result<SecretString, MetaFlowError> {
    Ok(meta.secrets.required(SecretName::MetaAppSecret).await?.clone())
}

/// The Graph client for this request (the HTTP client is the App's, built once).
pub async fn graph_client(ports: MetaPorts<'_>) -> Result<GraphClient, MetaFlowError> {
    let meta = &ports.config.meta;
    let app_id = Config::require(&meta.app_id, "META_APP_ID")?.clone();
    Ok(GraphClient::new(
        ports.http.get().clone(),
        GraphSettings {
            base_url: meta.graph_base_url.clone(),
            api_version: meta.graph_api_version.clone(),
            app_id,
            app_secret: app_secret(ports).await?,
            request_timeout: meta.request_timeout,
            retry: meta.retry.clone(),
        },
    ))
}

/// `graph` making each call exactly once (no retry): for calls that must not be repeated, such as
/// exchanging a single-use OAuth code (a retry after a timeout fails with "code already used")
/// or revoking permissions on the way out.
pub fn single_attempt(meta: MetaPorts<'_>, graph: &GraphClient) -> GraphClient {
    let once = RetryPolicy { max_attempts: 1, ..graph.settings().retry.clone() };
    GraphClient::new(meta.http.get().clone(), GraphSettings { retry: once, ..graph.settings().clone() })
}

/// The tenant's connection and its decrypted token, or a 409 that tells the user to (re)connect.
pub async fn usable_token(
    meta: MetaPorts<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<(MetaConnection, SecretString), MetaFlowError> {
    let conn = meta.connections.get_connection(tenant).await?.ok_or(MetaFlowError::NotConnected)?;
    if token_status(Some(&conn), now).status == TokenState::Expired {
        return Err(MetaFlowError::ConnectionExpired);
    }
    let token = stored_token(meta, &conn).await?;
    Ok((conn, token))
}

/// The connection's token, decrypted under its tenant's context.
pub async fn stored_token(meta: MetaPorts<'_>, conn: &MetaConnection) -> Result<SecretString, MetaFlowError> {
    let ciphertext = B64
        .decode(&conn.token_ciphertext_b64)
        .map_err(|e| MetaFlowError::internal(format!("stored Meta token is not base64: {e}")))?;
    Ok(meta.cipher.decrypt(conn.tenant_id, &ciphertext).await?)
}

/// Turns a Meta failure into the flow's error; a token Meta rejected (190) is marked expired
/// first, so token-status says "reconnect" and nothing retries it — only if the connection still
/// holds that token (a reconnect or disconnect since `conn` was read is left alone).
pub async fn meta_failure(
    connections: &dyn MetaConnectionStore,
    conn: &MetaConnection,
    err: MetaError,
    now: DateTime<Utc>,
) -> MetaFlowError {
    if let MetaError::InvalidToken { .. } = err {
        match mark_expired(connections, conn, now).await {
            Ok(SameLogin::Written(_)) => {
                tracing::warn!(tenant_id = conn.tenant_id.0, "Meta rejected the stored token; marked expired")
            }
            Ok(SameLogin::Superseded) => tracing::info!(
                tenant_id = conn.tenant_id.0,
                "Meta rejected a token the tenant has since replaced or disconnected; nothing marked"
            ),
            Err(e) => tracing::error!(error = %e, "could not mark the Meta connection expired"),
        }
    }
    MetaFlowError::Peer(err)
}
