//! The `externalId` of an automated message: `{tenant}:{trigger}:{entity}`. The evaluator sends it
//! with each template (and holds the contact cap under it), the lookup after an unknown outcome
//! matches it, and YCloud's status webhook finds its send by it.

use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;

/// `{tenant}:{trigger}:{entity}`.
pub fn external_id(tenant: TenantId, trigger: TriggerKind, entity: &str) -> String {
    format!("{tenant}:{trigger}:{entity}")
}

/// Parses an `externalId` back; `None` for one that is not ours.
pub fn parse_external_id(s: &str) -> Option<(TenantId, TriggerKind, String)> {
    let mut parts = s.splitn(3, ':');
    let tenant = parts.next()?.parse::<i64>().ok()?;
    let trigger = TriggerKind::parse(parts.next()?)?;
    let entity = parts.next().filter(|e| !e.is_empty())?;
    Some((TenantId(tenant), trigger, entity.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_round_trip_and_foreign_ones_are_refused() {
        let x = external_id(TenantId(7), TriggerKind::AbandonedCart, "C:1");
        assert_eq!(x, "7:abandoned_cart:C:1");
        assert_eq!(parse_external_id(&x), Some((TenantId(7), TriggerKind::AbandonedCart, "C:1".into())));
        for foreign in ["", "7", "7:lead_followup:", "x:lead_followup:L", "7:nope:L", "order-1234"] {
            assert_eq!(parse_external_id(foreign), None, "{foreign}");
        }
    }
}
