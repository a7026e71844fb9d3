//! `WHERE` translation: SQL expressions to [`Predicate`]s with literals typed by the column,
//! the filter part of the [`QueryShape`](regio_policy::QueryShape) (granularity of each use),
//! and the time range `[from, to)` the store can prune by.

use regio_policy::{FieldUse, Granularity};
use sqlparser::ast::Spanned;
use sqlparser::ast::{BinaryOperator, DataType, Expr, InTarget, UnaryOperator, Value as SqlValue};

use super::plan::{CmpOp, Predicate};
use super::scope::{pos_of, PlanError, Scope};
use super::time::parse_time_literal;
use crate::schema::{FieldType, Value};

/// Translates a `WHERE` expression, recording each field use in `uses`.
pub(crate) fn predicate(
    scope: &Scope,
    e: &Expr,
    uses: &mut Vec<FieldUse>,
) -> Result<Predicate, PlanError> {
    match e {
        Expr::Nested(inner) => predicate(scope, inner, uses),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => Ok(Predicate::And(vec![
            predicate(scope, left, uses)?,
            predicate(scope, right, uses)?,
        ])),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => Ok(Predicate::Or(vec![
            predicate(scope, left, uses)?,
            predicate(scope, right, uses)?,
        ])),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Predicate::Not(Box::new(predicate(scope, expr, uses)?))),
        Expr::BinaryOp { left, op, right } => {
            let cmp = match op {
                BinaryOperator::Eq => CmpOp::Eq,
                BinaryOperator::NotEq => CmpOp::Ne,
                BinaryOperator::Lt => CmpOp::Lt,
                BinaryOperator::LtEq => CmpOp::Le,
                BinaryOperator::Gt => CmpOp::Gt,
                BinaryOperator::GtEq => CmpOp::Ge,
                other => return Err(PlanError::unsupported(e, format!("operator {other}"))),
            };
            let (field, lit, cmp) = match (scope.column_opt(left)?, scope.column_opt(right)?) {
                (Some(f), None) => (f, &**right, cmp),
                (None, Some(f)) => (f, &**left, flip(cmp)),
                (Some(_), Some(_)) => {
                    return Err(PlanError::unsupported(
                        e,
                        "comparison of two columns (compare a column with a literal)",
                    ))
                }
                (None, None) => {
                    return Err(PlanError::unsupported(e, "comparison without a column"))
                }
            };
            let value = literal(scope, field, lit)?;
            edges(scope, field, cmp, &value, uses);
            Ok(Predicate::Cmp {
                field,
                op: cmp,
                value,
            })
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let field = scope.column(expr)?;
            let (lo, hi) = (literal(scope, field, low)?, literal(scope, field, high)?);
            edges(scope, field, CmpOp::Ge, &lo, uses);
            edges(scope, field, CmpOp::Le, &hi, uses);
            let p = Predicate::And(vec![
                Predicate::Cmp {
                    field,
                    op: CmpOp::Ge,
                    value: lo,
                },
                Predicate::Cmp {
                    field,
                    op: CmpOp::Le,
                    value: hi,
                },
            ]);
            Ok(if *negated {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => {
            let field = scope.column(expr)?;
            let list = list
                .iter()
                .map(|l| literal(scope, field, l))
                .collect::<Result<Vec<_>, _>>()?;
            if list.is_empty() {
                uses.push(FieldUse::new(
                    scope.schema.fields[field].name.clone(),
                    Granularity::Exact,
                ));
            }
            for v in &list {
                edges(scope, field, CmpOp::Eq, v, uses);
            }
            let p = Predicate::In { field, list };
            Ok(if *negated {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::In { .. } => Err(PlanError::unsupported(
            e,
            "IN with a subquery (queries read one dataset)",
        )),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let field = scope.column(inner)?;
            uses.push(FieldUse::new(
                scope.schema.fields[field].name.clone(),
                Granularity::Null,
            ));
            let p = Predicate::IsNull { field };
            Ok(if matches!(e, Expr::IsNotNull(_)) {
                Predicate::Not(Box::new(p))
            } else {
                p
            })
        }
        Expr::Subquery(_) | Expr::Exists { .. } => Err(PlanError::unsupported(
            e,
            "subquery (queries read one dataset)",
        )),
        Expr::Function(f) => Err(PlanError::unsupported(
            e,
            format!("function {} in WHERE", f.name),
        )),
        other => Err(PlanError::unsupported(
            e,
            format!("expression `{other}` in WHERE"),
        )),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// Integers beyond this are not exact as `f64`: their edges are reported as exact uses.
const EXACT_F64: i64 = 1 << 53;

/// Records the edges of `field op value` in `uses`: the values where the comparison can
/// change truth value, which the decision engine checks against a protected attribute's
/// grid. On an integer (or timestamp) column `x < c` and `x >= c` change at `c`, `x <= c`
/// and `x > c` at `c + 1`, `x = c`, `x <> c` and `IN` at `c` and `c + 1`. On a float
/// column only `<` and `>=` have an edge a grid can hold (`c`); the others are exact. A
/// string comparison is exact.
fn edges(scope: &Scope, field: usize, op: CmpOp, value: &Value, uses: &mut Vec<FieldUse>) {
    let name = &scope.schema.fields[field].name;
    let int_edges = |c: i64| -> Vec<Option<i64>> {
        match op {
            CmpOp::Lt | CmpOp::Ge => vec![Some(c)],
            CmpOp::Le | CmpOp::Gt => vec![c.checked_add(1)],
            _ => vec![Some(c), c.checked_add(1)],
        }
    };
    let gs: Vec<Granularity> = match value {
        Value::Int(c) => int_edges(*c)
            .into_iter()
            .map(|e| match e {
                Some(e) if (-EXACT_F64..=EXACT_F64).contains(&e) => Granularity::Edge(e as f64),
                _ => Granularity::Exact,
            })
            .collect(),
        Value::Ts(t) => int_edges(*t)
            .into_iter()
            .map(|e| e.map_or(Granularity::Exact, Granularity::TimeEdge))
            .collect(),
        Value::Float(c) if matches!(op, CmpOp::Lt | CmpOp::Ge) && c.is_finite() => {
            vec![Granularity::Edge(*c)]
        }
        _ => vec![Granularity::Exact],
    };
    uses.extend(gs.into_iter().map(|g| FieldUse::new(name.clone(), g)));
}

/// A literal typed for column `field`.
pub(crate) fn literal(scope: &Scope, field: usize, e: &Expr) -> Result<Value, PlanError> {
    let f = &scope.schema.fields[field];
    let bad = |what: &str| PlanError::Invalid {
        pos: pos_of(e.span()),
        msg: format!(
            "`{e}` is not a valid {what} literal for column `{}`",
            f.name
        ),
    };
    let (text, negative, typed) = match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => (n.clone(), false, None),
            SqlValue::SingleQuotedString(s) => (s.clone(), false, None),
            SqlValue::Null => {
                return Err(PlanError::Invalid {
                    pos: pos_of(e.span()),
                    msg: "compare with NULL using IS [NOT] NULL".into(),
                })
            }
            _ => return Err(bad(ty_name(f.ty))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match &**expr {
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => (n.clone(), true, None),
                _ => return Err(bad(ty_name(f.ty))),
            },
            _ => return Err(bad(ty_name(f.ty))),
        },
        Expr::TypedString(t) => match (&t.data_type, &t.value.value) {
            (
                DataType::Timestamp(..) | DataType::Date | DataType::TimestampNtz(..),
                SqlValue::SingleQuotedString(s),
            ) => (s.clone(), false, Some(())),
            _ => return Err(bad(ty_name(f.ty))),
        },
        Expr::Cast {
            expr,
            data_type: DataType::Timestamp(..) | DataType::Date,
            ..
        } => match &**expr {
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) => (s.clone(), false, Some(())),
                _ => return Err(bad(ty_name(f.ty))),
            },
            _ => return Err(bad(ty_name(f.ty))),
        },
        Expr::Nested(inner) => return literal(scope, field, inner),
        other => {
            return Err(PlanError::unsupported(
                other,
                format!("expression `{other}` (only literals compare with columns)"),
            ))
        }
    };
    let is_number =
        matches!(e, Expr::Value(v) if matches!(v.value, SqlValue::Number(..))) || negative;
    let sign = if negative { "-" } else { "" };
    match f.ty {
        FieldType::String if !is_number && typed.is_none() => Ok(Value::Str(text)),
        FieldType::Integer if is_number => format!("{sign}{text}")
            .parse()
            .map(Value::Int)
            .map_err(|_| bad("integer")),
        FieldType::Float if is_number => format!("{sign}{text}")
            .parse()
            .map(Value::Float)
            .map_err(|_| bad("float")),
        FieldType::Timestamp if !is_number => parse_time_literal(&text)
            .map(Value::Ts)
            .ok_or_else(|| bad("timestamp")),
        FieldType::GeoPoint => Err(PlanError::unsupported(
            e,
            format!("comparison on geo point column `{}`", f.name),
        )),
        ty => Err(bad(ty_name(ty))),
    }
}

fn ty_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Float => "float",
        FieldType::Timestamp => "timestamp",
        FieldType::GeoPoint => "geo point",
    }
}

/// `[from, to)` on the time field implied by the top-level conjuncts of `p`.
pub(crate) fn time_range(p: &Predicate, time_field: usize) -> (Option<i64>, Option<i64>) {
    let mut range = (None::<i64>, None::<i64>);
    let mut narrow = |from: Option<i64>, to: Option<i64>| {
        if let Some(f) = from {
            range.0 = Some(range.0.map_or(f, |g: i64| g.max(f)));
        }
        if let Some(t) = to {
            range.1 = Some(range.1.map_or(t, |u: i64| u.min(t)));
        }
    };
    fn conjuncts<'a>(p: &'a Predicate, out: &mut Vec<&'a Predicate>) {
        match p {
            Predicate::And(v) => v.iter().for_each(|q| conjuncts(q, out)),
            other => out.push(other),
        }
    }
    let mut all = Vec::new();
    conjuncts(p, &mut all);
    for c in all {
        if let Predicate::Cmp {
            field,
            op,
            value: Value::Ts(t),
        } = c
        {
            if *field != time_field {
                continue;
            }
            let t = *t;
            match op {
                CmpOp::Eq => narrow(Some(t), t.checked_add(1)),
                CmpOp::Ge => narrow(Some(t), None),
                CmpOp::Gt => narrow(t.checked_add(1), None),
                CmpOp::Lt => narrow(None, Some(t)),
                CmpOp::Le => narrow(None, t.checked_add(1)),
                CmpOp::Ne => {}
            }
        }
    }
    range
}
