//! Flows that cross domains, on the top floor: what happens after a lead arrived (counted →
//! follow-up scheduled → handed to the CRM), whichever path brought it. Handlers and jobs call a
//! flow; domains never call up into one (the floor plan in `layering.rs`).

pub mod lead_arrived;
