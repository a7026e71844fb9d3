//! Adversarial decision cases: each asserts the exact reason code.
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use regio_policy::decision::{self, access::Rules, Decision, Reason};
use regio_policy::doc::bundle::{verify_chain, ChainError, PolicyBundle};
use regio_policy::doc::cert::{EthicsCertificate, Revocation};
use regio_policy::doc::consent::{Channel, ConsentRecord, Status};
use regio_policy::doc::manifest::{self, ManifestError, RegionManifest};
use regio_policy::{proof, FieldUse, Granularity, QueryKind, Signed, TimeUnit};
use serde_json::json;
use support::*;

fn refused(d: Decision) -> Reason {
    match d {
        Decision::Refuse(r) => r.reason,
        Decision::Allow(o) => panic!("expected a refusal, got Allow({o:?})"),
    }
}

fn allowed(d: Decision) -> decision::Obligations {
    match d {
        Decision::Allow(o) => *o,
        Decision::Refuse(r) => panic!("expected Allow, got {r}"),
    }
}

#[test]
fn a_proper_query_is_allowed_with_its_obligations() {
    let w = World::new();
    let o = allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &shape("readings"),
        &w.ctx(),
    ));
    assert_eq!(o.policy_version, 1);
    assert_eq!(
        o.min_group_size, 10,
        "the charter's 10 beats the bundle's 5"
    );
    assert_eq!(o.masked, vec!["subject".to_string()]);
    assert!(!o.raw);
    assert_eq!(o.quota_member, *w.brugge.did());
    let c = o.consent.unwrap();
    assert_eq!(c.subject_field, "subject");
    assert_eq!(
        c.purposes,
        vec!["ResearchAndDevelopment".to_string(), "Purpose".to_string()]
    );
}

#[test]
fn forged_query_is_signature_invalid() {
    let w = World::new();
    let mut v = w.query("ResearchAndDevelopment").raw().clone();
    v["sql"] = json!("SELECT subject FROM readings");
    assert_eq!(
        decision::verify_query(v).unwrap_err().reason,
        Reason::SignatureInvalid
    );
}

#[test]
fn query_signed_by_a_wrong_key_is_signature_invalid() {
    let w = World::new();
    let mut v = w.query("ResearchAndDevelopment").raw().clone();
    v["proof"]["verificationMethod"] = json!(w.other_app.did().verification_method());
    let err = decision::verify_query(v).unwrap_err();
    assert_eq!(err.reason, Reason::SignatureInvalid);
    assert!(err.message.contains("does not verify"), "{}", err.message);
}

#[test]
fn unsigned_query_is_signature_invalid() {
    let w = World::new();
    let mut v = w.query("ResearchAndDevelopment").raw().clone();
    v.as_object_mut().unwrap().remove("proof");
    let err = decision::verify_query(v).unwrap_err();
    assert_eq!(err.reason, Reason::SignatureInvalid);
    assert!(err.message.contains("no `proof`"));
}

#[test]
fn expired_not_yet_valid_and_overlong_queries() {
    let w = World::new();
    let mut ctx = w.ctx();
    let q = w.query("ResearchAndDevelopment");
    ctx.now = q.doc().expires;
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::QueryExpired
    );
    ctx.now = q.doc().issued - Duration::seconds(61);
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::QueryNotYetValid
    );
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.expires = doc.issued + Duration::hours(2);
    let long = Signed::sign(doc, &w.app, now()).unwrap();
    assert_eq!(
        refused(decision::decide(&long, &shape("readings"), &w.ctx())),
        Reason::QueryLifetime
    );
}

#[test]
fn replayed_query_is_refused() {
    let w = World::new();
    let ctx = decision::Context {
        nonce_seen: true,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::QueryReplayed
    );
}

