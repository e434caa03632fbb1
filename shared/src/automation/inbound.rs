//! Where an inbound WhatsApp message belongs: the tenant whose connected number it reached (the
//! number → tenant index), with that tenant's stop words; or, for a message to a number no tenant
//! connected (the platform's shared number in a single-business deployment), every tenant that
//! messaged the phone and has no number of its own, with the default stop words. Also which secret
//! a delivery is verified with ([`signing_secret`]).

use serde_json::Value;

use crate::automation::ports::{SendPorts, WhatsappPorts};
use crate::automation::whatsapp_connection::{webhook_secret, ConnectionError};
use crate::domain::hsm::Phone;
use crate::domain::ids::TenantId;
use crate::platform::secrets::SecretString;
use crate::store::StoreError;

/// The tenants an inbound message from `from` applies to, and the stop words to read it with
/// (empty: the defaults).
pub async fn recipients(
    ports: SendPorts<'_>,
    message: &Value,
    from: &Phone,
) -> Result<(Vec<TenantId>, Vec<String>), StoreError> {
    let connections = ports.whatsapp.connections;
    let to = message["to"].as_str().and_then(|p| Phone::parse(p).ok());
    if let Some(to) = &to {
        if let Some(owner) = connections.number_owner(to).await? {
            let words = connections
                .whatsapp_connection(owner.tenant_id)
                .await?
                .filter(|c| &c.phone_number == to)
                .map(|c| c.stop_words)
                .unwrap_or_default();
            return Ok((vec![owner.tenant_id], words));
        }
    }
    let mut tenants = Vec::new();
    for t in ports.contacts.tenants_of(from.as_str()).await? {
        if connections.whatsapp_connection(t).await?.is_none() {
            tenants.push(t);
        }
    }
    Ok((tenants, Vec::new()))
}

/// The secret a YCloud delivery must be signed with: that of the tenant whose number the delivery
/// names (an inbound message's `to`, a message update's `from`) when the tenant set one for the
/// webhook endpoint of its own YCloud account; `None`: the platform's. The body is only read here
/// to choose the secret — nothing in it is acted on until the signature holds (a forger would need
/// the chosen tenant's secret).
pub async fn signing_secret(ports: WhatsappPorts<'_>, body: &[u8]) -> Result<Option<SecretString>, ConnectionError> {
    let Ok(ev) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let ours = ev["whatsappInboundMessage"]["to"].as_str().or_else(|| ev["whatsappMessage"]["from"].as_str());
    let Some(number) = ours.and_then(|n| Phone::parse(n).ok()) else {
        return Ok(None);
    };
    let Some(owner) = ports.connections.number_owner(&number).await? else {
        return Ok(None);
    };
    match ports.connections.whatsapp_connection(owner.tenant_id).await? {
        Some(conn) if conn.phone_number == number => Ok(webhook_secret(ports, &conn).await?),
        _ => Ok(None),
    }
}
