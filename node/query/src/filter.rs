//! Row selection inside a chunk: the consent bitmap (decided once per dictionary entry of the
//! subject column) and the `WHERE` predicate, evaluated column by column with SQL's
//! three-valued logic (a comparison with NULL is unknown; only true rows are selected).

use std::cmp::Ordering;

use super::agg::cmp_values;
use super::plan::{CmpOp, Predicate};
use crate::chunk::{Column, NULL_CODE};
use crate::schema::Value;

/// Three-valued truth, ordered so that AND is `min`, OR is `max` and NOT is `TRUE - x`.
const FALSE: u8 = 0;
const UNKNOWN: u8 = 1;
const TRUE: u8 = 2;

/// Clears `sel[row]` for personal rows whose subject does not consent; returns how many
/// rows were excluded. Null subjects are not personal and always count.
pub(crate) fn consent_mask(
    subject: &Column,
    consents: &dyn Fn(&str) -> bool,
    sel: &mut [bool],
) -> u64 {
    let Column::Str { dict, codes } = subject else {
        return 0;
    };
    let allowed: Vec<bool> = dict.iter().map(|s| consents(s)).collect();
    let mut excluded = 0;
    for (s, &c) in sel.iter_mut().zip(codes) {
        if c != NULL_CODE && !allowed.get(c as usize).copied().unwrap_or(false) {
            *s = false;
            excluded += 1;
        }
    }
    excluded
}

/// ANDs the predicate into `sel`.
pub(crate) fn apply(p: &Predicate, columns: &[Column], sel: &mut [bool]) {
    let truth = eval(p, columns, sel.len());
    for (s, t) in sel.iter_mut().zip(truth) {
        *s &= t == TRUE;
    }
}

fn test(op: CmpOp, ord: Option<Ordering>) -> u8 {
    match ord {
        None => UNKNOWN,
        Some(o) => {
            let hit = match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            };
            if hit {
                TRUE
            } else {
                FALSE
            }
        }
    }
}

/// Truth of a one-column test per row; strings are decided once per dictionary entry.
fn leaf(column: &Column, rows: usize, f: impl Fn(&Value) -> u8) -> Vec<u8> {
    match column {
        Column::Str { dict, codes } => {
            let per_entry: Vec<u8> = dict.iter().map(|s| f(&Value::Str(s.clone()))).collect();
            let null = f(&Value::Null);
            codes
                .iter()
                .map(|&c| {
                    if c == NULL_CODE {
                        null
                    } else {
                        per_entry.get(c as usize).copied().unwrap_or(null)
                    }
                })
                .collect::<Vec<u8>>()
        }
        Column::Int(v) => v
            .iter()
            .map(|x| f(&x.map_or(Value::Null, Value::Int)))
            .collect(),
        Column::Ts(v) => v
            .iter()
            .map(|x| f(&x.map_or(Value::Null, Value::Ts)))
            .collect(),
        Column::Float(v) => v
            .iter()
            .map(|x| f(&x.map_or(Value::Null, Value::Float)))
            .collect(),
        Column::Geo(v) => v
            .iter()
            .map(|x| f(&x.map_or(Value::Null, |(a, b)| Value::Geo(a, b))))
            .collect(),
    }
    .into_iter()
    .chain(std::iter::repeat(UNKNOWN))
    .take(rows)
    .collect()
}

fn eval(p: &Predicate, columns: &[Column], rows: usize) -> Vec<u8> {
    let col = |field: &usize| columns.get(*field);
    match p {
        Predicate::And(ps) | Predicate::Or(ps) => {
            let and = matches!(p, Predicate::And(_));
            let mut acc = vec![if and { TRUE } else { FALSE }; rows];
            for q in ps {
                for (a, b) in acc.iter_mut().zip(eval(q, columns, rows)) {
                    *a = if and { (*a).min(b) } else { (*a).max(b) };
                }
            }
            acc
        }
        Predicate::Not(q) => eval(q, columns, rows)
            .into_iter()
            .map(|t| TRUE - t)
            .collect(),
        Predicate::Cmp { field, op, value } => match col(field) {
            Some(c) => leaf(c, rows, |v| test(*op, cmp_values(v, value))),
            None => vec![UNKNOWN; rows],
        },
        Predicate::In { field, list } => match col(field) {
            Some(c) => leaf(c, rows, |v| {
                if matches!(v, Value::Null) {
                    UNKNOWN
                } else if list
                    .iter()
                    .any(|l| cmp_values(v, l) == Some(Ordering::Equal))
                {
                    TRUE
                } else {
                    FALSE
                }
            }),
            None => vec![UNKNOWN; rows],
        },
        Predicate::IsNull { field } => match col(field) {
            Some(c) => leaf(c, rows, |v| {
                if matches!(v, Value::Null) {
                    TRUE
                } else {
                    FALSE
                }
            }),
            None => vec![UNKNOWN; rows],
        },
    }
}
