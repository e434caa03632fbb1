//! The dependencies of a Lambda, built once per cold start and borrowed by every invocation.
//!
//! `App::from_env` reads configuration and builds SDK clients — DynamoDB, Secrets Manager and the
//! ones the function declares in its `WIRING` ([`crate::api::wiring`]); it makes no network call
//! (AWS credentials and secrets are resolved lazily on first use), which keeps init fast.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::api::memo::TenantMemo;
use crate::api::port::Port;
use crate::api::wiring::{Unwired, Wiring};
use crate::platform::clock::{Clock, SystemClock};
use crate::platform::config::{Config, ConfigError};
use crate::platform::crypto::{KmsTokenCipher, TokenCipher};
use crate::platform::secrets::{SecretError, SecretName, SecretResolver, SecretString, Secrets};
use crate::store::aggregates::AggregateStore;
use crate::store::audit::AuditLog;
use crate::store::automation::claims::SendClaims;
use crate::store::automation::contacts::Contacts;
use crate::store::automation::due::DueStore;
use crate::store::automation::log::AutomationLog;
use crate::store::automation::rules::RulesStore;
use crate::store::connected_index::ConnectedIndex;
use crate::store::conversions::ConversionStore;
use crate::store::events::EventStore;
use crate::store::fx_rates::FxRateStore;
use crate::store::job_bus::{EventBridgeJobBus, JobBus};
use crate::store::lead_handoffs::LeadHandoffs;
use crate::store::leadgen_inbox::LeadInbox;
use crate::store::oauth_states::OAuthStateStore;
use crate::store::pages::PageIndex;
use crate::store::provider_rates::ProviderRateStore;
use crate::store::ratelimit::RateLimiter;
use crate::store::spend::SpendStore;
use crate::store::whatsapp::WhatsappConnections;
use crate::store::{DynamoStore, MetaConnectionStore, TenantProfileStore};

pub use crate::platform::http_client::HttpClient;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<SecretResolver>,
    pub rate_limiter: Port<dyn RateLimiter>,
    pub audit: Port<dyn AuditLog>,
    pub connections: Port<dyn MetaConnectionStore>,
    pub profiles: Port<dyn TenantProfileStore>,
    pub aggregates: Port<dyn AggregateStore>,
    pub spend: Port<dyn SpendStore>,
    /// Tenants' manual exchange rates (cross-currency ROI).
    pub fx_rates: Port<dyn FxRateStore>,
    /// The rates provider's (ECB) daily rates, shared by every tenant.
    pub provider_rates: Port<dyn ProviderRateStore>,
    pub cipher: Arc<dyn TokenCipher>,
    /// One outbound HTTP client per container (rustls; connection pool reused across invocations).
    pub http: HttpClient,
    pub oauth_states: Port<dyn OAuthStateStore>,
    pub connected_index: Port<dyn ConnectedIndex>,
    /// Facebook Page → tenant (lead-ads webhook).
    pub pages: Port<dyn PageIndex>,
    /// The lead-ads inbox (one item per announced lead until it is ingested).
    pub lead_inbox: Port<dyn LeadInbox>,
    /// The outbox of Meta leads handed to the CRM (`meta.lead.received`).
    pub lead_handoffs: Port<dyn LeadHandoffs>,
    /// Where CRM events are applied (entities, markers, aggregates, dead letters).
    pub events: Port<dyn EventStore>,
    /// WhatsApp HSM automation: due items, send claims, contacts (cap, opt-outs), log, rules.
    pub due: Port<dyn DueStore>,
    pub send_claims: Port<dyn SendClaims>,
    pub contacts: Port<dyn Contacts>,
    pub automation_log: Port<dyn AutomationLog>,
    pub automation_rules: Port<dyn RulesStore>,
    /// Tenants' WhatsApp connections (YCloud key, WABA, sender) and the sender number → tenant index.
    pub whatsapp: Port<dyn WhatsappConnections>,
    /// Conversions back to Meta: settings, the per-(lead, stage) outbox, counts, Meta's last answer.
    pub conversions: Port<dyn ConversionStore>,
    /// The product's EventBridge bus, for job fan-out (`spend-sync.requested`).
    pub job_bus: Arc<dyn JobBus>,
    /// Per tenant, the reporting zone and ad accounts its last dashboard request saw in this
    /// container: the dashboard's speculative reads (see [`crate::api::memo`]).
    pub dashboard_scopes: Arc<TenantMemo<DashboardScope>>,
}

