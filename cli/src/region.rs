//! `regio region create|approve|invite|join|members` (owner: federation): build and co-sign
//! region manifests offline, hand them to a node, and look at a region from a node.
//!
//! Version 1 of a manifest takes effect when every founder signed it; a later version when
//! `threshold` members of the version before it signed it (the node decides, with the
//! policy crate's `manifest::accept`; these commands only count, to tell you where you are).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{SubsecRound, Utc};
use regio_http::documents::SubmitManifest;
use regio_http::region::{ListRegions, ShowRegion};
use regio_policy::doc::charter::InclusionCharter;
use regio_policy::doc::manifest::{Member, RegionManifest};
use regio_policy::{Did, Signed};

use crate::client::{Client, NodeArgs};
use crate::{io, Failed};

/// Where the members of a new or next version come from.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemberSources {
    /// Node API URLs: DID, NIS, name and p2p addresses are read from each one's `/health`.
    pub nodes: Vec<String>,
    /// `DID,NIS,NAME[,MULTIADDR…]` given by hand.
    pub manual: Vec<String>,
}

/// `regio region create` options.
#[derive(Debug)]
pub(crate) struct CreateOptions {
    /// Region id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The signed charter (its hash goes into the manifest).
    pub charter: PathBuf,
    /// Trusted certifiers.
    pub certifiers: Vec<Did>,
    /// Signatures needed for the next version.
    pub threshold: u32,
    /// The founders.
    pub members: MemberSources,
    /// The founder's key.
    pub key: PathBuf,
    /// Output file.
    pub out: PathBuf,
    /// Print JSON.
    pub json: bool,
}

/// One member from a node's `/health` (the node must run its network: `listen` non-empty).
fn member_from_node(url: &str) -> Result<Member> {
    let client = Client::new(&NodeArgs {
        node: url.to_string(),
        dir: None,
    })?;
    let h = client
        .health()
        .with_context(|| format!("{url}/health (is it a Regio node?)"))?;
    let did = Did::parse(&h.did).map_err(|e| anyhow!("{url}/health: `did`: {e}"))?;
    let addresses = h.listen;
    if addresses.is_empty() {
        bail!("{url}/health lists no p2p `listen` address: the node runs no network, other members could not reach it");
    }
    Ok(Member {
        did,
        nis: h.nis,
        name: h.name,
        addresses,
    })
}

/// One member from `DID,NIS,NAME[,MULTIADDR…]`.
fn member_from_text(text: &str) -> Result<Member> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() < 3 || parts[..3].iter().any(|p| p.is_empty()) {
        bail!("--member `{text}`: expected DID,NIS,NAME[,MULTIADDR…]");
    }
    let did = Did::parse(parts[0]).map_err(|e| anyhow!("--member `{text}`: the DID: {e}"))?;
    for a in &parts[3..] {
        a.parse::<regio_net::Multiaddr>()
            .map_err(|e| anyhow!("--member `{text}`: `{a}` is not a multiaddr: {e}"))?;
    }
    Ok(Member {
        did,
        nis: parts[1].into(),
        name: parts[2].into(),
        addresses: parts[3..].iter().map(|s| s.to_string()).collect(),
    })
}

fn members(sources: &MemberSources) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    for url in &sources.nodes {
        out.push(member_from_node(url)?);
    }
    for text in &sources.manual {
        out.push(member_from_text(text)?);
    }
    Ok(out)
}

