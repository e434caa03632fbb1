//! Every key of the single table (ARCHITECTURE.md "DynamoDB"), built in one place. Tenant-scoped
//! items live under `T#{tenant}`, where the tenant comes from a verified JWT, a signed state or a
//! stored index — never from a request body.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::domain::ids::TenantId;

/// Partition of everything a tenant owns.
pub fn tenant(t: TenantId) -> String {
    format!("T#{t}")
}

// ---------------------------------------------------------------- tenant items (PK `T#{tenant}`)

pub const META_CONNECTION: &str = "META#CONN";
pub const TENANT_PROFILE: &str = "PROFILE";

pub fn audit_sk(ts_millis: i64, id: &str) -> String {
    format!("AUDIT#{ts_millis:013}#{id}")
}
pub fn lead(id: &str) -> String {
    format!("LEAD#{id}")
}
/// Which lead holds a Meta leadgen id (the join of a CRM lead and a Meta lead).
pub fn leadgen_link(leadgen_id: &str) -> String {
    format!("LGLINK#{leadgen_id}")
}
pub fn opportunity(id: &str) -> String {
    format!("OPP#{id}")
}
pub fn sale(id: &str) -> String {
    format!("SALE#{id}")
}
pub fn cart(id: &str) -> String {
    format!("CART#{id}")
}
/// Idempotency marker of an applied CRM event.
pub fn event_marker(event_id: &str) -> String {
    format!("EVT#{event_id}")
}
/// A CRM event parked until its lead arrives: `WAIT#{lead_id}#{event_id}` (ids never hold `#`).
pub fn parked_event(lead_id: &str, event_id: &str) -> String {
    format!("WAIT#{lead_id}#{event_id}")
}
/// The sort-key range of the events parked for a lead (`~` sorts after every id character).
pub fn parked_for_lead(lead_id: &str) -> (String, String) {
    (format!("WAIT#{lead_id}#"), format!("WAIT#{lead_id}#~"))
}
/// Daily aggregate of CRM numbers (local day in the tenant's reporting zone).
pub fn agg_day(d: NaiveDate) -> String {
    format!("AGG#D#{}", d.format("%Y-%m-%d"))
}
/// Monthly rollup of the daily aggregates.
pub fn agg_month(d: NaiveDate) -> String {
    format!("AGG#M#{}", d.format("%Y-%m"))
}
/// One Meta ad account-day of spend (day in the account's zone).
pub fn spend_day(account: &str, d: NaiveDate) -> String {
    format!("SPEND#{account}#{}", d.format("%Y-%m-%d"))
}
pub fn spend_month(account: &str, d: NaiveDate) -> String {
    format!("SPENDM#{account}#{}", d.format("%Y-%m"))
}
/// When the spend sync last wrote the account.
pub fn spend_sync(account: &str) -> String {
    format!("SPENDSYNC#{account}")
}
/// A tenant's manual exchange rate `from`→`to` effective from `d` (until the next one).
pub fn fx_rate(from: &str, to: &str, d: NaiveDate) -> String {
    format!("FX#{from}#{to}#{}", d.format("%Y-%m-%d"))
}
/// Sorts before every rate of the pair (the low end of a pair's `Query`).
pub fn fx_pair_floor(from: &str, to: &str) -> String {
    format!("FX#{from}#{to}#0000")
}
/// A lead-ads lead's inbox item.
pub fn leadgen_inbox(leadgen_id: &str) -> String {
    format!("LEADGEN#{leadgen_id}")
}
/// When the lead reconciliation last read the tenant's lead forms completely.
pub const LEAD_SWEEP: &str = "LEADSWEEP";

// ------------------------------------------------- WhatsApp HSM automation (PK `T#{tenant}`)

