//! `regio policy verify-chain` and `regio policy sign` (offline) and `regio policy
//! publish|show|history` (a node's `/v1/policy` routes; what a node returns is verified here
//! too).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{SubsecRound, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_http::documents::{PolicyHistory, PublishPolicy, ShowPolicy};
use regio_policy::doc::bundle::{verify_chain as verify_bundles, ChainError, PolicyBundle};
use regio_policy::signed::{decode_body, Document};
use regio_policy::{DocHash, Signed};
use serde_json::{json, Value};

use crate::client::Client;
use crate::{io, Failed, Reported};

/// One bundle and where it came from (`file` or `file[2]`).
struct Loaded {
    origin: String,
    bundle: Signed<PolicyBundle>,
}

fn short_hash(h: &DocHash) -> String {
    let s = h.to_string();
    format!("{}…", &s[..("sha256:".len() + 12).min(s.len())])
}

fn load(files: &[PathBuf]) -> std::result::Result<Vec<Loaded>, String> {
    let mut out = Vec::new();
    for path in files {
        let value = io::read_json(path).map_err(|e| format!("{e:#}"))?;
        let items: Vec<(String, Value)> = match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", io::show(path)), v))
                .collect(),
            other => vec![(io::show(path), other)],
        };
        for (origin, v) in items {
            let bundle = Signed::<PolicyBundle>::verify(v)
                .map_err(|e| format!("{origin}: not a valid signed PolicyBundle: {e}"))?;
            out.push(Loaded { origin, bundle });
        }
    }
    Ok(out)
}

fn origin_of<'a>(loaded: &'a [Loaded], hash: &DocHash) -> &'a str {
    loaded
        .iter()
        .find(|l| &l.bundle.hash() == hash)
        .map_or("?", |l| l.origin.as_str())
}

fn explain(e: &ChainError, loaded: &[Loaded]) -> String {
    match e {
        ChainError::Equivocation(ev) => format!(
            "equivocation: {} signed two different bundles with version {}: {} ({}) and {} ({})",
            ev.issuer,
            ev.version,
            ev.a.hash(),
            origin_of(loaded, &ev.a.hash()),
            ev.b.hash(),
            origin_of(loaded, &ev.b.hash())
        ),
        ChainError::BrokenLink { .. } => format!("broken link: {e}"),
        ChainError::WrongSigner { .. } => format!("wrong signer: {e}"),
        ChainError::MixedIssuers { .. } => format!("mixed issuers: {e}"),
        // `Gap` and `Empty` already say what they are.
        _ => e.to_string(),
    }
}

fn table(loaded: &[Loaded]) -> Table {
    let mut sorted: Vec<&Loaded> = loaded.iter().collect();
    sorted.sort_by_key(|l| l.bundle.doc().version);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["version", "hash", "previous", "issued", "signer", "file"]);
    for l in sorted {
        let d = l.bundle.doc();
        t.add_row([
            d.version.to_string(),
            short_hash(&l.bundle.hash()),
            d.previous.as_ref().map_or_else(|| "—".into(), short_hash),
            regio_policy::time::format(&d.issued),
            l.bundle.signer().short(),
            l.origin.clone(),
        ]);
    }
    t
}

fn rows_json(loaded: &[Loaded]) -> Value {
    loaded
        .iter()
        .map(|l| {
            let d = l.bundle.doc();
            json!({
                "file": l.origin,
                "version": d.version,
                "hash": l.bundle.hash().to_string(),
                "previous": d.previous.map(|h| h.to_string()),
                "issued": regio_policy::time::format(&d.issued),
                "signer": l.bundle.signer().as_str(),
            })
        })
        .collect()
}

/// `regio policy verify-chain FILE... [--json]`.
pub(crate) fn verify_chain(files: &[PathBuf], json_out: bool) -> Result<()> {
    report(load(files), json_out)
}

