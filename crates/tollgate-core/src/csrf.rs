//! `http.csrf:` CSRF prevention. A browser sends a "simple" request (a GET,
//! or a POST whose `Content-Type` is `text/plain`,
//! `application/x-www-form-urlencoded` or `multipart/form-data`, or that has
//! none) to any site without asking it first (no CORS preflight), cookies
//! included. Such a request is only run when it carries one of the
//! configured headers, which a page on another origin cannot add without a
//! preflight; otherwise it is refused with `CSRF_PREVENTION` before anything
//! runs. Requests with any other content type (such as `application/json`)
//! were preflighted by the browser, so the CORS policy already applied.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName};
use schemars::JsonSchema;
use serde::Deserialize;

/// `http.csrf:` refuse simple requests that lack a preflight-forcing header.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrfConfig {
    /// Refuse simple requests (GET, form or text POSTs) without one of `required_headers`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Headers any of which marks a request as not simple (their value does not matter).
    #[serde(default = "default_required_headers")]
    pub required_headers: Vec<String>,
}

impl Default for CsrfConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            required_headers: default_required_headers(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_required_headers() -> Vec<String> {
    ["x-apollo-operation-name", "apollo-require-preflight"]
        .map(str::to_owned)
        .to_vec()
}

/// Content types a browser may send without a preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Why a CSRF setting cannot be used; names the key.
#[derive(Debug, thiserror::Error)]
#[error("http.csrf.required_headers[{index}]: `{name}` is not a valid header name")]
pub struct CsrfError {
    index: usize,
    name: String,
}

/// The check, built once: `None` when prevention is off.
#[derive(Debug, Clone)]
pub struct CsrfGuard {
    required: Option<Vec<HeaderName>>,
}

impl CsrfGuard {
    /// Builds the check, refusing invalid header names.
    pub fn new(config: &CsrfConfig) -> Result<Self, CsrfError> {
        if !config.enabled {
            return Ok(Self { required: None });
        }
        let required = config
            .required_headers
            .iter()
            .enumerate()
            .map(|(index, name)| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| CsrfError {
                    index,
                    name: name.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            required: Some(required),
        })
    }

    /// Whether a request with these headers may run.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(required) = &self.required else {
            return true;
        };
        preflighted_content_type(headers) || required.iter().any(|h| headers.contains_key(h))
    }
}

/// A `Content-Type` a browser would not send without a preflight.
fn preflighted_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    !essence.is_empty()
        && essence.contains('/')
        && !SIMPLE_CONTENT_TYPES.contains(&essence.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn simple_requests_need_a_required_header() {
        let guard = CsrfGuard::new(&CsrfConfig::default()).unwrap();
        assert!(!guard.allows(&headers(&[])));
        assert!(!guard.allows(&headers(&[("content-type", "text/plain;charset=UTF-8")])));
        assert!(!guard.allows(&headers(&[(
            "content-type",
            " Multipart/Form-Data; boundary=x"
        )])));
        assert!(!guard.allows(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!guard.allows(&headers(&[("content-type", "nonsense")])));
        assert!(guard.allows(&headers(&[("content-type", "application/json")])));
        assert!(guard.allows(&headers(&[("apollo-require-preflight", "")])));
        assert!(guard.allows(&headers(&[
            ("content-type", "text/plain"),
            ("x-apollo-operation-name", "Q")
        ])));
        let custom = CsrfGuard::new(&CsrfConfig {
            enabled: true,
            required_headers: vec!["x-csrf".into()],
        })
        .unwrap();
        assert!(!custom.allows(&headers(&[("apollo-require-preflight", "1")])));
        assert!(custom.allows(&headers(&[("x-csrf", "1")])));
        let off = CsrfGuard::new(&CsrfConfig {
            enabled: false,
            required_headers: Vec::new(),
        })
        .unwrap();
        assert!(off.allows(&headers(&[])));
        assert_eq!(
            CsrfGuard::new(&CsrfConfig {
                enabled: true,
                required_headers: vec!["bad header".into()],
            })
            .unwrap_err()
            .to_string(),
            "http.csrf.required_headers[0]: `bad header` is not a valid header name"
        );
    }
}
