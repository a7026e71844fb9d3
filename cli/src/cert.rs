//! `regio cert issue|verify|revoke` (offline; `revoke --node` also submits the revocation)
//! and `regio cert submit` (stores a certificate at a node).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use regio_http::documents::{SubmitCertificate, SubmitRevocation};
use regio_policy::doc::cert::{self, EthicsCertificate, Revocation};
use regio_policy::signed::{decode_body, Document};
use regio_policy::time::format as ts;
use regio_policy::Signed;
use serde_json::{json, Value};

use crate::client::Client;
use crate::{io, sign, Failed, Reported};

/// What `cert issue` was asked.
pub(crate) struct IssueOptions {
    pub key: PathBuf,
    pub template: PathBuf,
    pub out: Option<PathBuf>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub valid_days: Option<u32>,
}

/// `regio cert issue`.
pub(crate) fn issue(o: &IssueOptions) -> Result<()> {
    let key = io::read_key(&o.key)?;
    let shown = io::show(&o.template);
    let value = io::read_json(&o.template)?;
    let Value::Object(mut body) = value else {
        bail!("{shown}: the template must be a JSON object with the EthicsCertificate fields");
    };
    if body.contains_key("proof") {
        bail!("{shown}: the template is already signed (it has a `proof`); issue from the unsigned body");
    }
    for envelope in ["@context", "type", "schemaVersion"] {
        body.remove(envelope);
    }
    match body.get("issuer") {
        None | Some(Value::Null) => {
            body.insert("issuer".into(), key.did().as_str().into());
        }
        Some(Value::String(s)) if s == key.did().as_str() => {}
        Some(other) => bail!(
            "{shown}: `issuer` is {other}, but the key {} belongs to {}; remove `issuer` or use the issuer's key",
            o.key.display(),
            key.did()
        ),
    }
    if matches!(body.get("id"), None | Some(Value::Null)) {
        body.insert(
            "id".into(),
            format!("urn:uuid:{}", uuid::Uuid::new_v4()).into(),
        );
    }
    let now = Utc::now().trunc_subsecs(0);
    let from = match o.valid_from {
        Some(t) => t,
        None => match body.get("validFrom").and_then(Value::as_str) {
            Some(t) => regio_policy::time::parse(t)
                .map_err(|e| anyhow::anyhow!("{shown}: validFrom: {e}"))?,
            None => now,
        },
    };
    body.insert("validFrom".into(), ts(&from).into());
    if let Some(days) = o.valid_days {
        body.insert(
            "validUntil".into(),
            ts(&(from + Duration::days(i64::from(days)))).into(),
        );
    } else if let Some(until) = o.valid_until {
        body.insert("validUntil".into(), ts(&until).into());
    } else if !body.contains_key("validUntil") {
        bail!("{shown}: no `validUntil`: give --valid-until T or --valid-days N");
    }
    let mut doc = serde_json::Map::new();
    if let Some(ctx) = EthicsCertificate::context() {
        doc.insert("@context".into(), ctx);
    }
    doc.insert("type".into(), EthicsCertificate::type_value());
    doc.insert(
        "schemaVersion".into(),
        EthicsCertificate::SCHEMA_VERSION.into(),
    );
    doc.extend(body);
    let doc = decode_body::<EthicsCertificate>(&Value::Object(doc)).map_err(|e| {
        anyhow::anyhow!(
            "{shown}: not a valid EthicsCertificate: {e} (fix the template and issue again)"
        )
    })?;
    let signed = Signed::sign(doc, &key, now)
        .with_context(|| format!("{shown}: cannot sign the certificate"))?;
    io::write_output(o.out.as_deref(), &signed.to_json_pretty())?;
    let d = signed.doc();
    eprintln!(
        "issued {} to {} ({}), valid {} to {}; hash {}",
        d.id,
        d.credential_subject.name,
        d.credential_subject.id,
        ts(&d.valid_from),
        ts(&d.valid_until),
        signed.hash()
    );
    Ok(())
}

/// Reads and verifies a signed certificate file (signature and issuer); errors name the file.
pub(crate) fn load(file: &Path) -> std::result::Result<Signed<EthicsCertificate>, String> {
    let value = io::read_json(file).map_err(|e| format!("{e:#}"))?;
    let shown = io::show(file);
    let signed = Signed::<EthicsCertificate>::verify(value)
        .map_err(|e| format!("{shown}: not a valid signed EthicsCertificate: {e}"))?;
    cert::check_issuer(&signed).map_err(|e| format!("{shown}: wrong signer: {}", e.reason))?;
    Ok(signed)
}

