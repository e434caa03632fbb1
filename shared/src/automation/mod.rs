//! WhatsApp HSM automation: when triggers are due and whether they still hold (`triggers`), the
//! evaluator and its at-most-once send protocol (`evaluator`), the YCloud client (`ycloud`). It may
//! import every folder below it (platform, domain, store, api, marketing, events) and `meta` for
//! nothing.

pub mod evaluator;
pub mod scheduling;
pub mod triggers;
pub mod ycloud;