#[test]
fn other_region_non_member_sender_and_origin() {
    let w = World::new();
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.region = "kempen".into();
    let q = Signed::sign(doc, &w.app, now()).unwrap();
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &w.ctx())),
        Reason::RegionUnknown
    );
    let no_region = decision::Context {
        region: None,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &no_region
        )),
        Reason::RegionUnknown
    );

    let ctx = decision::Context {
        sender: Some(w.outsider.did()),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::PeerNotMember
    );

    // A member forwards a query that names another member (or anyone else) as its origin.
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.origin = w.outsider.did().clone();
    let q = Signed::sign(doc, &w.app, now()).unwrap();
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &w.ctx())),
        Reason::OriginNotSender
    );
    // The node's own API: the query must name this node as its origin.
    let own_api = decision::Context {
        sender: None,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &own_api
        )),
        Reason::OriginNotCoordinator
    );
}

#[test]
fn a_node_answers_only_in_regions_it_is_a_member_of() {
    let w = World::new();
    // The node holds the region's manifest, but the manifest no longer lists it.
    let mut m = w.manifest.doc().clone();
    let me = w.bundle.doc().municipality.did.clone();
    m.members.retain(|x| x.did != me);
    let without = Signed::sign(m, &w.brugge, now()).unwrap();
    let ctx = decision::Context {
        region: Some(&without),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::RegionNotMember
    );
}

#[test]
fn an_expired_proof_is_refused() {
    let w = World::new();
    let mut v = w.query("ResearchAndDevelopment").raw().clone();
    v.as_object_mut().unwrap().remove("proof");
    let issued = now() - Duration::seconds(10);
    proof::add_proof_until(&mut v, &w.app, issued, Some(now() - Duration::seconds(1))).unwrap();
    let q = decision::verify_query(v).unwrap();
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &w.ctx())),
        Reason::ProofExpired
    );
}

#[test]
fn unknown_dataset() {
    let w = World::new();
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("bevolking"),
            &w.ctx()
        )),
        Reason::DatasetUnknown
    );
}

#[test]
fn application_without_a_role_is_denied() {
    let w = World::new();
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.certificate = None;
    let q = Signed::sign(doc, &w.other_app, now()).unwrap();
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &w.ctx())),
        Reason::AccessDenied
    );
}

#[test]
fn purpose_not_granted_is_denied() {
    let w = World::new();
    assert_eq!(
        refused(decision::decide(
            &w.query("Marketing"),
            &shape("readings"),
            &w.ctx()
        )),
        Reason::AccessDenied
    );
}

#[test]
fn grant_for_a_broad_purpose_covers_a_narrower_one() {
    let w = World::new();
    // The certificate is for ResearchAndDevelopment, the grant too: AcademicResearch is narrower.
    allowed(decision::decide(
        &w.query("AcademicResearch"),
        &shape("readings"),
        &w.ctx(),
    ));
}

#[test]
fn grant_for_a_narrow_purpose_does_not_cover_the_broader_one() {
    let w = World::new();
    let mut b = bundle_doc(&w.gent, &w.certifier);
    b.access.policy.retain(|l| l[0] == "p" && l[1] == "narrow");
    b.access.policy.push(vec![
        "g".into(),
        w.app.did().to_string(),
        "narrow".into(),
        "vlaanderen".into(),
    ]);
    let bundle = Signed::sign(b, &w.gent, now()).unwrap();
    let rules = Rules::compile(&bundle.doc().access).unwrap();
    let ctx = decision::Context {
        policy: &bundle,
        rules: &rules,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::AccessDenied
    );
    allowed(decision::decide(
        &w.query("AcademicResearch"),
        &shape("readings"),
        &ctx,
    ));
}

#[test]
fn raw_needs_the_grant_and_the_disclosure_rule() {
    let w = World::new();
    let mut raw = shape("readings");
    raw.kind = QueryKind::Raw;
    // researcher role has no raw grant for ResearchAndDevelopment.
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &raw,
            &w.ctx()
        )),
        Reason::AccessDenied
    );
    // analyst may do raw for PublicBenefit on any dataset, but readings' rows never leave Gent.
    assert_eq!(
        refused(decision::decide(&w.query("PublicBenefit"), &raw, &w.ctx())),
        Reason::RawNotAllowed
    );
    let mut parking = shape("parking");
    parking.kind = QueryKind::Raw;
    parking.fields = vec!["spot".into(), "occupied".into()];
    let o = allowed(decision::decide(
        &w.query("PublicBenefit"),
        &parking,
        &w.ctx(),
    ));
    assert!(o.raw);
    assert_eq!(o.consent, None, "open dataset: no consent filter");
}