/// What a dashboard's reads depend on: the tenant's reporting zone and its connected ad accounts.
pub type DashboardScope = (crate::domain::zone::Zone, Vec<String>);

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("config", &self.config).finish_non_exhaustive()
    }
}

pub use crate::platform::sdk_config::load_sdk_config;

impl App {
    /// Configuration from the process env plus real AWS adapters, for a function that uses the
    /// secrets `needs` and the clients `W` (its crate's `SECRETS` and `WIRING.bits()`; nothing
    /// else is read, resolved or built).
    pub async fn from_env<const W: u8>(needs: &[SecretName]) -> Result<Self, ConfigError> {
        let config = Config::from_env(needs)?;
        let sdk = load_sdk_config().await;
        Self::wired::<W>(config, &sdk, Arc::new(SystemClock))
    }

    /// Every adapter over `sdk` (the local stack, tests and benches).
    pub fn with_aws(config: Config, sdk: &SdkConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::wired::<{ Wiring::ALL.bits() }>(config, sdk, clock)
    }

    /// Real adapters over `sdk`: DynamoDB, Secrets Manager and the clients `W` declares
    /// ([`Wiring::bits`]); the others are [`Unwired`]. One instance per bootstrap, so the clients
    /// it does not declare are not linked.
    pub fn wired<const W: u8>(config: Config, sdk: &SdkConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let wiring = const { Wiring::from_bits(W) };
        let dynamo = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone());
        let cipher: Arc<dyn TokenCipher> = if wiring.kms {
            Arc::new(KmsTokenCipher::new(aws_sdk_kms::Client::new(sdk), config.kms_key_id.clone()))
        } else {
            Arc::new(Unwired)
        };
        let secrets =
            SecretResolver::new(config.secret_sources.clone(), Some(aws_sdk_secretsmanager::Client::new(sdk)));
        let store = Arc::new(dynamo);
        let job_bus: Arc<dyn JobBus> = if wiring.bus {
            Arc::new(EventBridgeJobBus::new(aws_sdk_eventbridge::Client::new(sdk), config.event_bus_name.clone()))
        } else {
            Arc::new(Unwired)
        };
        Ok(Self {
            config: Arc::new(config),
            clock,
            secrets: Arc::new(secrets),
            rate_limiter: Port::table(store.clone()),
            audit: Port::table(store.clone()),
            connections: Port::table(store.clone()),
            profiles: Port::table(store.clone()),
            aggregates: Port::table(store.clone()),
            spend: Port::table(store.clone()),
            fx_rates: Port::table(store.clone()),
            provider_rates: Port::table(store.clone()),
            cipher,
            http: HttpClient::shared()?,
            oauth_states: Port::table(store.clone()),
            connected_index: Port::table(store.clone()),
            pages: Port::table(store.clone()),
            lead_inbox: Port::table(store.clone()),
            lead_handoffs: Port::table(store.clone()),
            due: Port::table(store.clone()),
            send_claims: Port::table(store.clone()),
            contacts: Port::table(store.clone()),
            automation_log: Port::table(store.clone()),
            automation_rules: Port::table(store.clone()),
            whatsapp: Port::table(store.clone()),
            conversions: Port::table(store.clone()),
            events: Port::table(store),
            job_bus,
            dashboard_scopes: Arc::default(),
        })
    }

    /// This App as one function sees it: the same adapters, but only the secrets `needs` and the
    /// clients `wiring` (its crate's `SECRETS` and `WIRING`; the local stack and tests serve every
    /// function from one App, and each function gets its share).
    pub fn restricted(&self, needs: &[SecretName], wiring: Wiring) -> Self {
        let mut config = (*self.config).clone();
        config.secret_sources.retain(|(n, _)| needs.contains(n));
        let cipher: Arc<dyn TokenCipher> = if wiring.kms { self.cipher.clone() } else { Arc::new(Unwired) };
        let job_bus: Arc<dyn JobBus> = if wiring.bus { self.job_bus.clone() } else { Arc::new(Unwired) };
        let secrets = Arc::new(self.secrets.restricted(needs));
        Self { config: Arc::new(config), secrets, cipher, job_bus, ..self.clone() }
    }

    /// The resolved secrets (first call resolves them); a failure is logged naming the variable and
    /// answered as a 500 (its [`crate::platform::error::DomainError`] mapping) — never a fallback.
    pub async fn secrets(&self) -> Result<&Secrets, SecretError> {
        self.secrets.logged().await
    }

    /// One secret this function cannot work without (500 naming it when not configured).
    pub async fn required_secret(&self, name: SecretName) -> Result<&SecretString, SecretError> {
        self.secrets.required(name).await
    }

    /// In-memory adapters, for unit tests of handlers.
    #[cfg(any(test, feature = "test-support"))]
    pub fn in_memory(config: Config, clock: Arc<dyn Clock>) -> (Self, InMemory) {
        use crate::platform::crypto::FakeTokenCipher;
        use crate::store::audit::MemoryAuditLog;
        use crate::store::memory::MemoryStore;
        use crate::store::ratelimit::MemoryRateLimiter;

        let store = Arc::new(MemoryStore::default());
        let table = Arc::new(crate::store::memory_table::MemoryTable::default());
        let mem = InMemory {
            events: Arc::new(crate::store::events::MemoryEventStore::new(table.clone(), store.clone())),
            store,
            table,
            audit: Arc::new(MemoryAuditLog::default()),
            rate_limiter: Arc::new(MemoryRateLimiter::default()),
            oauth_states: Arc::new(crate::store::oauth_states::MemoryOAuthStates::default()),
            connected_index: Arc::new(crate::store::connected_index::MemoryConnectedIndex::default()),
            pages: Arc::new(crate::store::pages::MemoryPageIndex::default()),
            lead_inbox: Arc::new(crate::store::leadgen_inbox::MemoryLeadInbox::default()),
            lead_handoffs: Arc::new(crate::store::lead_handoffs::MemoryLeadHandoffs::default()),
            job_bus: Arc::new(crate::store::job_bus::MemoryJobBus::default()),
        };
        let secrets = SecretResolver::new(config.secret_sources.clone(), None);
        let app = Self {
            config: Arc::new(config),
            clock,
            secrets: Arc::new(secrets),
            rate_limiter: Port::other(mem.rate_limiter.clone()),
            audit: Port::other(mem.audit.clone()),
            connections: Port::other(mem.store.clone()),
            profiles: Port::other(mem.store.clone()),
            aggregates: Port::other(mem.table.clone()),
            spend: Port::other(mem.table.clone()),
            fx_rates: Port::other(mem.table.clone()),
            provider_rates: Port::other(mem.table.clone()),
            cipher: Arc::new(FakeTokenCipher),
            http: HttpClient::shared().unwrap_or_else(|e| panic!("unit test HTTP client: {e}")),
            oauth_states: Port::other(mem.oauth_states.clone()),
            connected_index: Port::other(mem.connected_index.clone()),
            pages: Port::other(mem.pages.clone()),
            lead_inbox: Port::other(mem.lead_inbox.clone()),
            lead_handoffs: Port::other(mem.lead_handoffs.clone()),
            events: Port::other(mem.events.clone()),
            due: Port::other(mem.table.clone()),
            send_claims: Port::other(mem.table.clone()),
            contacts: Port::other(mem.table.clone()),
            automation_log: Port::other(mem.table.clone()),
            automation_rules: Port::other(mem.table.clone()),
            whatsapp: Port::other(mem.table.clone()),
            conversions: Port::other(mem.table.clone()),
            job_bus: mem.job_bus.clone(),
            dashboard_scopes: Arc::default(),
        };
        (app, mem)
    }
}

