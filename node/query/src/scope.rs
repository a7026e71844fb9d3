//! Where a query's names point and where its errors are: a position in the SQL text
//! ([`Pos`]), why a query could not be planned ([`PlanError`]), and name resolution of
//! columns against the dataset's schema (`Scope`), shared by `sql`, `select` and `expr`.

use std::fmt;

use sqlparser::ast::{Expr, Spanned};
use sqlparser::tokenizer::Span;

use crate::schema::Schema;

/// A position in the SQL text (1-based; `0:0` when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Line.
    pub line: u64,
    /// Column.
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

pub(crate) fn pos_of(span: Span) -> Pos {
    Pos {
        line: span.start.line,
        column: span.start.column,
    }
}

/// Why a query could not be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Not SQL (the parser's message carries the position).
    #[error("syntax error: {0}")]
    Syntax(String),
    /// SQL outside the supported subset.
    #[error("unsupported at {pos}: {what}")]
    Unsupported {
        /// Where.
        pos: Pos,
        /// The construct.
        what: String,
    },
    /// The dataset is not on this node.
    #[error("unknown dataset `{name}` at {pos}")]
    UnknownDataset {
        /// Where.
        pos: Pos,
        /// Its name.
        name: String,
    },
    /// The column is not in the dataset.
    #[error("unknown column `{name}` at {pos} (dataset `{dataset}`)")]
    UnknownColumn {
        /// Where.
        pos: Pos,
        /// Its name.
        name: String,
        /// The dataset.
        dataset: String,
    },
    /// Supported constructs used wrongly (types, grouping, literals).
    #[error("invalid at {pos}: {msg}")]
    Invalid {
        /// Where.
        pos: Pos,
        /// What is wrong.
        msg: String,
    },
}

impl PlanError {
    pub(crate) fn unsupported(node: &impl Spanned, what: impl Into<String>) -> Self {
        PlanError::Unsupported {
            pos: pos_of(node.span()),
            what: what.into(),
        }
    }
    pub(crate) fn invalid(node: &impl Spanned, msg: impl Into<String>) -> Self {
        PlanError::Invalid {
            pos: pos_of(node.span()),
            msg: msg.into(),
        }
    }
}

/// Name resolution for one query: the schema and the names its columns may be qualified by.
pub(crate) struct Scope<'a> {
    pub(crate) schema: &'a Schema,
    pub(crate) qualifiers: Vec<String>,
}

impl Scope<'_> {
    /// The column `e` names, `None` if `e` is not a column reference.
    pub(crate) fn column_opt(&self, e: &Expr) -> Result<Option<usize>, PlanError> {
        let ident = match e {
            Expr::Identifier(i) => i,
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                if !self.qualifiers.iter().any(|q| *q == parts[0].value) {
                    return Err(PlanError::UnknownDataset {
                        pos: pos_of(parts[0].span),
                        name: parts[0].value.clone(),
                    });
                }
                &parts[1]
            }
            Expr::CompoundIdentifier(_) => {
                return Err(PlanError::unsupported(e, format!("qualified name `{e}`")))
            }
            Expr::Nested(inner) => return self.column_opt(inner),
            _ => return Ok(None),
        };
        match self.schema.field(&ident.value) {
            Some((i, _)) => Ok(Some(i)),
            None => Err(PlanError::UnknownColumn {
                pos: pos_of(ident.span),
                name: ident.value.clone(),
                dataset: self.schema.dataset.clone(),
            }),
        }
    }

    /// The column `e` names; anything else is unsupported here.
    pub(crate) fn column(&self, e: &Expr) -> Result<usize, PlanError> {
        self.column_opt(e)?.ok_or_else(|| {
            PlanError::unsupported(e, format!("expression `{e}` (a column is expected here)"))
        })
    }
}