#[test]
fn missing_charter_is_refused() {
    let w = World::new();
    let ctx = decision::Context {
        charter: None,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::CharterUnavailable
    );
    // A charter other than the one the manifest names does not count either.
    let other = Signed::sign(charter_doc(), &w.leuven, now()).unwrap();
    let ctx = decision::Context {
        charter: Some(&other),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::CharterUnavailable
    );
}

#[test]
fn purpose_granted_but_not_allowed_by_the_charter() {
    let w = World::new();
    // ServiceProvision is granted by Gent's rules, but the default charter does not allow it.
    assert_eq!(
        refused(decision::decide(
            &w.query("ServiceProvision"),
            &shape("readings"),
            &w.ctx()
        )),
        Reason::PurposeNotAllowed
    );
}

#[test]
fn grouping_on_a_protected_category_is_refused() {
    let w = World::new();
    let mut s = shape("readings");
    s.groups = vec![FieldUse::new("geboortejaar", Granularity::Exact)];
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &s,
            &w.ctx()
        )),
        Reason::ProtectedAttribute
    );
    s.groups = vec![FieldUse::new("geboortejaar", Granularity::NumericBin(5.0))];
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &s,
            &w.ctx()
        )),
        Reason::ProtectedAttribute
    );
    s.groups = vec![FieldUse::new("geboortejaar", Granularity::NumericBin(10.0))];
    allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &s,
        &w.ctx(),
    ));
}

#[test]
fn filtering_on_a_never_attribute_is_refused_at_any_granularity() {
    let w = World::new();
    let mut s = shape("readings");
    s.filters = vec![FieldUse::new("etniciteit", Granularity::NumericBin(1000.0))];
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &s,
            &w.ctx()
        )),
        Reason::ProtectedAttribute
    );
}

#[test]
fn time_field_is_allowed_at_its_bucket_or_coarser_only() {
    let w = World::new();
    let mut s = shape("readings");
    s.groups = vec![FieldUse::new(
        "observed_at",
        Granularity::Time(TimeUnit::Day),
    )];
    allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &s,
        &w.ctx(),
    ));
    s.groups = vec![FieldUse::new("observed_at", Granularity::Exact)];
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &s,
            &w.ctx()
        )),
        Reason::ProtectedAttribute
    );
}

#[test]
fn certificate_missing_or_not_held() {
    let w = World::new();
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.certificate = None;
    let q = Signed::sign(doc, &w.app, now()).unwrap();
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &w.ctx())),
        Reason::CertificateMissing
    );
    let ctx = decision::Context {
        certificate: None,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::CertificateMissing
    );
}

fn with_cert(
    w: &World,
    edit: impl FnOnce(&mut EthicsCertificate),
    signer: &regio_policy::Key,
) -> (
    Signed<EthicsCertificate>,
    Signed<regio_policy::doc::query::Query>,
) {
    let mut c = cert_doc(&w.certifier, &w.app);
    edit(&mut c);
    let cert = Signed::sign(c, signer, now()).unwrap();
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.certificate = Some(cert.hash());
    (cert, Signed::sign(doc, &w.app, now()).unwrap())
}

#[test]
fn certificate_from_an_untrusted_certifier() {
    let w = World::new();
    let rogue = w.rogue_certifier.did().clone();
    let (cert, q) = with_cert(&w, |c| c.issuer = rogue, &w.rogue_certifier);
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateUntrustedIssuer
    );
}