fn add_members(list: &mut Vec<Member>, new: Vec<Member>) -> Result<()> {
    for m in new {
        if list.iter().any(|x| x.did == m.did) {
            bail!("{} ({}) is already a member", m.name, m.did);
        }
        list.push(m);
    }
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Signed<RegionManifest>> {
    let value = io::read_json(path)?;
    Signed::<RegionManifest>::verify(value)
        .map_err(|e| anyhow!("{}: not a valid signed RegionManifest: {e}", io::show(path)))
}

/// `(have, need, who)`: signatures counted toward the version taking effect.
fn progress(
    m: &Signed<RegionManifest>,
    current: Option<&Signed<RegionManifest>>,
) -> (usize, usize, &'static str) {
    let doc = m.doc();
    match current {
        _ if doc.version == 1 => (
            doc.members.iter().filter(|x| m.signed_by(&x.did)).count(),
            doc.members.len(),
            "every founder",
        ),
        Some(c) => (
            c.doc()
                .members
                .iter()
                .filter(|x| m.signed_by(&x.did))
                .count(),
            c.doc().threshold as usize,
            "the current members' threshold",
        ),
        // Without the current version, count the members both versions usually share.
        None => (
            doc.members.iter().filter(|x| m.signed_by(&x.did)).count(),
            doc.threshold as usize,
            "the threshold (pass --current to count against the current version)",
        ),
    }
}

fn report(
    what: &str,
    m: &Signed<RegionManifest>,
    current: Option<&Signed<RegionManifest>>,
    out: &Path,
    json: bool,
) {
    let (have, need, who) = progress(m, current);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "action": what, "region": m.doc().region, "version": m.doc().version, "file": out.display().to_string(),
                "hash": m.hash().to_string(), "signatures": have, "required": need, "ready": have >= need,
            })
        );
        return;
    }
    let state = if have >= need {
        "ready: hand it to every node with `regio region join`"
    } else {
        "more members must `regio region approve` it"
    };
    eprintln!(
        "{what} region {} version {} → {}: {have} of {need} required signatures ({who}); {state}",
        m.doc().region,
        m.doc().version,
        out.display()
    );
}

/// `regio region create`.
pub(crate) fn create(o: &CreateOptions) -> Result<()> {
    let key = io::read_key(&o.key)?;
    let charter = Signed::<InclusionCharter>::verify(io::read_json(&o.charter)?).map_err(|e| {
        anyhow!(
            "{}: not a valid signed InclusionCharter: {e}",
            io::show(&o.charter)
        )
    })?;
    let mut list = Vec::new();
    add_members(&mut list, members(&o.members)?)?;
    if list.is_empty() {
        return Err(crate::Usage("a region needs members: give --member-node URL (or --member DID,NIS,NAME,MULTIADDR) for each founder".into()).into());
    }
    let now = Utc::now().trunc_subsecs(0);
    let doc = RegionManifest {
        region: o.id.clone(),
        name: o.name.clone(),
        version: 1,
        previous: None,
        issued: now,
        members: list,
        charter: charter.hash(),
        certifiers: o.certifiers.clone(),
        threshold: o.threshold,
    };
    let signed =
        Signed::sign(doc, &key, now).map_err(|e| anyhow!("cannot sign the manifest: {e}"))?;
    io::write_output(Some(&o.out), &signed.to_json_pretty())?;
    report("created", &signed, None, &o.out, o.json);
    Ok(())
}

/// `regio region approve MANIFEST --key K -o OUT [--current CUR]`.
pub(crate) fn approve(
    file: &Path,
    key: &Path,
    out: &Path,
    current: Option<&Path>,
    json: bool,
) -> Result<()> {
    let key = io::read_key(key)?;
    let m = read_manifest(file)?;
    let current = current.map(read_manifest).transpose()?;
    if m.signed_by(key.did()) {
        bail!(
            "{}: already signed by {}; nothing to do",
            io::show(file),
            key.did()
        );
    }
    let signed = m
        .cosign(&key, Utc::now().trunc_subsecs(0))
        .map_err(|e| anyhow!("cannot co-sign: {e}"))?;
    io::write_output(Some(out), &signed.to_json_pretty())?;
    report("approved", &signed, current.as_ref(), out, json);
    Ok(())
}