/// Prints the table (or JSON) of `loaded` and whether they form one valid chain.
fn report(loaded: std::result::Result<Vec<Loaded>, String>, json_out: bool) -> Result<()> {
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) if json_out => {
            println!("{}", json!({"ok": false, "error": e}));
            return Err(Reported.into());
        }
        Err(e) => return Err(Failed(e).into()),
    };
    let bundles: Vec<Signed<PolicyBundle>> = loaded.iter().map(|l| l.bundle.clone()).collect();
    let result = verify_bundles(&bundles);
    if json_out {
        match result {
            Ok(head) => {
                println!(
                    "{}",
                    json!({"ok": true, "issuer": head.issuer.as_str(), "head": {"version": head.version, "hash": head.hash.to_string()}, "bundles": rows_json(&loaded)})
                );
                return Ok(());
            }
            Err(e) => {
                println!(
                    "{}",
                    json!({"ok": false, "error": explain(&e, &loaded), "bundles": rows_json(&loaded)})
                );
                return Err(Reported.into());
            }
        }
    }
    println!("{}", table(&loaded));
    match result {
        Ok(head) => {
            let name = &loaded[0].bundle.doc().municipality;
            println!(
                "OK chain of {} ({}, {}): {} bundle{}, head version {} {}",
                name.name,
                name.nis,
                head.issuer,
                loaded.len(),
                if loaded.len() == 1 { "" } else { "s" },
                head.version,
                head.hash
            );
            Ok(())
        }
        Err(e) => Err(Failed(explain(&e, &loaded)).into()),
    }
}

/// The fields `regio policy sign` fills in; a body may leave them out.
const FILLED: [&str; 7] = [
    "@context",
    "type",
    "schemaVersion",
    "municipality",
    "version",
    "previous",
    "issued",
];

/// `regio policy sign --dir NODE_DIR POLICY.json [--previous BUNDLE.json] [-o OUT]`: the
/// body's rules become the node's next PolicyBundle: municipality from NODE_DIR/config.toml
/// and the node key's DID, version 1 (or the previous version + 1 with its hash), issued
/// now, signed with NODE_DIR/node.key.
pub(crate) fn sign(
    dir: &Path,
    file: &Path,
    previous: Option<&Path>,
    out: Option<&Path>,
) -> Result<()> {
    let shown = io::show(file);
    let config_path = dir.join(regio_node::config::CONFIG_FILE);
    let config = regio_node::config::Config::load(&config_path).with_context(|| {
        format!(
            "{} is not a node directory (create one with `regio init`)",
            dir.display()
        )
    })?;
    let key = io::read_key(&dir.join(regio_node::config::KEY_FILE))?;
    let Value::Object(mut body) = io::read_json(file)? else {
        bail!("{shown}: the policy body must be a JSON object (datasets, access, certification, charters, disclosure)");
    };
    if body.contains_key("proof") {
        bail!("{shown}: the body is already signed (it has a `proof`); give the unsigned rules");
    }
    for k in FILLED {
        body.remove(k);
    }
    let (version, previous_hash) = match previous {
        None => (1, None),
        Some(p) => {
            let prev = Signed::<PolicyBundle>::verify(io::read_json(p)?).map_err(|e| {
                Failed(format!(
                    "{}: not a valid signed PolicyBundle: {e}",
                    io::show(p)
                ))
            })?;
            if prev.doc().municipality.did != *key.did() {
                bail!("{}: signed by {}, not by this node ({}): --previous must be this node's version in force", io::show(p), prev.doc().municipality.did, key.did());
            }
            (prev.doc().version + 1, Some(prev.hash()))
        }
    };
    let now = Utc::now().trunc_subsecs(0);
    let mut doc = serde_json::Map::new();
    doc.insert("type".into(), PolicyBundle::TYPE.into());
    doc.insert("schemaVersion".into(), PolicyBundle::SCHEMA_VERSION.into());
    doc.insert(
        "municipality".into(),
        json!({"nis": config.nis, "name": config.name, "did": key.did().as_str()}),
    );
    doc.insert("version".into(), version.into());
    if let Some(h) = previous_hash {
        doc.insert("previous".into(), h.to_string().into());
    }
    doc.insert("issued".into(), regio_policy::time::format(&now).into());
    doc.extend(body);
    let bundle = decode_body::<PolicyBundle>(&Value::Object(doc))
        .map_err(|e| anyhow!("{shown}: not a valid policy: {e} (fix the body and sign again)"))?;
    let signed = Signed::sign(bundle, &key, now)
        .with_context(|| format!("{shown}: cannot sign the policy"))?;
    io::write_output(out, &signed.to_json_pretty())?;
    eprintln!(
        "signed policy version {version} of {} ({}) as {}; hash {} (publish it with `regio policy publish`)",
        config.name,
        config.nis,
        key.did(),
        signed.hash()
    );
    Ok(())
}

