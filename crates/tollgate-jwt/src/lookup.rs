//! Finding the token: the configured locations are tried in order; the first
//! that holds a token wins. Ambiguous credentials (the same header or cookie
//! twice) and a prefix with nothing after it are malformed, never ignored.
//! Locations are prepared once ([`Location::prepare`]): header names parsed
//! and each location's [`LookupSource`] built, so a request allocates
//! nothing to find its token.

use std::fmt;
use std::sync::Arc;

use http::header::COOKIE;
use http::{HeaderMap, HeaderName};

use crate::config::LookupLocation;
use crate::error::{AuthError, JwtSetupError};

/// Which location a token came from (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupSource {
    /// A header, by lowercase name.
    Header(Arc<str>),
    /// A cookie, by name.
    Cookie(Arc<str>),
}

impl fmt::Display for LookupSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupSource::Header(name) => write!(f, "header:{name}"),
            LookupSource::Cookie(name) => write!(f, "cookie:{name}"),
        }
    }
}

/// A configured lookup location, ready for requests.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    place: Place,
    source: LookupSource,
}

#[derive(Debug, Clone)]
enum Place {
    Header {
        name: HeaderName,
        prefix: Option<String>,
    },
    Cookie {
        name: String,
    },
}

impl Location {
    /// Prepares the configured locations; an invalid header name is an
    /// error naming its index in `lookup_locations`.
    pub(crate) fn prepare(locations: &[LookupLocation]) -> Result<Vec<Location>, JwtSetupError> {
        locations
            .iter()
            .enumerate()
            .map(|(index, location)| match location {
                LookupLocation::Header { name, prefix } => {
                    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        JwtSetupError::BadLocation {
                            index,
                            reason: format!("`{name}` is not a valid header name"),
                        }
                    })?;
                    Ok(Location {
                        source: LookupSource::Header(Arc::from(parsed.as_str())),
                        place: Place::Header {
                            name: parsed,
                            prefix: prefix.clone(),
                        },
                    })
                }
                LookupLocation::Cookies { name } => Ok(Location {
                    source: LookupSource::Cookie(Arc::from(name.as_str())),
                    place: Place::Cookie { name: name.clone() },
                }),
            })
            .collect()
    }
}

/// The token and where it was found; `Ok(None)` when no location holds one.
pub(crate) fn find_token<'h>(
    headers: &'h HeaderMap,
    locations: &[Location],
) -> Result<Option<(&'h str, LookupSource)>, AuthError> {
    for location in locations {
        let found = match &location.place {
            Place::Header { name, prefix } => from_header(headers, name, prefix.as_deref())?,
            Place::Cookie { name } => from_cookies(headers, name)?,
        };
        if let Some(token) = found {
            return Ok(Some((token, location.source.clone())));
        }
    }
    Ok(None)
}

fn from_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
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
            if let Some(rest) = strip_prefix_ignore_case(value, prefix) {
                rest.trim()
            } else if value.eq_ignore_ascii_case(prefix.trim()) {
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

/// `value` after `prefix`, compared without regard to ASCII case: an
/// authentication scheme such as `Bearer` is case-insensitive (RFC 7235
/// §2.1).
fn strip_prefix_ignore_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
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
        let locations = Location::prepare(&locations()).unwrap();
        find_token(&map, &locations).map(|o| o.map(|(t, s)| (t.to_owned(), s.to_string())))
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
        for value in ["bearer a.b.c", "BEARER a.b.c", "bEaReR a.b.c"] {
            assert_eq!(
                find(&[("authorization", value)]).unwrap(),
                Some(("a.b.c".into(), "header:authorization".into())),
                "{value}"
            );
        }
        assert_eq!(find(&[("authorization", "Bearera.b.c")]).unwrap(), None);
        assert_eq!(find(&[("authorization", "Bear")]).unwrap(), None);
        assert_eq!(
            find(&[("authorization", "bearer")]),
            Err(AuthError::MalformedToken)
        );
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
    fn header_names_are_checked_once_and_values_must_be_ascii() {
        let bad = [LookupLocation::Header {
            name: "bad header".into(),
            prefix: None,
        }];
        assert_eq!(
            Location::prepare(&bad).unwrap_err().to_string(),
            "jwt.lookup_locations[0].name: `bad header` is not a valid header name"
        );
        // Names match whatever their case in the config; the source is lowercase.
        assert_eq!(
            find(&[("Authorization", "Bearer a.b.c")]).unwrap(),
            Some(("a.b.c".into(), "header:authorization".into()))
        );
        let mut map = HeaderMap::new();
        map.insert(
            "authorization",
            HeaderValue::from_bytes(b"Bearer a.\xc3\xa9.c").unwrap(),
        );
        let locations = Location::prepare(&locations()).unwrap();
        assert_eq!(find_token(&map, &locations), Err(AuthError::MalformedToken));
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