/// A scheduled automated message: `DUE#{trigger}#{entity}` (in the sparse due index while due).
pub fn due(trigger: &str, entity: &str) -> String {
    format!("DUE#{trigger}#{entity}")
}
/// `GSI1PK` of due items: one partition per UTC hour of their due time (`DUE#2026-11-24T12`).
pub fn due_bucket(at: DateTime<Utc>) -> String {
    format!("DUE#{}", at.format("%Y-%m-%dT%H"))
}
/// The evaluator's watermark (one item for the whole table): every due bucket before the hour it
/// holds was drained by a run, so runs read from it, however long ago the last one ran.
pub const HSM_WATERMARK_PK: &str = "HSM#EVALUATOR";
pub const HSM_WATERMARK_SK: &str = "WATERMARK";
/// `GSI1SK` of a due item: `{due_at, RFC 3339 millis}#{tenant}#{trigger}#{entity}`, oldest first.
pub fn due_index_sk(at: DateTime<Utc>, t: TenantId, trigger: &str, entity: &str) -> String {
    format!("{}#{t}#{trigger}#{entity}", at.to_rfc3339_opts(SecondsFormat::Millis, true))
}
/// The send claim of a (trigger, entity): the only gate against a second send.
pub fn send_claim(trigger: &str, entity: &str) -> String {
    format!("SENT#{trigger}#{entity}")
}
/// Prefix of the automation log's sort keys.
pub const AUTOMATION_LOG_PREFIX: &str = "LOG#";
/// An automation log entry: `LOG#{ms, 13 digits}#{id}` (queried newest first).
pub fn automation_log(ts_millis: i64, id: &str) -> String {
    format!("LOG#{ts_millis:013}#{id}")
}
/// When a contact (E.164) last got an automated template: the per-contact cap's gate.
pub fn contact_send(phone: &str) -> String {
    format!("CONTACT#{phone}")
}
/// A contact (E.164) that opted out of automated messages (e.g. replied STOP).
pub fn opt_out(phone: &str) -> String {
    format!("OPTOUT#{phone}")
}
/// Which tenants sent automated messages to a phone (`WA#RECIPIENT#{phone}` / `T#{tenant}`): where
/// an inbound STOP, which names no tenant, applies.
pub fn recipient_index(phone: &str) -> String {
    format!("WA#RECIPIENT#{phone}")
}
/// A tenant's WhatsApp connection (its YCloud account, WABA and sender number).
pub const WHATSAPP_CONNECTION: &str = "WA#CONNECTION";
/// The sender number → tenant index (`WA#NUMBER#{phone}` / `OWNER`): where an inbound message to
/// that number belongs.
pub fn whatsapp_number(phone: &str) -> String {
    format!("WA#NUMBER#{phone}")
}
pub const WHATSAPP_NUMBER_OWNER_SK: &str = "OWNER";
/// Idempotency marker of a YCloud webhook event.
pub fn ycloud_event(event_id: &str) -> String {
    format!("YCEVT#{event_id}")
}
/// Automated sends of a tenant on a UTC day (the daily recipient cap's counter).
pub fn automation_day(d: NaiveDate) -> String {
    format!("HSM#DAY#{}", d.format("%Y-%m-%d"))
}
/// The tenant's automation rules (one item, every trigger).
pub const AUTOMATION_RULES: &str = "HSM#RULES";
/// The tenant's automation counters per trigger (top-level `ADD` counters).
pub const AUTOMATION_COUNTS: &str = "HSM#COUNTS";

// ------------------------------------------------------------------------ other partitions

/// Partitions per day of the audit records of requests that never proved a tenant.
pub const UNAUTH_AUDIT_SHARDS: u32 = 16;

/// Requests that never proved a tenant (no or a bad JWT, public webhooks) are audited under
/// `AUDIT#UNAUTH#{day}#{shard}`, the shard from a hash of the request id, so a flood of them
/// spreads over [`UNAUTH_AUDIT_SHARDS`] partitions instead of heating one.
pub fn unauthenticated_audit_pk(day: NaiveDate, shard: u32) -> String {
    format!("AUDIT#UNAUTH#{}#{:02}", day.format("%Y-%m-%d"), shard % UNAUTH_AUDIT_SHARDS)
}

