//! The Meta Graph API client every Meta call of the product goes through.
//!
//! - versioned base URL from config (`META_GRAPH_BASE_URL` + `META_GRAPH_API_VERSION`);
//! - `appsecret_proof` (HMAC-SHA256 of the access token with the app secret) on every call that
//!   carries a token;
//! - cursor paging until `paging.next` is absent, following `next` only when its scheme, host and
//!   port equal the configured base URL (FIELD-NOTES 22: `next` carries the token);
//! - Meta error codes mapped to [`MetaError`] (190 → re-auth, 10/200-299 → permission,
//!   4/17/32/613/80000-80014 → throttling, 1/2/`is_transient` → transient);
//! - retries with exponential backoff on transient errors and throttling, honouring
//!   `estimated_time_to_regain_access` (`X-Business-Use-Case-Usage`), `X-Ad-Account-Usage` and
//!   `X-App-Usage`; a wait longer than the configured budget gives up at once with the wait as
//!   `Retry-After` instead of holding a Lambda;
//! - a timeout on every request.
//!
//! Graph URLs are never logged (`reqwest` errors are stripped of their URL) and tokens, codes and
//! secrets never leave this module except as [`SecretString`].
//!
//! Files: [`client`] (the calls), [`wire`] (what Graph sends), [`errors`] (failures and their
//! classification). Everything is re-exported here.

mod client;
mod dataset_edges;
mod errors;
mod page_edges;
mod wire;

pub use client::{appsecret_proof, same_origin, GraphClient, GraphSettings};
pub use dataset_edges::{Dataset, EventsReceived, MAX_EVENTS_PER_REQUEST};
pub use errors::{classify, throttle_wait, usage, MetaError, Usage, USAGE_DEFAULT_REGAIN};
pub use wire::{
    AccessToken, AdAccount, Business, FacebookPage, LeadField, LeadForm, Leadgen, PageToken, SubscribedApp, TokenInfo,
    AD_ACCOUNT_FIELDS, LEADGEN_FIELDS, OAUTH_SCOPES, PAGE_FIELDS, PAGE_LIMIT,
};

pub use crate::platform::retry::{RetryPolicy, Sleeper, TokioSleeper};
