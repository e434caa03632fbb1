//! The demo tenant `make dev` seeds, and a JWT for it.

use chrono::{DateTime, Duration, Utc};
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::{Currency, MinorUnits};
use crm_shared::events::{apply_event, parse_event};
use crm_shared::platform::auth::sign_hs256;
use crm_shared::store::events::EventStore;
use crm_shared::store::fx_rates::{FxRate, FxRateStore, MANUAL_SOURCE};
use crm_shared::store::spend::{CampaignSettings, DailySpend, SpendRow, SpendStore};
use crm_shared::store::{TenantProfile, TenantProfileStore};
use serde_json::json;

pub const DEMO_TENANT: TenantId = TenantId(1);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the demo tenant's profile; `true` when it was created now (a fresh moto).
pub async fn seed(
    profiles: &dyn TenantProfileStore,
    now: DateTime<Utc>,
) -> Result<bool, crm_shared::store::StoreError> {
    if profiles.get_profile(DEMO_TENANT).await?.is_some() {
        return Ok(false);
    }
    profiles
        .put_profile(&TenantProfile {
            tenant_id: DEMO_TENANT,
            display_name: "Demo Clinic".into(),
            reporting_time_zone: None,
            // The demo's sales currency: a USD-billed ad account's spend is converted into it.
            currency: Currency::parse(DEMO_CURRENCY).ok(),
            updated_at: now,
        })
        .await?;
    Ok(true)
}

/// The sandbox's first ad account (what the demo connects to) and its currency.
pub const DEMO_AD_ACCOUNT: &str = "act_5100000001001";
/// The demo tenant's own WhatsApp (YCloud) account in Sandbox YCloud: key, WABA and sender.
pub const DEMO_YCLOUD_KEY: &str = "local-dev-demo-clinic-ycloud-key";
pub const DEMO_WABA: &str = "demo-clinic-waba";
pub const DEMO_WHATSAPP_NUMBER: &str = "+5491155550000";
const DEMO_CURRENCY: &str = "ARS";
/// The demo's manual USD → ARS rate (ARS per USD).
pub const DEMO_USD_RATE: &str = "1050.25";
/// `(campaign id, name, [(ad id, ad name)])`.
/// `(id, name)` of an ad.
pub type DemoAd = (&'static str, &'static str);
pub const DEMO_CAMPAIGNS: [(&str, &str, [DemoAd; 2]); 3] = [
    (
        "120210000000001",
        "Implantes - Leads",
        [("120210000000101", "Video testimonio"), ("120210000000102", "Carrusel antes/después")],
    ),
    (
        "120210000000002",
        "Blanqueamiento - Retargeting",
        [("120210000000201", "Promo 2x1"), ("120210000000202", "Historia 15s")],
    ),
    (
        "120210000000003",
        "Ortodoncia invisible",
        [("120210000000301", "Reel consulta gratis"), ("120210000000302", "Imagen estática")],
    ),
];

