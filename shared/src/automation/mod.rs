//! WhatsApp HSM automation: when triggers are due and whether they still hold (`triggers`),
//! scheduling from CRM events (`scheduling`), the evaluator and its at-most-once send protocol
//! (`evaluator`: check → claim → send → settle) over the due buckets its watermark says to read
//! (`backlog`), each run's batch shared between tenants (`fair`), the YCloud client (`ycloud`)
//! and its construction (`sender`), the messages' `externalId` (`external_id`), YCloud's webhook
//! (`webhook`), the log as the API serves it (`logs`) and the rules (`rules`). It may import every
//! folder below it (platform, domain, store, api, marketing, events) and `meta` for nothing.

pub mod backlog;
pub mod eval_error;
pub mod evaluator;
pub mod external_id;
pub mod fair;
pub mod logs;
pub mod rules;
pub mod scheduling;
pub mod sender;
pub mod summary;
pub mod triggers;
pub mod webhook;
pub mod ycloud;
