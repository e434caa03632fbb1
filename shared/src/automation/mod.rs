//! WhatsApp HSM automation: when triggers are due and whether they still hold (`triggers`),
//! scheduling from CRM events (`scheduling`), the evaluator and its at-most-once send protocol
//! (`evaluator`: check → claim → send → settle) over the due buckets its watermark says to read
//! (`backlog`), each run's batch shared between tenants (`fair`), the YCloud client (`ycloud`)
//! and the platform's client (`sender`), the messages' `externalId` (`external_id`), YCloud's
//! webhook (`webhook`, routed by the receiving number: `inbound`), the log as the API serves it
//! (`logs`) and the rules (`rules`); each tenant's own WhatsApp connection (`whatsapp_connection`)
//! and which account sends for it (`senders`); who may be messaged now (`contact_policy`: opt-outs,
//! quiet hours in the contact's zone), what counts as STOP (`stop_words`) and what fills a
//! template's variables (`template_vars`). Its flows take the ports they use (`ports`:
//! `WhatsappPorts`, `SendPorts`), never the whole App. It may import every folder below it
//! (platform, domain, store, api, marketing, events) and `meta` for nothing.

pub mod backlog;
pub mod contact_policy;
pub mod eval_error;
pub mod evaluator;
pub mod external_id;
pub mod fair;
pub mod inbound;
pub mod logs;
pub mod ports;
pub mod rules;
pub mod scheduling;
pub mod sender;
pub mod senders;
pub mod stop_words;
pub mod summary;
pub mod template_vars;
pub mod triggers;
pub mod webhook;
pub mod whatsapp_connection;
pub mod ycloud;
