//! Access rules through casbin: RBAC with domains. Request `(application DID, region,
//! dataset, action, purpose)`; a grant for a purpose covers its narrower purposes
//! (`purposeMatch`), `*` matches anything in a policy line.

use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi};

use crate::doc::bundle::Access;
use crate::purpose::Vocabulary;

/// Regio's standard access model (used when a bundle brings none).
pub const STANDARD_MODEL: &str = r#"[request_definition]
r = sub, dom, obj, act, pur

[policy_definition]
p = sub, dom, obj, act, pur

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (p.sub == "*" || g(r.sub, p.sub, r.dom)) && (p.dom == "*" || r.dom == p.dom) && (p.obj == "*" || r.obj == p.obj) && (p.act == "*" || r.act == p.act) && purposeMatch(r.pur, p.pur)
"#;

/// Why access rules could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// casbin refused the model or a policy line.
    #[error("access rules: {0}")]
    Casbin(String),
}

/// Compiled access rules of one policy version.
pub struct Rules {
    enforcer: Enforcer,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("access::Rules")
    }
}

fn purpose_match(request: Dynamic, policy: Dynamic) -> Dynamic {
    match (
        request.into_immutable_string(),
        policy.into_immutable_string(),
    ) {
        (Ok(r), Ok(p)) => Dynamic::from(p.as_str() == "*" || Vocabulary::builtin().covers(&p, &r)),
        _ => Dynamic::from(false),
    }
}

impl Rules {
    /// Compiles a bundle's access section.
    pub fn compile(access: &Access) -> Result<Rules, AccessError> {
        let err = |e: casbin::Error| AccessError::Casbin(e.to_string());
        futures::executor::block_on(async {
            let model = DefaultModel::from_str(access.model.as_deref().unwrap_or(STANDARD_MODEL))
                .await
                .map_err(err)?;
            let mut enforcer = Enforcer::new(model, ()).await.map_err(err)?;
            enforcer.enable_auto_save(false);
            enforcer.add_function("purposeMatch", OperatorFunction::Arg2(purpose_match));
            let lines = |kind: &str| -> Vec<Vec<String>> {
                access
                    .policy
                    .iter()
                    .filter(|l| l.first().map(String::as_str) == Some(kind))
                    .map(|l| l[1..].to_vec())
                    .collect()
            };
            let (p, g) = (lines("p"), lines("g"));
            if !p.is_empty() {
                enforcer.add_named_policies("p", p).await.map_err(err)?;
            }
            if !g.is_empty() {
                enforcer
                    .add_named_grouping_policies("g", g)
                    .await
                    .map_err(err)?;
            }
            Ok(Rules { enforcer })
        })
    }

    /// Whether `subject` may do `action` on `dataset` in `region` for `purpose`.
    pub fn allows(
        &self,
        subject: &str,
        region: &str,
        dataset: &str,
        action: &str,
        purpose: &str,
    ) -> Result<bool, AccessError> {
        self.enforcer
            .enforce((subject, region, dataset, action, purpose))
            .map_err(|e| AccessError::Casbin(e.to_string()))
    }
}
