//! Which YCloud account sends for a tenant, and its templates:
//!
//! 1. the tenant's own WhatsApp connection ([`crate::automation::whatsapp_connection`]): its key,
//!    its number, its WABA's templates;
//! 2. otherwise, in a single-business deployment, the platform's account: `YCLOUD_API_KEY` and
//!    `YCLOUD_WHATSAPP_NUMBER` both set (a multi-tenant deployment leaves them unset);
//! 3. otherwise none: the tenant sends nothing (the evaluator logs `skipped`,
//!    `whatsapp_not_connected`).
//!
//! Templates are cached in the container per WABA (the platform account under its own entry) for
//! [`TEMPLATE_CACHE_TTL`], shared by the templates endpoint, rule saves and the evaluator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::automation::ports::WhatsappPorts;
use crate::automation::whatsapp_connection::{tenant_client, ConnectionError};
use crate::automation::ycloud::{Template, WhatsappApi, YcloudClient, YcloudError, TEMPLATES_BUDGET};
use crate::domain::ids::TenantId;
use crate::platform::secrets::SecretName;

/// How long a WABA's template list is reused.
pub const TEMPLATE_CACHE_TTL: Duration = Duration::from_secs(60);

/// The reason logged for a tenant without a WhatsApp connection.
pub const NOT_CONNECTED: &str = "whatsapp_not_connected";

/// The cache entry of the platform account's templates.
const PLATFORM: &str = "platform";

type Cached = (Instant, Arc<Vec<Template>>);
static TEMPLATES: Mutex<Option<HashMap<String, Cached>>> = Mutex::new(None);

fn cached(key: &str) -> Option<Arc<Vec<Template>>> {
    let guard = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    guard.as_ref()?.get(key).filter(|(at, _)| at.elapsed() < TEMPLATE_CACHE_TTL).map(|(_, t)| t.clone())
}

fn remember(key: &str, templates: Arc<Vec<Template>>) {
    let mut guard = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    guard.get_or_insert_with(HashMap::new).insert(key.to_string(), (Instant::now(), templates));
}

/// A tenant's sending account: the client and the cache key of its templates.
#[derive(Debug, Clone)]
pub struct Account {
    pub client: YcloudClient,
    /// `{base URL}|{WABA}` (or `|platform`): where its templates are cached.
    pub templates_key: String,
}

/// The tenant's account ([`Account`]) or `None` when it has none.
pub async fn account_for(ports: WhatsappPorts<'_>, tenant: TenantId) -> Result<Option<Account>, ConnectionError> {
    // Keyed by YCloud's base URL too: one process may talk to several YCloud stand-ins (tests).
    let base = ports.config.ycloud.base_url.as_str();
    if let Some(conn) = ports.connections.whatsapp_connection(tenant).await? {
        let key = format!("{base}|{}", conn.waba_id);
        return Ok(tenant_client(ports, tenant).await?.map(|client| Account { client, templates_key: key }));
    }
    let key = format!("{base}|{PLATFORM}");
    Ok(platform_client(ports).await.map(|client| Account { client, templates_key: key }))
}

/// The platform's client when this deployment configures one (key and number both set).
async fn platform_client(ports: WhatsappPorts<'_>) -> Option<YcloudClient> {
    let from = ports.config.ycloud.whatsapp_number.clone()?;
    let key = ports.secrets.logged().await.ok()?.get(SecretName::YcloudApiKey)?.clone();
    Some(YcloudClient::new(ports.http.get().clone(), ports.config.ycloud.base_url.clone(), key, from))
}

/// The account's templates (cached per WABA).
pub async fn templates_of(account: &Account) -> Result<Arc<Vec<Template>>, YcloudError> {
    if let Some(t) = cached(&account.templates_key) {
        return Ok(t);
    }
    let fresh = Arc::new(account.client.templates().await?);
    remember(&account.templates_key, fresh.clone());
    Ok(fresh)
}

/// The account's templates for a listing answer: cached, else read within
/// [`TEMPLATES_BUDGET`] — a partial list (`false`) is answered but never cached; an error when
/// not even one page was read in time.
pub async fn templates_listed(account: &Account) -> Result<(Arc<Vec<Template>>, bool), YcloudError> {
    if let Some(t) = cached(&account.templates_key) {
        return Ok((t, true));
    }
    let list = account.client.templates_within(TEMPLATES_BUDGET).await?;
    let templates = Arc::new(list.templates);
    if list.complete {
        remember(&account.templates_key, templates.clone());
    }
    Ok((templates, list.complete))
}

/// How a tenant sends in this run.
pub enum Sender<'a> {
    Ready {
        api: &'a dyn WhatsappApi,
        templates: &'a [Template],
    },
    /// No connection and no platform account: nothing is sent.
    NotConnected,
    /// Its account could not be used this run (key not decryptable, templates not listed): its
    /// items stay for the next run.
    Unavailable(&'a str),
}

enum Resolved {
    Ready(Arc<dyn WhatsappApi>, Arc<Vec<Template>>),
    NotConnected,
    Unavailable(String),
}

/// The senders of one evaluator run: one API for every tenant (tests, callers that pass a client),
/// or each tenant's own account.
pub struct Senders<'a> {
    fixed: Option<(&'a dyn WhatsappApi, Vec<Template>)>,
    tenants: HashMap<TenantId, Resolved>,
}

impl<'a> Senders<'a> {
    /// Every tenant sends through `api` (its templates listed once).
    pub async fn fixed(api: &'a dyn WhatsappApi) -> Result<Self, YcloudError> {
        Ok(Self { fixed: Some((api, api.templates().await?)), tenants: HashMap::new() })
    }

    /// Each of `tenants` sends through its own account.
    pub async fn per_tenant(ports: WhatsappPorts<'_>, tenants: Vec<TenantId>) -> Senders<'static> {
        let mut out = HashMap::new();
        for t in tenants {
            if out.contains_key(&t) {
                continue;
            }
            let resolved = match account_for(ports, t).await {
                Ok(None) => Resolved::NotConnected,
                Ok(Some(account)) => match templates_of(&account).await {
                    Ok(templates) => Resolved::Ready(Arc::new(account.client), templates),
                    Err(e) => Resolved::Unavailable(format!("templates: {e}")),
                },
                Err(e) => {
                    tracing::error!(tenant_id = t.0, error = %e, "whatsapp connection unusable");
                    Resolved::Unavailable(e.to_string())
                }
            };
            out.insert(t, resolved);
        }
        Senders { fixed: None, tenants: out }
    }

    /// How `tenant` sends.
    pub fn get(&self, tenant: TenantId) -> Sender<'_> {
        if let Some((api, templates)) = &self.fixed {
            return Sender::Ready { api: *api, templates };
        }
        match self.tenants.get(&tenant) {
            Some(Resolved::Ready(api, templates)) => Sender::Ready { api: api.as_ref(), templates },
            Some(Resolved::Unavailable(why)) => Sender::Unavailable(why),
            Some(Resolved::NotConnected) | None => Sender::NotConnected,
        }
    }
}
