//! Send claims: `T#{tenant}` / `SENT#{trigger}#{entity}`, the **only** gate against sending a
//! (trigger, entity) twice (ARCHITECTURE.md "send protocol").
//!
//! A claim is taken with a conditional put before YCloud is called: on a fresh key
//! (`attribute_not_exists`), or over the exact claim read (`claim_id` unchanged) when that one is
//! `retry` and its time has come, or `sending` whose lease ran out (its caller died mid-send: the
//! outcome is unknown, so the winner must look the message up before any resend). Of two racing
//! claimers exactly one wins. Only the winner settles it (`sent` / `retry` / `failed`), guarded by
//! its own `claim_id`.
//!
//! An unknown outcome is **stored** on the claim (`in_doubt_since`) and carried through every
//! later claim until YCloud answers for the message: a failed lookup leaves it in doubt, so no
//! later retry sends again without looking first. A status webhook carrying the message's
//! `externalId` settles a claim at rest ([`SendClaims::confirm_sent`]).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::s;
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{
    attr, condition_held, from_item, is_condition_failure, keys, to_item, DynamoStore, Item, StoreError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Claimed; YCloud is being (or was, outcome unknown) called.
    Sending,
    /// YCloud accepted the message: never sent again.
    Sent,
    /// A transient failure: may be claimed again from `next_attempt_at`.
    Retry,
    /// Given up (permanent error or retry budget spent): never sent again.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendClaim {
    pub tenant_id: TenantId,
    pub trigger: TriggerKind,
    pub entity_id: String,
    pub state: ClaimState,
    /// Claims taken so far (1 on the first).
    pub attempts: u32,
    /// Unique per claim: the winner's proof, and the revision the next claim is conditioned on.
    pub claim_id: String,
    pub claimed_at: DateTime<Utc>,
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// YCloud's message id once accepted.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The automation log entry of this send (`LOG#…`).
    #[serde(default)]
    pub log_sk: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Set while an earlier attempt's send may have reached YCloud (5xx, timeout, a holder that
    /// died mid-send): when that attempt was claimed — the lookup searches back to it.
    #[serde(default)]
    pub in_doubt_since: Option<DateTime<Utc>>,
}

impl SendClaim {
    fn sort_key(&self) -> String {
        keys::send_claim(self.trigger.as_str(), &self.entity_id)
    }
}

/// What a claim attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This caller holds the claim (state `sending`). `unknown_outcome`: an earlier claim's send
    /// may have reached YCloud — look it up before sending again.
    Won { claim: SendClaim, unknown_outcome: bool },
    /// Someone else holds it, or it is settled (`sent`, `failed`, a `retry` not due yet).
    Lost { current: Option<SendClaim> },
}

