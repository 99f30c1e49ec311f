//! Finding the token: the configured locations are tried in order; the first
//! that holds a token wins. Ambiguous credentials (the same header or cookie
//! twice) and a prefix with nothing after it are malformed, never ignored.

use std::fmt;

use http::header::COOKIE;
use http::HeaderMap;

use crate::config::LookupLocation;
use crate::error::AuthError;

/// Which location a token came from (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupSource {
    /// A header, by lowercase name.
    Header(String),
    /// A cookie, by name.
    Cookie(String),
}

impl fmt::Display for LookupSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupSource::Header(name) => write!(f, "header:{name}"),
            LookupSource::Cookie(name) => write!(f, "cookie:{name}"),
        }
    }
}

/// The token and where it was found; `Ok(None)` when no location holds one.
pub fn find_token<'h>(
    headers: &'h HeaderMap,
    locations: &[LookupLocation],
) -> Result<Option<(&'h str, LookupSource)>, AuthError> {
    for location in locations {
        let found = match location {
            LookupLocation::Header { name, prefix } => {
                from_header(headers, name, prefix.as_deref())?
                    .map(|t| (t, LookupSource::Header(name.to_ascii_lowercase())))
            }
            LookupLocation::Cookies { name } => {
                from_cookies(headers, name)?.map(|t| (t, LookupSource::Cookie(name.clone())))
            }
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn from_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    prefix: Option<&str>,
) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::MalformedToken);
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::MalformedToken)?
        .trim();
    let token = match prefix {
        None => value,
        Some(prefix) => {
            if let Some(rest) = value.strip_prefix(prefix) {
                rest.trim()
            } else if value == prefix.trim() {
                ""
            } else {
                // Another scheme in the same header: not ours, try the next location.
                return Ok(None);
            }
        }
    };
    if token.is_empty() {
        return match prefix {
            Some(_) => Err(AuthError::MalformedToken),
            None => Ok(None),
        };
    }
    Ok(Some(token))
}

fn from_cookies<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    let mut found: Option<&str> = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key.trim() != name {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if found.is_some() {
                return Err(AuthError::MalformedToken);
            }
            found = Some(value);
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn locations() -> Vec<LookupLocation> {
        vec![
            LookupLocation::Header {
                name: "Authorization".into(),
                prefix: Some("Bearer ".into()),
            },
            LookupLocation::Cookies {
                name: "auth_token".into(),
            },
            LookupLocation::Header {
                name: "x-api-token".into(),
                prefix: None,
            },
        ]
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn find(pairs: &[(&'static str, &'static str)]) -> Result<Option<(String, String)>, AuthError> {
        let map = headers(pairs);
        find_token(&map, &locations()).map(|o| o.map(|(t, s)| (t.to_owned(), s.to_string())))
    }

    #[test]
    fn order_and_sources() {
        assert_eq!(
            find(&[("authorization", "  Bearer a.b.c  "), ("x-api-token", "z")]).unwrap(),
            Some(("a.b.c".into(), "header:authorization".into()))
        );
        assert_eq!(
            find(&[
                ("cookie", "x=1; auth_token=\"c.d.e\""),
                ("x-api-token", "z")
            ])
            .unwrap(),
            Some(("c.d.e".into(), "cookie:auth_token".into()))
        );
        assert_eq!(
            find(&[("cookie", "x=1"), ("cookie", "auth_token=k.l.m")]).unwrap(),
            Some(("k.l.m".into(), "cookie:auth_token".into()))
        );
        assert_eq!(
            find(&[("x-api-token", "z.y.x")]).unwrap(),
            Some(("z.y.x".into(), "header:x-api-token".into()))
        );
        assert_eq!(find(&[]).unwrap(), None);
    }

    #[test]
    fn wrong_prefix_is_skipped_and_empty_bearer_is_malformed() {
        assert_eq!(find(&[("authorization", "Basic dXNlcg==")]).unwrap(), None);
        assert_eq!(find(&[("authorization", "bearer a.b.c")]).unwrap(), None);
        assert_eq!(
            find(&[("authorization", "Basic x"), ("x-api-token", "t.t.t")]).unwrap(),
            Some(("t.t.t".into(), "header:x-api-token".into()))
        );
        assert_eq!(
            find(&[("authorization", "Bearer")]),
            Err(AuthError::MalformedToken)
        );
        assert_eq!(
            find(&[("authorization", "Bearer    ")]),
            Err(AuthError::MalformedToken)
        );
    }

    #[test]
    fn duplicates_are_ambiguous() {
        assert_eq!(
            find(&[
                ("authorization", "Bearer a.b.c"),
                ("authorization", "Bearer d.e.f")
            ]),
            Err(AuthError::MalformedToken)
        );
        assert_eq!(
            find(&[("cookie", "auth_token=a"), ("cookie", "auth_token=b")]),
            Err(AuthError::MalformedToken)
        );
    }
}
