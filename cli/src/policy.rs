//! `regio policy verify-chain`.

use std::path::PathBuf;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use regio_policy::doc::bundle::{verify_chain as verify_bundles, ChainError, PolicyBundle};
use regio_policy::{DocHash, Signed};
use serde_json::{json, Value};

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
    let loaded = match load(files) {
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