/// Handles on the in-memory adapters of [`App::in_memory`], for assertions.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Clone)]
pub struct InMemory {
    pub store: Arc<crate::store::memory::MemoryStore>,
    /// Items of the twins that read key ranges (aggregates, spend) and of the events twin.
    pub table: Arc<crate::store::memory_table::MemoryTable>,
    pub audit: Arc<crate::store::audit::MemoryAuditLog>,
    pub rate_limiter: Arc<crate::store::ratelimit::MemoryRateLimiter>,
    pub oauth_states: Arc<crate::store::oauth_states::MemoryOAuthStates>,
    pub connected_index: Arc<crate::store::connected_index::MemoryConnectedIndex>,
    pub pages: Arc<crate::store::pages::MemoryPageIndex>,
    pub lead_inbox: Arc<crate::store::leadgen_inbox::MemoryLeadInbox>,
    pub lead_handoffs: Arc<crate::store::lead_handoffs::MemoryLeadHandoffs>,
    /// The events twin: its items are in `table` (the aggregates it adds are what `aggregates`
    /// reads), its tenant profiles are `store`'s (one item in DynamoDB).
    pub events: Arc<crate::store::events::MemoryEventStore>,
    pub job_bus: Arc<crate::store::job_bus::MemoryJobBus>,
}
