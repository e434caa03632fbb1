//! Flows that cross domains, on the top floor: what happens after a lead arrived (counted →
//! follow-up scheduled → handed to the CRM), whichever path brought it, and the spend-sync job
//! router (fan-out, tenant sync, connect follow-up). Handlers and jobs call a
//! flow; domains never call up into one (the floor plan in `layering.rs`).

pub mod conversions;
pub mod crm_events;
pub mod lead_arrived;
pub mod spend_sync_jobs;
