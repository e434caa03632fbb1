//! The stored shapes of CRM entities (`T#{tenant}` / `LEAD#`, `OPP#`, `SALE#`, `CART#` items), as
//! CRM events write them (through `store::events`) and the demo and the bench read them. Changing
//! a field here changes stored data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::crm::{AdAttribution, CartContents, Contact, OpportunityTerms, Payment};

/// Stored lead (`T#{tenant}` / `LEAD#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LeadRecord {
    pub lead_id: String,
    /// Highest entity version applied.
    pub version: u64,
    /// Whether `lead.created` was applied (and the lead counted). A stub left by an early
    /// `lead.updated` is not counted yet and has no attribution.
    pub counted: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(flatten)]
    pub attribution: AdAttribution,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub opted_out: bool,
    #[serde(flatten)]
    pub contact: Contact,
    /// Earliest completed sale seen: the day the lead became a paying customer.
    #[serde(default)]
    pub first_sale_at: Option<DateTime<Utc>>,
    /// This id is another name of that lead (same Meta leadgen id; never counted itself): events
    /// naming this id apply to that lead (`events::lead_of`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
    /// The Meta leadgen id its `lead.created` carried (lead-ads leads): what its CRM stages are
    /// sent back to Meta under (`meta::conversions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leadgen_id: Option<String>,
}

/// `LGLINK#{leadgen_id}`: the lead that holds a Meta leadgen id (the first lead with it, from the
/// CRM or from Meta); another lead with the same leadgen id becomes its alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadgenLink {
    pub leadgen_id: String,
    pub lead_id: String,
}

/// The first-touch attribution of its lead that an opportunity or sale was counted under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CountedAttribution {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub ad_id: Option<String>,
}

/// Stored opportunity (`OPP#{id}`), with its lead's attribution copied when counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OpportunityRecord {
    pub opportunity_id: String,
    pub version: u64,
    pub counted: bool,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(flatten)]
    pub terms: OpportunityTerms,
    #[serde(flatten)]
    pub counted_under: CountedAttribution,
}

/// Stored sale (`SALE#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaleRecord {
    pub sale_id: String,
    pub lead_id: String,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    #[serde(flatten)]
    pub payment: Payment,
    #[serde(flatten)]
    pub counted_under: CountedAttribution,
}

/// Stored cart (`CART#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartRecord {
    pub cart_id: String,
    pub version: u64,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(flatten)]
    pub contents: CartContents,
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;
    use chrono::TimeZone;

    use super::*;
    use crate::domain::crm::CartLine;
    use crate::domain::money::{Currency, MinorUnits};
    use crate::store::{from_item, to_item, Item, Revision};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
    }

    fn names(item: &Item) -> Vec<&str> {
        let mut n: Vec<&str> = item.keys().map(String::as_str).collect();
        n.sort_unstable();
        n
    }

    /// The flattened field groups are stored as top-level attributes, exactly as before they were
    /// groups, and read back (also with the `rev` attribute of a guarded put beside them).
    #[test]
    fn records_keep_their_stored_attributes() {
        let lead = LeadRecord {
            lead_id: "L-1".into(),
            version: 2,
            counted: true,
            created_at: Some(at()),
            source: Some("META_ADS".into()),
            attribution: AdAttribution {
                campaign_id: Some("c1".into()),
                ad_name: Some("Ad".into()),
                ..Default::default()
            },
            contact: Contact { name: Some("Ana".into()), ..Default::default() },
            ..Default::default()
        };
        let mut item = to_item("T#1".into(), "LEAD#L-1", &lead).expect("item");
        assert_eq!(
            names(&item),
            vec![
                "PK",
                "SK",
                "ad_id",
                "ad_name",
                "campaign_id",
                "campaign_name",
                "counted",
                "created_at",
                "email",
                "first_sale_at",
                "lead_id",
                "name",
                "opted_out",
                "phone",
                "source",
                "status",
                "version"
            ]
        );
        assert_eq!(item["campaign_id"], AttributeValue::S("c1".into()));
        assert_eq!(item["email"], AttributeValue::Null(true));
        item.insert(Revision::ATTR.into(), AttributeValue::N("3".into()));
        assert_eq!(from_item::<LeadRecord>(item).expect("back"), lead);

        let usd = Currency::parse("USD").expect("usd");
        let sale = SaleRecord {
            sale_id: "S-1".into(),
            lead_id: "L-1".into(),
            opportunity_id: None,
            payment: Payment { amount_minor: MinorUnits(-5), currency: usd, completed_at: at() },
            counted_under: CountedAttribution { source: Some("WEBSITE".into()), ..Default::default() },
        };
        let item = to_item("T#1".into(), "SALE#S-1", &sale).expect("item");
        assert_eq!(item["amount_minor"], AttributeValue::N("-5".into()));
        assert_eq!(item["currency"], AttributeValue::S("USD".into()));
        assert_eq!(from_item::<SaleRecord>(item).expect("back"), sale);

        let opp = OpportunityRecord {
            opportunity_id: "O-1".into(),
            terms: OpportunityTerms { value_minor: Some(MinorUnits(120_000)), ..Default::default() },
            ..Default::default()
        };
        let item = to_item("T#1".into(), "OPP#O-1", &opp).expect("item");
        assert_eq!(item["value_minor"], AttributeValue::N("120000".into()));
        assert_eq!(item["deadline"], AttributeValue::Null(true));
        assert_eq!(item["source"], AttributeValue::Null(true));
        assert_eq!(from_item::<OpportunityRecord>(item).expect("back"), opp);

        let cart = CartRecord {
            cart_id: "C-1".into(),
            version: 3,
            lead_id: None,
            contents: CartContents {
                items: vec![CartLine { sku: "A".into(), quantity: 2, unit_price_minor: Some(MinorUnits(150)) }],
                currency: Some(usd),
                last_activity_at: at(),
            },
        };
        let item = to_item("T#1".into(), "CART#C-1", &cart).expect("item");
        assert!(matches!(&item["items"], AttributeValue::L(l) if l.len() == 1));
        assert_eq!(from_item::<CartRecord>(item).expect("back"), cart);
    }
}
