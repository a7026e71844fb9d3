//! The catalog (owner: lead): what this node publishes about its datasets and local
//! initiatives, and the catalogs of the members of its regions, searchable region-wide.
//!
//! | module | job |
//! |---|---|
//! | this one | [`Catalogs`]: this node's signed catalog (entries from the operator, facts computed from the store and the policy), members' catalogs received |
//! | [`facts`] | record counts, time coverage, classification and schema of each dataset |
//! | [`dcat`] | DCAT-AP 3 as RDF: Turtle and JSON-LD |
//! | [`search`] | region-wide search by text, theme and municipality |
//!
//! This node's catalog is a signed document (`regio_policy::doc::catalog::Catalog`), stored
//! durably with an audit entry at every version. A new version is signed when the operator
//! changes the entries, and when the facts changed and the current version is older than
//! [`crate::config::Config::catalog_refresh_secs`]. Members' catalogs arrive by gossip and
//! sync (`crate::federation`): each is verified, must be signed by the municipality it
//! names, which must be a member (same DID and NIS code) of a region this node is in, and
//! must be newer than the one held; anything else is refused with a log event naming why.
//! Members' catalogs are held in memory only, the latest per member (one per member: a
//! member cannot make this node hold more); after a restart, sync brings them back.

pub mod dcat;
pub mod facts;
pub mod search;

use std::collections::BTreeMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::engine::Engine;
use regio_policy::doc::bundle::Municipality;
use regio_policy::doc::catalog::{self, Catalog, Entries};
use regio_policy::signed::{DocumentError, Invalid};
use regio_policy::{Did, Key, Signed};
use regio_store::{DocKind, DocRecord, Store, StoreError};

