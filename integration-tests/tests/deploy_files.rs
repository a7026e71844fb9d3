//! The files of `deploy/` are what they claim to be, checked without helm or a cluster:
//!
//! - the Helm chart renders (by the documented substitution of the template subset, see
//!   `deploy/helm/regio-node/README.md`) to YAML documents that are the expected Kubernetes
//!   objects: a StatefulSet with a volume claim for the data directory, probes on `/health`
//!   and the Secret and ConfigMap it refers to, a Service for the API and libp2p ports; the
//!   rendered `config.toml` is a valid node config; `kubectl kustomize` (offline) accepts
//!   the objects where kubectl exists;
//! - the systemd unit passes `systemd-analyze verify` and scores at most 2.0 ("OK") in
//!   `systemd-analyze security`, where systemd-analyze exists (a unit naming a missing
//!   binary fails the same check, so it can fail);
//! - the scratch Dockerfile runs a static binary as a numeric non-root user with `/data` as
//!   its volume; `build-image.sh` fails with a clear message when docker is missing.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

const RELEASE: &str = "gent";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn chart() -> PathBuf {
    deploy().join("helm/regio-node")
}

/// The value at dotted `path` in the chart's values.
fn lookup<'a>(values: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(values, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("values.yaml has no `{path}` (at `{k}`)"))
    })
}

fn scalar(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("`{what}` is not a scalar: {other:?}"),
    }
}

/// Renders one template: `{{ .Release.Name }}`, `{{ .Values.PATH }}`,
/// `{{ .Values.PATH | quote }}`; anything else is outside the supported subset.
fn render(template: &str, values: &Value, file: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("{file}: unclosed `{{{{`"))
            + start;
        let expr = rest[start + 2..end].trim();
        let (path, quote) = match expr.split_once('|') {
            Some((p, f)) if f.trim() == "quote" => (p.trim(), true),
            Some(_) => panic!(
                "{file}: `{{{{ {expr} }}}}` uses a function outside the chart's template subset"
            ),
            None => (expr, false),
        };
        let text = if path == ".Release.Name" {
            RELEASE.to_owned()
        } else if let Some(p) = path.strip_prefix(".Values.") {
            scalar(lookup(values, p), p)
        } else {
            panic!("{file}: `{{{{ {expr} }}}}` is outside the chart's template subset");
        };
        out.push_str(&if quote {
            serde_json::to_string(&text).unwrap()
        } else {
            text
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Every rendered document of the chart, by kind and name.
fn rendered() -> (BTreeMap<(String, String), Value>, String) {
    let values: Value =
        serde_norway::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap())
            .unwrap();
    let mut docs = BTreeMap::new();
    let mut all = String::new();
    let mut files: Vec<_> = std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.ends_with(".yaml"),
            "templates/{name}: only .yaml templates are rendered"
        );
        let text = render(&std::fs::read_to_string(&f).unwrap(), &values, &name);
        for (i, part) in text.split("\n---\n").enumerate() {
            let doc: Value = serde_norway::from_str(part).unwrap_or_else(|e| {
                panic!("templates/{name} document {i}: not YAML after rendering: {e}\n{part}")
            });
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("templates/{name} document {i}: no kind"))
                .to_owned();
            let obj = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("templates/{name} {kind}: no metadata.name"))
                .to_owned();
            assert!(doc["apiVersion"].is_string(), "{kind} {obj}: no apiVersion");
            assert!(
                docs.insert((kind.clone(), obj.clone()), doc).is_none(),
                "{kind} {obj} rendered twice"
            );
            all.push_str("---\n");
            all.push_str(part.trim_start_matches("---\n"));
            all.push('\n');
        }
    }
    (docs, all)
}

fn get<'a>(docs: &'a BTreeMap<(String, String), Value>, kind: &str, name: &str) -> &'a Value {
    docs.get(&(kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} among {:?}",
                docs.keys().collect::<Vec<_>>()
            )
        })
}

