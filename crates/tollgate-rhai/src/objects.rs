//! The objects scripts see: `request` with its `context`, `headers`,
//! `method`, `uri`, `body` and (at the subgraph stage) `subgraph`. Every
//! handle shares one [`State`] per hook call, so `request.context[k] = v` and
//! `request.subgraph.headers[h] = v` change what the router reads back.
//!
//! A hook call copies nothing it does not need: the context's values are
//! converted for the script only when it reads them ([`ScriptContext`]), the
//! client's headers are shared until a script changes them, and a subgraph
//! request's body and headers are moved into the state and back.

use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, NativeCallContext, Position};
use serde_json::{Map, Value};
use tollgate_core::subgraph::{all_variables, RawJson};

/// The GraphQL body at the supergraph or subgraph stage.
#[derive(Debug, Clone)]
pub(crate) struct BodyState {
    pub query: Arc<str>,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
    /// A subgraph request's `representations`, kept as the executor wrote
    /// them until a script reads or replaces the variables.
    pub representations: Option<RawJson>,
    pub extensions: Map<String, Value>,
    pub changed: bool,
}

/// The subgraph request at the subgraph stage.
#[derive(Debug, Clone)]
pub(crate) struct SubgraphState {
    pub name: String,
    pub uri: String,
    /// The request's headers (moved here for the hook call, and back).
    pub headers: HeaderMap,
    pub body: BodyState,
}

/// A response at the supergraph (router) or subgraph stage.
#[derive(Debug, Clone)]
pub(crate) struct ResponseState {
    pub status: u16,
    pub headers: HeaderMap,
    pub headers_changed: bool,
    /// The GraphQL response as JSON (`data`, `errors`, `extensions`).
    pub body: Map<String, Value>,
    pub changed: bool,
}

/// `request.context` during one hook call: the request context's entries,
/// shared and converted to script values only when read, and what the
/// script wrote (which reads see from then on).
#[derive(Debug, Default)]
pub(crate) struct ScriptContext {
    entries: Vec<(String, Arc<Value>)>,
    written: rhai::Map,
}

impl ScriptContext {
    /// A context over these entries (each value shared, not copied).
    pub(crate) fn new(entries: Vec<(String, Arc<Value>)>) -> Self {
        Self {
            entries,
            written: rhai::Map::new(),
        }
    }

    fn entry(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| &**value)
    }

    /// The value under `key` as the script sees it.
    pub(crate) fn get(&self, key: &str) -> Option<Dynamic> {
        match self.written.get(key) {
            Some(value) => Some(value.clone()),
            None => self.entry(key).map(context_value),
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.written.contains_key(key) || self.entry(key).is_some()
    }

    /// Stores a script's value under `key`.
    pub(crate) fn insert(&mut self, key: &str, value: Dynamic) {
        self.written.insert(key.into(), value);
    }

    /// What the script wrote under `key`, if it wrote it.
    pub(crate) fn written(&self, key: &str) -> Option<&Dynamic> {
        self.written.get(key)
    }

    /// Every entry as the script sees it (for `to_string`).
    fn to_map(&self) -> rhai::Map {
        let mut map: rhai::Map = self
            .entries
            .iter()
            .map(|(key, value)| (key.as_str().into(), context_value(value)))
            .collect();
        map.extend(self.written.iter().map(|(k, v)| (k.clone(), v.clone())));
        map
    }
}

/// Everything one hook call may read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub stage: &'static str,
    pub context: ScriptContext,
    pub context_writable: bool,
    /// Context keys the script wrote, in order.
    pub dirty: Vec<String>,
    /// The client's headers (shared until a script changes them).
    pub headers: Arc<HeaderMap>,
    pub method: String,
    pub uri: Uri,
    pub body: Option<BodyState>,
    /// Whether `request.body` may be changed (not once planned).
    pub body_writable: bool,
    /// Whether a script changed the client's headers (kept for later stages).
    pub client_headers_changed: bool,
    pub subgraph: Option<SubgraphState>,
    pub response: Option<ResponseState>,
}

pub(crate) type SharedState = Arc<Mutex<State>>;

fn lock(state: &SharedState) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

