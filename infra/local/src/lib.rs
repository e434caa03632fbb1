//! The local stack: everything `make dev` and the integration tests need to run the product on
//! one machine against moto (AWS) and the sandbox peers, with no AWS account.
//!
//! - [`provision`] creates the table, KMS key, secrets and event bus in moto exactly as
//!   `infra/template.yaml` declares them;
//! - [`needs`] is the one list of every function's declared secrets (least privilege; a test
//!   checks the template's secret env vars and grants against it);
//! - [`routes`] is the one list of HTTP functions and their API routes (a test checks it against
//!   the template);
//! - [`server`] serves every function at its real route by calling its library handler;
//! - [`jobs`] runs the product bus's jobs that moto does not deliver (`meta.connected`);
//! - [`runtime_api`] is a stand-in of the Lambda Runtime API for the cold-start benchmark.
//! - [`sandbox_meta`] is Sandbox Meta: the login dialog, token exchange, debug_token, businesses,
//!   ad accounts, permissions, managed pages and lead-ads leads over real HTTP, with switches for
//!   throttling, transient failures and rejected tokens, and signed lead-ads webhook deliveries
//!   (used by `make dev` and the integration tests).
//! - [`sandbox_crypto`] is the sandboxes' own HMAC-SHA256 (never the product's), pinned by
//!   known-answer vectors.
//! - [`sandbox_ecb`] serves the ECB's reference-rate files (deterministic rates, weekend gaps,
//!   503 and malformed switches): where `FX_PROVIDER_URL` points locally.

pub mod call_log;
mod contract;
pub mod demo;
pub mod http1;
pub mod jobs;
pub mod moto;
pub mod needs;
pub mod provision;
pub mod routes;
pub mod runtime_api;
pub mod sandbox_crypto;
pub mod sandbox_ecb;
pub mod sandbox_meta;
pub mod sandbox_ycloud;
pub mod sandbox_ycloud_accounts;
pub mod sandbox_ycloud_messages;
pub mod server;
pub mod template;
mod template_evaluator;
