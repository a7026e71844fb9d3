//! Consent is never fail-open (DESIGN.md, "Disclosure control"): the policy of a personal
//! dataset names, as its `subjectField`, the very field the dataset's stored schema declares
//! as its `subject` (a string column). Checked when this node publishes its own policy
//! bundle and when a dataset is created; the decision engine refuses a query on a dataset
//! where they still disagree (`disclosure.subject_mismatch`). `docs` turns a mismatch into
//! its error.

use regio_policy::doc::bundle::{Classification, DatasetPolicy, PolicyBundle};
use regio_query::schema::{FieldType, Schema};

/// Why `policy` (of a personal dataset) and the dataset's `schema` disagree on the subject.
pub(crate) fn mismatch(policy: &DatasetPolicy, schema: &Schema) -> Option<String> {
    if policy.classification != Classification::Personal {
        return None;
    }
    let Some(field) = &policy.subject_field else {
        return Some(
            "the policy classifies it as personal but names no subjectField; name the schema's subject field"
                .into(),
        );
    };
    match (schema.field(field), &schema.subject) {
        (None, _) => Some(format!(
            "the policy's subjectField `{field}` is not a field of the dataset's schema; name the field that holds the data subject"
        )),
        (Some((_, f)), _) if f.ty != FieldType::String => Some(format!(
            "the policy's subjectField `{field}` is a {:?} field, the data subject is a string (pseudonym)",
            f.ty
        )),
        (Some(_), Some(s)) if s == field => None,
        (Some(_), Some(s)) => Some(format!(
            "the policy's subjectField is `{field}` but the dataset's schema names `{s}` as its subject; make them the same field"
        )),
        (Some(_), None) => Some(format!(
            "the policy's subjectField is `{field}` but the dataset's schema names no subject; declare `\"subject\": \"{field}\"` in the schema"
        )),
    }
}

/// The first personal dataset of `bundle` whose stored schema (in `schemas`) disagrees: its
/// name and why.
pub(crate) fn first_mismatch(
    bundle: &PolicyBundle,
    schemas: &[Schema],
) -> Option<(String, String)> {
    bundle.datasets.iter().find_map(|d| {
        let schema = schemas.iter().find(|s| s.dataset == d.name)?;
        mismatch(d, schema).map(|msg| (d.name.clone(), msg))
    })
}