#[test]
fn certificate_naming_a_trusted_issuer_but_signed_by_another_key() {
    let w = World::new();
    let (cert, q) = with_cert(&w, |_| {}, &w.rogue_certifier);
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateUntrustedIssuer
    );
}

#[test]
fn revoked_certificate_and_a_forged_revocation() {
    let w = World::new();
    let rev = |signer: &regio_policy::Key| {
        Signed::sign(
            Revocation {
                certificate: w.cert.hash(),
                certificate_id: w.cert.doc().id.clone(),
                issuer: w.certifier.did().clone(),
                reason: "algorithm changed without review".into(),
                revoked_at: now() - Duration::minutes(1),
            },
            signer,
            now(),
        )
        .unwrap()
    };
    let real = [rev(&w.certifier)];
    let ctx = decision::Context {
        revocations: &real,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::CertificateRevoked
    );
    let forged = [rev(&w.app)];
    let ctx = decision::Context {
        revocations: &forged,
        ..w.ctx()
    };
    allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &shape("readings"),
        &ctx,
    ));
}

#[test]
fn expired_and_not_yet_valid_certificates() {
    let w = World::new();
    let (cert, q) = with_cert(
        &w,
        |c| c.valid_until = now() - Duration::seconds(1),
        &w.certifier,
    );
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateExpired
    );
    let (cert, q) = with_cert(
        &w,
        |c| c.valid_from = now() + Duration::days(1),
        &w.certifier,
    );
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateNotYetValid
    );
}

#[test]
fn certificate_issued_to_another_application() {
    let w = World::new();
    let other = w.other_app.did().clone();
    let (cert, q) = with_cert(&w, |c| c.credential_subject.id = other, &w.certifier);
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateSubjectMismatch
    );
}

#[test]
fn certificate_outside_its_purpose_or_dataset_scope() {
    let w = World::new();
    let (cert, _) = with_cert(
        &w,
        |c| c.credential_subject.purposes = vec!["AcademicResearch".into()],
        &w.certifier,
    );
    let mut doc = w.query_doc("ResearchAndDevelopment");
    doc.certificate = Some(cert.hash());
    let q = Signed::sign(doc, &w.app, now()).unwrap();
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateScope,
        "narrow certificate, broad query"
    );
    let (cert, q) = with_cert(
        &w,
        |c| c.credential_subject.datasets = vec!["parking".into()],
        &w.certifier,
    );
    let ctx = decision::Context {
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateScope
    );
}

#[test]
fn requirement_without_certifiers_trusts_the_regions_certifiers() {
    let w = World::new();
    let mut b = bundle_doc(&w.gent, &w.certifier);
    b.certification[0].certifiers.clear();
    let bundle = Signed::sign(b, &w.gent, now()).unwrap();
    let ctx = decision::Context {
        policy: &bundle,
        ..w.ctx()
    };
    allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &shape("readings"),
        &ctx,
    ));
    let rogue = w.rogue_certifier.did().clone();
    let (cert, q) = with_cert(&w, |c| c.issuer = rogue, &w.rogue_certifier);
    let ctx = decision::Context {
        policy: &bundle,
        certificate: Some(&cert),
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(&q, &shape("readings"), &ctx)),
        Reason::CertificateUntrustedIssuer
    );
}

#[test]
fn quota_is_a_hard_limit_per_window() {
    let w = World::new();
    let ctx = decision::Context {
        quota_used: 119,
        ..w.ctx()
    };
    allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &shape("readings"),
        &ctx,
    ));
    let ctx = decision::Context {
        quota_used: 120,
        ..w.ctx()
    };
    assert_eq!(
        refused(decision::decide(
            &w.query("ResearchAndDevelopment"),
            &shape("readings"),
            &ctx
        )),
        Reason::QuotaExceeded
    );
}