/// The shard of an unauthenticated request's audit record: FNV-1a of its request id (stable, so
/// a record's key can be recomputed; the request id is Lambda's, not the caller's).
pub fn unauthenticated_audit_shard(request_id: &str) -> u32 {
    let hash =
        request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(UNAUTH_AUDIT_SHARDS)) as u32
}
/// The tenant's window counters (all users and routes together).
pub fn rate_limit_pk(t: TenantId) -> String {
    format!("RL#{t}")
}
/// One user's window counters on one route (`route` is an endpoint name: no `#`).
pub fn rate_limit_user_route_pk(t: TenantId, user: &str, route: &str) -> String {
    let user: String = user.chars().take(128).collect();
    format!("RL#{t}#U#{route}#{user}")
}
/// One source address's requests on one public route (`source` = the caller's IP as API Gateway
/// saw it, or `unknown`).
pub fn rate_limit_source_route_pk(route: &str, source: &str) -> String {
    let source: String = source.chars().take(64).collect();
    format!("RL#SRC#{route}#{source}")
}
pub fn rate_limit_sk(epoch_minute: i64) -> String {
    format!("W#{epoch_minute}")
}
/// A rates provider's daily rates of one pair (`FX#ECB#EUR#USD`): one partition per quoted
/// currency, so a conversion reads a pair over a date range with one `Query` and the hot read of
/// every dashboard spreads over as many partitions as there are currencies.
pub fn provider_fx(provider: &str, base: &str, quote: &str) -> String {
    format!("FX#{}#{base}#{quote}", provider.to_ascii_uppercase())
}
/// Sort key of a provider rate: its day (`yyyy-mm-dd`, sorts chronologically).
pub fn provider_fx_day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
/// Tenants with a Meta connection (`META#CONNECTED` / `T#{tenant}`): what the spend sync fans out over.
pub const CONNECTED_INDEX_PK: &str = "META#CONNECTED";
/// OAuth states: `OAUTH#{nonce}` / `OAUTH`, single use, TTL.
pub fn oauth_state(nonce: &str) -> String {
    format!("OAUTH#{nonce}")
}
pub const OAUTH_STATE_SK: &str = "OAUTH";
/// Which tenant a Facebook Page's leads belong to: `META#PAGE#{page}` / `OWNER`.
pub fn page(page_id: &str) -> String {
    format!("META#PAGE#{page_id}")
}
pub const PAGE_OWNER_SK: &str = "OWNER";
/// `GSI1PK` of a tenant's Facebook Pages (the page items themselves).
pub fn tenant_pages_index(t: TenantId) -> String {
    format!("PAGES#{}", tenant(t))
}
/// A Meta lead's hand-off to the CRM (`meta.lead.received`): `HANDOFF#{leadgen_id}`.
pub fn lead_handoff(leadgen_id: &str) -> String {
    format!("HANDOFF#{leadgen_id}")
}
// ------------------------------------------------------- conversions back to Meta (`meta::conversions`)

