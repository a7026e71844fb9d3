//! The engine (owner: lead): the policy-enforcing core of one node. It holds what the node
//! has verified — its own policy chain head and compiled access rules, the regions it is
//! in, their charters, ethics certificates and revocations — and it answers queries:
//! verify → plan → decide → reserve quota and privacy budget in the store's ledger →
//! execute under the obligations → sign a PartialAnswer → audit.
//!
//! Every document is verified before it is stored; the store ([`Store`]) is the durable
//! truth and the in-memory `State` is rebuilt from it at start. Transports (HTTP, libp2p)
//! hand the engine signed JSON and get signed JSON back; they never decide anything.

mod answer;
pub mod catalog;
mod charge;
mod docs;
mod held;
mod intake;
mod precheck;
mod subjects;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use regio_policy::decision::access::Rules;
use regio_policy::decision::Limits;
use regio_policy::doc::bundle::{Equivocation, PolicyBundle};
use regio_policy::doc::cert::{EthicsCertificate, Revocation};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::RegionManifest;
use regio_policy::{Did, DocHash, Key, Signed};
use regio_store::{DocKind, Store, StoreError};

pub use crate::caps::Caps;
pub use answer::Answer;
pub use charge::Charge;
pub use docs::DocError;
pub use held::Held;
pub use intake::Dropped;
pub use precheck::{PrecheckError, BEFORE_FAN_OUT};

/// What the engine has verified, in memory.
#[derive(Default)]
pub(crate) struct State {
    /// This node's current policy and its compiled rules.
    pub policy: Option<(Signed<PolicyBundle>, Arc<Rules>)>,
    /// Current manifest of each region.
    pub regions: BTreeMap<String, Signed<RegionManifest>>,
    /// Signed charters by hash.
    pub charters: HashMap<DocHash, Signed<InclusionCharter>>,
    /// Certificates by hash.
    pub certificates: HashMap<DocHash, Signed<EthicsCertificate>>,
    /// Revocations by the hash of the certificate they revoke.
    pub revocations: HashMap<DocHash, Vec<Signed<Revocation>>>,
    /// Policy bundles of other members seen (by issuer and version), for equivocation.
    pub peer_policies: HashMap<(Did, u64), Signed<PolicyBundle>>,
    /// Latest policy head seen per member.
    pub peer_heads: BTreeMap<Did, (u64, DocHash)>,
    /// Equivocations detected: evidence.
    pub equivocations: Vec<Equivocation>,
}

impl State {
    /// The manifest of `region` when `me` is one of its current members.
    pub(crate) fn member_region(&self, me: &Did, region: &str) -> Option<&Signed<RegionManifest>> {
        self.regions
            .get(region)
            .filter(|m| m.doc().member(me).is_some())
    }
}

/// One node's engine. Cheap to share behind an `Arc`.
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) key: Key,
    pub(crate) clerks: HashSet<Did>,
    pub(crate) limits: Limits,
    pub(crate) state: RwLock<State>,
    /// This node's catalog and the members' ([`Engine::open_catalogs`]; none until then).
    pub(crate) catalogs: std::sync::OnceLock<crate::engine::catalog::Catalogs>,
    /// What one author may make this node hold.
    caps: RwLock<Caps>,
    /// Documents from peers dropped, by cause.
    dropped: std::sync::Mutex<BTreeMap<&'static str, u64>>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored document no longer verifies (the store was altered).
    #[error("stored {what} {hash} does not verify: {reason}")]
    Stored {
        /// Kind of document.
        what: &'static str,
        /// Its hash.
        hash: String,
        /// Why.
        reason: String,
    },
}

impl Engine {
    /// Opens the engine on a store and rebuilds its state from what is stored. `clerks` are
    /// the DIDs allowed to register consent on behalf of citizens (the node's own key always is).
    pub fn open(
        store: Store,
        key: Key,
        clerks: impl IntoIterator<Item = Did>,
        limits: Limits,
    ) -> Result<Engine, OpenError> {
        let mut clerks: HashSet<Did> = clerks.into_iter().collect();
        clerks.insert(key.did().clone());
        store.set_checkpointer(regio_store::audit::checkpointer(key.clone()));
        let engine = Engine {
            store,
            key,
            clerks,
            limits,
            state: RwLock::new(State::default()),
            catalogs: std::sync::OnceLock::new(),
            caps: RwLock::new(Caps::default()),
            dropped: std::sync::Mutex::default(),
        };
        engine.reload()?;
        Ok(engine)
    }