fn consent(purpose: &str, withdrawn: Option<chrono::DateTime<chrono::Utc>>) -> ConsentRecord {
    ConsentRecord {
        id: "c-1".into(),
        subject: "subj-1".into(),
        subject_did: None,
        controller: key(1).did().clone(),
        datasets: vec!["readings".into()],
        purposes: vec![purpose.into()],
        status: if withdrawn.is_some() {
            Status::Withdrawn
        } else {
            Status::Given
        },
        given_at: now() - Duration::days(3),
        withdrawn_at: withdrawn,
        channel: Channel::Desk,
        clerk: Some(key(60).did().clone()),
        notice: None,
        language: Some("nl".into()),
    }
}

#[test]
fn consent_for_a_broad_purpose_covers_narrower_queries_never_the_reverse() {
    let w = World::new();
    let narrow_q = allowed(decision::decide(
        &w.query("AcademicResearch"),
        &shape("readings"),
        &w.ctx(),
    ))
    .consent
    .unwrap();
    let broad_q = allowed(decision::decide(
        &w.query("ResearchAndDevelopment"),
        &shape("readings"),
        &w.ctx(),
    ))
    .consent
    .unwrap();
    let broad = consent("ResearchAndDevelopment", None);
    let narrow = consent("AcademicResearch", None);
    assert!(broad.allows("readings", &narrow_q.purposes, now()));
    assert!(broad.allows("readings", &broad_q.purposes, now()));
    assert!(narrow.allows("readings", &narrow_q.purposes, now()));
    assert!(!narrow.allows("readings", &broad_q.purposes, now()));
    // Withdrawn consent stops counting from its withdrawal on; other datasets never count.
    let withdrawn = consent("ResearchAndDevelopment", Some(now() - Duration::seconds(1)));
    assert!(!withdrawn.allows("readings", &broad_q.purposes, now()));
    assert!(withdrawn.allows("readings", &broad_q.purposes, now() - Duration::seconds(2)));
    assert!(!broad.allows("parking", &broad_q.purposes, now()));
}

#[test]
fn desk_consent_must_be_signed_by_the_clerk_or_the_subject() {
    let clerk = key(60);
    let ok = Signed::sign(consent("ResearchAndDevelopment", None), &clerk, now()).unwrap();
    assert!(regio_policy::doc::consent::check_signer(&ok).is_ok());
    let stranger = Signed::sign(consent("ResearchAndDevelopment", None), &key(61), now()).unwrap();
    assert!(regio_policy::doc::consent::check_signer(&stranger).is_err());
    let mut no_clerk = consent("ResearchAndDevelopment", None);
    no_clerk.clerk = None;
    let err = Signed::sign(no_clerk, &clerk, now()).unwrap_err();
    assert!(err.to_string().contains("clerk"), "{err}");
}

fn chain(w: &World, n: u64) -> Vec<Signed<PolicyBundle>> {
    let mut out: Vec<Signed<PolicyBundle>> = Vec::new();
    for v in 1..=n {
        let mut b = bundle_doc(&w.gent, &w.certifier);
        b.version = v;
        b.previous = out.last().map(|p| p.hash());
        b.disclosure.min_group_size = 5 + v as u32;
        out.push(Signed::sign(b, &w.gent, now()).unwrap());
    }
    out
}