/// A tenant's conversions settings (saved at a revision).
pub const CONVERSION_SETTINGS: &str = "CONV#SETTINGS";
/// What Meta answered for the tenant's last batch, and its last failure.
pub const CONVERSION_ACTIVITY: &str = "CONV#LAST";
/// The lease of the one sender of a tenant's queue at a time.
pub const CONVERSION_LEASE: &str = "CONV#LEASE";
/// The tenant's "has pending conversions" mark (in GSI1 under [`conversion_tenants_index`]).
pub const CONVERSION_PENDING: &str = "CONV#PENDING";
/// Shards of the index of tenants with pending conversions.
pub const CONVERSION_TENANT_SHARDS: i64 = 4;
/// One stage of one lead: `CONV#L#{lead}#{rank:02}#{stage}` (ids never hold `#`).
pub fn conversion(lead_id: &str, rank: u8, stage: &str) -> String {
    format!("CONV#L#{lead_id}#{rank:02}#{stage}")
}
/// The sort-key range of a lead's stages (`~` sorts after every id character).
pub fn conversions_of_lead(lead_id: &str) -> (String, String) {
    (format!("CONV#L#{lead_id}#"), format!("CONV#L#{lead_id}#~"))
}
/// A day's conversion outcome counters (`sent__{stage}`, …), UTC day.
pub fn conversion_stats(d: NaiveDate) -> String {
    format!("CONV#STAT#{}", d.format("%Y-%m-%d"))
}
/// `GSI1PK` of a tenant's pending conversions (sparse: a settled item leaves the index).
pub fn conversion_queue(t: TenantId) -> String {
    format!("CONVQ#{}", tenant(t))
}
/// `GSI1SK` of a pending conversion: by lead, then funnel rank (earlier stages first).
pub fn conversion_queue_sk(lead_id: &str, rank: u8, stage: &str) -> String {
    format!("{lead_id}#{rank:02}#{stage}")
}
/// `GSI1PK` of the tenants with pending conversions, sharded by tenant.
pub fn conversion_tenants_index(shard: i64) -> String {
    format!("CONVQ#TENANTS#{shard}")
}
pub fn conversion_tenant_shard(t: TenantId) -> i64 {
    t.0.rem_euclid(CONVERSION_TENANT_SHARDS)
}
/// `GSI1PK` of a tenant's open lead-ads inbox items (sparse: settled items leave the index).
pub fn leadgen_open_index(t: TenantId) -> String {
    format!("LEADGEN#OPEN#{}", tenant(t))
}
/// `GSI1SK` of an open lead-ads inbox item: `{received_at (RFC 3339)}#{leadgen_id}`, oldest first.
pub fn leadgen_open_sk(received_at: DateTime<Utc>, leadgen_id: &str) -> String {
    format!("{}#{leadgen_id}", received_at.to_rfc3339())
}
/// `GSI1PK` of every parked CRM event (sparse: an item leaves the index when it is redriven or
/// expired). One partition: parked events are few and short-lived, and the sweep reads them all
/// in one paged `Query`, with no lookback window an item could fall out of.
pub const PARKED_INDEX: &str = "WAIT#PARKED";
/// `GSI1SK` of a parked event: `{due, RFC 3339 millis}#{tenant}#{lead}#{event}`, soonest expiry first.
pub fn parked_index_sk(due: DateTime<Utc>, t: TenantId, lead_id: &str, event_id: &str) -> String {
    format!("{}#{t}#{lead_id}#{event_id}", due.to_rfc3339_opts(SecondsFormat::Millis, true))
}
/// Dead-lettered CRM events: `DLQ#crm-events` / [`dead_letter`].
pub const DEAD_LETTER_CRM_EVENTS: &str = "DLQ#crm-events";
/// `{received_at, RFC 3339 with milliseconds}#{event id}`: dead letters sort by arrival.
pub fn dead_letter(received_at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", received_at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_audit_spreads_over_its_shards() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        assert_eq!(unauthenticated_audit_pk(day, 3), "AUDIT#UNAUTH#2026-11-24#03");
        let mut per_shard = [0usize; UNAUTH_AUDIT_SHARDS as usize];
        for i in 0..1_600 {
            let shard = unauthenticated_audit_shard(&format!("{i:08x}-6f1c-4b8e-9a55-1d2c3e4f5a6b"));
            assert_eq!(shard, unauthenticated_audit_shard(&format!("{i:08x}-6f1c-4b8e-9a55-1d2c3e4f5a6b")));
            per_shard[shard as usize] += 1;
        }
        // 1,600 request ids: every shard used, none with more than twice its share.
        assert!(per_shard.iter().all(|n| (1..=200).contains(n)), "{per_shard:?}");
    }

    #[test]
    fn audit_sort_keys_order_by_time() {
        assert!(audit_sk(999, "z") < audit_sk(1_000, "a"));
    }

    #[test]
    fn day_and_month_keys_sort_chronologically() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        assert!(agg_day(d(2026, 9, 30)) < agg_day(d(2026, 10, 1)));
        assert!(agg_month(d(2026, 9, 30)) < agg_month(d(2026, 10, 1)));
        assert_eq!(spend_day("act_1", d(2026, 1, 2)), "SPEND#act_1#2026-01-02");
        assert_eq!(provider_fx("ecb", "EUR", "USD"), "FX#ECB#EUR#USD");
        assert!(provider_fx_day(d(2026, 9, 30)) < provider_fx_day(d(2026, 10, 1)));
    }
}