/// `regio region invite --current CUR (--member-node URL | --member …)… [--remove DID…] --key K -o NEXT`.
pub(crate) fn invite(
    current: &Path,
    add: &MemberSources,
    remove: &[Did],
    key: &Path,
    out: &Path,
    json: bool,
) -> Result<()> {
    let key = io::read_key(key)?;
    let cur = read_manifest(current)?;
    let mut doc = cur.doc().clone();
    for did in remove {
        let before = doc.members.len();
        doc.members.retain(|m| &m.did != did);
        if doc.members.len() == before {
            bail!("--remove {did}: not a member of version {}", doc.version);
        }
    }
    add_members(&mut doc.members, members(add)?)?;
    if add.nodes.is_empty() && add.manual.is_empty() && remove.is_empty() {
        return Err(crate::Usage(
            "nothing changes: give --member-node URL / --member … to admit, or --remove DID".into(),
        )
        .into());
    }
    let now = Utc::now().trunc_subsecs(0);
    doc.version += 1;
    doc.previous = Some(cur.hash());
    doc.issued = now;
    if doc.threshold as usize > doc.members.len() {
        doc.threshold = doc.members.len() as u32;
    }
    let signed =
        Signed::sign(doc, &key, now).map_err(|e| anyhow!("cannot sign the manifest: {e}"))?;
    io::write_output(Some(out), &signed.to_json_pretty())?;
    report("proposed", &signed, Some(&cur), out, json);
    Ok(())
}

/// `regio region join --node URL [--dir DIR] MANIFEST`.
pub(crate) fn join(node: &NodeArgs, file: &Path, json: bool) -> Result<()> {
    let m = read_manifest(file)?;
    let client = Client::new(node)?;
    let body = serde_json::to_vec(m.raw()).context("encoding the manifest")?;
    match client.send(&SubmitManifest, "application/json", &body) {
        Ok(_) => {
            let d = m.doc();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"node": node.node, "region": d.region, "version": d.version, "members": d.members.len(), "hash": m.hash().to_string()})
                );
            } else {
                println!(
                    "{}: region {} version {} in effect ({} members, hash {})",
                    node.node,
                    d.region,
                    d.version,
                    d.members.len(),
                    m.hash()
                );
            }
            Ok(())
        }
        Err(e) => match e.downcast_ref::<crate::client::ApiFailure>() {
            Some(f) if f.code == "manifest.refused" => Err(Failed(format!(
                "{} refused region {} version {}: {}",
                node.node,
                m.doc().region,
                m.doc().version,
                f.message
            ))
            .into()),
            _ => Err(e),
        },
    }
}

fn short(did: &str) -> String {
    match did.strip_prefix("did:key:") {
        Some(k) if k.len() > 14 => format!("did:key:{}…{}", &k[..6], &k[k.len() - 6..]),
        _ => did.to_string(),
    }
}

/// `regio region members --node URL [--region ID] [--json]`.
pub(crate) fn members_cmd(node: &NodeArgs, region: Option<&str>, json: bool) -> Result<()> {
    let client = Client::new(node)?;
    let regions = match region {
        Some(id) => vec![client.call(&ShowRegion { id: id.to_string() })?],
        None => client.call(&ListRegions)?,
    };
    if json {
        println!("{}", io::json_value(&regions));
        return Ok(());
    }
    if regions.is_empty() {
        println!("{} is in no region yet (`regio region join`)", node.node);
        return Ok(());
    }
    for r in &regions {
        println!(
            "region {} — {} (version {}, threshold {})",
            r.id, r.name, r.version, r.threshold
        );
        println!(
            "{:<20} {:<6} {:<26} {:<10} {:<8} {:<16} equivocation",
            "name", "nis", "did", "reachable", "policy", "policy hash"
        );
        for m in &r.members {
            let reachable = if m.is_self {
                "self"
            } else if m.reachable {
                "yes"
            } else {
                "no"
            };
            let (version, hash) = match &m.policy_head {
                Some(h) => (
                    format!("v{}", h.version),
                    h.hash
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect::<String>(),
                ),
                None => ("-".into(), "-".into()),
            };
            let equivocation = if m.equivocation.is_empty() {
                "no".to_string()
            } else {
                format!("YES ({} bundles)", m.equivocation.len())
            };
            println!(
                "{:<20} {:<6} {:<26} {:<10} {:<8} {:<16} {equivocation}",
                m.name,
                m.nis,
                short(&m.did),
                reachable,
                version,
                hash
            );
        }
    }
    Ok(())
}
