//! What meta's flows use: small `Copy` structs of borrowed ports, one per feature, each built from
//! the [`App`] by the caller (`(&app).into()`, the `load_dashboard` pattern) — a flow names the
//! stores and clients it reads, never the whole App.
//!
//! [`MetaPorts`] is the stored connection and the Graph client's makings (every flow's base);
//! [`ConnectionPorts`] the connection's life (login, accounts, disconnect, token check);
//! [`LeadPorts`] lead ads (ingest, replay, reconciliation, the connect's follow-up);
//! [`SyncPorts`] the spend sync.

use std::sync::Arc;

use crate::api::app::App;
use crate::api::port::Port;
use crate::meta::pages::PageDeps;
use crate::platform::clock::Clock;
use crate::platform::config::Config;
use crate::platform::crypto::TokenCipher;
use crate::platform::http_client::HttpClient;
use crate::platform::secrets::SecretResolver;
use crate::store::aggregates::AggregateStore;
use crate::store::connected_index::ConnectedIndex;
use crate::store::events::EventStore;
use crate::store::job_bus::JobBus;
use crate::store::leadgen_inbox::LeadInbox;
use crate::store::oauth_states::OAuthStateStore;
use crate::store::pages::PageIndex;
use crate::store::ratelimit::RateLimiter;
use crate::store::spend::SpendStore;
use crate::store::{MetaConnectionStore, TenantProfileStore};

/// The tenant's stored connection and what a Graph client is made of (config, the container's
/// HTTP client, the app secret, the token cipher).
#[derive(Clone, Copy)]
pub struct MetaPorts<'a> {
    pub config: &'a Config,
    pub http: &'a HttpClient,
    pub secrets: &'a SecretResolver,
    /// Shared with the tasks of a lead delivery.
    pub cipher: &'a Arc<dyn TokenCipher>,
    pub connections: &'a dyn MetaConnectionStore,
}

impl<'a> From<&'a App> for MetaPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            config: &app.config,
            http: &app.http,
            secrets: &app.secrets,
            cipher: &app.cipher,
            connections: app.connections.as_ref(),
        }
    }
}

/// A connection's life: the OAuth login (states, the callback's rate limit), the connected-tenant
/// index, the reporting defaults (profile, aggregates), the page claims and the follow-up job.
#[derive(Clone, Copy)]
pub struct ConnectionPorts<'a> {
    pub meta: MetaPorts<'a>,
    pub oauth_states: &'a dyn OAuthStateStore,
    pub rate_limiter: &'a dyn RateLimiter,
    pub connected_index: &'a dyn ConnectedIndex,
    pub profiles: &'a dyn TenantProfileStore,
    pub aggregates: &'a dyn AggregateStore,
    pub pages: &'a dyn PageIndex,
    pub job_bus: &'a dyn JobBus,
}

impl<'a> From<&'a App> for ConnectionPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            meta: app.into(),
            oauth_states: app.oauth_states.as_ref(),
            rate_limiter: app.rate_limiter.as_ref(),
            connected_index: app.connected_index.as_ref(),
            profiles: app.profiles.as_ref(),
            aggregates: app.aggregates.as_ref(),
            pages: app.pages.as_ref(),
            job_bus: app.job_bus.as_ref(),
        }
    }
}

impl<'a> From<ConnectionPorts<'a>> for PageDeps<'a> {
    fn from(p: ConnectionPorts<'a>) -> Self {
        Self { pages: p.pages, connections: p.meta.connections, cipher: p.meta.cipher.as_ref() }
    }
}

/// Lead ads: the page index (owners, tokens), the inbox and the event store a lead is ingested
/// into (shared with the tasks of a delivery).
#[derive(Clone, Copy)]
pub struct LeadPorts<'a> {
    pub meta: MetaPorts<'a>,
    pub pages: &'a Port<dyn PageIndex>,
    pub lead_inbox: &'a Port<dyn LeadInbox>,
    pub events: &'a Port<dyn EventStore>,
}

impl<'a> From<&'a App> for LeadPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self { meta: app.into(), pages: &app.pages, lead_inbox: &app.lead_inbox, events: &app.events }
    }
}

impl<'a> From<LeadPorts<'a>> for PageDeps<'a> {
    fn from(p: LeadPorts<'a>) -> Self {
        Self { pages: p.pages.as_ref(), connections: p.meta.connections, cipher: p.meta.cipher.as_ref() }
    }
}

/// The spend sync: the spend items, the clock, and lead ads (its lead reconciliation).
#[derive(Clone, Copy)]
pub struct SyncPorts<'a> {
    pub leads: LeadPorts<'a>,
    pub spend: &'a dyn SpendStore,
    pub clock: &'a dyn Clock,
}

impl<'a> From<&'a App> for SyncPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self { leads: app.into(), spend: app.spend.as_ref(), clock: app.clock.as_ref() }
    }
}
