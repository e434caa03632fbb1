//! Which Meta permission each feature needs, so a tenant whose login lacks one is told which
//! feature and why ("lead ads need reconnecting with the page permissions") instead of a silent
//! failure. The scopes come from `debug_token` (stored at connect, refreshed by the token check).

use serde::Serialize;

/// A feature of the product and the permissions its Graph calls need.
pub struct Feature {
    pub name: &'static str,
    pub scopes: &'static [&'static str],
    /// Shown when a scope is missing.
    pub reconnect_hint: &'static str,
}

/// Every feature (Meta's docs: insights need `ads_read`; `/me/businesses` `business_management`;
/// lead retrieval `leads_retrieval`, `pages_show_list`, `pages_read_engagement`,
/// `pages_manage_ads`, `ads_management`; a page's webhook subscription `pages_manage_metadata`).
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "ad_insights",
        scopes: &["ads_read"],
        reconnect_hint: "Spend and campaign numbers need reconnecting Meta with the ads_read permission.",
    },
    Feature {
        name: "business_portfolios",
        scopes: &["business_management"],
        reconnect_hint: "Listing Business Managers needs reconnecting Meta with the business_management permission.",
    },
    Feature {
        name: "lead_ads",
        scopes: &[
            "leads_retrieval",
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_ads",
            "pages_manage_metadata",
            "ads_management",
        ],
        reconnect_hint: "Lead ads need reconnecting Meta with the page permissions (lead retrieval, page list, page ads and page webhooks).",
    },
];

/// One feature's standing with the granted scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureAccess {
    pub feature: &'static str,
    pub ok: bool,
    pub missing_scopes: Vec<&'static str>,
    /// What to do about it (`None` when ok).
    pub message: Option<&'static str>,
}

/// Each feature's standing with `granted`.
pub fn feature_access(granted: &[String]) -> Vec<FeatureAccess> {
    FEATURES
        .iter()
        .map(|f| {
            let missing: Vec<&'static str> =
                f.scopes.iter().copied().filter(|s| !granted.iter().any(|g| g == s)).collect();
            FeatureAccess {
                feature: f.name,
                ok: missing.is_empty(),
                message: (!missing.is_empty()).then_some(f.reconnect_hint),
                missing_scopes: missing,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_asks_for_every_scope_a_feature_needs() {
        for f in FEATURES {
            for s in f.scopes {
                assert!(
                    crate::meta::graph::OAUTH_SCOPES.contains(s),
                    "{} needs {s}, the login must ask for it",
                    f.name
                );
            }
        }
    }

    #[test]
    fn a_login_without_page_permissions_is_told_lead_ads_need_a_reconnect() {
        let old_login: Vec<String> =
            ["ads_read", "business_management", "leads_retrieval", "pages_show_list", "pages_read_engagement"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let access = feature_access(&old_login);
        let lead_ads = access.iter().find(|f| f.feature == "lead_ads").expect("lead ads");
        assert!(!lead_ads.ok);
        assert_eq!(lead_ads.missing_scopes, vec!["pages_manage_ads", "pages_manage_metadata", "ads_management"]);
        assert!(lead_ads.message.is_some_and(|m| m.contains("page permissions")));
        assert!(access.iter().filter(|f| f.feature != "lead_ads").all(|f| f.ok && f.message.is_none()));
    }
}
