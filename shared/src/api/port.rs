//! [`Port`]: how the [`crate::App`] holds a store port so that a bootstrap links only the DynamoDB
//! implementations it calls.
//!
//! An `Arc<dyn Trait>` built from the table in `App::wired` makes every bootstrap instantiate the
//! vtable of each trait's DynamoDB implementation, and so link every method of it, whether the
//! function calls it or not (each port is ~5–110 KB of store code and SDK operations). A `Port`
//! holds the table concretely and makes it a trait object only where it is borrowed, so a trait a
//! function never reaches is dropped by LTO. Tests and the local stack hold other implementations
//! (the in-memory twins) as ordinary trait objects.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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
use crate::store::lead_handoffs::LeadHandoffs;
use crate::store::leadgen_inbox::LeadInbox;
use crate::store::oauth_states::OAuthStateStore;
use crate::store::pages::PageIndex;
use crate::store::provider_rates::ProviderRateStore;
use crate::store::ratelimit::RateLimiter;
use crate::store::spend::SpendStore;
use crate::store::whatsapp::WhatsappConnections;
use crate::store::{DynamoStore, MetaConnectionStore, TenantProfileStore};

/// One store port of the App: the table, or another implementation of `T` (a `dyn` store trait).
/// Borrow it as `&T` (`Deref`, `as_ref`) or share it as `Arc<T>` ([`Port::shared`]).
pub struct Port<T: ?Sized>(Held<T>);

enum Held<T: ?Sized> {
    Table(Arc<DynamoStore>),
    Other(Arc<T>),
}

/// The store traits the table implements: the coercion from the table to `dyn Trait`, written
/// once per trait (monomorphic, so only the ones a bootstrap reaches are linked).
pub trait OnTable {
    fn on_table(table: &DynamoStore) -> &Self;
    fn shared_on_table(table: Arc<DynamoStore>) -> Arc<Self>;
}

macro_rules! on_table {
    ($($t:ident),* $(,)?) => {$(
        impl OnTable for dyn $t {
            fn on_table(table: &DynamoStore) -> &Self {
                table
            }
            fn shared_on_table(table: Arc<DynamoStore>) -> Arc<Self> {
                table
            }
        }
    )*};
}

on_table!(
    RateLimiter,
    AuditLog,
    MetaConnectionStore,
    TenantProfileStore,
    AggregateStore,
    SpendStore,
    FxRateStore,
    ProviderRateStore,
    OAuthStateStore,
    ConnectedIndex,
    PageIndex,
    LeadInbox,
    LeadHandoffs,
    EventStore,
    DueStore,
    SendClaims,
    Contacts,
    AutomationLog,
    RulesStore,
    WhatsappConnections,
    ConversionStore,
);

impl<T: ?Sized> Port<T> {
    /// The table, as the trait `T` (made a trait object where it is used).
    pub fn table(table: Arc<DynamoStore>) -> Self {
        Self(Held::Table(table))
    }

    /// Any other implementation (an in-memory twin, a test's wrapper).
    pub fn other(port: Arc<T>) -> Self {
        Self(Held::Other(port))
    }
}

impl<T: ?Sized + OnTable> Port<T> {
    /// The port as a shared trait object (for tasks and structs that keep it).
    pub fn shared(&self) -> Arc<T> {
        match &self.0 {
            Held::Table(t) => T::shared_on_table(t.clone()),
            Held::Other(p) => p.clone(),
        }
    }
}

impl<T: ?Sized + OnTable> Deref for Port<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Held::Table(t) => T::on_table(t),
            Held::Other(p) => p,
        }
    }
}

impl<T: ?Sized + OnTable> AsRef<T> for Port<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> Clone for Port<T> {
    fn clone(&self) -> Self {
        match &self.0 {
            Held::Table(t) => Self(Held::Table(t.clone())),
            Held::Other(p) => Self(Held::Other(p.clone())),
        }
    }
}

impl<T: ?Sized> fmt::Debug for Port<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Held::Table(_) => "Port(table)",
            Held::Other(_) => "Port(other)",
        })
    }
}
