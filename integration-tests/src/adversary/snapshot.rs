//! What a node stores, read through its API before and after an attack: the audit log
//! (length, head, kinds), every kind of signed document and the signed queries it keeps (the
//! audit export), the ledger, the policy heads it noted, equivocation evidence, record counts
//! per dataset and the regions it is in.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::bench::{Http, Node};

/// One node's stored state.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The kind of every audit entry, in order.
    pub entries: Vec<String>,
    /// The hash of the last entry.
    pub head: String,
    /// How many of each: certificates, revocations, charters, manifests, policies,
    /// equivocations, queries (signed queries kept with their audit entries).
    pub counts: BTreeMap<&'static str, usize>,
    /// Policy heads noted from other members: (member, version, hash).
    pub peer_heads: Vec<String>,
    /// The quota and budget counters.
    pub ledger: Value,
    /// Records per dataset.
    pub records: BTreeMap<String, u64>,
    /// `region id @ manifest version (members)` of every region the node is in.
    pub regions: Vec<String>,
}

/// What changed between two snapshots of one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delta {
    /// Kinds of the audit entries appended.
    pub entries: Vec<String>,
    /// Anything else that changed, by name (`queries +1`, `ledger`, `peer heads`, the new
    /// `records` and `regions`).
    pub other: Vec<String>,
}

const KINDS: [&str; 7] = [
    "certificates",
    "revocations",
    "charters",
    "manifests",
    "policies",
    "equivocations",
    "queries",
];

impl Snapshot {
    /// Reads a node's snapshot (admin routes).
    pub fn take(http: &Http, node: &Node) -> Result<Snapshot> {
        let (st, export) = http.get_admin(&format!("{}/v1/audit/export", node.url), &node.token)?;
        if st != 200 {
            return Err(anyhow!("GET /v1/audit/export: {st} {export}"));
        }
        let entries = export["entries"].as_array().cloned().unwrap_or_default();
        let counts = KINDS
            .iter()
            .map(|k| (*k, export[*k].as_array().map_or(0, Vec::len)))
            .collect();
        let (st, datasets) = http.get_admin(&format!("{}/v1/datasets", node.url), &node.token)?;
        if st != 200 {
            return Err(anyhow!("GET /v1/datasets: {st} {datasets}"));
        }
        let records = datasets
            .as_array()
            .or_else(|| datasets["datasets"].as_array())
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let name = d["name"]
                    .as_str()
                    .or(d["schema"]["dataset"].as_str())
                    .unwrap_or("?");
                (name.to_owned(), d["records"].as_u64().unwrap_or(0))
            })
            .collect();
        let (_, regions) = http.get_admin(&format!("{}/v1/regions", node.url), &node.token)?;
        Ok(Snapshot {
            head: entries
                .last()
                .map(|e| e["hash"].as_str().unwrap_or("").to_owned())
                .unwrap_or_default(),
            entries: entries
                .iter()
                .map(|e| e["kind"].as_str().unwrap_or("?").to_owned())
                .collect(),
            counts,
            peer_heads: export["peerHeads"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|h| format!("{} v{} {}", h["member"], h["version"], h["hash"]))
                .collect(),
            ledger: export["ledger"].clone(),
            records,
            regions: regions
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let members = r["members"].as_array().map_or(0, Vec::len);
                    format!(
                        "{} @ v{} ({members} members)",
                        r["id"].as_str().unwrap_or("?"),
                        r["version"]
                    )
                })
                .collect(),
        })
    }

    /// What changed from `self` to `after`.
    pub fn delta(&self, after: &Snapshot) -> Delta {
        let mut d = Delta::default();
        if after.entries.len() < self.entries.len()
            || after.entries[..self.entries.len()] != self.entries[..]
        {
            d.other.push("audit log rewritten".into());
        } else {
            d.entries = after.entries[self.entries.len()..].to_vec();
        }
        for (k, n) in &after.counts {
            let before = self.counts.get(k).copied().unwrap_or(0);
            if *n != before {
                d.other.push(format!("{k} {:+}", *n as i64 - before as i64));
            }
        }
        if self.peer_heads != after.peer_heads {
            d.other.push("peer heads".into());
        }
        if self.ledger != after.ledger {
            d.other.push("ledger".into());
        }
        if self.records != after.records {
            d.other.push(format!("records {:?}", after.records));
        }
        if self.regions != after.regions {
            d.other.push(format!("regions {:?}", after.regions));
        }
        d
    }
}

impl Delta {
    /// Nothing changed.
    pub fn none() -> Delta {
        Delta::default()
    }

    /// Only the refusal of one query was recorded: its audit entry and the signed query.
    pub fn refusal() -> Delta {
        Delta {
            entries: vec!["query_refused".into()],
            other: vec!["queries +1".into()],
        }
    }

    /// One query answered: its audit entry, the signed query and the quota charge.
    pub fn answered() -> Delta {
        Delta {
            entries: vec!["query_answered".into()],
            other: vec!["queries +1".into(), "ledger".into()],
        }
    }
}

/// The deltas of every node from `before` to `after`.
pub fn deltas(before: &[Snapshot], after: &[Snapshot]) -> Vec<Delta> {
    before.iter().zip(after).map(|(b, a)| b.delta(a)).collect()
}
