//! The purpose vocabulary: W3C DPV purposes and their broader/narrower relations, from
//! `charters/purposes.json` (compiled in). Consent or a grant for a broad purpose covers its
//! narrower purposes, never the reverse.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;

/// The vocabulary file shipped in `charters/`.
pub const PURPOSES_JSON: &str = include_str!("../../charters/purposes.json");

/// One purpose of the vocabulary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// DPV local name, e.g. `ResearchAndDevelopment`.
    pub id: String,
    /// Its IRI.
    pub iri: String,
    /// Ids of the purposes directly broader than this one.
    pub broader: Vec<String>,
    /// Labels by language.
    pub label: BTreeMap<String, String>,
    /// Definitions by language.
    pub definition: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    source: String,
    purposes: Vec<Purpose>,
}

/// A purpose vocabulary with its hierarchy.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    purposes: BTreeMap<String, Purpose>,
}

/// Why a vocabulary file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VocabularyError {
    /// Not the expected JSON.
    #[error("purpose vocabulary: {0}")]
    Json(String),
    /// A `broader` names an unknown purpose.
    #[error("purpose `{0}` names unknown broader purpose `{1}`")]
    UnknownBroader(String, String),
    /// The hierarchy has a cycle.
    #[error("purpose `{0}` is broader than itself (cycle)")]
    Cycle(String),
}

static BUILTIN: LazyLock<Vocabulary> =
    LazyLock::new(|| Vocabulary::from_json(PURPOSES_JSON).unwrap_or_default());

impl Vocabulary {
    /// The vocabulary shipped with Regio.
    pub fn builtin() -> &'static Vocabulary {
        &BUILTIN
    }

    /// Reads and checks a vocabulary file.
    pub fn from_json(text: &str) -> Result<Self, VocabularyError> {
        let file: File =
            serde_json::from_str(text).map_err(|e| VocabularyError::Json(e.to_string()))?;
        let purposes: BTreeMap<String, Purpose> = file
            .purposes
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        for p in purposes.values() {
            if let Some(b) = p.broader.iter().find(|b| !purposes.contains_key(*b)) {
                return Err(VocabularyError::UnknownBroader(p.id.clone(), b.clone()));
            }
        }
        let vocab = Vocabulary { purposes };
        for id in vocab.purposes.keys() {
            let ancestors = vocab.strict_ancestors(id);
            if ancestors.contains(id) {
                return Err(VocabularyError::Cycle(id.clone()));
            }
        }
        Ok(vocab)
    }

    /// Whether `id` is a purpose of this vocabulary.
    pub fn contains(&self, id: &str) -> bool {
        self.purposes.contains_key(id)
    }

    /// A purpose by id.
    pub fn get(&self, id: &str) -> Option<&Purpose> {
        self.purposes.get(id)
    }

    /// Every purpose id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.purposes.keys().map(String::as_str)
    }

    fn strict_ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&str> = self
            .purposes
            .get(id)
            .map(|p| p.broader.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(next) = todo.pop() {
            if out.insert(next.to_owned()) {
                if let Some(p) = self.purposes.get(next) {
                    todo.extend(p.broader.iter().map(String::as_str));
                }
            }
        }
        out
    }

    /// Whether consent or a grant for `broad` covers a use for `narrow`: equal, or `broad` is
    /// an ancestor of `narrow`.
    pub fn covers(&self, broad: &str, narrow: &str) -> bool {
        broad == narrow || self.strict_ancestors(narrow).contains(broad)
    }

    /// The purposes whose consent covers a use for `id`: itself and every ancestor.
    pub fn covering(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        out.extend(self.strict_ancestors(id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_vocabulary_loads_with_its_hierarchy() {
        let v = Vocabulary::builtin();
        assert!(v.ids().count() >= 30);
        assert!(v.covers("ResearchAndDevelopment", "AcademicResearch"));
        assert!(!v.covers("AcademicResearch", "ResearchAndDevelopment"));
        assert!(v.covers("Purpose", "FraudPreventionAndDetection"));
        assert!(v.covers("CommercialPurpose", "CommercialResearch"));
        assert!(!v.covers("Marketing", "ResearchAndDevelopment"));
        let c = v.covering("AcademicResearch");
        assert_eq!(
            c,
            vec!["AcademicResearch", "Purpose", "ResearchAndDevelopment"]
        );
    }

    #[test]
    fn unknown_broader_and_cycles_are_refused() {
        let bad = r#"{"source":"t","purposes":[{"id":"A","iri":"x","broader":["B"],"label":{},"definition":{}}]}"#;
        assert_eq!(
            Vocabulary::from_json(bad).unwrap_err(),
            VocabularyError::UnknownBroader("A".into(), "B".into())
        );
        let cyc = r#"{"source":"t","purposes":[{"id":"A","iri":"x","broader":["B"],"label":{},"definition":{}},
                     {"id":"B","iri":"y","broader":["A"],"label":{},"definition":{}}]}"#;
        assert!(matches!(
            Vocabulary::from_json(cyc).unwrap_err(),
            VocabularyError::Cycle(_)
        ));
    }
}