/// The pure decision: may `existing` be claimed at `now`?
pub fn decide_claim(
    existing: Option<&SendClaim>,
    tenant: TenantId,
    trigger: TriggerKind,
    entity: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Option<(SendClaim, bool)> {
    let fresh = |attempts: u32| SendClaim {
        tenant_id: tenant,
        trigger,
        entity_id: entity.to_string(),
        state: ClaimState::Sending,
        attempts,
        claim_id: uuid::Uuid::new_v4().simple().to_string(),
        claimed_at: now,
        next_attempt_at: None,
        message_id: None,
        log_sk: None,
        reason: None,
        updated_at: now,
        in_doubt_since: None,
    };
    let next = |c: &SendClaim, in_doubt_since: Option<DateTime<Utc>>| {
        let claim = SendClaim { log_sk: c.log_sk.clone(), in_doubt_since, ..fresh(c.attempts + 1) };
        Some((claim, in_doubt_since.is_some()))
    };
    match existing {
        None => Some((fresh(1), false)),
        Some(c) => match c.state {
            ClaimState::Retry if c.next_attempt_at.is_none_or(|at| at <= now) => next(c, c.in_doubt_since),
            ClaimState::Sending if c.claimed_at + lease <= now => next(c, c.in_doubt_since.or(Some(c.claimed_at))),
            _ => None,
        },
    }
}

#[async_trait]
pub trait SendClaims: Send + Sync {
    /// Claims the send of (trigger, entity) at `now`; a `sending` claim older than `lease` is
    /// taken over (with `unknown_outcome`).
    async fn claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Writes `settled` (same key and `claim_id` as the claim won, a new state) if the claim is
    /// still this caller's and still `sending`; `false` otherwise.
    async fn settle(&self, settled: &SendClaim) -> Result<bool, StoreError>;
    /// Settles a claim at rest (`read`, state `retry` or `failed`, unchanged since read) as `sent`
    /// with YCloud's `message_id`: a status webhook proved the message went out. `false`: the
    /// claim moved meanwhile (held by a run, which looks the message up itself, or settled).
    async fn confirm_sent(&self, read: &SendClaim, message_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn get_claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<SendClaim>, StoreError>;
}

fn claim_item(c: &SendClaim) -> Result<Item, StoreError> {
    to_item(keys::tenant(c.tenant_id), &c.sort_key(), c)
}

/// `read` settled as `sent` by a webhook's proof, if it is at rest.
fn confirmed(read: &SendClaim, message_id: &str, at: DateTime<Utc>) -> Option<SendClaim> {
    matches!(read.state, ClaimState::Retry | ClaimState::Failed).then(|| SendClaim {
        state: ClaimState::Sent,
        message_id: Some(message_id.to_string()),
        next_attempt_at: None,
        in_doubt_since: None,
        reason: None,
        updated_at: at,
        ..read.clone()
    })
}

#[async_trait]
impl SendClaims for DynamoStore {
    async fn claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome, StoreError> {
        let current = self.get_claim(tenant, trigger, entity).await?;
        let Some((claim, unknown_outcome)) = decide_claim(current.as_ref(), tenant, trigger, entity, now, lease) else {
            return Ok(ClaimOutcome::Lost { current });
        };
        let put = self.client.put_item().table_name(&self.table).set_item(Some(claim_item(&claim)?));
        let put = match &current {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK),
            Some(c) => put
                .condition_expression("#cid = :cid")
                .expression_attribute_names("#cid", "claim_id")
                .expression_attribute_values(":cid", s(&c.claim_id)),
        };
        match put.send().await {
            Ok(_) => Ok(ClaimOutcome::Won { claim, unknown_outcome }),
            Err(e) if is_condition_failure(&e) => {
                Ok(ClaimOutcome::Lost { current: self.get_claim(tenant, trigger, entity).await? })
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn settle(&self, settled: &SendClaim) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item(settled)?))
            .condition_expression("#cid = :cid AND #state = :sending")
            .expression_attribute_names("#cid", "claim_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":cid", s(&settled.claim_id))
            .expression_attribute_values(":sending", s("sending"))
            .send()
            .await;
        condition_held(out)
    }

    async fn confirm_sent(&self, read: &SendClaim, message_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let Some(sent) = confirmed(read, message_id, at) else {
            return Ok(false);
        };
        let state = serde_json::to_value(read.state).ok().and_then(|v| v.as_str().map(str::to_string));
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item(&sent)?))
            .condition_expression("#cid = :cid AND #state = :state")
            .expression_attribute_names("#cid", "claim_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":cid", s(&read.claim_id))
            .expression_attribute_values(":state", s(&state.unwrap_or_default()))
            .send()
            .await;
        condition_held(out)
    }

    async fn get_claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<SendClaim>, StoreError> {
        self.get_item(keys::tenant(tenant), &keys::send_claim(trigger.as_str(), entity))
            .await?
            .map(from_item)
            .transpose()
    }
}

#[async_trait]
impl SendClaims for MemoryTable {
    async fn claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut table = self.lock();
        let sk = keys::send_claim(trigger.as_str(), entity);
        let current: Option<SendClaim> = table.get(&keys::tenant(tenant), &sk).map(from_item).transpose()?;
        match decide_claim(current.as_ref(), tenant, trigger, entity, now, lease) {
            Some((claim, unknown_outcome)) => {
                table.put(claim_item(&claim)?);
                Ok(ClaimOutcome::Won { claim, unknown_outcome })
            }
            None => Ok(ClaimOutcome::Lost { current }),
        }
    }

    async fn settle(&self, settled: &SendClaim) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let current: Option<SendClaim> =
            table.get(&keys::tenant(settled.tenant_id), &settled.sort_key()).map(from_item).transpose()?;
        match current {
            Some(c) if c.claim_id == settled.claim_id && c.state == ClaimState::Sending => {
                table.put(claim_item(settled)?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn confirm_sent(&self, read: &SendClaim, message_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let current: Option<SendClaim> =
            table.get(&keys::tenant(read.tenant_id), &read.sort_key()).map(from_item).transpose()?;
        match (current, confirmed(read, message_id, at)) {
            (Some(c), Some(sent)) if c.claim_id == read.claim_id && c.state == read.state => {
                table.put(claim_item(&sent)?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_claim(
        &self,
        tenant: TenantId,
        trigger: TriggerKind,
        entity: &str,
    ) -> Result<Option<SendClaim>, StoreError> {
        self.lock().get(&keys::tenant(tenant), &keys::send_claim(trigger.as_str(), entity)).map(from_item).transpose()
    }
}
