use std::sync::atomic::Ordering;

use chrono::Duration;

use super::*;
use crate::domain::crm::AdAttribution;
use crate::meta::graph::{LeadField, Leadgen};
use crate::meta::leadgen::handoff::{HANDOFF_SOURCE, LEAD_RECEIVED};
use crate::meta::leadgen::LeadgenChange;
use crate::store::lead_handoffs::LeadHandoffs;
use crate::testing::{unit_app, unit_now};

fn arrived(tenant: i64, leadgen: &str) -> ArrivedLead {
    ArrivedLead {
        tenant: TenantId(tenant),
        lead_id: format!("meta:{leadgen}"),
        change: LeadgenChange {
            leadgen_id: leadgen.into(),
            page_id: "1080000000000001".into(),
            form_id: Some("1090000000000001".into()),
            ad_id: None,
            created_time: None,
        },
        lead: Leadgen {
            id: leadgen.into(),
            created_time: "2026-11-24T15:00:00+0000".into(),
            field_data: vec![
                LeadField { name: "full_name".into(), values: vec!["Ana Gómez".into()] },
                LeadField { name: "phone_number".into(), values: vec!["+5491100000000".into()] },
                LeadField { name: "email".into(), values: vec!["ana@example.com".into()] },
                LeadField { name: "¿Cuándo te llamamos?".into(), values: vec!["mañana".into()] },
            ],
            attribution: AdAttribution {
                campaign_id: Some("120200000000000001".into()),
                campaign_name: Some("Spring".into()),
                ad_id: Some("120200000000001001".into()),
                ad_name: Some("Ad 1".into()),
                adset_id: Some("120200000000000101".into()),
            },
        },
    }
}

#[tokio::test]
async fn each_meta_lead_is_handed_to_the_crm_once_with_its_mapped_and_raw_fields() {
    let (app, mem) = unit_app(&[]);
    let lead = arrived(5, "1100000000000001");
    let first = meta_leads_arrived(&app, &[lead.clone(), lead.clone()], unit_now()).await;
    assert_eq!(first, Arrivals { leads: 2, handed_off: 1, failed: 0 });
    let again = meta_leads_arrived(&app, std::slice::from_ref(&lead), unit_now()).await;
    assert_eq!(again.handed_off, 0, "a re-delivered lead is not handed off again");

    let published = mem.job_bus.published();
    assert_eq!(published.len(), 1);
    assert_eq!((published[0].source.as_str(), published[0].detail_type.as_str()), (HANDOFF_SOURCE, LEAD_RECEIVED));
    let detail: serde_json::Value = serde_json::from_str(&published[0].detail).expect("json");
    assert_eq!(detail["handoff_id"], "meta-lead:5:1100000000000001");
    assert_eq!(detail["tenant_id"], 5);
    assert_eq!(detail["leadgen_id"], "1100000000000001");
    assert_eq!(detail["lead_id"], "meta:1100000000000001");
    assert_eq!(detail["page_id"], "1080000000000001");
    assert_eq!(detail["form_id"], "1090000000000001");
    assert_eq!(detail["campaign_id"], "120200000000000001");
    assert_eq!(detail["adset_id"], "120200000000000101");
    assert_eq!(detail["ad_name"], "Ad 1");
    assert_eq!(detail["created_time"], "2026-11-24T15:00:00Z");
    assert_eq!((detail["name"].as_str(), detail["phone"].as_str()), (Some("Ana Gómez"), Some("+5491100000000")));
    assert_eq!(detail["email"], "ana@example.com");
    assert_eq!(detail["field_data"][3]["name"], "¿Cuándo te llamamos?", "custom questions kept raw");
}

#[tokio::test]
async fn a_hand_off_the_bus_refused_stays_pending_and_is_resent_later() {
    let (app, mem) = unit_app(&[]);
    let lead = arrived(5, "1100000000000002");
    mem.job_bus.fail_next.store(1, Ordering::SeqCst);
    let refused = meta_leads_arrived(&app, std::slice::from_ref(&lead), unit_now()).await;
    assert_eq!((refused.handed_off, refused.failed), (0, 1), "the caller retries");
    assert!(mem.job_bus.published().is_empty());
    // A retry of the same lead finds it enqueued: the resend owns it from here.
    assert_eq!(meta_leads_arrived(&app, std::slice::from_ref(&lead), unit_now()).await.handed_off, 0);
    assert_eq!(resend_handoffs(&app, TenantId(5), unit_now()).await, 0, "too young to resend");
    let later = unit_now() + Duration::minutes(6);
    assert_eq!(resend_handoffs(&app, TenantId(5), later).await, 1);
    assert_eq!(resend_handoffs(&app, TenantId(5), later).await, 0, "sent once");
    assert_eq!(mem.job_bus.published().len(), 1);
    let stored = mem.lead_handoffs.get(TenantId(5), "1100000000000002").await.expect("get").expect("stored");
    assert_eq!(stored.sent_at, Some(later));
}