#[test]
fn chain_verifies_and_names_gaps_broken_links_forks_and_wrong_signers() {
    let w = World::new();
    let c = chain(&w, 3);
    let head = verify_chain(&c).unwrap();
    assert_eq!((head.version, head.hash), (3, c[2].hash()));

    let gap = vec![c[0].clone(), c[2].clone()];
    assert!(matches!(
        verify_chain(&gap),
        Err(ChainError::Gap {
            expected: 2,
            found: 3
        })
    ));

    let mut b = bundle_doc(&w.gent, &w.certifier);
    b.version = 3;
    b.previous = Some(c[0].hash());
    let broken = vec![
        c[0].clone(),
        c[1].clone(),
        Signed::sign(b, &w.gent, now()).unwrap(),
    ];
    assert!(matches!(
        verify_chain(&broken),
        Err(ChainError::BrokenLink { version: 3, .. })
    ));

    let mut f = bundle_doc(&w.gent, &w.certifier);
    f.version = 2;
    f.previous = Some(c[0].hash());
    f.disclosure.min_group_size = 1;
    let fork = Signed::sign(f, &w.gent, now()).unwrap();
    let forked = vec![c[0].clone(), c[1].clone(), fork.clone(), c[2].clone()];
    match verify_chain(&forked) {
        Err(ChainError::Equivocation(e)) => {
            assert_eq!(e.version, 2);
            assert_eq!(e.issuer, *w.gent.did());
            let hashes = [e.a.hash(), e.b.hash()];
            assert!(hashes.contains(&c[1].hash()) && hashes.contains(&fork.hash()));
        }
        other => panic!("expected equivocation, got {other:?}"),
    }
    assert!(regio_policy::doc::bundle::equivocation(&c[1], &fork).is_some());
    assert!(regio_policy::doc::bundle::equivocation(&c[1], &c[1]).is_none());

    let mut s = bundle_doc(&w.gent, &w.certifier);
    s.version = 2;
    s.previous = Some(c[0].hash());
    let by_other = vec![c[0].clone(), Signed::sign(s, &w.brugge, now()).unwrap()];
    assert!(matches!(
        verify_chain(&by_other),
        Err(ChainError::WrongSigner { version: 2, .. })
    ));
}

fn next_manifest(w: &World) -> RegionManifest {
    let mut m = w.manifest.doc().clone();
    m.version = 2;
    m.previous = Some(w.manifest.hash());
    m.members.push(member(&w.outsider, "11002", "Antwerpen"));
    m
}

#[test]
fn manifest_versions_need_the_threshold_of_current_members() {
    let w = World::new();
    manifest::accept(None, &w.manifest).unwrap();
    let one = Signed::sign(next_manifest(&w), &w.gent, now()).unwrap();
    assert_eq!(
        manifest::accept(Some(&w.manifest), &one).unwrap_err(),
        ManifestError::BelowThreshold { have: 1, need: 2 }
    );
    // The joining member's own signature does not count towards the threshold.
    let with_newcomer = one.cosign(&w.outsider, now()).unwrap();
    assert_eq!(
        manifest::accept(Some(&w.manifest), &with_newcomer).unwrap_err(),
        ManifestError::BelowThreshold { have: 1, need: 2 }
    );
    let two = with_newcomer.cosign(&w.leuven, now()).unwrap();
    manifest::accept(Some(&w.manifest), &two).unwrap();
    // Founding needs every founder.
    let founding = Signed::sign(w.manifest.doc().clone(), &w.gent, now()).unwrap();
    assert!(matches!(
        manifest::accept(None, &founding),
        Err(ManifestError::FounderMissing(_))
    ));
    // A successor must link to the current version.
    let mut unlinked = next_manifest(&w);
    unlinked.previous = Some(w.charter.hash());
    let unlinked = Signed::sign(unlinked, &w.gent, now())
        .unwrap()
        .cosign(&w.brugge, now())
        .unwrap();
    assert!(matches!(
        manifest::accept(Some(&w.manifest), &unlinked),
        Err(ManifestError::NotSuccessor { .. })
    ));
}

#[test]
fn every_proof_of_a_charter_proof_set_is_checked() {
    let w = World::new();
    assert_eq!(w.charter.signers().len(), 3);
    let mut v = w.charter.raw().clone();
    v["proof"][1]["proofValue"] = v["proof"][0]["proofValue"].clone();
    assert!(matches!(
        proof::verify(&v),
        Err(proof::VerifyError::BadSignature { index: 1, .. })
    ));
    let mut v = w.charter.raw().clone();
    v["clauses"]["minGroupSize"] = json!(2);
    assert!(matches!(
        proof::verify(&v),
        Err(proof::VerifyError::BadSignature { index: 0, .. })
    ));
    // The same key cannot sign twice.
    assert!(w.charter.cosign(&w.gent, now()).is_err());
}
