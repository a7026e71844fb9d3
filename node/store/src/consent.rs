//! Consent as the node stores and applies it (owner: storage). A [`Entry`] is the typed
//! part of a signed ConsentRecord that the scan-time filter needs; the signed JSON rides
//! along as opaque bytes (`raw`) until `regio_policy` verifies and decodes it.
//!
//! The [`ConsentIndex`] holds the current entry of every consent id in memory, indexed by
//! (dataset, purpose), so that [`ConsentIndex::view`] builds the set of consenting subjects
//! for one query in time proportional to the entries of that dataset and purpose only.
//! The store keeps it up to date on every write (see `store::Store`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One consent: a subject's decision about some datasets for some purposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable id of the consent; a newer entry with the same id replaces the older one.
    pub id: String,
    /// The data subject (pseudonym), as it appears in the dataset's subject field.
    pub subject: String,
    /// Datasets covered; empty means every dataset of this node.
    pub datasets: Vec<String>,
    /// Purposes covered (W3C DPV names).
    pub purposes: Vec<String>,
    /// `true` when consent was given, `false` when refused.
    pub given: bool,
    /// When it was given (or refused), microseconds since the epoch, UTC.
    pub given_at: i64,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<i64>,
    /// How it was recorded: `app`, `kiosk`, `desk`, `paper`, `import` …
    pub channel: String,
    /// The signed ConsentRecord JSON, when there is one.
    pub raw: Option<Vec<u8>>,
}

impl Entry {
    /// Whether this entry is a current, given consent at `now`.
    pub fn active_at(&self, now: i64) -> bool {
        self.given && self.given_at <= now && self.withdrawn_at.is_none_or(|w| w > now)
    }

    /// The instant of the last change this entry records (its given or withdrawn time).
    pub fn last_change(&self) -> i64 {
        self.withdrawn_at
            .map_or(self.given_at, |w| w.max(self.given_at))
    }

    /// Whether `self` should replace `current` as the entry of its id: unless it records
    /// an older change, the later write wins.
    pub fn supersedes(&self, current: &Entry) -> bool {
        self.last_change() >= current.last_change()
    }
}

/// Key of the index: a dataset (`None` = entries covering all datasets) and a purpose.
type IndexKey = (Option<String>, String);

/// What the view needs of an entry, kept in each bucket it belongs to.
#[derive(Debug, Clone)]
struct Grant {
    subject: Arc<str>,
    given: bool,
    given_at: i64,
    withdrawn_at: Option<i64>,
}

impl Grant {
    fn active_at(&self, now: i64) -> bool {
        self.given && self.given_at <= now && self.withdrawn_at.is_none_or(|w| w > now)
    }
}

/// The current consent entries, indexed for building [`ConsentView`]s.
#[derive(Debug, Default, Clone)]
pub struct ConsentIndex {
    current: HashMap<String, Entry>,
    /// (dataset or all, purpose) → consent id → what the view needs.
    by_key: HashMap<IndexKey, HashMap<String, Grant>>,
}