/// `regio policy publish --node URL BUNDLE.json`: verifies the signed bundle here, then
/// publishes it as the node's next policy version.
pub(crate) fn publish(client: &Client, file: &Path, json_out: bool) -> Result<()> {
    let shown = io::show(file);
    let value = io::read_json(file)?;
    let bundle = Signed::<PolicyBundle>::verify(value)
        .map_err(|e| Failed(format!("{shown}: not a valid signed PolicyBundle: {e}")))?;
    let reply = client.send(
        &PublishPolicy,
        "application/json",
        bundle.raw().to_string().as_bytes(),
    )?;
    let m = &bundle.doc().municipality;
    if json_out {
        println!(
            "{}",
            json!({"version": reply.version, "hash": reply.hash, "municipality": {"nis": m.nis, "name": m.name, "did": m.did.as_str()}})
        );
    } else {
        println!(
            "published policy version {} of {} ({}): {}",
            reply.version, m.name, m.nis, reply.hash
        );
    }
    Ok(())
}

/// `regio policy show --node URL [--json]`: the node's current bundle.
pub(crate) fn show(client: &Client, json_out: bool) -> Result<()> {
    let value = client.call(&ShowPolicy)?;
    if json_out {
        println!("{}", io::pretty(&value));
        return Ok(());
    }
    let bundle = Signed::<PolicyBundle>::verify(value).map_err(|e| {
        Failed(format!(
            "the node's policy is not a valid signed PolicyBundle: {e}"
        ))
    })?;
    let d = bundle.doc();
    println!(
        "municipality  {} ({}) {}",
        d.municipality.name, d.municipality.nis, d.municipality.did
    );
    println!(
        "version       {} issued {}",
        d.version,
        regio_policy::time::format(&d.issued)
    );
    println!("hash          {}", bundle.hash());
    println!(
        "previous      {}",
        d.previous.map_or_else(|| "—".into(), |h| h.to_string())
    );
    let datasets: Vec<String> = d
        .datasets
        .iter()
        .map(|x| {
            format!(
                "{} ({})",
                x.name,
                format!("{:?}", x.classification).to_lowercase()
            )
        })
        .collect();
    println!("datasets      {}", datasets.join(", "));
    println!("min group     {}", d.disclosure.min_group_size);
    println!("signed by     {} (signature verified)", bundle.signer());
    Ok(())
}

/// `regio policy history --node URL [--json]`: every stored version, verified as one chain.
pub(crate) fn history(client: &Client, json_out: bool) -> Result<()> {
    let list = client.call(&PolicyHistory)?;
    let loaded = list
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let origin = format!("history[{i}]");
            Signed::<PolicyBundle>::verify(v)
                .map(|bundle| Loaded {
                    origin: origin.clone(),
                    bundle,
                })
                .map_err(|e| format!("{origin}: not a valid signed PolicyBundle: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>();
    if matches!(&loaded, Ok(l) if l.is_empty()) {
        return Err(Failed("the node has no policy yet (`regio policy publish`)".into()).into());
    }
    report(loaded, json_out)
}
