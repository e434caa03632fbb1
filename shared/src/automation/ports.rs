//! What automation's flows use: small `Copy` structs of borrowed ports built from the [`App`] by
//! the caller (`(&app).into()`, the `load_dashboard` pattern), never the whole App.
//!
//! [`WhatsappPorts`]: tenants' WhatsApp connections and what a YCloud client is made of (the
//! connection API, the senders, inbound routing); [`SendPorts`]: the send protocol's stores
//! (due items, claims, contacts, log, rules, the CRM records a trigger watches) — the evaluator,
//! YCloud's webhook; [`SchedulePorts`]: what scheduling a due item reads and writes (the lead
//! paths: CRM events, Meta's webhook, the spend sync's sweep).

use crate::api::app::App;
use crate::platform::clock::Clock;
use crate::platform::config::Config;
use crate::platform::crypto::TokenCipher;
use crate::platform::http_client::HttpClient;
use crate::platform::secrets::SecretResolver;
use crate::store::automation::claims::SendClaims;
use crate::store::automation::contacts::Contacts;
use crate::store::automation::due::DueStore;
use crate::store::automation::log::AutomationLog;
use crate::store::automation::rules::RulesStore;
use crate::store::events::EventStore;
use crate::store::whatsapp::WhatsappConnections;
use crate::store::TenantProfileStore;

/// Tenants' WhatsApp connections (keys encrypted with the token cipher) and the platform's
/// YCloud settings, API key and HTTP client.
#[derive(Clone, Copy)]
pub struct WhatsappPorts<'a> {
    pub config: &'a Config,
    pub http: &'a HttpClient,
    pub secrets: &'a SecretResolver,
    pub cipher: &'a dyn TokenCipher,
    pub connections: &'a dyn WhatsappConnections,
}

impl<'a> From<&'a App> for WhatsappPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            config: &app.config,
            http: &app.http,
            secrets: &app.secrets,
            cipher: app.cipher.as_ref(),
            connections: app.whatsapp.as_ref(),
        }
    }
}

/// The send protocol's stores, the clock, the tenant profile (its zone for quiet hours) and the
/// CRM records a trigger watches; `whatsapp` for who sends.
#[derive(Clone, Copy)]
pub struct SendPorts<'a> {
    pub whatsapp: WhatsappPorts<'a>,
    pub clock: &'a dyn Clock,
    pub events: &'a dyn EventStore,
    pub profiles: &'a dyn TenantProfileStore,
    pub due: &'a dyn DueStore,
    pub send_claims: &'a dyn SendClaims,
    pub contacts: &'a dyn Contacts,
    pub automation_log: &'a dyn AutomationLog,
    pub automation_rules: &'a dyn RulesStore,
}

impl<'a> From<&'a App> for SendPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            whatsapp: app.into(),
            clock: app.clock.as_ref(),
            events: app.events.as_ref(),
            profiles: app.profiles.as_ref(),
            due: app.due.as_ref(),
            send_claims: app.send_claims.as_ref(),
            contacts: app.contacts.as_ref(),
            automation_log: app.automation_log.as_ref(),
            automation_rules: app.automation_rules.as_ref(),
        }
    }
}

/// Scheduling's stores: the CRM records a trigger watches, the rules, the due items and the send
/// claims (a claimed send is never scheduled again). Narrower than [`SendPorts`], so the lead paths
/// that schedule follow-ups do not link the send protocol's other stores.
#[derive(Clone, Copy)]
pub struct SchedulePorts<'a> {
    pub events: &'a dyn EventStore,
    pub automation_rules: &'a dyn RulesStore,
    pub due: &'a dyn DueStore,
    pub send_claims: &'a dyn SendClaims,
}

impl<'a> From<&'a App> for SchedulePorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            events: app.events.as_ref(),
            automation_rules: app.automation_rules.as_ref(),
            due: app.due.as_ref(),
            send_claims: app.send_claims.as_ref(),
        }
    }
}
