//! Catalog — what one municipality publishes about its datasets and local initiatives, so that
//! one town's pilot can be found and reused by the next. Signed by the municipality's node
//! key, versioned (a higher version replaces a lower one), and rendered as DCAT-AP 3 by the
//! node.
//!
//! Two parts: [`Entries`], what the operator writes (titles and descriptions in Dutch and
//! English, keywords, themes from the EU data-theme vocabulary, update frequency, licence,
//! contact point, initiatives), and [`Facts`], what the node computes from its data and policy
//! (classification, record count, time coverage, the governing policy version, the schema).
//! The operator never types a fact and the node never invents an entry.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::bundle::{Classification, Municipality};
use crate::signed::{Document, Invalid, Signed};

/// Longest title or keyword, in characters.
pub const MAX_SHORT: usize = 200;
/// Longest description, in characters.
pub const MAX_TEXT: usize = 4_000;
/// Most datasets, initiatives, keywords, themes, partners per list.
pub const MAX_ITEMS: usize = 256;

/// A text in Dutch (the region's language) and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Dutch.
    pub nl: String,
    /// English.
    pub en: String,
}

/// Who to contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// A service or team name (not a person's name, which would be personal data).
    pub name: String,
    /// An e-mail address.
    pub email: String,
}

/// A theme of the EU data-theme vocabulary
/// (`http://publications.europa.eu/resource/authority/data-theme/<CODE>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Theme {
    AGRI,
    ECON,
    EDUC,
    ENER,
    ENVI,
    GOVE,
    HEAL,
    INTR,
    JUST,
    REGI,
    SOCI,
    TECH,
    TRAN,
}

impl Theme {
    /// Every theme, in code order.
    pub const ALL: [Theme; 13] = [
        Theme::AGRI,
        Theme::ECON,
        Theme::EDUC,
        Theme::ENER,
        Theme::ENVI,
        Theme::GOVE,
        Theme::HEAL,
        Theme::INTR,
        Theme::JUST,
        Theme::REGI,
        Theme::SOCI,
        Theme::TECH,
        Theme::TRAN,
    ];

    /// The code, e.g. `TRAN`.
    pub fn code(self) -> &'static str {
        self.labels().0
    }

    /// (code, English label, Dutch label) as in the EU vocabulary.
    pub fn labels(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Theme::AGRI => (
                "AGRI",
                "Agriculture, fisheries, forestry and food",
                "Landbouw, visserij, bosbouw en voeding",
            ),
            Theme::ECON => ("ECON", "Economy and finance", "Economie en financiën"),
            Theme::EDUC => (
                "EDUC",
                "Education, culture and sport",
                "Onderwijs, cultuur en sport",
            ),
            Theme::ENER => ("ENER", "Energy", "Energie"),
            Theme::ENVI => ("ENVI", "Environment", "Milieu"),
            Theme::GOVE => (
                "GOVE",
                "Government and public sector",
                "Overheid en publieke sector",
            ),
            Theme::HEAL => ("HEAL", "Health", "Gezondheid"),
            Theme::INTR => (
                "INTR",
                "International issues",
                "Internationale vraagstukken",
            ),
            Theme::JUST => (
                "JUST",
                "Justice, legal system and public safety",
                "Justitie, rechtsstelsel en openbare veiligheid",
            ),
            Theme::REGI => ("REGI", "Regions and cities", "Regio's en steden"),
            Theme::SOCI => ("SOCI", "Population and society", "Bevolking en samenleving"),
            Theme::TECH => (
                "TECH",
                "Science and technology",
                "Wetenschap en technologie",
            ),
            Theme::TRAN => ("TRAN", "Transport", "Vervoer"),
        }
    }

    /// Parses a code, case-insensitively.
    pub fn parse(code: &str) -> Option<Theme> {
        Theme::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(code))
    }
}

/// How often a dataset is updated: a code of the EU frequency vocabulary
/// (`http://publications.europa.eu/resource/authority/frequency/<CODE>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum Frequency {
    UpdateCont,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Annual,
    Irreg,
    Never,
    Unknown,
}

impl Frequency {
    /// The EU code, e.g. `DAILY`.
    pub fn code(self) -> &'static str {
        match self {
            Frequency::UpdateCont => "UPDATE_CONT",
            Frequency::Hourly => "HOURLY",
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Quarterly => "QUARTERLY",
            Frequency::Annual => "ANNUAL",
            Frequency::Irreg => "IRREG",
            Frequency::Never => "NEVER",
            Frequency::Unknown => "UNKNOWN",
        }
    }
}