fn to_dynamic(value: &Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

fn to_json(value: &Dynamic) -> Result<Value, Box<EvalAltResult>> {
    rhai::serde::from_dynamic::<Value>(value)
}

fn json_map(value: Dynamic, what: &str) -> Result<Map<String, Value>, Box<EvalAltResult>> {
    match to_json(&value)? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(error(format!("{what} must be a map"))),
    }
}

/// `request`.
#[derive(Clone)]
pub(crate) struct Request(pub SharedState);

/// `request.context`.
#[derive(Clone)]
pub(crate) struct Context(SharedState);

/// Which headers a [`Headers`] handle reads and writes.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Subgraph,
    Response,
}

/// `response` (the argument of `map_response` callbacks).
#[derive(Clone)]
pub(crate) struct Response(pub SharedState);

/// `response.body`.
#[derive(Clone)]
pub(crate) struct ResponseBody(SharedState);

/// `request.headers` (the client's, read-only) or `request.subgraph.headers`.
#[derive(Clone)]
pub(crate) struct Headers(SharedState, Side);

/// `request.body` or `request.subgraph.body`.
#[derive(Clone)]
pub(crate) struct Body(SharedState, Side);

/// `request.subgraph`.
#[derive(Clone)]
pub(crate) struct Subgraph(SharedState);

fn uri_map(uri: &Uri) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("path".into(), uri.path().into());
    map.insert(
        "query".into(),
        uri.query()
            .map(|q| Dynamic::from(q.to_owned()))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "host".into(),
        uri.host()
            .map(|h| Dynamic::from(h.to_owned()))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "port".into(),
        uri.port_u16()
            .map(|p| Dynamic::from(i64::from(p)))
            .unwrap_or(Dynamic::UNIT),
    );
    map.insert(
        "scheme".into(),
        uri.scheme_str()
            .map(|h| Dynamic::from(h.to_owned()))
            .unwrap_or(Dynamic::UNIT),
    );
    map
}

impl Context {
    fn get(&mut self, key: ImmutableString) -> Dynamic {
        lock(&self.0)
            .context
            .get(key.as_str())
            .unwrap_or(Dynamic::UNIT)
    }

    fn set(&mut self, key: ImmutableString, value: Dynamic) -> Result<(), Box<EvalAltResult>> {
        let key = key.as_str();
        let mut state = lock(&self.0);
        if !state.context_writable {
            return Err(error(format!(
                "the context is read-only at the {} stage",
                state.stage
            )));
        }
        state.context.insert(key, value);
        if !state.dirty.iter().any(|k| k == key) {
            state.dirty.push(key.to_owned());
        }
        Ok(())
    }
}

impl Headers {
    fn get(&mut self, name: ImmutableString) -> Dynamic {
        let name = name.as_str();
        let state = lock(&self.0);
        let headers = match self.1 {
            Side::Client => Some(&*state.headers),
            Side::Subgraph => state.subgraph.as_ref().map(|s| &s.headers),
            Side::Response => state.response.as_ref().map(|r| &r.headers),
        };
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(|v| Dynamic::from(v.to_owned()))
            .unwrap_or(Dynamic::UNIT)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), Box<EvalAltResult>> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| error(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| error(format!("the value for header `{name}` is not valid")))?;
        self.writable(|headers| {
            headers.insert(name, value);
            Dynamic::UNIT
        })
        .map(|_| ())
    }

    /// Runs `f` on the writable header map of this handle.
    fn writable(
        &mut self,
        f: impl FnOnce(&mut HeaderMap) -> Dynamic,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut state = lock(&self.0);
        let stage = state.stage;
        match self.1 {
            Side::Client if stage == "subgraph" => Err(error(
                "the client's headers are read-only at the subgraph stage; set request.subgraph.headers",
            )),
            Side::Client => {
                state.client_headers_changed = true;
                Ok(f(Arc::make_mut(&mut state.headers)))
            }
            Side::Subgraph => {
                let subgraph = state
                    .subgraph
                    .as_mut()
                    .ok_or_else(|| error("no subgraph request at this stage"))?;
                Ok(f(&mut subgraph.headers))
            }
            Side::Response => {
                let response = state
                    .response
                    .as_mut()
                    .ok_or_else(|| error("no response at this stage"))?;
                response.headers_changed = true;
                Ok(f(&mut response.headers))
            }
        }
    }

    fn contains(&mut self, name: ImmutableString) -> bool {
        !self.get(name).is_unit()
    }

    fn remove(&mut self, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        self.writable(|headers| {
            headers
                .remove(name)
                .and_then(|v| v.to_str().ok().map(|v| Dynamic::from(v.to_owned())))
                .unwrap_or(Dynamic::UNIT)
        })
    }
}

