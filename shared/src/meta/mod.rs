//! Meta: the Graph API client (paging, `appsecret_proof`, usage headers, errors), OAuth and its
//! signed state, the stored connection, ad accounts and pages, and lead ads ([`leadgen`]).
//! The spend sync (insights → daily spend, fan-out) lives in [`insights`].
//!
//! Storage goes through narrow store ports only (connections, OAuth states, the page index, the
//! lead-ads inbox: `crate::store`); failures are [`error::MetaFlowError`] (HTTP mapping in one
//! place) and the callback's redirect codes [`error::LoginRefused`].
//!
//! Flows take the ports they use, one small struct per feature ([`ports`]), never the whole App.
//!
//! Files, lowest first: [`graph`] (the Graph client), [`error`], [`oauth_state`],
//! [`connection_writes`] (conditional connection writes and who wins a race), [`access`] (the
//! stored connection's token and Graph client), [`pages`] (page claims), [`leadgen`] (lead ads),
//! [`follow_up`] (the `meta.connected` job: page claims and lead replay after a connect),
//! [`login_cookie`] (the login's browser binding), [`login`] (login URL + OAuth callback),
//! [`connect`] (accounts, selection, disconnect), [`token_check`] (the live check of the stored
//! token: `debug_token`, the connection test), [`scopes`] (which feature needs which permission),
//! [`lead_ads_status`] (pages and features as token-status shows them).

pub mod access;
pub mod connect;
pub mod connection_writes;
pub mod conversions;
pub mod error;
pub mod follow_up;
pub mod graph;
pub mod insights;
pub mod lead_ads_status;
pub mod leadgen;
pub mod login;
pub mod login_cookie;
pub mod oauth_state;
pub mod pages;
pub mod ports;
pub mod scopes;
pub mod token_check;