    /// This node's DID.
    pub fn did(&self) -> &Did {
        self.key.did()
    }

    /// What one author may make this node hold ([`Caps::default`] until set).
    pub fn caps(&self) -> Caps {
        *self.caps.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what one author may make this node hold (from the node's configuration).
    pub fn set_caps(&self, caps: Caps) {
        *self.caps.write().unwrap_or_else(|p| p.into_inner()) = caps;
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn reload(&self) -> Result<(), OpenError> {
        let bad = |what: &'static str, hash: &[u8; 32], reason: String| OpenError::Stored {
            what,
            hash: DocHash(*hash).to_string(),
            reason,
        };
        let mut state = State::default();
        if let Some(head) = self.store.policy_head()? {
            let signed = Signed::<PolicyBundle>::from_json(&head.raw)
                .map_err(|e| bad("policy bundle", &head.hash, e.to_string()))?;
            let rules = Rules::compile(&signed.doc().access)
                .map_err(|e| bad("policy bundle", &head.hash, e.to_string()))?;
            state.policy = Some((signed, Arc::new(rules)));
        }
        for rec in self.store.documents(DocKind::Charter)? {
            let c = Signed::<InclusionCharter>::from_json(&rec.raw)
                .map_err(|e| bad("charter", &rec.hash, e.to_string()))?;
            state.charters.insert(c.hash(), c);
        }
        let mut manifests: Vec<Signed<RegionManifest>> = Vec::new();
        for rec in self.store.documents(DocKind::Manifest)? {
            manifests.push(
                Signed::from_json(&rec.raw)
                    .map_err(|e| bad("manifest", &rec.hash, e.to_string()))?,
            );
        }
        manifests.sort_by_key(|m| m.doc().version);
        for m in manifests {
            state.regions.insert(m.doc().region.clone(), m);
        }
        for rec in self.store.documents(DocKind::Certificate)? {
            let c = Signed::<EthicsCertificate>::from_json(&rec.raw)
                .map_err(|e| bad("certificate", &rec.hash, e.to_string()))?;
            state.certificates.insert(c.hash(), c);
        }
        for rec in self.store.documents(DocKind::Revocation)? {
            let r = Signed::<Revocation>::from_json(&rec.raw)
                .map_err(|e| bad("revocation", &rec.hash, e.to_string()))?;
            state
                .revocations
                .entry(r.doc().certificate)
                .or_default()
                .push(r);
        }
        *self.write() = state;
        Ok(())
    }

    /// Opens this node's catalog (the assembly does, once, with the node's configuration).
    pub fn open_catalogs(
        &self,
        settings: crate::engine::catalog::Settings,
    ) -> Result<(), crate::engine::catalog::CatalogError> {
        let catalogs =
            crate::engine::catalog::Catalogs::open(&self.store, self.key.clone(), settings)?;
        if self.catalogs.set(catalogs).is_err() {
            tracing::warn!("the catalog was opened twice; the first stays");
        }
        Ok(())
    }

    /// This node's catalog, once opened ([`Engine::open_catalogs`]).
    pub fn catalogs(&self) -> Option<&crate::engine::catalog::Catalogs> {
        self.catalogs.get()
    }

    /// The current policy bundle, if one was published.
    pub fn policy(&self) -> Option<Signed<PolicyBundle>> {
        self.read().policy.as_ref().map(|(p, _)| p.clone())
    }

    /// Equivocations this node has detected (both signed bundles of each).
    pub fn equivocations(&self) -> Vec<Equivocation> {
        self.read().equivocations.clone()
    }

    /// The latest policy head (version, hash) seen from each other member.
    pub fn peer_heads(&self) -> BTreeMap<Did, (u64, DocHash)> {
        self.read().peer_heads.clone()
    }

    /// The current manifest of every region this node is a member of (a region it was
    /// removed from is held, but not listed: see [`Engine::left_regions`]).
    pub fn regions(&self) -> Vec<Signed<RegionManifest>> {
        let me = self.did();
        self.read()
            .regions
            .values()
            .filter(|m| m.doc().member(me).is_some())
            .cloned()
            .collect()
    }

    /// The ids of the regions whose current manifest this node holds without being one of
    /// its members (it was removed): the network leaves them.
    pub fn left_regions(&self) -> Vec<String> {
        let me = self.did();
        self.read()
            .regions
            .values()
            .filter(|m| m.doc().member(me).is_none())
            .map(|m| m.doc().region.clone())
            .collect()
    }
}
