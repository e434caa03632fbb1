//! Field groups of CRM entities that both the events' wire schema and the stored records carry
//! (and, for ad attribution, Meta's lead-ads leads): one type each, flattened into its owners with
//! `#[serde(flatten)]` so the JSON and DynamoDB shapes keep the fields at top level.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Currency, MinorUnits};

/// A lead's contact fields. In a change, a field that is present replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl Contact {
    /// Takes every field `change` has; keeps the others.
    pub fn merge(&mut self, change: &Contact) {
        for (dst, src) in
            [(&mut self.name, &change.name), (&mut self.phone, &change.phone), (&mut self.email, &change.email)]
        {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
    }
}

/// The Meta campaign and ad a lead came from, with their display names. `Id` is
/// [`crate::domain::ids::Tag`] where the ids are validated (a CRM event), `String` where they are
/// stored or as Meta sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "Id: Deserialize<'de>"))]
pub struct AdAttribution<Id = String> {
    #[serde(default)]
    pub campaign_id: Option<Id>,
    #[serde(default)]
    pub campaign_name: Option<String>,
    #[serde(default)]
    pub ad_id: Option<Id>,
    #[serde(default)]
    pub ad_name: Option<String>,
    /// The ad set (Meta's `adset_id`); absent on older records and on CRM events without it
    /// (not written when unknown, so stored items keep their attributes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adset_id: Option<Id>,
}

impl<Id> Default for AdAttribution<Id> {
    fn default() -> Self {
        Self { campaign_id: None, campaign_name: None, ad_id: None, ad_name: None, adset_id: None }
    }
}

impl<Id: AsRef<str>> AdAttribution<Id> {
    /// The same attribution with plain string ids (as stored).
    pub fn to_plain(&self) -> AdAttribution {
        AdAttribution {
            campaign_id: self.campaign_id.as_ref().map(|i| i.as_ref().to_string()),
            campaign_name: self.campaign_name.clone(),
            ad_id: self.ad_id.as_ref().map(|i| i.as_ref().to_string()),
            ad_name: self.ad_name.clone(),
            adset_id: self.adset_id.as_ref().map(|i| i.as_ref().to_string()),
        }
    }
}

/// An opportunity's deadline and value. In a change, a field that is present replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityTerms {
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub value_minor: Option<MinorUnits>,
    #[serde(default)]
    pub currency: Option<Currency>,
}

impl OpportunityTerms {
    /// Takes every field `change` has; keeps the others.
    pub fn merge(&mut self, change: &OpportunityTerms) {
        if change.deadline.is_some() {
            self.deadline = change.deadline;
        }
        if change.value_minor.is_some() {
            self.value_minor = change.value_minor;
        }
        if change.currency.is_some() {
            self.currency = change.currency;
        }
    }
}

/// A completed sale's amount (minor units of `currency`) and when it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub amount_minor: MinorUnits,
    pub currency: Currency,
    pub completed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub quantity: u32,
    #[serde(default)]
    pub unit_price_minor: Option<MinorUnits>,
}

/// What a cart holds and when it last moved (feeds the abandoned-cart automation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartContents {
    pub items: Vec<CartLine>,
    #[serde(default)]
    pub currency: Option<Currency>,
    pub last_activity_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::ids::Tag;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Owner {
        id: String,
        #[serde(flatten)]
        contact: Contact,
        #[serde(flatten)]
        attribution: AdAttribution<Tag>,
    }

    #[test]
    fn flattened_groups_keep_their_fields_at_top_level() {
        let wire = json!({"id": "L-1", "name": "Ana", "email": null, "campaign_id": "c1", "ad_name": "Video"});
        let o: Owner = serde_json::from_value(wire).expect("parse");
        assert_eq!(o.contact.name.as_deref(), Some("Ana"));
        assert_eq!(o.attribution.campaign_id.as_ref().map(Tag::as_str), Some("c1"));
        assert_eq!(o.attribution.to_plain().ad_name.as_deref(), Some("Video"));
        let back = serde_json::to_value(&o).expect("json");
        assert_eq!(back["campaign_id"], "c1");
        assert_eq!(back["phone"], serde_json::Value::Null);
        assert!(back.get("contact").is_none() && back.get("attribution").is_none());
        let bad = json!({"id": "L-1", "ad_id": "has space"});
        assert!(serde_json::from_value::<Owner>(bad).is_err(), "ids inside a group are still validated");
    }

    #[test]
    fn changes_take_only_the_fields_they_have() {
        let mut c = Contact { name: Some("Ana".into()), phone: Some("1".into()), email: None };
        c.merge(&Contact { name: None, phone: Some("2".into()), email: Some("a@x.io".into()) });
        assert_eq!(c, Contact { name: Some("Ana".into()), phone: Some("2".into()), email: Some("a@x.io".into()) });
        let mut t = OpportunityTerms { value_minor: Some(MinorUnits(5)), ..Default::default() };
        t.merge(&OpportunityTerms { currency: Currency::parse("USD").ok(), ..Default::default() });
        assert_eq!(
            (t.value_minor, t.currency.map(|c| c.code().to_string())),
            (Some(MinorUnits(5)), Some("USD".into()))
        );
    }
}
