//! The audit export (owner: audit): everything an auditor needs to check this node offline,
//! in one JSON document — `GET /v1/audit/export`, written as files by `regio audit export`.
//! Every authority-carrying item is the signed JSON exactly as stored, so the auditor
//! verifies signatures and hashes and trusts nothing of the node's own say-so.
//!
//! `ledger` (added within format 1; absent in older exports, read as empty) lists the
//! node's quota and privacy-budget counters as its store keeps them
//! ([`regio_store::ledger::Counter`]: `{"key": {"kind": "quota"|"budget", "region", "party",
//! "window"}, "spent", "limit"}`, budgets in micro-epsilon, `window` = Unix seconds divided
//! by the window length). Each answered query's audit entry carries its own charge
//! (`budget`), so an auditor can add the log up and compare.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use regio_policy::{Did, DocHash};
use regio_query::schema::Schema;
use regio_store::audit::{Entry, Kind};
use regio_store::ledger::Counter;
use regio_store::{DocKind, StoreError};

/// Format tag of [`Export`].
pub const FORMAT: &str = "regio-audit-export/1";

/// The policy head a node observed from another member (gossip or chain fetch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHead {
    /// The member.
    pub member: Did,
    /// Latest version seen.
    pub version: u64,
    /// Its hash.
    pub hash: DocHash,
}

/// Two signed bundles of one issuer with one version, as detected by this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The equivocating member.
    pub issuer: Did,
    /// The version it signed twice.
    pub version: u64,
    /// One signed bundle.
    pub a: Value,
    /// The other.
    pub b: Value,
}

/// One node's audit export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    /// [`FORMAT`].
    pub format: String,
    /// The node's DID (it signs its policy bundles, answers and checkpoints).
    pub node: Did,
    /// NIS code of the municipality.
    pub nis: String,
    /// Its name.
    pub name: String,
    /// When exported.
    #[serde(with = "regio_policy::time::ts")]
    pub exported_at: DateTime<Utc>,
    /// The whole audit log, from entry 1.
    pub entries: Vec<Entry>,
    /// Signed AuditCheckpoints, by seq (the last covers the head at export time).
    pub checkpoints: Vec<Value>,
    /// The node's signed policy chain, by version.
    pub policies: Vec<Value>,
    /// Policy heads observed from other members.
    pub peer_heads: Vec<PeerHead>,
    /// Equivocation evidence (both signed bundles).
    pub equivocations: Vec<Evidence>,
    /// Ethics certificates held.
    pub certificates: Vec<Value>,
    /// Revocations held.
    pub revocations: Vec<Value>,
    /// Signed charters held.
    pub charters: Vec<Value>,
    /// Every region manifest version held.
    pub manifests: Vec<Value>,
    /// Every query answered or refused, as received (by hash).
    pub queries: Vec<Value>,
    /// Dataset schemas (to re-plan logged queries).
    pub datasets: Vec<Schema>,
    /// The quota and privacy-budget counters of the node's ledger (see the module docs).
    #[serde(default)]
    pub ledger: Vec<Counter>,
}

fn json_of(what: &'static str, raw: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

impl Export {
    /// Builds the export of `engine`'s node, first signing a checkpoint of the current head.
    pub fn build(
        engine: &Engine,
        nis: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Export, StoreError> {
        let store = engine.store();
        store.checkpoint_now(now.timestamp_micros())?;
        let entries = store.audit_range(1, u64::MAX)?;
        let docs = |kind: DocKind, what: &'static str| -> Result<Vec<Value>, StoreError> {
            store
                .documents(kind)?
                .iter()
                .map(|r| json_of(what, &r.raw))
                .collect()
        };
        let mut equivocations: Vec<Evidence> = engine
            .equivocations()
            .into_iter()
            .map(|e| Evidence {
                issuer: e.issuer,
                version: e.version,
                a: e.a.raw().clone(),
                b: e.b.raw().clone(),
            })
            .collect();
        for e in entries
            .iter()
            .filter(|e| e.kind == Kind::EquivocationDetected)
        {
            let ev = match serde_json::from_value::<Evidence>(e.body.clone()) {
                Ok(ev) => ev,
                Err(err) => {
                    tracing::warn!(seq = e.seq, error = %err, "audit entry of an equivocation holds no evidence; exported without it");
                    continue;
                }
            };
            if !equivocations
                .iter()
                .any(|x| x.issuer == ev.issuer && x.version == ev.version)
            {
                equivocations.push(ev);
            }
        }
        Ok(Export {
            format: FORMAT.into(),
            node: engine.did().clone(),
            nis: nis.into(),
            name: name.into(),
            exported_at: now,
            checkpoints: store
                .checkpoints()?
                .iter()
                .map(|(_, raw)| json_of("checkpoint", raw))
                .collect::<Result<_, _>>()?,
            policies: store
                .policies()?
                .iter()
                .map(|p| json_of("policy", &p.raw))
                .collect::<Result<_, _>>()?,
            peer_heads: engine
                .peer_heads()
                .into_iter()
                .map(|(member, (version, hash))| PeerHead {
                    member,
                    version,
                    hash,
                })
                .collect(),
            equivocations,
            certificates: docs(DocKind::Certificate, "certificate")?,
            revocations: docs(DocKind::Revocation, "revocation")?,
            charters: docs(DocKind::Charter, "charter")?,
            manifests: docs(DocKind::Manifest, "manifest")?,
            queries: store
                .signed_queries()?
                .iter()
                .map(|q| json_of("signed query", &q.raw))
                .collect::<Result<_, _>>()?,
            datasets: store.datasets()?.into_iter().map(|d| d.schema).collect(),
            ledger: store.ledger()?,
            entries,
        })
    }
}
