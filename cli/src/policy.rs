//! `regio policy verify-chain` (offline) and `regio policy publish|show|history` (a node's
//! `/v1/policy` routes; what a node returns is verified here too).

use std::path::{Path, PathBuf};

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_policy::doc::bundle::{verify_chain as verify_bundles, ChainError, PolicyBundle};
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
            let bundle = Signed::<PolicyBundle>::verify(v).map_err(|e| format!("{origin}: not a valid signed PolicyBundle: {e}"))?;
            out.push(Loaded { origin, bundle });
        }
    }
    Ok(out)
}

fn origin_of<'a>(loaded: &'a [Loaded], hash: &DocHash) -> &'a str {
    loaded.iter().find(|l| &l.bundle.hash() == hash).map_or("?", |l| l.origin.as_str())
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
pub fn verify_chain(files: &[PathBuf], json_out: bool) -> Result<()> {
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
                println!("{}", json!({"ok": false, "error": explain(&e, &loaded), "bundles": rows_json(&loaded)}));
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

/// `regio policy publish --node URL BUNDLE.json`: verifies the signed bundle here, then
/// publishes it as the node's next policy version.
pub fn publish(client: &Client, file: &Path) -> Result<()> {
    let shown = io::show(file);
    let value = io::read_json(file)?;
    let bundle = Signed::<PolicyBundle>::verify(value).map_err(|e| Failed(format!("{shown}: not a valid signed PolicyBundle: {e}")))?;
    let reply = client.post("/v1/policy", "application/json", bundle.raw().to_string().as_bytes())?;
    println!("published policy version {} of {} ({}): {}", reply["version"], bundle.doc().municipality.name, bundle.doc().municipality.nis, reply["hash"].as_str().unwrap_or_default());
    Ok(())
}

/// `regio policy show --node URL [--json]`: the node's current bundle.
pub fn show(client: &Client, json_out: bool) -> Result<()> {
    let value = client.get("/v1/policy", false)?;
    if json_out {
        println!("{}", io::pretty(&value));
        return Ok(());
    }
    let bundle = Signed::<PolicyBundle>::verify(value).map_err(|e| Failed(format!("the node's policy is not a valid signed PolicyBundle: {e}")))?;
    let d = bundle.doc();
    println!("municipality  {} ({}) {}", d.municipality.name, d.municipality.nis, d.municipality.did);
    println!("version       {} issued {}", d.version, regio_policy::time::format(&d.issued));
    println!("hash          {}", bundle.hash());
    println!("previous      {}", d.previous.map_or_else(|| "—".into(), |h| h.to_string()));
    let datasets: Vec<String> = d.datasets.iter().map(|x| format!("{} ({})", x.name, format!("{:?}", x.classification).to_lowercase())).collect();
    println!("datasets      {}", datasets.join(", "));
    println!("min group     {}", d.disclosure.min_group_size);
    println!("signed by     {} (signature verified)", bundle.signer());
    Ok(())
}

/// `regio policy history --node URL [--json]`: every stored version, verified as one chain.
pub fn history(client: &Client, json_out: bool) -> Result<()> {
    let list = client.get("/v1/policy/history", false)?;
    let loaded = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let origin = format!("history[{i}]");
            Signed::<PolicyBundle>::verify(v).map(|bundle| Loaded { origin: origin.clone(), bundle }).map_err(|e| format!("{origin}: not a valid signed PolicyBundle: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>();
    if matches!(&loaded, Ok(l) if l.is_empty()) {
        return Err(Failed("the node has no policy yet (`regio policy publish`)".into()).into());
    }
    report(loaded, json_out)
}
