//! One conformance suite for every store port: each check runs against the in-memory twin (unit
//! tests, below) and against [`crate::store::DynamoStore`] on moto (`tests/it/store_conformance.rs`),
//! so the twins that handler unit tests rely on behave like DynamoDB. A new port adds its check
//! in the file of its concern and one line to each runner:
//! [`access`] (tenancy, OAuth, rate limit, audit, Meta pages and lead inbox), [`money`]
//! (aggregates, spend, CRM events and parked early events, FX rates manual and provider, job bus),
//! [`automation`] (HSM stores, WhatsApp connections), [`conversions`] (the Conversions API outbox).
//!
//! Checks use tenants from 9000 up, and each runner gives them a fresh store (a fresh table).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::domain::crm::{AdAttribution, CartContents, CartLine, Contact, OpportunityTerms, Payment};
use crate::domain::fx::ScaledRate;
use crate::domain::hsm::{LogStatus, Phone, TriggerKind};
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::Zone;
use crate::store::aggregates::{AggBucket, AggregateStore, Counters, Names};
use crate::store::audit::{AuditEntry, AuditLog, Outcome};
use crate::store::automation::claims::{ClaimOutcome, ClaimState, SendClaim, SendClaims};
use crate::store::automation::contacts::Contacts;
use crate::store::automation::due::{DueItem, DueStore};
use crate::store::automation::log::{AutomationLog, LogEntry};
use crate::store::automation::rules::{AutomationRule, Counter, QuietHours, RuleSet, RulesStore};
use crate::store::connected_index::{ConnectedIndex, ConnectedTenant};
use crate::store::events::{
    dead_letters, DeadLetter, Entity, EventCommit, EventMarker, EventStore, GuardedPut, Versioned,
};
use crate::store::fx_rates::{effective_on, FxRate, FxRateStore, MANUAL_SOURCE};
use crate::store::job_bus::{JobBus, JobEvent, MAX_BATCH};
use crate::store::lead_handoffs::{Handoff, LeadHandoffs};
use crate::store::leadgen_inbox::{InboxItem, InboxLead, InboxStatus, LeadInbox};
use crate::store::oauth_states::{OAuthStateStore, StoredState};
use crate::store::pages::{PageIndex, PageOwner, PagePatch, PageProblem};
use crate::store::parked_events::{Expiry, ParkedEvent, Parking};
use crate::store::provider_rates::{ProviderRate, ProviderRateStore, ECB_SOURCE};
use crate::store::ratelimit::{RateBucket, RateDecision, RateLimiter};
use crate::store::records::{CartRecord, CountedAttribution, LeadRecord, OpportunityRecord, SaleRecord};
use crate::store::spend::{DailySpend, SpendRow, SpendStore};
use crate::store::whatsapp::{NumberOwner, WhatsappConnection, WhatsappConnections};
use crate::store::{Conflict, ItemReads, Revision};
use crate::store::{ConnectionStatus, MetaConnection, MetaConnectionStore, TenantProfile, TenantProfileStore};

mod access;
mod automation;
mod conversions;
mod money;

pub use access::*;
pub use automation::*;
pub use conversions::*;
pub use money::*;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
}

pub(super) fn connection(tenant: TenantId) -> MetaConnection {
    MetaConnection {
        tenant_id: tenant,
        token_ciphertext_b64: "Y2lwaGVy".into(),
        status: ConnectionStatus::Active,
        meta_user_id: Some("42".into()),
        expires_at: Some(t0() + Duration::days(60)),
        data_access_expires_at: None,
        scopes: vec!["ads_read".into()],
        business_id: None,
        business_name: None,
        ad_account_ids: vec!["act_1".into()],
        ad_account_name: Some("Main".into()),
        connected_at: t0(),
        connected_by: "u1".into(),
        updated_at: t0(),
        revision: None,
    }
}

pub(super) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

#[cfg(test)]
mod memory_twins {
    use std::sync::Arc;

    use super::*;
    use crate::store::audit::MemoryAuditLog;
    use crate::store::connected_index::MemoryConnectedIndex;
    use crate::store::events::MemoryEventStore;
    use crate::store::leadgen_inbox::MemoryLeadInbox;
    use crate::store::memory::MemoryStore;
    use crate::store::memory_table::MemoryTable;
    use crate::store::oauth_states::MemoryOAuthStates;
    use crate::store::pages::MemoryPageIndex;
    use crate::store::ratelimit::MemoryRateLimiter;

    #[tokio::test]
    async fn memory_connections_and_profiles_conform() {
        connections_and_profiles(&MemoryStore::default()).await;
    }
    #[tokio::test]
    async fn memory_connected_index_conforms() {
        connected_index(&MemoryConnectedIndex::default()).await;
    }
    #[tokio::test]
    async fn memory_oauth_states_conform() {
        oauth_states(&MemoryOAuthStates::default()).await;
    }
    #[tokio::test]
    async fn memory_rate_limiter_conforms() {
        rate_limiter(&MemoryRateLimiter::default()).await;
    }
    #[tokio::test]
    async fn memory_audit_log_conforms() {
        audit_log(&MemoryAuditLog::default()).await;
    }
    #[tokio::test]
    async fn memory_page_index_conforms() {
        page_index(&MemoryPageIndex::default()).await;
    }
    #[tokio::test]
    async fn memory_lead_handoffs_conform() {
        lead_handoffs(&crate::store::lead_handoffs::MemoryLeadHandoffs::default()).await;
    }
    #[tokio::test]
    async fn memory_lead_inbox_conforms() {
        lead_inbox(&MemoryLeadInbox::default()).await;
    }
    #[tokio::test]
    async fn memory_aggregates_conform() {
        aggregates(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_job_bus_conforms() {
        let bus = crate::store::job_bus::MemoryJobBus::default();
        job_bus(&bus).await;
        assert_eq!(bus.published().len(), MAX_BATCH);
    }
    #[tokio::test]
    async fn memory_fx_rates_conform() {
        fx_rates(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_provider_rates_conform() {
        provider_rates(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_spend_conforms() {
        spend(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_event_store_conforms() {
        let (table, profiles) = (Arc::new(MemoryTable::default()), Arc::new(MemoryStore::default()));
        let events = MemoryEventStore::new(table.clone(), profiles.clone());
        event_store(&events, profiles.as_ref(), table.as_ref()).await;
    }
    #[tokio::test]
    async fn memory_parked_events_conform() {
        let table = Arc::new(MemoryTable::default());
        let events = MemoryEventStore::new(table.clone(), Arc::new(MemoryStore::default()));
        parked_events(&events, table.as_ref()).await;
    }
    #[tokio::test]
    async fn memory_due_items_conform() {
        due_items(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_due_watermark_conforms() {
        due_watermark(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_send_claims_conform() {
        send_claims(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_contacts_conform() {
        contacts(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_automation_log_conforms() {
        automation_log(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_automation_rules_conform() {
        automation_rules(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_conversion_store_conforms() {
        conversion_store(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_whatsapp_connections_conform() {
        whatsapp_connections(&MemoryTable::default()).await;
    }
}
