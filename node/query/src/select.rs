//! Select-list items: a column, a `date_trunc` bucket, or an aggregate call.

use regio_policy::TimeUnit;
use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    Value as SqlValue,
};

use super::plan::{AggFunc, AggSpec, KeyExpr};
use super::scope::{PlanError, Scope};
use crate::schema::FieldType;

/// What a select item (or a GROUP BY / ORDER BY expression) is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item {
    /// A plain column.
    Column(usize),
    /// A `date_trunc` bucket (always a grouping key).
    Key(KeyExpr),
    /// An aggregate.
    Agg(AggSpec),
}

/// Classifies `e`, with its default output name.
pub(crate) fn item(scope: &Scope, e: &Expr) -> Result<(Item, String), PlanError> {
    match e {
        Expr::Nested(inner) => item(scope, inner),
        Expr::Function(f) => function(scope, e, f),
        _ => match scope.column_opt(e)? {
            Some(i) => Ok((Item::Column(i), scope.schema.fields[i].name.clone())),
            None => Err(PlanError::unsupported(
                e,
                format!("expression `{e}` (select columns, date_trunc or aggregates)"),
            )),
        },
    }
}

fn function(scope: &Scope, e: &Expr, f: &Function) -> Result<(Item, String), PlanError> {
    let name = f.name.to_string().to_lowercase();
    if f.over.is_some() {
        return Err(PlanError::unsupported(
            e,
            format!("window function {name}(…) OVER"),
        ));
    }
    if let Some(filter) = &f.filter {
        return Err(PlanError::unsupported(&**filter, "aggregate FILTER"));
    }
    let list = match &f.args {
        FunctionArguments::List(l) => l,
        _ => {
            return Err(PlanError::unsupported(
                e,
                format!("function {name} without an argument list"),
            ))
        }
    };
    if let Some(c) = list.clauses.first() {
        return Err(PlanError::unsupported(
            c,
            format!("clause `{c}` inside {name}(…)"),
        ));
    }
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    if distinct && name != "count" {
        return Err(PlanError::unsupported(
            e,
            format!("{name}(DISTINCT …) (only count(DISTINCT col))"),
        ));
    }
    if !f.within_group.is_empty() && name != "percentile_cont" {
        return Err(PlanError::unsupported(e, format!("WITHIN GROUP on {name}")));
    }
    let args: Vec<&FunctionArgExpr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(x) => Ok(x),
            other => Err(PlanError::unsupported(other, "named function argument")),
        })
        .collect::<Result<_, _>>()?;
    let one_column = |what: &str| -> Result<usize, PlanError> {
        match args.as_slice() {
            [FunctionArgExpr::Expr(x)] => scope.column(x),
            _ => Err(PlanError::invalid(e, format!("{what} takes one column"))),
        }
    };
    let numeric = |field: usize| -> Result<usize, PlanError> {
        match scope.schema.fields[field].ty {
            FieldType::Integer | FieldType::Float => Ok(field),
            _ => Err(PlanError::invalid(
                e,
                format!(
                    "{name} needs a numeric column, `{}` is not",
                    scope.schema.fields[field].name
                ),
            )),
        }
    };
    let agg = |func, field| Ok((Item::Agg(AggSpec { func, field }), name.clone()));
    match name.as_str() {
        "date_trunc" => {
            let (unit, col) = match args.as_slice() {
                [FunctionArgExpr::Expr(u), FunctionArgExpr::Expr(c)] => (u, c),
                _ => {
                    return Err(PlanError::invalid(
                        e,
                        "date_trunc takes a unit and a timestamp column",
                    ))
                }
            };
            let unit = match unit {
                Expr::Value(v) => match &v.value {
                    SqlValue::SingleQuotedString(s) => match s.to_lowercase().as_str() {
                        "hour" => TimeUnit::Hour,
                        "day" => TimeUnit::Day,
                        "week" => TimeUnit::Week,
                        "month" => TimeUnit::Month,
                        "year" => TimeUnit::Year,
                        other => {
                            return Err(PlanError::unsupported(
                                unit,
                                format!("date_trunc unit '{other}' (hour, day, week, month, year)"),
                            ))
                        }
                    },
                    _ => {
                        return Err(PlanError::invalid(
                            unit,
                            "date_trunc unit must be a quoted string",
                        ))
                    }
                },
                _ => {
                    return Err(PlanError::invalid(
                        unit,
                        "date_trunc unit must be a quoted string",
                    ))
                }
            };
            let field = scope.column(col)?;
            if scope.schema.fields[field].ty != FieldType::Timestamp {
                return Err(PlanError::invalid(
                    col,
                    format!("date_trunc needs a timestamp column, `{col}` is not"),
                ));
            }
            Ok((
                Item::Key(KeyExpr {
                    field,
                    trunc: Some(unit),
                }),
                name,
            ))
        }
        "count" => match args.as_slice() {
            [FunctionArgExpr::Wildcard] if !distinct => agg(AggFunc::CountStar, None),
            [FunctionArgExpr::Expr(_)] => {
                let f = one_column("count")?;
                agg(
                    if distinct {
                        AggFunc::CountDistinct
                    } else {
                        AggFunc::Count
                    },
                    Some(f),
                )
            }
            _ => Err(PlanError::invalid(e, "count takes * or one column")),
        },
        "sum" => agg(AggFunc::Sum, Some(numeric(one_column("sum")?)?)),
        "avg" => agg(AggFunc::Avg, Some(numeric(one_column("avg")?)?)),
        "stddev" | "stddev_samp" => agg(AggFunc::Stddev, Some(numeric(one_column("stddev")?)?)),
        "min" | "max" => {
            let field = one_column(&name)?;
            if scope.schema.fields[field].ty == FieldType::GeoPoint {
                return Err(PlanError::invalid(e, format!("{name} of a geo point")));
            }
            agg(
                if name == "min" {
                    AggFunc::Min
                } else {
                    AggFunc::Max
                },
                Some(field),
            )
        }
        "percentile_cont" => {
            let p = match args.as_slice() {
                [FunctionArgExpr::Expr(Expr::Value(v))] => match &v.value {
                    SqlValue::Number(n, _) => {
                        n.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p))
                    }
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| {
                PlanError::invalid(e, "percentile_cont takes a fraction between 0 and 1")
            })?;
            let col = match f.within_group.as_slice() {
                [o] if o.options.sort.is_none()
                    || matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Asc)) =>
                {
                    &o.expr
                }
                _ => {
                    return Err(PlanError::invalid(
                        e,
                        "percentile_cont needs WITHIN GROUP (ORDER BY one column ascending)",
                    ))
                }
            };
            let field = numeric(scope.column(col)?)?;
            agg(AggFunc::Percentile(p), Some(field))
        }
        _ => Err(PlanError::unsupported(&f.name, format!("function {name}"))),
    }
}
