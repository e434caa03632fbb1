//! The marketing numbers: ROI/CPA/ROAS formulas, the aggregate read model the CRM events feed,
//! and the dashboard views. Campaign views and FX conversion will join here (`marketing/spend/`
//! for what the spend sync writes).

pub mod aggregates;
pub mod campaigns;
pub mod dashboard;
pub mod formulas;
pub mod fx;
pub mod settings;
