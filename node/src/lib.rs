//! # regio-node — the machine that obeys the policy
//!
//! One municipality's node, put together from the crates under `node/`: it verifies and
//! keeps documents, enforces its policy on every query (the [`engine`]), federates with the
//! other members of its regions ([`federation`] over [`regio_net`]), serves the HTTP API
//! ([`api`]) and is started by one function ([`server`]).
//!
//! ```text
//! regio-node ──> regio-store ──> regio-query ──> regio-policy
//!      ├───────> regio-net ─────────────────────────┤
//!      └───────> regio-http (the HTTP contract) ────┘
//! ```
//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the typed `config.toml` of a node, with a documented default per field |
//! | [`caps`] | its `[documents]` section: what one author can make a node hold, sync page size |
//! | [`engine`] | verified documents in memory; a signed query in, a signed PartialAnswer out: verify → plan → decide → execute → sign → audit |
//! | [`federation`] | fan-out and merge of a federated query, gossip, anti-entropy sync, joining regions |
//! | [`api`] | the HTTP API (axum) over one [`api::AppState`] |
//! | [`audit`] | the auditor's side: export, files, offline checks |
//! | [`telemetry`] | tracing spans, OTLP export, metrics (a leaf: it knows no other module) |
//! | [`server`] | assembles and runs a node: store, engine, network, federation, API; ordered shutdown |

pub mod api;
pub mod audit;
pub mod caps;
pub mod config;
pub mod engine;
pub mod federation;
pub mod server;
pub mod telemetry;
