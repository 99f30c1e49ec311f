//! `http.cors:` which browser origins may call the router, built into
//! tower-http's `CorsLayer`. Without the section no CORS header is ever sent
//! (browsers then refuse cross-origin calls). Every value is checked at
//! start; a setting that could not be served (a wildcard with credentials, a
//! bad header name or regex) stops the router with the key that is wrong.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use regex::RegexSet;
use schemars::JsonSchema;
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `http.cors:` cross-origin access for browsers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed exactly, e.g. `https://app.example.com` (scheme, host and port as the browser sends them).
    #[serde(default)]
    pub origins: Vec<String>,
    /// Regular expressions an origin may match instead (anchor them: `^https://[a-z]+\.example\.com$`).
    #[serde(default)]
    pub match_origins: Vec<String>,
    /// Allow every origin (`Access-Control-Allow-Origin: *`); cannot be combined with `allow_credentials`.
    #[serde(default)]
    pub allow_any_origin: bool,
    /// Let browsers send cookies and HTTP authentication (`Access-Control-Allow-Credentials: true`).
    #[serde(default)]
    pub allow_credentials: bool,
    /// Request headers browsers may send.
    #[serde(default = "default_allow_headers")]
    pub allow_headers: Vec<String>,
    /// Response headers browser scripts may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Methods browsers may use.
    #[serde(default = "default_methods")]
    pub methods: Vec<String>,
    /// How long browsers may cache a preflight answer, e.g. "10m"; unset: no `Access-Control-Max-Age`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub max_age: Option<Duration>,
}

fn default_allow_headers() -> Vec<String> {
    [
        "content-type",
        "authorization",
        "apollo-require-preflight",
        "x-apollo-operation-name",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn default_methods() -> Vec<String> {
    ["GET", "POST", "OPTIONS"].map(str::to_owned).to_vec()
}

/// Why a CORS setting cannot be used; names the key.
#[derive(Debug, thiserror::Error)]
#[error("http.cors.{key}: {message}")]
pub struct CorsError {
    key: String,
    message: String,
}

fn error(key: impl Into<String>, message: impl Into<String>) -> CorsError {
    CorsError {
        key: key.into(),
        message: message.into(),
    }
}

impl CorsConfig {
    /// Builds the layer, checking every value.
    pub fn layer(&self) -> Result<CorsLayer, CorsError> {
        if self.allow_any_origin && self.allow_credentials {
            return Err(error(
                "allow_credentials",
                "cannot be combined with allow_any_origin (browsers refuse `*` with credentials); list the origins",
            ));
        }
        let mut origins = Vec::with_capacity(self.origins.len());
        for (i, origin) in self.origins.iter().enumerate() {
            if origin == "*" {
                return Err(error(
                    format!("origins[{i}]"),
                    "`*` is not an origin; set allow_any_origin: true instead",
                ));
            }
            let value = HeaderValue::from_str(origin.trim_end_matches('/'))
                .map_err(|_| error(format!("origins[{i}]"), "not a valid origin"))?;
            origins.push(value);
        }
        let patterns = RegexSet::new(&self.match_origins)
            .map_err(|e| error("match_origins", format!("invalid regular expression: {e}")))?;
        let allow_origin = if self.allow_any_origin {
            AllowOrigin::any()
        } else {
            AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origins.contains(origin)
                    || origin.to_str().is_ok_and(|text| patterns.is_match(text))
            })
        };
        let mut layer = CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_credentials(self.allow_credentials)
            .allow_headers(header_names("allow_headers", &self.allow_headers)?)
            .expose_headers(header_names("expose_headers", &self.expose_headers)?)
            .allow_methods(methods(&self.methods)?);
        if let Some(max_age) = self.max_age {
            layer = layer.max_age(max_age);
        }
        Ok(layer)
    }
}

fn header_names(key: &str, names: &[String]) -> Result<Vec<HeaderName>, CorsError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if name == "*" {
                return Err(error(
                    format!("{key}[{i}]"),
                    "`*` is not allowed; list the header names",
                ));
            }
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                error(
                    format!("{key}[{i}]"),
                    format!("`{name}` is not a valid header name"),
                )
            })
        })
        .collect()
}

fn methods(names: &[String]) -> Result<Vec<Method>, CorsError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let method = Method::from_bytes(name.to_ascii_uppercase().as_bytes());
            match method {
                Ok(method) if name != "*" => Ok(method),
                _ => Err(error(
                    format!("methods[{i}]"),
                    format!("`{name}` is not an HTTP method"),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> CorsConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn refused(yaml: &str) -> String {
        config(yaml).layer().unwrap_err().to_string()
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert!(config("origins: [https://a.example]").layer().is_ok());
        assert_eq!(
            refused("allow_any_origin: true\nallow_credentials: true"),
            "http.cors.allow_credentials: cannot be combined with allow_any_origin (browsers refuse `*` with credentials); list the origins"
        );
        assert!(refused("origins: [https://a.example, '*']").starts_with("http.cors.origins[1]:"));
        assert!(refused("match_origins: ['(']").starts_with("http.cors.match_origins: invalid"));
        assert!(refused("allow_headers: ['bad header']").starts_with("http.cors.allow_headers[0]:"));
        assert!(refused("expose_headers: ['*']").starts_with("http.cors.expose_headers[0]:"));
        assert!(refused("methods: [GET, '*']").starts_with("http.cors.methods[1]:"));
    }
}
