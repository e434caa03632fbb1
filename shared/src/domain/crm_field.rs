//! The CRM fields a WhatsApp template variable can show (`automation::template_vars` formats
//! them; the store keeps a rule's mapping).

use serde::{Deserialize, Serialize};

/// A CRM field a template variable can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmField {
    /// The lead's first name.
    FirstName,
    /// The lead's name as stored.
    FullName,
    /// The opportunity's deadline (the appointment), in the contact's zone.
    AppointmentTime,
    /// The opportunity's value.
    OpportunityValue,
    /// The cart's total (lines with a price).
    CartTotal,
    /// The sale's amount.
    SaleAmount,
}

impl CrmField {
    pub const ALL: [CrmField; 6] = [
        Self::FirstName,
        Self::FullName,
        Self::AppointmentTime,
        Self::OpportunityValue,
        Self::CartTotal,
        Self::SaleAmount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::FullName => "full_name",
            Self::AppointmentTime => "appointment_time",
            Self::OpportunityValue => "opportunity_value",
            Self::CartTotal => "cart_total",
            Self::SaleAmount => "sale_amount",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s.trim())
    }
}
