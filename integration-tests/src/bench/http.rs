//! A small blocking JSON client over one keep-alive `ureq` agent (owner: bench).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

/// A JSON-over-HTTP client; non-2xx statuses are returned, not errors.
#[derive(Clone)]
pub struct Http(ureq::Agent);

impl Default for Http {
    fn default() -> Self {
        Http::new(Duration::from_secs(120))
    }
}

impl Http {
    /// A client whose every call gives up after `timeout`.
    pub fn new(timeout: Duration) -> Http {
        Http(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                .build()
                .into(),
        )
    }

    /// `GET url`: status and JSON body (`Null` if the body is not JSON).
    pub fn get(&self, url: &str) -> Result<(u16, Value)> {
        let mut resp = self
            .0
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("GET {url}: body"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `GET url` as admin (`Authorization: Bearer token`): status and JSON body.
    pub fn get_admin(&self, url: &str, token: &str) -> Result<(u16, Value)> {
        let mut resp = self
            .0
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("GET {url}: body"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `GET url`: the status only (the body is read and dropped).
    pub fn status(&self, url: &str) -> Result<u16> {
        let mut resp = self
            .0
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let _ = resp.body_mut().read_to_vec();
        Ok(resp.status().as_u16())
    }

    /// `GET url` as text (e.g. `/metrics`).
    pub fn text(&self, url: &str) -> Result<String> {
        let mut resp = self
            .0
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        resp.body_mut()
            .read_to_string()
            .with_context(|| format!("GET {url}: body"))
    }

    /// `POST url` with a JSON body and an optional admin token: status and JSON body.
    pub fn post(&self, url: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value)> {
        self.post_bytes(url, token, body.to_string().as_bytes())
    }

    /// `POST url` with any bytes (sent as `application/json`) and an optional admin token:
    /// status and JSON body (`Null` if the body is not JSON).
    pub fn post_bytes(&self, url: &str, token: Option<&str>, body: &[u8]) -> Result<(u16, Value)> {
        let mut r = self.0.post(url).content_type("application/json");
        if let Some(t) = token {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = r.send(body).with_context(|| format!("POST {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("POST {url}: body"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `POST url` a signed document as admin; anything but 201 is an error naming the answer.
    pub fn post_doc(&self, url: &str, token: &str, doc: &Value) -> Result<Value> {
        let (st, v) = self.post(url, Some(token), doc)?;
        if st != 201 {
            anyhow::bail!("POST {url}: {st} {v}");
        }
        Ok(v)
    }
}
