//! Typed values every feature shares: ids, money (integer minor units + ISO 4217), time zones
//! (IANA) and reporting periods. Parsed once at the edge, never re-validated downstream.
//!
//! Imports nothing else of this crate.

pub mod connection;
pub mod ids;
pub mod money;
pub mod period;
pub mod profile;
pub mod zone;
