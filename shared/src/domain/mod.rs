//! Typed values every feature shares: ids, money (integer minor units + ISO 4217), time zones
//! (IANA), reporting periods, and the field groups of CRM entities (contact, ad attribution, …).
//! Parsed once at the edge, never re-validated downstream.
//!
//! Imports nothing else of this crate.

pub mod connection;
pub mod conversions;
pub mod crm;
pub mod crm_field;
pub mod fx;
pub mod hsm;
pub mod ids;
pub mod money;
pub mod period;
pub mod phone;
pub mod profile;
pub mod zone;
