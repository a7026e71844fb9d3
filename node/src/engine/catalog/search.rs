//! Region-wide search over catalogs: by words (every word must occur, case- and
//! accent-insensitively, in a title, description, keyword, dataset name, partner or field
//! name, in either language), by EU theme, and by municipality (NIS code or name).
//!
//! A search narrows each catalog to what matched and keeps the catalog itself (its
//! municipality, version, signature): the DCAT rendering of a search result is a valid
//! DCAT-AP catalog of the matches, and the JSON hits name the member and link to its node.

use regio_policy::doc::catalog::{Catalog, Theme};

/// What to look for; `None` or empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Words, all of which must occur.
    pub words: Vec<String>,
    /// An EU theme.
    pub theme: Option<Theme>,
    /// A NIS code or a municipality name.
    pub municipality: Option<String>,
}

impl Filter {
    /// A filter from the request's parameters (words split on white space).
    pub fn new(q: Option<&str>, theme: Option<Theme>, municipality: Option<&str>) -> Filter {
        Filter {
            words: q
                .unwrap_or_default()
                .split_whitespace()
                .map(fold)
                .filter(|w| !w.is_empty())
                .collect(),
            theme,
            municipality: municipality
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(fold),
        }
    }

    /// Whether it filters anything.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.theme.is_none() && self.municipality.is_none()
    }

    /// The catalog narrowed to its matching datasets and initiatives; `None` when nothing
    /// matched (or the municipality is another one).
    pub fn apply(&self, catalog: &Catalog) -> Option<Catalog> {
        if self.is_empty() {
            return Some(catalog.clone());
        }
        let m = &catalog.municipality;
        if let Some(want) = &self.municipality {
            if *want != fold(&m.nis) && *want != fold(&m.name) {
                return None;
            }
        }
        let mut out = catalog.clone();
        out.facts.retain(|f| {
            let entry = catalog.entries.datasets.iter().find(|e| e.name == f.name);
            let themes = entry.map(|e| e.themes.as_slice()).unwrap_or_default();
            let mut hay = vec![f.name.as_str(), m.name.as_str()];
            hay.extend(f.fields.iter().map(String::as_str));
            if let Some(e) = entry {
                hay.extend([
                    e.title.nl.as_str(),
                    e.title.en.as_str(),
                    e.description.nl.as_str(),
                    e.description.en.as_str(),
                ]);
                hay.extend(e.keywords.iter().map(String::as_str));
            }
            self.matches(&hay, themes)
        });
        out.entries
            .datasets
            .retain(|e| out.facts.iter().any(|f| f.name == e.name));
        out.entries.initiatives.retain(|n| {
            let mut hay = vec![
                n.id.as_str(),
                m.name.as_str(),
                n.name.nl.as_str(),
                n.name.en.as_str(),
                n.description.nl.as_str(),
                n.description.en.as_str(),
            ];
            hay.extend(n.keywords.iter().map(String::as_str));
            hay.extend(n.partners.iter().map(String::as_str));
            hay.extend(n.datasets.iter().map(String::as_str));
            self.matches(&hay, &n.themes)
        });
        // An initiative's datasets stay described even when only the initiative matched.
        for n in &out.entries.initiatives {
            for d in &n.datasets {
                if !out.facts.iter().any(|f| &f.name == d) {
                    if let Some(f) = catalog.facts.iter().find(|f| &f.name == d) {
                        out.facts.push(f.clone());
                    }
                    if let Some(e) = catalog.entries.datasets.iter().find(|e| &e.name == d) {
                        out.entries.datasets.push(e.clone());
                    }
                }
            }
        }
        if out.facts.is_empty() && out.entries.initiatives.is_empty() {
            None
        } else {
            Some(out)
        }
    }

    fn matches(&self, hay: &[&str], themes: &[Theme]) -> bool {
        if let Some(t) = self.theme {
            if !themes.contains(&t) {
                return false;
            }
        }
        let hay: Vec<String> = hay.iter().map(|h| fold(h)).collect();
        self.words
            .iter()
            .all(|w| hay.iter().any(|h| h.contains(w.as_str())))
    }
}

/// Lower case without the accents of Dutch and French (`één` → `een`, `Leuven` → `leuven`).
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Één Café"), "een cafe");
        let f = Filter::new(
            Some("  Fijnstof  GENT "),
            Some(Theme::ENVI),
            Some(" 44021 "),
        );
        assert_eq!(f.words, vec!["fijnstof", "gent"]);
        assert_eq!(f.municipality.as_deref(), Some("44021"));
        assert!(Filter::new(Some(" "), None, Some("")).is_empty());
    }
}