/// What the operator writes about one of the node's datasets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetEntry {
    /// The dataset's name on this node.
    pub name: String,
    /// Title.
    pub title: Text,
    /// What it holds, how it is collected, what it is good for.
    pub description: Text,
    /// Free keywords (searched).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// EU data themes.
    #[serde(default)]
    pub themes: Vec<Theme>,
    /// Update frequency.
    pub frequency: Frequency,
    /// Licence, as an absolute IRI (e.g. `https://creativecommons.org/licenses/by/4.0/`).
    pub licence: String,
}

/// Where an initiative stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Status {
    Planned,
    Active,
    Completed,
    Stopped,
}

/// A local initiative: a pilot, a citizen-science project, a living lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Initiative {
    /// Identifier within this catalog (`[a-z0-9-]+`).
    pub id: String,
    /// Name.
    pub name: Text,
    /// What it does and what came of it.
    pub description: Text,
    /// Status.
    pub status: Status,
    /// First day.
    pub start: NaiveDate,
    /// Last day, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
    /// Partner organisations.
    #[serde(default)]
    pub partners: Vec<String>,
    /// Datasets it uses (names on this node).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Free keywords (searched).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// EU data themes.
    #[serde(default)]
    pub themes: Vec<Theme>,
    /// Who to contact.
    pub contact: Contact,
}

/// Everything the operator enters (the TOML file `regio catalog import` reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entries {
    /// The catalog's contact point (datasets have no contact of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// Dataset descriptions.
    #[serde(default)]
    pub datasets: Vec<DatasetEntry>,
    /// Initiatives.
    #[serde(default)]
    pub initiatives: Vec<Initiative>,
}

/// A time span, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// First instant.
    #[serde(with = "crate::time::ts")]
    pub start: DateTime<Utc>,
    /// Last instant.
    #[serde(with = "crate::time::ts")]
    pub end: DateTime<Utc>,
}

/// What the node computes about one of its datasets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Facts {
    /// The dataset.
    pub name: String,
    /// Its classification in the governing policy (`internal` when no policy names it).
    pub classification: Classification,
    /// Records stored; for a personal dataset rounded down to a multiple of 1,000.
    pub records: u64,
    /// Whether `records` is exact.
    pub records_exact: bool,
    /// First and last time of the dataset's time field (whole days for personal datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporal: Option<Period>,
    /// The policy version that governs it, if the node has a policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
    /// The schema's field names, in order.
    pub fields: Vec<String>,
    /// SHA-256 of the schema's JSON, hex.
    pub schema_hash: String,
}

/// One version of a municipality's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalog {
    /// Who publishes it (signs it with the node key).
    pub municipality: Municipality,
    /// Version, from 1; a higher version replaces a lower one.
    pub version: u64,
    /// When it was issued.
    #[serde(with = "crate::time::ts")]
    pub issued: DateTime<Utc>,
    /// The node's public web address, if it has one (links in search results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// What the operator wrote.
    pub entries: Entries,
    /// What the node computed, one per dataset it holds.
    pub facts: Vec<Facts>,
}

impl Document for Catalog {
    const TYPE: &'static str = "Catalog";
    const SCHEMA_VERSION: u32 = 1;

    fn validate(&self) -> Result<(), Invalid> {
        super::non_empty("municipality.nis", &self.municipality.nis)?;
        super::non_empty("municipality.name", &self.municipality.name)?;
        if self.version == 0 {
            return Err(Invalid::new("version", "versions start at 1"));
        }
        if let Some(h) = &self.homepage {
            check_iri("homepage", h)?;
        }
        items("facts", self.facts.len())?;
        for (i, f) in self.facts.iter().enumerate() {
            super::check_dataset(&format!("facts[{i}].name"), &f.name, false)?;
            if self.facts[..i].iter().any(|g| g.name == f.name) {
                return Err(Invalid::new(
                    format!("facts[{i}].name"),
                    format!("`{}` is listed twice", f.name),
                ));
            }
        }
        self.entries
            .validate(&self.facts)
            .map_err(|e| Invalid::new(format!("entries.{}", e.field), e.reason))
    }
}

