//! DCAT-AP 3 as RDF (oxrdf triples), written as Turtle (oxttl) or JSON-LD (oxjsonld): one
//! graph, two syntaxes, so that they never disagree.
//!
//! | Regio | DCAT-AP 3 |
//! |---|---|
//! | a member's catalog | `dcat:Catalog` `<DID#catalog>`: title, description, publisher, homepage, modified |
//! | the municipality | `foaf:Agent` `<DID>` (the node's key is its identity): `foaf:name`, `dct:identifier` (NIS) |
//! | a dataset | `dcat:Dataset` `<DID#dataset-NAME>`: title and description (nl, en), keywords, themes (EU data-theme), `dct:spatial` (the municipality, `https://data.vlaanderen.be/id/gemeente/NIS`), `dct:temporal`, `dct:accrualPeriodicity` (EU frequency), publisher, contact point, `dct:accessRights` (EU access-right: PUBLIC for open data, RESTRICTED otherwise), `dct:conformsTo` (its schema), `dct:provenance` (the governing policy version), `void:entities` (records), one `dcat:Distribution` |
//! | a dataset's access | `dcat:Distribution`: `dcat:accessURL` the node's `/v1/query`, licence, rights |
//! | an initiative | `prov:Activity` `<DID#initiative-ID>`: title, description, `adms:status`, `dct:temporal`, `prov:used` its datasets, `prov:wasAssociatedWith` partners, contact point; its datasets point to it with `prov:wasGeneratedBy` |
//! | a region | `dcat:Catalog` `<urn:regio:region:ID>` with `dcat:catalog` every member's catalog |

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{BlankNode, Literal, NamedNode, NamedOrBlankNode, Term, Triple};

use regio_policy::doc::bundle::Classification;
use regio_policy::doc::catalog::{Catalog, Contact, Facts, Period, Status, Text, Theme};