/// Demo dashboard data for the last `days` days, through the product's own write paths: CRM
/// events (`crm_events::apply_event`: leads, opportunities, sales, idempotent) and the daily spend
/// items the Meta spend sync writes (`put_daily_spend`). Deterministic, so the numbers are the same
/// on every machine. Returns how many events were applied.
pub async fn seed_dashboard<S: EventStore + SpendStore + FxRateStore + ?Sized>(
    store: &S,
    now: DateTime<Utc>,
    days: i64,
) -> Result<usize, BoxError> {
    let mut applied = 0;
    let event = |detail_type: &str, id: String, at: DateTime<Utc>, key: &str, body: serde_json::Value| {
        json!({
            "version": "0", "id": id.clone(), "detail-type": detail_type, "source": "crm",
            "time": at.to_rfc3339(), "detail": {"event_id": id, "tenant_id": DEMO_TENANT.0, "occurred_at": at.to_rfc3339(), key: body}
        })
    };
    // A manual USD → ARS rate, so a USD-billed ad account's spend shows in ARS ROI too.
    store
        .put_fx_rates(&[FxRate {
            tenant_id: DEMO_TENANT,
            from: Currency::USD,
            to: Currency::parse(DEMO_CURRENCY)?,
            rate: crm_shared::domain::fx::ScaledRate::parse(DEMO_USD_RATE)?,
            effective_from: (now - Duration::days(days + 30)).date_naive(),
            source: MANUAL_SOURCE.into(),
            set_by: "demo".into(),
            updated_at: now,
        }])
        .await?;
    let mut events = Vec::new();
    for d in (1..=days).rev() {
        let day = (now - Duration::days(d)).date_naive();
        let Some(morning) = day.and_hms_opt(13, 0, 0).map(|t| t.and_utc()) else { continue };
        for (k, (campaign, campaign_name, ads)) in DEMO_CAMPAIGNS.iter().enumerate() {
            let leads = ((d * 7 + k as i64 * 3) % 5) as usize;
            for i in 0..leads {
                let lead_id = format!("demo-{day}-{k}-{i}");
                let (ad, ad_name) = ads[i % 2];
                let at = morning + Duration::minutes(37 * i as i64 + 11 * k as i64);
                // Every fourth lead comes from the website form (no Meta attribution).
                let lead = if i % 4 == 3 {
                    json!({"id": lead_id, "created_at": at.to_rfc3339(), "source": "WEBSITE", "name": format!("Paciente {day} {k}{i}")})
                } else {
                    json!({
                        "id": lead_id, "created_at": at.to_rfc3339(), "source": "META_ADS", "name": format!("Paciente {day} {k}{i}"),
                        "campaign_id": campaign, "campaign_name": campaign_name, "ad_id": ad, "ad_name": ad_name
                    })
                };
                events.push(event("lead.created", format!("evt-{lead_id}"), at, "lead", lead));
                if (d as usize + i + k).is_multiple_of(3) {
                    let opp_at = at + Duration::days(1);
                    events.push(event(
                        "opportunity.created",
                        format!("evt-opp-{lead_id}"),
                        opp_at,
                        "opportunity",
                        json!({
                            "id": format!("opp-{lead_id}"), "lead_id": lead_id, "created_at": opp_at.to_rfc3339(),
                            "value_minor": 45_000_000, "currency": DEMO_CURRENCY
                        }),
                    ));
                    if (d as usize + k).is_multiple_of(2) {
                        let sale_at = at + Duration::days(3);
                        let amount = 18_000_000 + 4_500_000 * ((i + k) % 4) as i64;
                        events.push(event("sale.completed", format!("evt-sale-{lead_id}"), sale_at, "sale", json!({
                            "id": format!("sale-{lead_id}"), "lead_id": lead_id, "opportunity_id": format!("opp-{lead_id}"),
                            "amount_minor": amount, "currency": DEMO_CURRENCY, "completed_at": sale_at.to_rfc3339()
                        })));
                    }
                }
            }
        }
        let rows = |k: usize| {
            let (campaign, campaign_name, _) = DEMO_CAMPAIGNS[k];
            let spend = 1_200_000 + 350_000 * ((d + k as i64) % 4);
            SpendRow {
                id: campaign.into(),
                name: campaign_name.into(),
                status: if k == 2 && d > 40 { "paused".into() } else { "active".into() },
                campaign_id: None,
                campaign_name: None,
                spend_minor: MinorUnits(spend),
                impressions: spend / 150,
                clicks: spend / 9_000,
                meta_leads: ((d * 7 + k as i64 * 3) % 5),
                settings: Some(CampaignSettings {
                    objective: Some("OUTCOME_LEADS".into()),
                    daily_budget_minor: Some(5_000_000 + 1_000_000 * k as i64),
                    ..Default::default()
                }),
            }
        };
        let campaigns: Vec<SpendRow> = (0..DEMO_CAMPAIGNS.len()).map(rows).collect();
        let ads = campaigns
            .iter()
            .zip(DEMO_CAMPAIGNS.iter())
            .flat_map(|(c, (_, _, ads))| {
                let first = c.spend_minor.0 * 3 / 5;
                [(ads[0], first), (ads[1], c.spend_minor.0 - first)].map(|((id, name), spend)| SpendRow {
                    id: id.into(),
                    name: name.into(),
                    status: c.status.clone(),
                    campaign_id: Some(c.id.clone()),
                    campaign_name: Some(c.name.clone()),
                    spend_minor: MinorUnits(spend),
                    impressions: spend / 150,
                    clicks: spend / 9_000,
                    meta_leads: 0,
                    settings: None,
                })
            })
            .collect();
        store
            .put_daily_spend(&DailySpend {
                tenant_id: DEMO_TENANT,
                ad_account_id: DEMO_AD_ACCOUNT.into(),
                date: day,
                currency: Currency::parse(DEMO_CURRENCY)?,
                account_time_zone: Some("America/Argentina/Buenos_Aires".into()),
                attribution_setting: "unified".into(),
                synced_at: now,
                campaigns,
                ads,
            })
            .await?;
    }
    for raw in events {
        let parsed = parse_event(&raw).map_err(|e| format!("demo event: {e:?}"))?;
        if parsed.occurred_at <= now {
            apply_event(store, &parsed, now).await.map_err(|e| format!("demo event: {e:?}"))?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// A CRM-shaped JWT (HS256; `user_id`, `email`, `role`, integer `tenant_id`, `exp`).
pub fn jwt(key: &str, tenant: TenantId, role: &str, now: DateTime<Utc>, valid_for: Duration) -> String {
    sign_hs256(
        &json!({
            "user_id": "demo-admin",
            "email": "admin@demo.local",
            "role": role,
            "tenant_id": tenant.0,
            "exp": (now + valid_for).timestamp(),
        }),
        key.as_bytes(),
    )
}

/// WhatsApp automation for the demo tenant: every trigger enabled with the sandbox's templates, and
/// three leads (with phones) created 25 h ago through the product's event path, so their follow-ups
/// are past due: one `make hsm-evaluate` sends them through Sandbox YCloud, whose status webhooks
/// then move the log to delivered/read.
pub async fn seed_hsm(
    app: &crm_shared::App,
    now: DateTime<Utc>,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    use crm_shared::domain::hsm::TriggerKind;
    use crm_shared::store::automation::rules::{AutomationRule, QuietHours, RuleSet};
    let rules = TriggerKind::ALL
        .into_iter()
        .map(|t| AutomationRule {
            trigger: t,
            enabled: true,
            template_name: t.as_str().into(),
            language: "es".into(),
            delay_minutes: None,
            // No quiet hours for the demo (start = end), so a run at night sends too.
            quiet_hours: Some(QuietHours { start_hour: 0, end_hour: 0 }),
            variables: vec![],
        })
        .collect();
    let set = RuleSet {
        tenant_id: DEMO_TENANT,
        rules,
        contact_window_hours: None,
        daily_recipient_cap: None,
        updated_at: now,
        updated_by: "demo".into(),
    };
    app.automation_rules.put_rules(&set).await?;
    let created = now - chrono::Duration::hours(25);
    let leads = [
        ("hsm-demo-1", "Ana Gómez", "+5491155550101"),
        ("hsm-demo-2", "Bruno Díaz", "+5491155550102"),
        ("hsm-demo-3", "Carla Ruiz", "+5491155550103"),
    ];
    for (id, name, phone) in leads {
        let ev = json!({
            "version": "0", "id": format!("evt-{id}"), "detail-type": "lead.created", "source": "crm",
            "account": "000000000000", "time": created.to_rfc3339(), "region": "us-east-1", "resources": [],
            "detail": {"event_id": format!("evt-{id}"), "tenant_id": DEMO_TENANT.0, "occurred_at": created.to_rfc3339(),
                "lead": {"id": id, "version": 1, "created_at": created.to_rfc3339(), "source": "META_ADS", "status": "new",
                    "name": name, "phone": phone, "opted_out": false}},
        });
        crm_events::handle_event(app, ev).await?;
    }
    Ok(leads.len())
}

/// The demo tenant's account as Sandbox YCloud holds it (added to the sandbox at start).
pub fn ycloud_account() -> crate::sandbox_ycloud_accounts::SandboxAccount {
    crate::sandbox_ycloud_accounts::SandboxAccount::new(
        DEMO_YCLOUD_KEY,
        DEMO_WABA,
        &[DEMO_WHATSAPP_NUMBER],
        "Demo Clinic",
    )
}

/// Connects the demo tenant's WhatsApp through the product's own path (verified against Sandbox
/// YCloud, key encrypted with KMS): its automated messages go out from its own number.
pub async fn seed_whatsapp(
    app: &crm_shared::App,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use crm_shared::automation::whatsapp_connection::{connect, ConnectInput};
    let input = ConnectInput {
        api_key: DEMO_YCLOUD_KEY.into(),
        phone_number: DEMO_WHATSAPP_NUMBER.into(),
        waba_id: DEMO_WABA.into(),
        stop_words: None,
        webhook_secret: None,
    };
    connect(app.into(), DEMO_TENANT, "demo", input, now).await?;
    Ok(())
}