impl ConsentIndex {
    /// An index over `entries` (later entries of an id replace earlier ones when newer).
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut index = ConsentIndex::default();
        for e in entries {
            index.apply(e);
        }
        index
    }

    fn keys(e: &Entry) -> Vec<IndexKey> {
        let datasets: Vec<Option<String>> = if e.datasets.is_empty() {
            vec![None]
        } else {
            e.datasets.iter().cloned().map(Some).collect()
        };
        datasets
            .iter()
            .flat_map(|d| e.purposes.iter().map(move |p| (d.clone(), p.clone())))
            .collect()
    }

    /// Applies one entry; returns whether it became the current entry of its id. The
    /// signed JSON (`raw`) is not kept in memory: read it from the stored history.
    pub fn apply(&mut self, mut e: Entry) -> bool {
        e.raw = None;
        let subject: Arc<str> = match self.current.get(&e.id) {
            Some(old) if !e.supersedes(old) => return false,
            Some(old) => {
                for k in Self::keys(old) {
                    if let Some(bucket) = self.by_key.get_mut(&k) {
                        bucket.remove(&old.id);
                    }
                }
                Arc::from(e.subject.as_str())
            }
            None => Arc::from(e.subject.as_str()),
        };
        let grant = Grant {
            subject,
            given: e.given,
            given_at: e.given_at,
            withdrawn_at: e.withdrawn_at,
        };
        for k in Self::keys(&e) {
            self.by_key
                .entry(k)
                .or_default()
                .insert(e.id.clone(), grant.clone());
        }
        self.current.insert(e.id.clone(), e);
        true
    }

    /// The current entry of `id` (without `raw`).
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.current.get(id)
    }

    /// Number of consent ids.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// The subjects whose consent covers `dataset` and one of `purposes` at `now`.
    pub fn view(&self, dataset: &str, purposes: &[String], now: i64) -> ConsentView {
        let buckets: Vec<&HashMap<String, Grant>> = purposes
            .iter()
            .flat_map(|p| [(Some(dataset.to_string()), p.clone()), (None, p.clone())])
            .filter_map(|k| self.by_key.get(&k))
            .collect();
        let mut allowed = HashSet::with_capacity(buckets.iter().map(|b| b.len()).sum());
        for grant in buckets.iter().flat_map(|b| b.values()) {
            if grant.active_at(now) {
                allowed.insert(grant.subject.clone());
            }
        }
        ConsentView { allowed }
    }
}

/// The consenting subjects for one (dataset, purposes, instant): what the scan filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentView {
    allowed: HashSet<Arc<str>>,
}

impl ConsentView {
    /// Whether a personal row of `subject` may be used.
    pub fn allows(&self, subject: &str) -> bool {
        self.allowed.contains(subject)
    }

    /// Number of consenting subjects.
    pub fn len(&self) -> usize {
        self.allowed.len()
    }

    /// Whether no subject consents.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(
        id: &str,
        subject: &str,
        datasets: &[&str],
        purpose: &str,
        given_at: i64,
        withdrawn_at: Option<i64>,
    ) -> Entry {
        Entry {
            id: id.into(),
            subject: subject.into(),
            datasets: datasets.iter().map(|d| d.to_string()).collect(),
            purposes: vec![purpose.into()],
            given: true,
            given_at,
            withdrawn_at,
            channel: "desk".into(),
            raw: None,
        }
    }

    #[test]
    fn view_semantics() {
        let r = vec!["Research".to_string()];
        let index = ConsentIndex::from_entries([
            entry(
                "a",
                "s-past-withdrawn",
                &["readings"],
                "Research",
                10,
                Some(50),
            ),
            entry(
                "b",
                "s-future-withdrawn",
                &["readings"],
                "Research",
                10,
                Some(500),
            ),
            entry("c", "s-other-purpose", &["readings"], "Marketing", 10, None),
            entry("d", "s-other-dataset", &["traffic"], "Research", 10, None),
            entry("e", "s-all-datasets", &[], "Research", 10, None),
            entry("f", "s-not-yet", &["readings"], "Research", 200, None),
            Entry {
                given: false,
                ..entry("g", "s-refused", &["readings"], "Research", 10, None)
            },
        ]);
        let v = index.view("readings", &r, 100);
        let mut allowed: Vec<String> = v.allowed.iter().map(|s| s.to_string()).collect();
        allowed.sort();
        assert_eq!(allowed, vec!["s-all-datasets", "s-future-withdrawn"]);
        assert!(
            !v.allows("s-other-purpose")
                && !v.allows("s-other-dataset")
                && !v.allows("s-past-withdrawn")
        );
        assert!(index.view("traffic", &r, 100).allows("s-other-dataset"));
    }

    #[test]
    fn newer_entry_replaces_older_and_older_is_ignored() {
        let r = vec!["Research".to_string()];
        let mut index = ConsentIndex::from_entries([entry("a", "s1", &[], "Research", 10, None)]);
        assert!(index.view("x", &r, 100).allows("s1"));
        assert!(index.apply(entry("a", "s1", &[], "Research", 10, Some(60))));
        assert!(!index.view("x", &r, 100).allows("s1"));
        assert!(!index.apply(entry("a", "s1", &[], "Research", 5, None)));
        assert_eq!(index.get("a").and_then(|e| e.withdrawn_at), Some(60));
        assert_eq!(index.len(), 1);
    }
}
