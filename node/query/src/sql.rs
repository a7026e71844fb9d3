//! SQL to [`Plan`] + [`QueryShape`]: parses with `sqlparser` (PostgreSQL dialect), refuses
//! everything outside the read-only subset with the construct and its `line:column`, and
//! resolves names against the dataset's schema.

use regio_policy::{AggKind, AggUse, FieldUse, Granularity, QueryKind, QueryShape};
use sqlparser::ast::{
    Expr, GroupByExpr, LimitClause, OrderByKind, OrderBySort, Query, SelectItem, SetExpr, Spanned,
    Statement, TableFactor, Value as SqlValue,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::expr::{predicate, time_range};
use super::plan::{AggFunc, KeyExpr, OrderKey, OutSource, OutputColumn, Plan};
use super::scope::{pos_of, PlanError, Pos, Scope};
use super::select::{item, Item};
use crate::schema::Schema;

/// Parses and plans `sql`; `lookup` gives the schema of a dataset of this node.
pub fn plan(
    sql: &str,
    lookup: impl Fn(&str) -> Option<Schema>,
) -> Result<(Plan, QueryShape), PlanError> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| PlanError::Syntax(e.to_string()))?;
    let query = match statements.as_slice() {
        [Statement::Query(q)] => q,
        [] => return Err(PlanError::Syntax("empty query".into())),
        [s] => {
            return Err(PlanError::unsupported(
                s,
                format!("statement {} (only SELECT)", first_word(s)),
            ))
        }
        [_, s, ..] => return Err(PlanError::unsupported(s, "more than one statement")),
    };
    plan_query(query, &lookup)
}

fn first_word(s: &Statement) -> String {
    s.to_string()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase()
}