#[test]
fn the_chart_renders_to_the_expected_kubernetes_objects() {
    let (docs, all) = rendered();
    let kinds: Vec<_> = docs.keys().map(|(k, n)| format!("{k}/{n}")).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap/gent-config",
            "Secret/gent-secret",
            "Service/gent",
            "Service/gent-headless",
            "StatefulSet/gent"
        ]
    );

    let sts = get(&docs, "StatefulSet", RELEASE);
    assert_eq!(sts["apiVersion"], "apps/v1");
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["serviceName"], "gent-headless");
    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        &sts["spec"]["selector"]["matchLabels"], labels,
        "the selector must match the pod labels"
    );
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 10001);
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "regio:dev");
    assert_eq!(
        c["args"],
        serde_norway::from_str::<Value>("[node, run, --dir, /etc/regio]").unwrap()
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/health", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "api", "{probe}");
    }
    let ports: Vec<(String, u64)> = c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("api".to_owned(), 7480), ("p2p".to_owned(), 7481)]);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);

    // The data directory is a volume claim, mounted where config.toml's data_dir points.
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["accessModes"][0], "ReadWriteOnce");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "10Gi");
    let mounts: BTreeMap<String, String> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["mountPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(mounts["data"], "/data");
    assert_eq!(mounts["node"], "/etc/regio");

    // The node directory: config.toml from the ConfigMap, key and token from the Secret.
    let sources = pod["volumes"][0]["projected"]["sources"]
        .as_sequence()
        .unwrap();
    let cm_ref = &sources
        .iter()
        .find(|s| s.get("configMap").is_some())
        .unwrap()["configMap"];
    let secret_ref = &sources.iter().find(|s| s.get("secret").is_some()).unwrap()["secret"];
    assert_eq!(cm_ref["name"], "gent-config");
    assert_eq!(secret_ref["name"], "gent-secret");
    let secret_keys: Vec<&str> = secret_ref["items"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(secret_keys, ["node.key", "admin.token"]);
    let secret = get(&docs, "Secret", "gent-secret");
    for k in &secret_keys {
        assert!(
            secret["stringData"].get(*k).is_some(),
            "the Secret has no `{k}`"
        );
    }
    let cm = get(&docs, "ConfigMap", "gent-config");
    let toml = cm["data"]["config.toml"].as_str().unwrap();
    let config = regio_node::config::Config::parse(toml, Path::new("config.toml"))
        .unwrap_or_else(|e| panic!("the rendered config.toml does not load: {e}\n{toml}"));
    assert_eq!(
        (
            config.nis.as_str(),
            config.name.as_str(),
            config.api.as_str()
        ),
        ("44021", "Gent", "0.0.0.0:7480")
    );
    assert_eq!(
        config.data_path(Path::new("/etc/regio")),
        Path::new(&mounts["data"])
    );
    assert_eq!(config.listen, ["/ip4/0.0.0.0/tcp/7481"]);

    // The Service exposes both ports and selects the pod.
    let svc = get(&docs, "Service", RELEASE);
    assert_eq!(&svc["spec"]["selector"], labels);
    let svc_ports: Vec<(String, u64)> = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["targetPort"].as_str().unwrap().to_owned(),
                p["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        svc_ports,
        [("api".to_owned(), 7480), ("p2p".to_owned(), 7481)]
    );
    assert_eq!(
        get(&docs, "Service", "gent-headless")["spec"]["clusterIP"],
        "None"
    );

    kubectl_kustomize(&all);
}

/// `kubectl kustomize` builds the objects offline (no cluster): it rejects documents that
/// are not Kubernetes resources. Skipped (with a message) without kubectl.
fn kubectl_kustomize(all: &str) {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not found: offline kustomize check skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chart.yaml"), all).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n  - chart.yaml\n",
    )
    .unwrap();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "kind: StatefulSet",
        "kind: Secret",
        "kind: ConfigMap",
        "kind: Service",
    ] {
        assert!(built.contains(kind), "kustomize output lacks {kind}");
    }
}

#[test]
fn templates_outside_the_subset_are_refused() {
    let values: Value = serde_norway::from_str("a: {b: x}").unwrap();
    assert_eq!(
        render(
            "n: {{ .Values.a.b | quote }} r: {{ .Release.Name }}",
            &values,
            "t"
        ),
        "n: \"x\" r: gent"
    );
    for bad in [
        "{{ include \"x\" . }}",
        "{{ .Values.a.b | b64enc }}",
        "{{ if .Values.a }}",
    ] {
        let r = std::panic::catch_unwind(|| render(bad, &values, "t"));
        assert!(r.is_err(), "{bad} was rendered");
    }
}

/// Copies the unit with `ExecStart`'s binary replaced by `binary`, into `dir`.
fn unit_with(dir: &Path, binary: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(deploy().join("systemd/regio.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/regio node run --dir /var/lib/regio"),
        "ExecStart changed: update this test"
    );
    let path = dir.join("regio.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/regio", binary.to_str().unwrap()),
    )
    .unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(deploy().join("systemd/regio.service")).unwrap();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/var/lib/regio",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(line), "regio.service lacks `{}`", line.trim());
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not found: `verify` and `security` skipped");
        return;
    }
    // verify needs ExecStart's binary to exist: a stand-in executable takes its place.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("regio");
    std::fs::write(&binary, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = unit_with(dir.path(), &binary);
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("regio.service"),
        "systemd-analyze verify: {stderr}"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze security: exposure above 2.0:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let score = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{report}"));
    eprintln!("{}", score.trim());

    // The same check fails on a unit whose binary does not exist.
    let bad = tempfile::tempdir().unwrap();
    let path = unit_with(bad.path(), &bad.path().join("missing/regio"));
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "verify accepted a unit whose binary is missing"
    );
}

#[test]
fn the_scratch_image_runs_a_static_binary_as_a_numeric_user() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    let directive = |d: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(d))
            .map(|l| l[d.len()..].trim())
            .collect::<Vec<_>>()
    };
    assert_eq!(directive("FROM "), ["scratch"]);
    assert_eq!(directive("USER "), ["10001:10001"]);
    assert_eq!(directive("VOLUME "), ["[\"/data\"]"]);
    assert_eq!(directive("EXPOSE "), ["7480/tcp 7481/tcp 7481/udp"]);
    assert_eq!(directive("ENTRYPOINT "), ["[\"/usr/local/bin/regio\"]"]);
    assert_eq!(
        directive("CMD "),
        ["[\"node\", \"run\", \"--dir\", \"/data\"]"]
    );
    assert!(
        !text.contains("RUN "),
        "a FROM scratch image has no shell to RUN anything"
    );
    let multi = std::fs::read_to_string(deploy().join("Dockerfile.multistage")).unwrap();
    assert!(
        multi.contains("FOR MACHINES WITH A REGISTRY"),
        "Dockerfile.multistage must say it needs a registry"
    );
}

#[test]
fn build_image_fails_clearly_without_docker() {
    let script = deploy().join("build-image.sh");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build-image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A PATH with bash's own directory but no docker.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new("/bin/bash")
        .arg(&script)
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("build-image.sh: docker not found"),
        "{stderr}"
    );
}
