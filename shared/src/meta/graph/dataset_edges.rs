//! Dataset edges of the Graph client (Conversions API for CRM, FIELD-NOTES 35–38): the datasets
//! (pixels) of an ad account, and sending events to one. Both take the connection's user token
//! (`ads_read` / `ads_management`), never a Page token.

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::client::{numeric, Call, GraphClient};
use super::errors::MetaError;
use super::wire::PAGE_LIMIT;
use crate::domain::ids::AdAccountId;
use crate::platform::secrets::SecretString;

/// Meta's limit of events in one `POST /{dataset}/events`.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;

/// A dataset (pixel) events can be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Dataset {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Meta's answer to a batch of events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventsReceived {
    pub events_received: u32,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

impl GraphClient {
    /// The datasets of an ad account (`GET /{act}/adspixels`, user token), all pages.
    pub async fn ad_account_datasets(
        &self,
        token: &SecretString,
        account: &AdAccountId,
    ) -> Result<Vec<Dataset>, MetaError> {
        self.get_all(
            &format!("{}/adspixels", account.as_str()),
            &[("fields", "id,name"), ("limit", PAGE_LIMIT)],
            token,
            "act.adspixels",
        )
        .await
    }

    /// Sends `body` (`{"data": [...], "test_event_code"?}`) to `POST /{dataset}/events` with the
    /// user token; JSON body, `appsecret_proof` in the query as on every call.
    pub async fn send_events(
        &self,
        token: &SecretString,
        dataset_id: &str,
        body: &Value,
    ) -> Result<EventsReceived, MetaError> {
        numeric(dataset_id, "dataset id")?;
        let mut url = self.url(&format!("{dataset_id}/events"), &[])?;
        self.authorize(&mut url, token);
        let bytes = serde_json::to_vec(body).map_err(|_| MetaError::InvalidResponse)?;
        let v = self.send(Call::bearer(Method::POST, url, token).with_json(bytes), "dataset.events").await?;
        serde_json::from_value(v).map_err(|_| MetaError::InvalidResponse)
    }
}
