//! Tenants' WhatsApp connections (`T#{tenant}` / `WA#CONNECTION`: YCloud account key as KMS
//! ciphertext under the tenant's context, WABA, sender number) and the sender number → tenant
//! index (`WA#NUMBER#{phone}` / `OWNER`) that routes inbound webhooks. The port reads and writes;
//! who may connect which number is `automation::whatsapp_connection`'s.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::hsm::Phone;
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{attr, from_item, is_condition_failure, keys, to_item, DynamoStore, StoreError};

/// A tenant's WhatsApp connection as stored (the API key only as ciphertext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappConnection {
    pub tenant_id: TenantId,
    /// The sender number, in WhatsApp's form.
    pub phone_number: Phone,
    pub waba_id: String,
    /// KMS ciphertext (base64) of the YCloud API key; context = tenant.
    pub api_key_ciphertext_b64: String,
    /// The key's last 4 characters (what `GET` shows).
    pub api_key_last4: String,
    /// When YCloud last confirmed the key owns the number in the WABA.
    pub verified_at: DateTime<Utc>,
    pub connected_by: String,
    /// The tenant's stop words (empty: the defaults, `automation::stop_words::DEFAULT_STOP_WORDS`).
    #[serde(default)]
    pub stop_words: Vec<String>,
    /// KMS ciphertext (base64) of the signing secret of the webhook endpoint the tenant created in
    /// its YCloud account (its deliveries are verified with it); `None`: the platform's secret.
    #[serde(default)]
    pub webhook_secret_ciphertext_b64: Option<String>,
}

/// `WA#NUMBER#{phone}` / `OWNER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberOwner {
    pub phone_number: Phone,
    pub tenant_id: TenantId,
    pub registered_at: DateTime<Utc>,
}

#[async_trait]
pub trait WhatsappConnections: Send + Sync {
    async fn whatsapp_connection(&self, tenant: TenantId) -> Result<Option<WhatsappConnection>, StoreError>;
    async fn put_whatsapp_connection(&self, conn: &WhatsappConnection) -> Result<(), StoreError>;
    async fn delete_whatsapp_connection(&self, tenant: TenantId) -> Result<(), StoreError>;
    /// The tenant that claimed sender number `phone`.
    async fn number_owner(&self, phone: &Phone) -> Result<Option<NumberOwner>, StoreError>;
    /// Puts `owner` if the number has no owner yet or is already `owner.tenant_id`'s; `false`
    /// (nothing written) otherwise. Atomic: of two racing claims on a free number, one wins.
    async fn claim_number(&self, owner: &NumberOwner) -> Result<bool, StoreError>;
    /// Removes the index item if `tenant` owns it (another tenant's claim stays).
    async fn release_number(&self, phone: &Phone, tenant: TenantId) -> Result<(), StoreError>;
}

#[async_trait]
impl WhatsappConnections for DynamoStore {
    async fn whatsapp_connection(&self, tenant: TenantId) -> Result<Option<WhatsappConnection>, StoreError> {
        self.get_item(keys::tenant(tenant), keys::WHATSAPP_CONNECTION).await?.map(from_item).transpose()
    }

    async fn put_whatsapp_connection(&self, conn: &WhatsappConnection) -> Result<(), StoreError> {
        self.put_item(to_item(keys::tenant(conn.tenant_id), keys::WHATSAPP_CONNECTION, conn)?).await
    }

    async fn delete_whatsapp_connection(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.delete_item(keys::tenant(tenant), keys::WHATSAPP_CONNECTION).await
    }

    async fn number_owner(&self, phone: &Phone) -> Result<Option<NumberOwner>, StoreError> {
        let pk = keys::whatsapp_number(phone.as_str());
        self.get_item(pk, keys::WHATSAPP_NUMBER_OWNER_SK).await?.map(from_item).transpose()
    }

    async fn claim_number(&self, owner: &NumberOwner) -> Result<bool, StoreError> {
        let item = to_item(keys::whatsapp_number(owner.phone_number.as_str()), keys::WHATSAPP_NUMBER_OWNER_SK, owner)?;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #tenant = :tenant")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(owner.tenant_id.0.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn release_number(&self, phone: &Phone, tenant: TenantId) -> Result<(), StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(keys::whatsapp_number(phone.as_str())))
            .key(attr::SK, AttributeValue::S(keys::WHATSAPP_NUMBER_OWNER_SK.into()))
            .condition_expression("#tenant = :tenant")
            .expression_attribute_names("#tenant", "tenant_id")
            .expression_attribute_values(":tenant", AttributeValue::N(tenant.0.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

#[async_trait]
impl WhatsappConnections for MemoryTable {
    async fn whatsapp_connection(&self, tenant: TenantId) -> Result<Option<WhatsappConnection>, StoreError> {
        self.lock().get(&keys::tenant(tenant), keys::WHATSAPP_CONNECTION).map(from_item).transpose()
    }

    async fn put_whatsapp_connection(&self, conn: &WhatsappConnection) -> Result<(), StoreError> {
        self.lock().put(to_item(keys::tenant(conn.tenant_id), keys::WHATSAPP_CONNECTION, conn)?);
        Ok(())
    }

    async fn delete_whatsapp_connection(&self, tenant: TenantId) -> Result<(), StoreError> {
        self.lock().remove(&keys::tenant(tenant), keys::WHATSAPP_CONNECTION);
        Ok(())
    }

    async fn number_owner(&self, phone: &Phone) -> Result<Option<NumberOwner>, StoreError> {
        let pk = keys::whatsapp_number(phone.as_str());
        self.lock().get(&pk, keys::WHATSAPP_NUMBER_OWNER_SK).map(from_item).transpose()
    }

    async fn claim_number(&self, owner: &NumberOwner) -> Result<bool, StoreError> {
        let pk = keys::whatsapp_number(owner.phone_number.as_str());
        let mut table = self.lock();
        let current: Option<NumberOwner> = table.get(&pk, keys::WHATSAPP_NUMBER_OWNER_SK).map(from_item).transpose()?;
        if current.is_some_and(|c| c.tenant_id != owner.tenant_id) {
            return Ok(false);
        }
        table.put(to_item(pk, keys::WHATSAPP_NUMBER_OWNER_SK, owner)?);
        Ok(true)
    }

    async fn release_number(&self, phone: &Phone, tenant: TenantId) -> Result<(), StoreError> {
        let pk = keys::whatsapp_number(phone.as_str());
        let mut table = self.lock();
        let current: Option<NumberOwner> = table.get(&pk, keys::WHATSAPP_NUMBER_OWNER_SK).map(from_item).transpose()?;
        if current.is_some_and(|c| c.tenant_id == tenant) {
            table.remove(&pk, keys::WHATSAPP_NUMBER_OWNER_SK);
        }
        Ok(())
    }
}
