//! Where an inbound WhatsApp message belongs: the tenant whose connected number it reached (the
//! number → tenant index), with that tenant's stop words; or, for a message to a number no tenant
//! connected (the platform's shared number in a single-business deployment), every tenant that
//! messaged the phone and has no number of its own, with the default stop words.

use serde_json::Value;

use crate::domain::hsm::Phone;
use crate::domain::ids::TenantId;
use crate::store::StoreError;
use crate::App;

/// The tenants an inbound message from `from` applies to, and the stop words to read it with
/// (empty: the defaults).
pub async fn recipients(app: &App, message: &Value, from: &Phone) -> Result<(Vec<TenantId>, Vec<String>), StoreError> {
    let to = message["to"].as_str().and_then(|p| Phone::parse(p).ok());
    if let Some(to) = &to {
        if let Some(owner) = app.whatsapp.number_owner(to).await? {
            let words = app
                .whatsapp
                .whatsapp_connection(owner.tenant_id)
                .await?
                .filter(|c| &c.phone_number == to)
                .map(|c| c.stop_words)
                .unwrap_or_default();
            return Ok((vec![owner.tenant_id], words));
        }
    }
    let mut tenants = Vec::new();
    for t in app.contacts.tenants_of(from.as_str()).await? {
        if app.whatsapp.whatsapp_connection(t).await?.is_none() {
            tenants.push(t);
        }
    }
    Ok((tenants, Vec::new()))
}