fn plan_query(
    q: &Query,
    lookup: &dyn Fn(&str) -> Option<Schema>,
) -> Result<(Plan, QueryShape), PlanError> {
    if let Some(w) = &q.with {
        return Err(PlanError::unsupported(w, "WITH (common table expressions)"));
    }
    if let Some(f) = &q.fetch {
        return Err(PlanError::Unsupported {
            pos: pos_of(q.span()),
            what: format!("{f}"),
        });
    }
    if !q.locks.is_empty()
        || q.for_clause.is_some()
        || q.settings.is_some()
        || q.format_clause.is_some()
        || !q.pipe_operators.is_empty()
    {
        return Err(PlanError::unsupported(
            q,
            "clauses after the query (FOR, SETTINGS, FORMAT, pipes)",
        ));
    }
    let select = match &*q.body {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { op, .. } => {
            return Err(PlanError::unsupported(
                &*q.body,
                format!("{op} (queries read one dataset)"),
            ))
        }
        SetExpr::Query(inner) => {
            return Err(PlanError::unsupported(
                &**inner,
                "subquery (queries read one dataset)",
            ))
        }
        other => {
            return Err(PlanError::unsupported(
                other,
                "a query body other than SELECT",
            ))
        }
    };
    let at = |what: &str| Err(PlanError::unsupported(&**select, what.to_string()));
    if let Some(d) = &select.distinct {
        return Err(PlanError::Unsupported {
            pos: pos_of(select.select_token.0.span),
            what: format!("SELECT {d} (group instead)"),
        });
    }
    if select.top.is_some()
        || select.into.is_some()
        || !select.lateral_views.is_empty()
        || select.prewhere.is_some()
    {
        return at("TOP / INTO / LATERAL VIEW / PREWHERE");
    }
    if !select.connect_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
    {
        return at("CONNECT BY / CLUSTER BY / DISTRIBUTE BY / SORT BY");
    }
    if let Some(h) = &select.having {
        return Err(PlanError::unsupported(
            h,
            "HAVING (small groups are suppressed by the policy's minimum group size)",
        ));
    }
    if let Some(w) = select.named_window.first() {
        return Err(PlanError::Unsupported {
            pos: pos_of(w.0.span),
            what: "WINDOW (window functions)".into(),
        });
    }
    if let Some(qq) = &select.qualify {
        return Err(PlanError::unsupported(qq, "QUALIFY"));
    }

    // FROM: exactly one dataset.
    let from = match select.from.as_slice() {
        [one] => one,
        [] => return Err(PlanError::unsupported(&**select, "SELECT without FROM")),
        [_, second, ..] => {
            return Err(PlanError::unsupported(
                second,
                "second table in FROM (queries read one dataset)",
            ))
        }
    };
    if let Some(j) = from.joins.first() {
        return Err(PlanError::unsupported(j, "JOIN (queries read one dataset)"));
    }
    let (name, alias) = match &from.relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            with_hints,
            version: None,
            partitions,
            ..
        } if with_hints.is_empty() && partitions.is_empty() && name.0.len() == 1 => (name, alias),
        TableFactor::Derived { .. } => {
            return Err(PlanError::unsupported(
                &from.relation,
                "subquery in FROM (queries read one dataset)",
            ))
        }
        other => {
            return Err(PlanError::unsupported(
                other,
                format!("FROM {other} (name one dataset)"),
            ))
        }
    };
    let dataset = name.to_string();
    let schema = lookup(&dataset).ok_or_else(|| PlanError::UnknownDataset {
        pos: pos_of(name.span()),
        name: dataset.clone(),
    })?;
    let mut qualifiers = vec![schema.dataset.clone()];
    if let Some(a) = alias {
        qualifiers.push(a.name.value.clone());
    }
    let scope = Scope {
        schema: &schema,
        qualifiers,
    };

    // SELECT list.
    if select.projection.is_empty() {
        return Err(PlanError::Unsupported {
            pos: pos_of(select.select_token.0.span),
            what: "SELECT with an empty select list (name the columns or aggregates)".into(),
        });
    }
    let mut items: Vec<(String, Item, Option<String>)> = Vec::new(); // name, item, alias
    for si in &select.projection {
        match si {
            SelectItem::UnnamedExpr(e) => {
                let (it, name) = item(&scope, e)?;
                items.push((name, it, None));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let (it, _) = item(&scope, expr)?;
                items.push((alias.value.clone(), it, Some(alias.value.clone())));
            }
            SelectItem::Wildcard(opts)
                if opts.opt_exclude.is_none()
                    && opts.opt_except.is_none()
                    && opts.opt_replace.is_none()
                    && opts.opt_rename.is_none()
                    && opts.opt_ilike.is_none() =>
            {
                for (i, f) in schema.fields.iter().enumerate() {
                    items.push((f.name.clone(), Item::Column(i), None));
                }
            }
            other => {
                return Err(PlanError::unsupported(
                    other,
                    format!("select item `{other}`"),
                ))
            }
        }
    }

    // GROUP BY.
    let mut keys: Vec<KeyExpr> = Vec::new();
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(PlanError::unsupported(
                    &select.group_by,
                    "GROUP BY modifiers (ROLLUP, CUBE, TOTALS)",
                ));
            }
            for e in exprs {
                let it = match position(e)? {
                    Some(p) => items.get(p).map(|x| x.1).ok_or_else(|| {
                        PlanError::invalid(
                            e,
                            format!("GROUP BY position {} is not in the select list", p + 1),
                        )
                    })?,
                    None => match alias_of(e, &items, &scope) {
                        Some(i) => items[i].1,
                        None => item(&scope, e)?.0,
                    },
                };
                let k = match it {
                    Item::Column(field) => KeyExpr { field, trunc: None },
                    Item::Key(k) => k,
                    Item::Agg(_) => return Err(PlanError::invalid(e, "aggregate in GROUP BY")),
                };
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        all @ GroupByExpr::All(_) => {
            return Err(PlanError::unsupported(
                all,
                "GROUP BY ALL (name the columns)",
            ))
        }
    }
    let aggregate = !keys.is_empty() || items.iter().any(|(_, it, _)| matches!(it, Item::Agg(_)));

    // Outputs.
    let mut aggs = Vec::new();
    let mut outputs = Vec::new();
    for ((name, it, _), si) in items.iter().zip(
        select
            .projection
            .iter()
            .chain(select.projection.first().into_iter().cycle()),
    ) {
        let source = match (*it, aggregate) {
            (Item::Column(f), false) => OutSource::Column(f),
            (Item::Key(_), false) => {
                return Err(PlanError::unsupported(
                    si,
                    "date_trunc outside GROUP BY (raw queries select columns)",
                ))
            }
            (Item::Agg(a), true) => {
                aggs.push(a);
                OutSource::Agg(aggs.len() - 1)
            }
            (Item::Column(field), true) | (Item::Key(KeyExpr { field, .. }), true) => {
                let k = match *it {
                    Item::Key(k) => k,
                    _ => KeyExpr { field, trunc: None },
                };
                let i = keys.iter().position(|x| *x == k).ok_or_else(|| {
                    PlanError::invalid(
                        si,
                        format!("`{name}` must appear in GROUP BY or be used in an aggregate"),
                    )
                })?;
                OutSource::Key(i)
            }
            (Item::Agg(_), false) => unreachable_agg()?,
        };
        outputs.push(OutputColumn {
            name: name.clone(),
            source,
        });
    }

    // ORDER BY.
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let exprs = match &ob.kind {
            OrderByKind::Expressions(v) => v,
            OrderByKind::All(_) => {
                return Err(PlanError::unsupported(q, "ORDER BY ALL (name the columns)"))
            }
        };
        for oe in exprs {
            if oe.with_fill.is_some() {
                return Err(PlanError::unsupported(oe, "WITH FILL"));
            }
            let desc = match &oe.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(_) => return Err(PlanError::unsupported(oe, "ORDER BY … USING")),
            };
            let output = match position(&oe.expr)? {
                Some(p) if p < outputs.len() => p,
                Some(p) => {
                    return Err(PlanError::invalid(
                        &oe.expr,
                        format!("ORDER BY position {} is not in the select list", p + 1),
                    ))
                }
                None => match alias_of(&oe.expr, &items, &scope) {
                    Some(i) => i,
                    None => {
                        let it = item(&scope, &oe.expr)?.0;
                        items.iter().position(|x| same(x.1, it)).ok_or_else(|| {
                            PlanError::unsupported(
                                &oe.expr,
                                format!("ORDER BY `{}` that is not in the select list", oe.expr),
                            )
                        })?
                    }
                },
            };
            order.push(OrderKey {
                output,
                desc,
                nulls_first: oe.options.nulls_first.unwrap_or(desc),
            });
        }
    }

    // LIMIT.
    let limit = match &q.limit_clause {
        None
        | Some(LimitClause::LimitOffset {
            limit: None,
            offset: None,
            ..
        }) => None,
        Some(LimitClause::LimitOffset {
            limit: Some(e),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() => Some(limit_value(e)?),
        Some(LimitClause::LimitOffset {
            offset: Some(o), ..
        }) => return Err(PlanError::unsupported(&o.value, "OFFSET")),
        Some(other) => {
            return Err(PlanError::unsupported(
                other,
                "LIMIT BY / LIMIT offset, count",
            ))
        }
    };

    // WHERE.
    let mut filter_uses = Vec::new();
    let filter = select
        .selection
        .as_ref()
        .map(|e| predicate(&scope, e, &mut filter_uses))
        .transpose()?;
    let time = (filter.as_ref(), schema.time_index());
    let time_range = match time {
        (Some(p), Some(t)) => time_range(p, t),
        _ => (None, None),
    };

    let kind = if aggregate {
        QueryKind::Aggregate
    } else {
        QueryKind::Raw
    };
    let plan = Plan {
        schema: schema.clone(),
        kind,
        filter,
        time_range,
        keys,
        aggs,
        outputs,
        order,
        limit,
    };
    let groups = plan
        .keys
        .iter()
        .map(|k| {
            FieldUse::new(
                schema.fields[k.field].name.clone(),
                k.trunc.map_or(Granularity::Exact, Granularity::Time),
            )
        })
        .collect();
    let fields = plan
        .fields_read()
        .into_iter()
        .map(|i| schema.fields[i].name.clone())
        .collect();
    let aggregates = plan
        .aggs
        .iter()
        .map(|a| {
            let f = a.field.map(|i| &schema.fields[i]);
            AggUse {
                func: match a.func {
                    AggFunc::CountStar | AggFunc::Count => AggKind::Count,
                    AggFunc::CountDistinct => AggKind::CountDistinct,
                    AggFunc::Sum => AggKind::Sum,
                    AggFunc::Avg => AggKind::Avg,
                    AggFunc::Min => AggKind::Min,
                    AggFunc::Max => AggKind::Max,
                    AggFunc::Stddev => AggKind::Stddev,
                    AggFunc::Percentile(_) => AggKind::Percentile,
                },
                field: f.map(|f| f.name.clone()),
                bounded: f.is_some_and(|f| f.bounds.is_some()),
                categorical: f.is_some_and(|f| f.categories.is_some()),
            }
        })
        .collect();
    let shape = QueryShape {
        dataset: schema.dataset.clone(),
        kind,
        filters: filter_uses,
        groups,
        fields,
        aggregates,
        subject: schema.subject.clone(),
    };
    Ok((plan, shape))
}

fn limit_value(e: &Expr) -> Result<u64, PlanError> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n
                .parse::<u64>()
                .map_err(|_| PlanError::invalid(e, "LIMIT takes a whole number")),
            _ => Err(PlanError::invalid(e, "LIMIT takes a whole number")),
        },
        _ => Err(PlanError::invalid(e, "LIMIT takes a whole number")),
    }
}