/// The prefixes written in both syntaxes.
pub const PREFIXES: [(&str, &str); 13] = [
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("foaf", "http://xmlns.com/foaf/0.1/"),
    ("vcard", "http://www.w3.org/2006/vcard/ns#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("prov", "http://www.w3.org/ns/prov#"),
    ("adms", "http://www.w3.org/ns/adms#"),
    ("void", "http://rdfs.org/ns/void#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("locn", "http://www.w3.org/ns/locn#"),
    (
        "eu-theme",
        "http://publications.europa.eu/resource/authority/data-theme/",
    ),
    (
        "eu-freq",
        "http://publications.europa.eu/resource/authority/frequency/",
    ),
];

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const VCARD: &str = "http://www.w3.org/2006/vcard/ns#";
const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const PROV: &str = "http://www.w3.org/ns/prov#";
const ADMS: &str = "http://www.w3.org/ns/adms#";
const VOID: &str = "http://rdfs.org/ns/void#";
const RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
const EU: &str = "http://publications.europa.eu/resource/authority/";
/// Where a Flemish municipality is named by its NIS code (Basisregisters Vlaanderen).
const GEMEENTE: &str = "https://data.vlaanderen.be/id/gemeente/";

/// A region's merged catalog: its id and name, and the catalogs of the members.
#[derive(Debug, Clone, Copy)]
pub struct Region<'a> {
    /// Region id.
    pub id: &'a str,
    /// Region name.
    pub name: &'a str,
}

/// A graph under construction.
#[derive(Default)]
pub struct Graph {
    triples: Vec<Triple>,
}

fn iri(s: &str) -> NamedNode {
    NamedNode::new_unchecked(s)
}

fn term(ns: &str, local: &str) -> NamedNode {
    iri(&format!("{ns}{local}"))
}

fn lang(value: &str, tag: &str) -> Term {
    Literal::new_language_tagged_literal_unchecked(value, tag).into()
}

fn plain(value: &str) -> Term {
    Literal::new_simple_literal(value).into()
}

fn typed(value: String, ty: oxrdf::NamedNodeRef<'_>) -> Term {
    Literal::new_typed_literal(value, ty).into()
}

impl Graph {
    fn add(&mut self, s: impl Into<NamedOrBlankNode>, p: NamedNode, o: impl Into<Term>) {
        self.triples.push(Triple::new(s, p, o));
    }

    fn a(&mut self, s: impl Into<NamedOrBlankNode>, ns: &str, class: &str) {
        self.add(s, rdf::TYPE.into_owned(), term(ns, class));
    }

    fn text(&mut self, s: &NamedNode, p: NamedNode, t: &Text) {
        self.add(s.clone(), p.clone(), lang(&t.nl, "nl"));
        self.add(s.clone(), p, lang(&t.en, "en"));
    }

    /// A concept of an EU vocabulary (`data-theme`, `frequency`, `access-right`), with the
    /// scheme and labels the DCAT-AP shapes check.
    fn concept(&mut self, scheme: &str, code: &str, en: &str, nl: &str) -> NamedNode {
        let c = iri(&format!("{EU}{scheme}/{code}"));
        let s = iri(&format!("{EU}{scheme}"));
        self.a(c.clone(), SKOS, "Concept");
        self.add(c.clone(), term(SKOS, "inScheme"), s.clone());
        self.add(c.clone(), term(SKOS, "prefLabel"), lang(en, "en"));
        self.add(c.clone(), term(SKOS, "prefLabel"), lang(nl, "nl"));
        self.a(s.clone(), SKOS, "ConceptScheme");
        self.add(s, term(DCT, "title"), lang(scheme, "en"));
        c
    }

    fn contact(&mut self, c: &Contact) -> BlankNode {
        let node = BlankNode::default();
        self.a(node.clone(), VCARD, "Kind");
        self.a(node.clone(), VCARD, "Organization");
        self.add(node.clone(), term(VCARD, "fn"), plain(&c.name));
        self.add(
            node.clone(),
            term(VCARD, "hasEmail"),
            iri(&format!("mailto:{}", c.email)),
        );
        node
    }

    fn period(
        &mut self,
        start: String,
        end: Option<String>,
        ty: oxrdf::NamedNodeRef<'_>,
    ) -> BlankNode {
        let node = BlankNode::default();
        self.a(node.clone(), DCT, "PeriodOfTime");
        self.add(node.clone(), term(DCAT, "startDate"), typed(start, ty));
        if let Some(end) = end {
            self.add(node.clone(), term(DCAT, "endDate"), typed(end, ty));
        }
        node
    }

    /// Adds one member's catalog; returns its IRI.
    pub fn catalog(&mut self, c: &Catalog) -> NamedNode {
        let did = c.municipality.did.as_str();
        let cat = iri(&format!("{did}#catalog"));
        let agent = iri(did);
        let m = &c.municipality;
        self.a(agent.clone(), FOAF, "Agent");
        self.add(agent.clone(), term(FOAF, "name"), plain(&m.name));
        self.add(agent.clone(), term(DCT, "identifier"), plain(&m.nis));

        self.a(cat.clone(), DCAT, "Catalog");
        self.add(
            cat.clone(),
            term(DCT, "title"),
            lang(&format!("Datasets en initiatieven van {}", m.name), "nl"),
        );
        self.add(
            cat.clone(),
            term(DCT, "title"),
            lang(&format!("Datasets and initiatives of {}", m.name), "en"),
        );
        self.add(cat.clone(), term(DCT, "description"), lang(&format!("Wat {} deelt in zijn Regio-regio's: datasets (geaggregeerd opvraagbaar onder het charter) en lokale initiatieven.", m.name), "nl"));
        self.add(cat.clone(), term(DCT, "description"), lang(&format!("What {} shares in its Regio regions: datasets (aggregates under the charter) and local initiatives.", m.name), "en"));
        self.add(cat.clone(), term(DCT, "publisher"), agent.clone());
        self.add(
            cat.clone(),
            term(DCT, "modified"),
            typed(ts(&c.issued), xsd::DATE_TIME),
        );
        self.add(
            cat.clone(),
            term(DCT, "issued"),
            typed(ts(&c.issued), xsd::DATE_TIME),
        );
        for (code, en, nl) in [("NLD", "Dutch", "Nederlands"), ("ENG", "English", "Engels")] {
            let l = self.concept("language", code, en, nl);
            self.add(
                l.clone(),
                rdf::TYPE.into_owned(),
                term(DCT, "LinguisticSystem"),
            );
            self.add(cat.clone(), term(DCT, "language"), l);
        }
        self.add(
            cat.clone(),
            term(DCAT, "themeTaxonomy"),
            iri(&format!("{EU}data-theme")),
        );
        let place = self.place(&m.nis, &m.name);
        self.add(cat.clone(), term(DCT, "spatial"), place);
        if let Some(h) = &c.homepage {
            let page = iri(h);
            self.a(page.clone(), FOAF, "Document");
            self.add(cat.clone(), term(FOAF, "homepage"), page);
        }
        let contact = c.entries.contact.clone();
        for f in &c.facts {
            let d = self.dataset(c, f, &agent, contact.as_ref());
            self.add(cat.clone(), term(DCAT, "dataset"), d);
        }
        for n in &c.entries.initiatives {
            let act = iri(&format!("{did}#initiative-{}", n.id));
            self.a(act.clone(), PROV, "Activity");
            self.text(&act, term(DCT, "title"), &n.name);
            self.text(&act, term(DCT, "description"), &n.description);
            let (en, nl) = match n.status {
                Status::Planned => ("planned", "gepland"),
                Status::Active => ("active", "lopend"),
                Status::Completed => ("completed", "afgerond"),
                Status::Stopped => ("stopped", "stopgezet"),
            };
            self.add(act.clone(), term(ADMS, "status"), lang(en, "en"));
            self.add(act.clone(), term(ADMS, "status"), lang(nl, "nl"));
            let when = self.period(n.start.to_string(), n.end.map(|e| e.to_string()), xsd::DATE);
            self.add(act.clone(), term(DCT, "temporal"), when);
            self.add(act.clone(), term(DCT, "publisher"), agent.clone());
            for k in &n.keywords {
                self.add(act.clone(), term(DCAT, "keyword"), plain(k));
            }
            for t in &n.themes {
                let c = self.theme(*t);
                self.add(act.clone(), term(DCAT, "theme"), c);
            }
            for p in &n.partners {
                let b = BlankNode::default();
                self.a(b.clone(), FOAF, "Agent");
                self.add(b.clone(), term(FOAF, "name"), plain(p));
                self.add(act.clone(), term(PROV, "wasAssociatedWith"), b);
            }
            for d in &n.datasets {
                let ds = iri(&format!("{did}#dataset-{d}"));
                self.add(act.clone(), term(PROV, "used"), ds.clone());
                self.add(ds, term(PROV, "wasGeneratedBy"), act.clone());
            }
            let cp = self.contact(&n.contact);
            self.add(act.clone(), term(DCAT, "contactPoint"), cp);
        }
        cat
    }

    fn place(&mut self, nis: &str, name: &str) -> NamedNode {
        let place = iri(&format!("{GEMEENTE}{nis}"));
        self.a(place.clone(), DCT, "Location");
        self.add(place.clone(), term(SKOS, "prefLabel"), lang(name, "nl"));
        self.add(
            place.clone(),
            term("http://www.w3.org/ns/locn#", "geographicName"),
            lang(name, "nl"),
        );
        place
    }

    fn theme(&mut self, t: Theme) -> NamedNode {
        let (code, en, nl) = t.labels();
        self.concept("data-theme", code, en, nl)
    }

    fn dataset(
        &mut self,
        c: &Catalog,
        f: &Facts,
        agent: &NamedNode,
        contact: Option<&Contact>,
    ) -> NamedNode {
        let did = c.municipality.did.as_str();
        let m = &c.municipality;
        let ds = iri(&format!("{did}#dataset-{}", f.name));
        self.a(ds.clone(), DCAT, "Dataset");
        let entry = c.entries.datasets.iter().find(|e| e.name == f.name);
        match entry {
            Some(e) => {
                self.text(&ds, term(DCT, "title"), &e.title);
                self.text(&ds, term(DCT, "description"), &e.description);
                for k in &e.keywords {
                    self.add(ds.clone(), term(DCAT, "keyword"), plain(k));
                }
                for t in &e.themes {
                    let c = self.theme(*t);
                    self.add(ds.clone(), term(DCAT, "theme"), c);
                }
                let code = e.frequency.code();
                let freq = self.concept(
                    "frequency",
                    code,
                    &code.to_lowercase().replace('_', " "),
                    &code.to_lowercase().replace('_', " "),
                );
                self.add(freq.clone(), rdf::TYPE.into_owned(), term(DCT, "Frequency"));
                self.add(ds.clone(), term(DCT, "accrualPeriodicity"), freq);
            }
            None => {
                let title = Text {
                    nl: format!("Dataset {} van {}", f.name, m.name),
                    en: format!("Dataset {} of {}", f.name, m.name),
                };
                let fields = f.fields.join(", ");
                let description = Text {
                    nl: format!("Nog niet beschreven door {}. Velden: {fields}.", m.name),
                    en: format!("Not yet described by {}. Fields: {fields}.", m.name),
                };
                self.text(&ds, term(DCT, "title"), &title);
                self.text(&ds, term(DCT, "description"), &description);
            }
        }
        self.add(ds.clone(), term(DCT, "identifier"), plain(&f.name));
        self.add(ds.clone(), term(DCT, "publisher"), agent.clone());
        let place = self.place(&m.nis, &m.name);
        self.add(ds.clone(), term(DCT, "spatial"), place);
        if let Some(p) = &f.temporal {
            let Period { start, end } = p;
            let when = self.period(ts(start), Some(ts(end)), xsd::DATE_TIME);
            self.add(ds.clone(), term(DCT, "temporal"), when);
        }
        if let Some(cp) = contact {
            let cp = self.contact(cp);
            self.add(ds.clone(), term(DCAT, "contactPoint"), cp);
        }
        let open = f.classification == Classification::Open;
        let (code, en, nl) = if open {
            ("PUBLIC", "public", "publiek")
        } else {
            ("RESTRICTED", "restricted", "beperkt")
        };
        let rights = self.concept("access-right", code, en, nl);
        self.add(
            rights.clone(),
            rdf::TYPE.into_owned(),
            term(DCT, "RightsStatement"),
        );
        self.add(ds.clone(), term(DCT, "accessRights"), rights.clone());

        let schema = iri(&format!(
            "urn:regio:schema:{}:sha256:{}",
            f.name, f.schema_hash
        ));
        self.a(schema.clone(), DCT, "Standard");
        self.add(
            schema.clone(),
            term(DCT, "title"),
            plain(&format!(
                "Regio dataset schema of {}: {}",
                f.name,
                f.fields.join(", ")
            )),
        );
        self.add(ds.clone(), term(DCT, "conformsTo"), schema);

        let prov = BlankNode::default();
        self.a(prov.clone(), DCT, "ProvenanceStatement");
        let how = match f.policy_version {
            Some(v) => format!("Governed by version {v} of the signed policy of {} ({did}); every query is checked against citizen consent, the application's ethics certificate and the region's inclusion charter.", m.name),
            None => format!("{} has not published a policy yet: no query is answered.", m.name),
        };
        self.add(prov.clone(), term(RDFS, "label"), lang(&how, "en"));
        self.add(ds.clone(), term(DCT, "provenance"), prov);
        self.add(
            ds.clone(),
            term(VOID, "entities"),
            typed(f.records.to_string(), xsd::INTEGER),
        );

        let dist = iri(&format!("{did}#distribution-{}", f.name));
        self.a(dist.clone(), DCAT, "Distribution");
        let access = match &c.homepage {
            Some(h) => format!("{}/v1/query", h.trim_end_matches('/')),
            None => format!("{did}#query"),
        };
        self.add(dist.clone(), term(DCAT, "accessURL"), iri(&access));
        self.add(dist.clone(), term(DCT, "description"), lang(if open {
            "Signed federated SQL queries through Regio (POST /v1/query)."
        } else {
            "Aggregates only, through signed federated SQL queries under the region's inclusion charter (POST /v1/query); personal rows never leave the node."
        }, "en"));
        self.add(dist.clone(), term(DCT, "rights"), rights);
        let json = self.concept("file-type", "JSON", "JSON", "JSON");
        self.add(
            json.clone(),
            rdf::TYPE.into_owned(),
            term(DCT, "MediaTypeOrExtent"),
        );
        self.add(dist.clone(), term(DCT, "format"), json);
        if let Some(e) = entry {
            let licence = iri(&e.licence);
            self.a(licence.clone(), DCT, "LicenseDocument");
            self.add(ds.clone(), term(DCT, "license"), licence.clone());
            self.add(dist.clone(), term(DCT, "license"), licence);
        }
        self.add(ds.clone(), term(DCAT, "distribution"), dist);
        ds
    }

    /// Adds a region's merged catalog over the member catalogs already added.
    pub fn region(&mut self, region: Region<'_>, members: &[NamedNode]) {
        let cat = iri(&format!("urn:regio:region:{}", region.id));
        let agent = iri(&format!("urn:regio:region:{}#members", region.id));
        self.a(agent.clone(), FOAF, "Agent");
        self.add(
            agent.clone(),
            term(FOAF, "name"),
            plain(&format!("The members of {}", region.name)),
        );
        self.a(cat.clone(), DCAT, "Catalog");
        self.add(
            cat.clone(),
            term(DCT, "title"),
            lang(&format!("Regio-catalogus van {}", region.name), "nl"),
        );
        self.add(
            cat.clone(),
            term(DCT, "title"),
            lang(&format!("Regio catalog of {}", region.name), "en"),
        );
        self.add(
            cat.clone(),
            term(DCT, "description"),
            lang(
                &format!(
                    "De catalogi van alle leden van {}, ondertekend door elk lid.",
                    region.name
                ),
                "nl",
            ),
        );
        self.add(
            cat.clone(),
            term(DCT, "description"),
            lang(
                &format!(
                    "The catalogs of every member of {}, each signed by its member.",
                    region.name
                ),
                "en",
            ),
        );
        self.add(cat.clone(), term(DCT, "publisher"), agent);
        for m in members {
            self.add(cat.clone(), term(DCAT, "catalog"), m.clone());
        }
    }

    /// The graph as Turtle.
    pub fn turtle(&self) -> Vec<u8> {
        let mut s = oxttl::TurtleSerializer::new();
        for (p, ns) in PREFIXES {
            match s.clone().with_prefix(p, ns) {
                Ok(with) => s = with,
                Err(e) => {
                    tracing::error!(prefix = p, error = %e, "a catalog prefix is not an IRI; written without it")
                }
            }
        }
        let mut w = s.for_writer(Vec::new());
        for t in &self.triples {
            if let Err(e) = w.serialize_triple(t) {
                tracing::error!(error = %e, "a catalog triple could not be written as Turtle");
            }
        }
        w.finish().unwrap_or_default()
    }

    /// The graph as JSON-LD.
    pub fn json_ld(&self) -> Vec<u8> {
        let mut s = oxjsonld::JsonLdSerializer::new();
        for (p, ns) in PREFIXES {
            match s.clone().with_prefix(p, ns) {
                Ok(with) => s = with,
                Err(e) => {
                    tracing::error!(prefix = p, error = %e, "a catalog prefix is not an IRI; written without it")
                }
            }
        }
        let mut w = s.for_writer(Vec::new());
        for t in &self.triples {
            if let Err(e) = w.serialize_quad(t.as_ref().in_graph(oxrdf::GraphNameRef::DefaultGraph))
            {
                tracing::error!(error = %e, "a catalog triple could not be written as JSON-LD");
            }
        }
        w.finish().unwrap_or_default()
    }

    /// Number of triples.
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }
}

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
