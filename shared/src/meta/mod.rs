//! Meta: the Graph API client (paging, `appsecret_proof`, usage headers, errors), OAuth and its
//! signed state, the stored connection, ad accounts and pages, and lead ads ([`leadgen`]).
//! The spend sync (insights → daily spend) will live in `meta/insights/`.

pub mod access;
pub mod connect;
pub mod graph;
pub mod leadgen;
pub mod oauth_state;
pub mod pages;