fn unreachable_agg() -> Result<OutSource, PlanError> {
    Err(PlanError::Invalid {
        pos: Pos { line: 0, column: 0 },
        msg: "internal: aggregate in a raw plan".into(),
    })
}

/// A 1-based position literal (`GROUP BY 1`), as a 0-based index.
fn position(e: &Expr) -> Result<Option<usize>, PlanError> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => match n.parse::<usize>() {
                Ok(p) if p >= 1 => Ok(Some(p - 1)),
                _ => Err(PlanError::invalid(
                    e,
                    format!("position `{n}` (positions start at 1)"),
                )),
            },
            _ => Err(PlanError::invalid(
                e,
                format!("`{e}` (a column, alias or position is expected)"),
            )),
        },
        _ => Ok(None),
    }
}

/// `e` is a bare name that is a select alias and not a column (as in PostgreSQL).
fn alias_of(e: &Expr, items: &[(String, Item, Option<String>)], scope: &Scope) -> Option<usize> {
    match e {
        Expr::Identifier(i) if scope.schema.field(&i.value).is_none() => items
            .iter()
            .position(|(_, _, alias)| alias.as_deref() == Some(i.value.as_str())),
        _ => None,
    }
}

fn same(a: Item, b: Item) -> bool {
    match (a, b) {
        (Item::Column(x), Item::Key(KeyExpr { field, trunc: None }))
        | (Item::Key(KeyExpr { field, trunc: None }), Item::Column(x)) => x == field,
        _ => a == b,
    }
}