/// `regio cert verify FILE [--at T] [--json]`.
pub(crate) fn verify(file: &Path, at: Option<DateTime<Utc>>, json_out: bool) -> Result<()> {
    let at = at.unwrap_or_else(|| Utc::now().trunc_subsecs(0));
    let signed = match load(file) {
        Ok(s) => s,
        Err(e) if json_out => {
            println!("{}", json!({"ok": false, "error": e}));
            return Err(Reported.into());
        }
        Err(e) => return Err(Failed(e).into()),
    };
    let d = signed.doc();
    let s = &d.credential_subject;
    let validity = if at < d.valid_from {
        Err(format!(
            "not yet valid at {}: validity starts {}",
            ts(&at),
            ts(&d.valid_from)
        ))
    } else if at >= d.valid_until {
        Err(format!(
            "expired at {}: validity ended {}",
            ts(&at),
            ts(&d.valid_until)
        ))
    } else {
        Ok(())
    };
    if json_out {
        println!(
            "{}",
            json!({
                "ok": validity.is_ok(),
                "error": validity.as_ref().err(),
                "id": d.id,
                "issuer": d.issuer.as_str(),
                "subject": {"id": s.id.as_str(), "name": s.name, "organisation": s.organisation},
                "purposes": s.purposes,
                "datasets": s.datasets,
                "validFrom": ts(&d.valid_from),
                "validUntil": ts(&d.valid_until),
                "at": ts(&at),
                "validAt": validity.is_ok(),
                "proofs": sign::proofs_json(signed.proofs()),
                "hash": signed.hash().to_string(),
            })
        );
        return if validity.is_ok() {
            Ok(())
        } else {
            Err(Reported.into())
        };
    }
    println!("certificate  {}", d.id);
    println!("issuer       {} (signature verified)", d.issuer);
    println!("application  {} — {} ({})", s.name, s.organisation, s.id);
    println!("purposes     {}", s.purposes.join(", "));
    println!("datasets     {}", s.datasets.join(", "));
    println!(
        "algorithm    {} — {} ({})",
        s.algorithm.name, s.algorithm.source, s.algorithm.hash
    );
    println!(
        "assessment   {} against {}, risk {} — {}",
        s.assessment.level, s.assessment.criteria, s.assessment.risk_category, s.assessment.report
    );
    println!(
        "valid        {} to {}",
        ts(&d.valid_from),
        ts(&d.valid_until)
    );
    println!("hash         {}", signed.hash());
    match validity {
        Ok(()) => {
            println!("OK valid at {}", ts(&at));
            Ok(())
        }
        Err(e) => Err(Failed(format!("{e} [{}]", io::show(file))).into()),
    }
}

/// `regio cert submit --node URL CERT`: verifies the certificate here, then stores it at the node.
pub(crate) fn submit(client: &Client, file: &Path, json_out: bool) -> Result<()> {
    let signed = load(file).map_err(Failed)?;
    let reply = client.send(
        &SubmitCertificate,
        "application/json",
        signed.raw().to_string().as_bytes(),
    )?;
    let d = signed.doc();
    let hash = reply.hash;
    if json_out {
        println!(
            "{}",
            json!({"id": d.id, "application": {"id": d.credential_subject.id.as_str(), "name": d.credential_subject.name}, "hash": hash})
        );
    } else {
        println!(
            "stored certificate {} for {} ({}): {hash}",
            d.id, d.credential_subject.name, d.credential_subject.id
        );
    }
    Ok(())
}

/// `regio cert revoke --key K CERT --reason TEXT [-o OUT] [--node URL]`; with a client,
/// the signed revocation is also submitted to that node (`/v1/revocations`).
pub(crate) fn revoke(
    key: &Path,
    cert_file: &Path,
    reason: &str,
    out: Option<&Path>,
    submit_to: Option<&Client>,
) -> Result<()> {
    let key_path = key;
    let key = io::read_key(key)?;
    let signed = load(cert_file).map_err(Failed)?;
    let d = signed.doc();
    if &d.issuer != key.did() {
        bail!(
            "only the issuer {} can revoke {}; the key {} belongs to {}",
            d.issuer,
            io::show(cert_file),
            key_path.display(),
            key.did()
        );
    }
    let rev = Revocation {
        certificate: signed.hash(),
        certificate_id: d.id.clone(),
        issuer: d.issuer.clone(),
        reason: reason.to_owned(),
        revoked_at: Utc::now().trunc_subsecs(0),
    };
    let now = rev.revoked_at;
    let signed_rev = Signed::sign(rev, &key, now).context("cannot sign the revocation")?;
    io::write_output(out, &signed_rev.to_json_pretty())?;
    eprintln!("revoked {} ({}) as of {}", d.id, signed.hash(), ts(&now));
    if let Some(client) = submit_to {
        let reply = client.send(
            &SubmitRevocation,
            "application/json",
            signed_rev.raw().to_string().as_bytes(),
        )?;
        eprintln!("submitted the revocation to the node: {}", reply.hash);
    }
    Ok(())
}