/// Why a catalog was not published or not taken in. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// It does not verify or decode.
    #[error("catalog: {0}")]
    Document(#[from] DocumentError),
    /// A field breaks a rule, or the signer is not the municipality it names.
    #[error("catalog: {0}")]
    Invalid(#[from] Invalid),
    /// Signed by a municipality that is not a member of any region of this node.
    #[error("catalog: {did} ({nis}) is not a member of a region this node is in")]
    NotMember {
        /// The DID it names.
        did: String,
        /// The NIS code it names.
        nis: String,
    },
    /// Not newer than the version held.
    #[error("catalog: version {found} of {did} is not newer than version {held}")]
    Stale {
        /// Its DID.
        did: String,
        /// Its version.
        found: u64,
        /// The version held.
        held: u64,
    },
    /// A catalog that names this node, received from elsewhere.
    #[error("catalog: it names this node, which publishes its own")]
    Ours,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the catalog takes from the node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The municipality's NIS code.
    pub nis: String,
    /// The municipality's name.
    pub name: String,
    /// The node's public web address (`public_url`), if any.
    pub homepage: Option<String>,
    /// How old a catalog version may get before changed facts are re-signed, seconds.
    pub refresh_secs: u64,
}

#[derive(Default)]
struct Held {
    own: Option<Signed<Catalog>>,
    members: BTreeMap<Did, Signed<Catalog>>,
}

/// This node's catalog and the members' catalogs it holds.
pub struct Catalogs {
    municipality: Municipality,
    homepage: Option<String>,
    refresh: Duration,
    key: Key,
    held: RwLock<Held>,
}

impl Catalogs {
    /// Loads this node's latest catalog from the store (none before the first publication).
    pub fn open(store: &Store, key: Key, settings: Settings) -> Result<Catalogs, CatalogError> {
        let Settings {
            nis,
            name,
            homepage,
            refresh_secs,
        } = settings;
        let mut own: Option<Signed<Catalog>> = None;
        for rec in store.documents(DocKind::Catalog)? {
            let c = Signed::<Catalog>::from_json(&rec.raw)?;
            if c.doc().municipality.did == *key.did()
                && own
                    .as_ref()
                    .is_none_or(|o| o.doc().version < c.doc().version)
            {
                own = Some(c);
            }
        }
        Ok(Catalogs {
            municipality: Municipality {
                nis,
                name,
                did: key.did().clone(),
            },
            homepage,
            refresh: Duration::seconds(i64::try_from(refresh_secs).unwrap_or(i64::MAX / 1000)),
            key,
            held: RwLock::new(Held {
                own,
                members: BTreeMap::new(),
            }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.held.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Held> {
        self.held.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The version of this node's current catalog (none before the first).
    pub fn version(&self) -> Option<u64> {
        self.read().own.as_ref().map(|c| c.doc().version)
    }

    /// The operator's entries of the current catalog (empty before the first publication).
    pub fn entries(&self) -> Entries {
        self.read()
            .own
            .as_ref()
            .map(|c| c.doc().entries.clone())
            .unwrap_or_default()
    }

    /// Publishes new entries: checked against the datasets the node holds, signed as the
    /// next version, stored durably with an audit entry.
    pub fn publish(
        &self,
        engine: &Engine,
        entries: Entries,
        now: DateTime<Utc>,
    ) -> Result<Signed<Catalog>, CatalogError> {
        let facts = facts::compute(engine, true)?;
        entries.validate(&facts)?;
        self.sign_and_store(engine, entries, facts, now)
    }

    /// This node's current catalog, re-signed first when it is due: there is none yet, the
    /// region knows the municipality by another NIS code or name, the public address changed,
    /// or its facts changed and it is older than the refresh interval. Cheap when nothing is
    /// due (the anti-entropy round calls it every interval): the time coverage, which reads
    /// every chunk's bounds, is computed only to sign.
    pub fn current(
        &self,
        engine: &Engine,
        now: DateTime<Utc>,
    ) -> Result<Signed<Catalog>, CatalogError> {
        let held = self.read().own.clone();
        let who = self.identity(engine);
        let Some(c) = held else {
            let facts = facts::compute(engine, true)?;
            return self.sign_and_store(engine, Entries::default(), facts, now);
        };
        let same_header = c.doc().municipality == who && c.doc().homepage == self.homepage;
        if same_header && now - c.doc().issued < self.refresh {
            return Ok(c);
        }
        if same_header && facts::same(&c.doc().facts, &facts::compute(engine, false)?) {
            return Ok(c);
        }
        let facts = facts::compute(engine, true)?;
        // Datasets the entries describe may be gone: keep only what still validates.
        let mut entries = c.doc().entries.clone();
        entries
            .datasets
            .retain(|d| facts.iter().any(|f| f.name == d.name));
        for n in &mut entries.initiatives {
            n.datasets.retain(|d| facts.iter().any(|f| &f.name == d));
        }
        self.sign_and_store(engine, entries, facts, now)
    }

    /// The municipality as the region knows this node: its entry in a region's manifest,
    /// else its policy's, else the configuration's.
    fn identity(&self, engine: &Engine) -> Municipality {
        let me = &self.municipality.did;
        let listed = engine.regions().into_iter().find_map(|r| {
            r.doc()
                .members
                .iter()
                .find(|m| &m.did == me)
                .map(|m| (m.nis.clone(), m.name.clone()))
        });
        let (nis, name) = listed
            .or_else(|| {
                engine.policy().map(|p| {
                    (
                        p.doc().municipality.nis.clone(),
                        p.doc().municipality.name.clone(),
                    )
                })
            })
            .unwrap_or_else(|| {
                (
                    self.municipality.nis.clone(),
                    self.municipality.name.clone(),
                )
            });
        Municipality {
            nis,
            name,
            did: me.clone(),
        }
    }

    fn sign_and_store(
        &self,
        engine: &Engine,
        entries: Entries,
        facts: Vec<catalog::Facts>,
        now: DateTime<Utc>,
    ) -> Result<Signed<Catalog>, CatalogError> {
        let municipality = self.identity(engine); // before the lock: it reads the engine's
        let mut held = self.write();
        let version = held.own.as_ref().map_or(1, |c| c.doc().version + 1);
        let doc = Catalog {
            municipality,
            version,
            issued: now,
            homepage: self.homepage.clone(),
            entries,
            facts,
        };
        let signed = Signed::sign(doc, &self.key, now).map_err(|e| match e {
            regio_policy::signed::SignDocError::Invalid(i) => CatalogError::Invalid(i),
            other => CatalogError::Invalid(Invalid::new("proof", other.to_string())),
        })?;
        engine.store().put_document(
            DocKind::Catalog,
            DocRecord {
                hash: signed.hash().0,
                raw: serde_json::to_vec(signed.raw()).unwrap_or_default(),
                stored_at: now.timestamp_micros(),
            },
        )?;
        held.own = Some(signed.clone());
        Ok(signed)
    }

    /// Takes in a member's catalog received from the region. Returns it when it is new (to be
    /// passed on); an error says why it was refused (the caller logs it).
    pub fn receive(&self, engine: &Engine, value: Value) -> Result<Signed<Catalog>, CatalogError> {
        let signed = Signed::<Catalog>::verify(value)?;
        catalog::check_signer(&signed)?;
        let m = &signed.doc().municipality;
        if m.did == self.municipality.did {
            return Err(CatalogError::Ours);
        }
        let member = engine.regions().iter().any(|r| {
            r.doc()
                .members
                .iter()
                .any(|x| x.did == m.did && x.nis == m.nis)
        });
        if !member {
            return Err(CatalogError::NotMember {
                did: m.did.to_string(),
                nis: m.nis.clone(),
            });
        }
        let mut held = self.write();
        if let Some(h) = held.members.get(&m.did) {
            if h.doc().version >= signed.doc().version {
                return Err(CatalogError::Stale {
                    did: m.did.to_string(),
                    found: signed.doc().version,
                    held: h.doc().version,
                });
            }
        }
        held.members.insert(m.did.clone(), signed.clone());
        Ok(signed)
    }

    /// The catalogs held of `region`'s members other than this node (only current members:
    /// a member that left is no longer listed).
    pub fn members_of(&self, engine: &Engine, region: &str) -> Vec<Signed<Catalog>> {
        let Some(manifest) = engine
            .regions()
            .into_iter()
            .find(|r| r.doc().region == region)
        else {
            return Vec::new();
        };
        let held = self.read();
        manifest
            .doc()
            .members
            .iter()
            .filter_map(|m| {
                // Held by this member's DID, and naming the NIS code the region lists for it.
                held.members
                    .get(&m.did)
                    .filter(|c| c.doc().municipality.nis == m.nis)
            })
            .cloned()
            .collect()
    }

    /// The catalogs a member of `region` holds and syncs: this node's current version (as
    /// signed, not refreshed) and the members' it holds.
    pub fn of_region(&self, engine: &Engine, region: &str) -> Vec<Signed<Catalog>> {
        let mut out = self.members_of(engine, region);
        out.extend(self.read().own.clone());
        out
    }
}