impl Body {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BodyState) -> Result<T, Box<EvalAltResult>>,
    ) -> Result<T, Box<EvalAltResult>> {
        let mut state = lock(&self.0);
        let stage = state.stage;
        let body = match self.1 {
            Side::Client => state.body.as_mut(),
            Side::Subgraph => state.subgraph.as_mut().map(|s| &mut s.body),
            Side::Response => None,
        };
        let body = body.ok_or_else(|| error(format!("there is no body at the {stage} stage")))?;
        f(body)
    }

    /// Like [`Body::with`] for a change: refused where the body is read-only.
    fn change(
        &self,
        f: impl FnOnce(&mut BodyState) -> Result<(), Box<EvalAltResult>>,
    ) -> Result<(), Box<EvalAltResult>> {
        {
            let state = lock(&self.0);
            if matches!(self.1, Side::Client) && !state.body_writable {
                return Err(error(format!(
                    "the body is read-only at the {} stage",
                    state.stage
                )));
            }
        }
        self.with(f)
    }
}

/// Registers the request objects with the engine.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Request>("Request");
    engine.register_type_with_name::<Context>("Context");
    engine.register_type_with_name::<Headers>("Headers");
    engine.register_type_with_name::<Body>("Body");
    engine.register_type_with_name::<Subgraph>("Subgraph");

    engine.register_get_set(
        "context",
        |r: &mut Request| Context(r.0.clone()),
        |_: &mut Request, _: Context| {},
    );
    engine.register_get_set(
        "headers",
        |r: &mut Request| Headers(r.0.clone(), Side::Client),
        |_: &mut Request, _: Headers| {},
    );
    engine.register_get_set(
        "body",
        |r: &mut Request| Body(r.0.clone(), Side::Client),
        |_: &mut Request, _: Body| {},
    );
    engine.register_get("method", |r: &mut Request| lock(&r.0).method.clone());
    engine.register_get("uri", |r: &mut Request| uri_map(&lock(&r.0).uri));
    engine.register_set("subgraph", |_: &mut Request, _: Subgraph| {});
    engine.register_get("subgraph", |r: &mut Request| {
        if lock(&r.0).subgraph.is_some() {
            Ok(Subgraph(r.0.clone()))
        } else {
            Err(error(
                "`request.subgraph` exists only at the subgraph stage",
            ))
        }
    });
    engine.register_get_set(
        "headers",
        |s: &mut Subgraph| Headers(s.0.clone(), Side::Subgraph),
        |_: &mut Subgraph, _: Headers| {},
    );
    engine.register_get_set(
        "body",
        |s: &mut Subgraph| Body(s.0.clone(), Side::Subgraph),
        |_: &mut Subgraph, _: Body| {},
    );
    engine.register_get("name", |s: &mut Subgraph| {
        lock(&s.0)
            .subgraph
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    });
    engine.register_get("uri", |s: &mut Subgraph| {
        let uri = lock(&s.0)
            .subgraph
            .as_ref()
            .map(|s| s.uri.clone())
            .unwrap_or_default();
        uri_map(&uri.parse().unwrap_or_default())
    });

    engine.register_type_with_name::<Response>("Response");
    engine.register_type_with_name::<ResponseBody>("ResponseBody");
    engine.register_get_set(
        "context",
        |r: &mut Response| Context(r.0.clone()),
        |_: &mut Response, _: Context| {},
    );
    engine.register_get_set(
        "headers",
        |r: &mut Response| Headers(r.0.clone(), Side::Response),
        |_: &mut Response, _: Headers| {},
    );
    engine.register_get_set(
        "body",
        |r: &mut Response| ResponseBody(r.0.clone()),
        |_: &mut Response, _: ResponseBody| {},
    );
    engine.register_get_set(
        "status_code",
        |r: &mut Response| {
            lock(&r.0)
                .response
                .as_ref()
                .map_or(200, |r| i64::from(r.status))
        },
        |r: &mut Response, status: i64| -> Result<(), Box<EvalAltResult>> {
            let status = u16::try_from(status)
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| error(format!("{status} is not an HTTP status")))?;
            if let Some(response) = lock(&r.0).response.as_mut() {
                response.status = status;
                response.changed = true;
            }
            Ok(())
        },
    );
    for field in ["data", "errors", "extensions"] {
        engine.register_get_set(
            field,
            move |b: &mut ResponseBody| {
                lock(&b.0)
                    .response
                    .as_ref()
                    .and_then(|r| r.body.get(field))
                    .map(to_dynamic)
                    .unwrap_or(Dynamic::UNIT)
            },
            move |b: &mut ResponseBody, value: Dynamic| -> Result<(), Box<EvalAltResult>> {
                let value = to_json(&value)?;
                if let Some(response) = lock(&b.0).response.as_mut() {
                    if value.is_null() && field != "data" {
                        response.body.remove(field);
                    } else {
                        response.body.insert(field.to_owned(), value);
                    }
                    response.changed = true;
                }
                Ok(())
            },
        );
    }

    engine.register_indexer_get(Context::get);
    engine.register_indexer_set(Context::set);
    engine.register_fn("contains", |c: &mut Context, key: &str| {
        lock(&c.0).context.contains(key)
    });
    engine.register_fn(
        "upsert",
        |call: NativeCallContext, c: &mut Context, key: ImmutableString, f: FnPtr| {
            let current = c.get(key.clone());
            let next: Dynamic = f.call_within_context(&call, (current,))?;
            c.set(key, next)
        },
    );
    engine.register_fn("to_string", |c: &mut Context| {
        format!("{:?}", lock(&c.0).context.to_map())
    });

    engine.register_indexer_get(Headers::get);
    engine.register_indexer_set(
        |h: &mut Headers, name: ImmutableString, value: ImmutableString| h.set(&name, &value),
    );
    engine.register_fn("contains", Headers::contains);
    engine.register_fn("remove", |h: &mut Headers, name: ImmutableString| {
        h.remove(&name)
    });

    engine.register_get_set(
        "query",
        |b: &mut Body| b.with(|b| Ok(b.query.to_string())),
        |b: &mut Body, query: String| {
            b.change(|b| {
                b.query = Arc::from(query);
                b.changed = true;
                Ok(())
            })
        },
    );
    engine.register_get_set(
        "operation_name",
        |b: &mut Body| {
            b.with(|b| {
                Ok(b.operation_name
                    .clone()
                    .map(Dynamic::from)
                    .unwrap_or(Dynamic::UNIT))
            })
        },
        |b: &mut Body, name: Dynamic| {
            b.change(|b| {
                b.operation_name =
                    if name.is_unit() {
                        None
                    } else {
                        Some(name.into_string().map_err(|t| {
                            error(format!("operation_name must be a string, not {t}"))
                        })?)
                    };
                b.changed = true;
                Ok(())
            })
        },
    );
    engine.register_get_set(
        "variables",
        |b: &mut Body| {
            b.with(|b| {
                let all = all_variables(&b.variables, b.representations.as_ref());
                Ok(to_dynamic(&Value::Object(all)))
            })
        },
        |b: &mut Body, value: Dynamic| {
            let map = json_map(value, "variables")?;
            b.change(|b| {
                b.variables = map;
                b.representations = None;
                b.changed = true;
                Ok(())
            })
        },
    );
    engine.register_get_set(
        "extensions",
        |b: &mut Body| b.with(|b| Ok(to_dynamic(&Value::Object(b.extensions.clone())))),
        |b: &mut Body, value: Dynamic| {
            let map = json_map(value, "extensions")?;
            b.change(|b| {
                b.extensions = map;
                b.changed = true;
                Ok(())
            })
        },
    );
}

/// Converts a context value for a script.
pub(crate) fn context_value(value: &Value) -> Dynamic {
    to_dynamic(value)
}

/// Converts a script's context value back.
pub(crate) fn context_json(value: &Dynamic) -> Result<Value, Box<EvalAltResult>> {
    to_json(value)
}
