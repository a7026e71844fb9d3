//! Admin authentication (owner: HTTP): the node's admin token, read from
//! `DIR/admin.token`, presented as `Authorization: Bearer <token>` and compared in
//! constant time. A handler that takes [`Admin`] as an argument is an admin route; the
//! check runs before the body is read, so a refused request changes nothing.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// The admin token (never printed by `Debug`).
#[derive(Clone)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// Why a token file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not 64 hexadecimal digits.
    #[error(
        "the admin token must be 64 hexadecimal digits (32 random bytes); found {0} characters"
    )]
    Malformed(usize),
}

impl AdminToken {
    /// A token from the text of `admin.token` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<AdminToken, TokenError> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed(t.len()));
        }
        Ok(AdminToken(t.to_ascii_lowercase()))
    }

    /// A fresh token of 32 random bytes (what `regio init` writes, and what in-process nodes
    /// of the demo and tests use).
    pub fn random() -> Result<AdminToken, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(AdminToken(hex::encode(bytes)))
    }

    /// The token's text (64 lowercase hexadecimal digits), for a client's `Authorization`
    /// header.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token (constant time in the token's content).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(
            self.0
                .as_bytes()
                .ct_eq(presented.trim().to_ascii_lowercase().as_bytes()),
        )
    }
}

/// Proof that the request carried the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl Admin {
    /// Whether `headers` carry `token` as `Authorization: Bearer <token>`.
    pub fn check(headers: &HeaderMap, token: &AdminToken) -> Result<Admin, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.missing_token",
                "this route needs the admin token: send `Authorization: Bearer <token>` (the token is in the node directory's admin.token)",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if presented.is_empty() || !token.matches(presented) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.bad_token",
                "the bearer token is not this node's admin token (see the node directory's admin.token)",
            ));
        }
        Ok(Admin)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        Admin::check(&parts.headers, &state.token)
    }
}

/// `Option<Admin>`: `None` without an `Authorization` header (an anonymous request to a
/// route that answers both), `401` with a token that is not this node's.
impl OptionalFromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Admin>, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Admin::check(&parts.headers, &state.token).map(Some)
        } else {
            Ok(None)
        }
    }
}