impl Entries {
    /// Checks the entries against the datasets the node holds (`facts`): every described
    /// dataset exists, names are unique, texts are within their limits.
    pub fn validate(&self, facts: &[Facts]) -> Result<(), Invalid> {
        if let Some(c) = &self.contact {
            c.validate("contact")?;
        }
        items("datasets", self.datasets.len())?;
        for (i, d) in self.datasets.iter().enumerate() {
            let at = format!("datasets[{i}]");
            if !facts.iter().any(|f| f.name == d.name) {
                return Err(Invalid::new(
                    format!("{at}.name"),
                    format!("`{}` is not a dataset of this node", d.name),
                ));
            }
            if self.datasets[..i].iter().any(|e| e.name == d.name) {
                return Err(Invalid::new(
                    format!("{at}.name"),
                    format!("`{}` is described twice", d.name),
                ));
            }
            d.title.validate(&format!("{at}.title"), MAX_SHORT)?;
            d.description
                .validate(&format!("{at}.description"), MAX_TEXT)?;
            words(&format!("{at}.keywords"), &d.keywords)?;
            items(&format!("{at}.themes"), d.themes.len())?;
            check_iri(&format!("{at}.licence"), &d.licence)?;
        }
        items("initiatives", self.initiatives.len())?;
        for (i, n) in self.initiatives.iter().enumerate() {
            let at = format!("initiatives[{i}]");
            let id_ok = !n.id.is_empty()
                && n.id.len() <= 63
                && n.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok {
                return Err(Invalid::new(
                    format!("{at}.id"),
                    format!("`{}` is not an id ([a-z0-9-], at most 63)", n.id),
                ));
            }
            if self.initiatives[..i].iter().any(|m| m.id == n.id) {
                return Err(Invalid::new(
                    format!("{at}.id"),
                    format!("`{}` is used twice", n.id),
                ));
            }
            n.name.validate(&format!("{at}.name"), MAX_SHORT)?;
            n.description
                .validate(&format!("{at}.description"), MAX_TEXT)?;
            if let Some(end) = n.end {
                if end < n.start {
                    return Err(Invalid::new(format!("{at}.end"), "is before `start`"));
                }
            }
            words(&format!("{at}.partners"), &n.partners)?;
            words(&format!("{at}.keywords"), &n.keywords)?;
            items(&format!("{at}.themes"), n.themes.len())?;
            items(&format!("{at}.datasets"), n.datasets.len())?;
            for (j, d) in n.datasets.iter().enumerate() {
                if !facts.iter().any(|f| &f.name == d) {
                    return Err(Invalid::new(
                        format!("{at}.datasets[{j}]"),
                        format!("`{d}` is not a dataset of this node"),
                    ));
                }
            }
            n.contact.validate(&format!("{at}.contact"))?;
        }
        Ok(())
    }
}

impl Text {
    fn validate(&self, at: &str, max: usize) -> Result<(), Invalid> {
        for (lang, s) in [("nl", &self.nl), ("en", &self.en)] {
            let field = format!("{at}.{lang}");
            super::non_empty(&field, s)?;
            length(&field, s, max)?;
        }
        Ok(())
    }
}

impl Contact {
    fn validate(&self, at: &str) -> Result<(), Invalid> {
        super::non_empty(&format!("{at}.name"), &self.name)?;
        length(&format!("{at}.name"), &self.name, MAX_SHORT)?;
        let e = &self.email;
        let ok = e.len() <= MAX_SHORT
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !e
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c));
        if !ok {
            return Err(Invalid::new(
                format!("{at}.email"),
                format!("`{e}` is not an e-mail address"),
            ));
        }
        Ok(())
    }
}

fn length(field: &str, s: &str, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n > max {
        return Err(Invalid::new(
            field,
            format!("{n} characters, at most {max}"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(field, "holds a control character"));
    }
    Ok(())
}

fn items(field: &str, n: usize) -> Result<(), Invalid> {
    if n > MAX_ITEMS {
        return Err(Invalid::new(
            field,
            format!("{n} items, at most {MAX_ITEMS}"),
        ));
    }
    Ok(())
}

fn words(field: &str, list: &[String]) -> Result<(), Invalid> {
    items(field, list.len())?;
    for (i, w) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        super::non_empty(&at, w)?;
        length(&at, w, MAX_SHORT)?;
        if w.contains('\n') {
            return Err(Invalid::new(at, "holds a line break"));
        }
    }
    Ok(())
}

/// Checks an absolute `http(s)` IRI without characters Turtle or a browser would choke on.
fn check_iri(field: &str, iri: &str) -> Result<(), Invalid> {
    let ok = (iri.starts_with("https://") || iri.starts_with("http://"))
        && iri.len() > "https://".len()
        && iri.len() <= 2_000
        && !iri
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("`{iri}` is not an absolute http(s) address"),
        ))
    }
}

/// Checks that a catalog is signed by the municipality it names.
pub fn check_signer(catalog: &Signed<Catalog>) -> Result<(), Invalid> {
    catalog.require_signer(&catalog.doc().municipality.did, "municipality.did")
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
