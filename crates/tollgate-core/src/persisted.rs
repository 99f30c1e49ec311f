//! Persisted operations: a trusted manifest of operations written at build
//! time (Apollo's persisted query manifest, or a plain `{id: body}` map),
//! looked up by id; the safelist (only manifest operations run); and
//! automatic persisted queries (APQ: clients register a document under its
//! SHA-256, kept in a bounded cache).
//!
//! [`PersistedQueries::resolve`] runs once per request before the
//! supergraph stage: it fills in the document of a request that sent only
//! an id, enforces the safelist, and says which manifest operation (if any)
//! the request runs. Only manifest operations are ever *identified*: an
//! APQ-registered document is the client's own and never counts as a
//! persisted operation (for example for anonymous allow-lists).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apollo_compiler::parser::Parser;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;
use crate::request::GraphqlRequest;

/// `persisted_queries:` the operation manifest, the safelist and APQ.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistedQueriesConfig {
    /// Manifest of trusted operations: Apollo's persisted query manifest
    /// (`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id","name","type","body"}]}`)
    /// or a JSON object mapping ids to documents. Relative to the config file.
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// Run only operations of the manifest: a document sent as text must be
    /// the body of a manifest operation (compared ignoring whitespace and
    /// comments). Needs `manifest` and APQ off.
    #[serde(default)]
    pub safelist: bool,
    /// Refuse documents sent as text: clients must send a manifest id in
    /// `extensions.persistedQuery.sha256Hash`. Needs `safelist`.
    #[serde(default)]
    pub require_id: bool,
    /// Automatic persisted queries.
    #[serde(default)]
    pub apq: ApqConfig,
}

/// `persisted_queries.apq:` automatic persisted queries.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApqConfig {
    /// Let clients register a document under its SHA-256 (sent with the
    /// document once, then by hash alone).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Registered documents kept in memory (least recently used go first).
    #[serde(default = "default_apq_cache_size")]
    pub cache_size: usize,
}

impl Default for ApqConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cache_size: default_apq_cache_size(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_apq_cache_size() -> usize {
    1000
}

/// Why the persisted queries could not be set up. Each message names the key.
#[derive(Debug, thiserror::Error)]
pub enum PersistedSetupError {
    /// The manifest file cannot be read.
    #[error("persisted_queries.manifest: cannot read {path}: {source}")]
    Read {
        /// Resolved path.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// The manifest is not a usable manifest.
    #[error("persisted_queries.manifest: {path}: {reason}")]
    Manifest {
        /// Resolved path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Settings that contradict each other.
    #[error("persisted_queries.{key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Why a request's persisted query could not be used (client-safe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistedQueryError {
    /// The id is neither in the manifest nor registered through APQ.
    #[error("PersistedQueryNotFound")]
    NotFound,
    /// The request sent only an id, but neither a manifest nor APQ is on.
    #[error("PersistedQueryNotSupported")]
    NotSupported,
    /// The document sent with a hash does not have that hash (APQ), or is
    /// not the manifest operation with that id.
    #[error("provided sha does not match query")]
    HashMismatch,
    /// `persisted_queries.require_id` is on and the request sent a document.
    #[error("this router runs persisted operations only: send the operation's id in extensions.persistedQuery.sha256Hash")]
    IdRequired,
    /// `persisted_queries.safelist` is on and the document is not in the manifest.
    #[error("the operation is not in the list of persisted operations")]
    NotInSafelist,
    /// `extensions.persistedQuery` is not `{version: 1, sha256Hash: String}`.
    #[error("{0}")]
    Malformed(&'static str),
}

impl PersistedQueryError {
    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            Self::IdRequired => "PERSISTED_QUERY_ID_REQUIRED",
            Self::NotInSafelist => "QUERY_NOT_IN_SAFELIST",
            Self::Malformed(_) => "INVALID_GRAPHQL_REQUEST",
        }
    }
}

/// One operation of the manifest.
#[derive(Debug)]
pub struct PersistedOperation {
    /// Its id (what clients send as `sha256Hash`).
    pub id: Arc<str>,
    /// The name of its operation (absent for an anonymous operation).
    pub name: Option<Arc<str>>,
    /// Its document.
    pub body: Arc<str>,
}

/// The manifest, the safelist switch and the APQ cache. Built once per
/// runtime and shared by every request.
pub struct PersistedQueries {
    by_id: HashMap<Arc<str>, Arc<PersistedOperation>>,
    by_body: HashMap<[u8; 32], Arc<PersistedOperation>>,
    by_normalized: HashMap<[u8; 32], Arc<PersistedOperation>>,
    safelist: bool,
    require_id: bool,
    apq: Option<quick_cache::sync::Cache<[u8; 32], Arc<str>>>,
    limits: (usize, usize),
}

impl Default for PersistedQueries {
    /// No manifest, APQ on with the default cache size.
    fn default() -> Self {
        Self::from_operations(
            Vec::new(),
            &PersistedQueriesConfig::default(),
            &LimitsConfig::default(),
        )
    }
}

impl std::fmt::Debug for PersistedQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedQueries")
            .field("operations", &self.by_id.len())
            .field("safelist", &self.safelist)
            .field("require_id", &self.require_id)
            .field("apq", &self.apq.is_some())
            .finish()
    }
}

impl PersistedQueries {
    fn empty() -> Self {
        Self {
            by_id: HashMap::new(),
            by_body: HashMap::new(),
            by_normalized: HashMap::new(),
            safelist: false,
            require_id: false,
            apq: None,
            limits: (0, 0),
        }
    }

    /// Reads the manifest named by the config (relative to `base_dir`) and
    /// checks the settings.
    pub fn load(
        config: &PersistedQueriesConfig,
        base_dir: &Path,
        limits: &LimitsConfig,
    ) -> Result<Self, PersistedSetupError> {
        let operations = match &config.manifest {
            Some(path) => {
                let path = base_dir.join(path);
                let text =
                    std::fs::read_to_string(&path).map_err(|source| PersistedSetupError::Read {
                        path: path.clone(),
                        source,
                    })?;
                parse_manifest(&text, limits)
                    .map_err(|reason| PersistedSetupError::Manifest { path, reason })?
            }
            None => Vec::new(),
        };
        if config.safelist && config.manifest.is_none() {
            return Err(PersistedSetupError::Invalid {
                key: "safelist",
                reason: "a safelist needs a `manifest`",
            });
        }
        if config.safelist && config.apq.enabled {
            return Err(PersistedSetupError::Invalid {
                key: "safelist",
                reason: "APQ would let clients register any document: set `apq.enabled: false`",
            });
        }
        if config.require_id && !config.safelist {
            return Err(PersistedSetupError::Invalid {
                key: "require_id",
                reason: "needs `safelist: true`",
            });
        }
        if config.apq.enabled && config.apq.cache_size == 0 {
            return Err(PersistedSetupError::Invalid {
                key: "apq.cache_size",
                reason: "must be greater than 0 (or set `apq.enabled: false`)",
            });
        }
        Ok(Self::from_operations(operations, config, limits))
    }

    fn from_operations(
        operations: Vec<PersistedOperation>,
        config: &PersistedQueriesConfig,
        limits: &LimitsConfig,
    ) -> Self {
        let limits = (limits.max_parser_depth, limits.max_tokens);
        let mut store = Self {
            safelist: config.safelist,
            require_id: config.require_id,
            apq: config
                .apq
                .enabled
                .then(|| quick_cache::sync::Cache::new(config.apq.cache_size.max(1))),
            limits,
            ..Self::empty()
        };
        for operation in operations {
            let operation = Arc::new(operation);
            if let Some(normalized) = normalized_hash(&operation.body, limits) {
                store.by_normalized.insert(normalized, operation.clone());
            }
            store
                .by_body
                .insert(sha256(&operation.body), operation.clone());
            store.by_id.insert(operation.id.clone(), operation);
        }
        store
    }

    /// The manifest operation with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<PersistedOperation>> {
        self.by_id.get(id)
    }

    /// The manifest operations named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Arc<PersistedOperation>> {
        self.by_id
            .values()
            .filter(move |op| op.name.as_deref() == Some(name))
    }

    /// Whether a manifest is loaded.
    pub fn has_manifest(&self) -> bool {
        !self.by_id.is_empty()
    }

    /// Resolves the request's document: fills `request.query` when only an
    /// id was sent, registers APQ documents, enforces the safelist, and
    /// returns the manifest operation the request runs, if any.
    pub fn resolve(
        &self,
        request: &mut GraphqlRequest,
    ) -> Result<Option<Arc<PersistedOperation>>, PersistedQueryError> {
        let hash = persisted_hash(&request.extensions)?;
        let has_query = !request.query.is_empty();
        match (hash, has_query) {
            // An explicitly empty document: the parser reports it.
            (None, false) => Ok(None),
            (Some(id), false) => {
                if let Some(operation) = self.by_id.get(id) {
                    request.query = operation.body.to_string();
                    return Ok(Some(operation.clone()));
                }
                if let Some(apq) = &self.apq {
                    if let Some(body) = decode_hex(id).and_then(|key| apq.get(&key)) {
                        request.query = body.to_string();
                        return Ok(self.by_body.get(&sha256(&body)).cloned());
                    }
                    return Err(PersistedQueryError::NotFound);
                }
                if self.has_manifest() {
                    Err(PersistedQueryError::NotFound)
                } else {
                    Err(PersistedQueryError::NotSupported)
                }
            }
            (Some(id), true) => {
                if let Some(operation) = self.by_id.get(id) {
                    return if self.same_document(&request.query, operation) {
                        Ok(Some(operation.clone()))
                    } else {
                        Err(PersistedQueryError::HashMismatch)
                    };
                }
                if self.require_id {
                    return Err(PersistedQueryError::NotFound);
                }
                let body_hash = sha256(&request.query);
                if let Some(apq) = &self.apq {
                    let claimed = decode_hex(id).ok_or(PersistedQueryError::HashMismatch)?;
                    if claimed != body_hash {
                        return Err(PersistedQueryError::HashMismatch);
                    }
                    apq.insert(body_hash, Arc::from(request.query.as_str()));
                }
                self.freeform(&request.query, body_hash)
            }
            (None, true) => {
                if self.require_id {
                    return Err(PersistedQueryError::IdRequired);
                }
                if !self.has_manifest() {
                    return Ok(None);
                }
                self.freeform(&request.query, sha256(&request.query))
            }
        }
    }

    /// A document sent as text: the manifest operation it is (exactly, or
    /// under the safelist also after normalization), or the safelist's refusal.
    fn freeform(
        &self,
        query: &str,
        body_hash: [u8; 32],
    ) -> Result<Option<Arc<PersistedOperation>>, PersistedQueryError> {
        if let Some(operation) = self.by_body.get(&body_hash) {
            return Ok(Some(operation.clone()));
        }
        if !self.safelist {
            return Ok(None);
        }
        normalized_hash(query, self.limits)
            .and_then(|hash| self.by_normalized.get(&hash))
            .cloned()
            .map(Some)
            .ok_or(PersistedQueryError::NotInSafelist)
    }

    /// Whether `query` is the operation's document (identical, or equal
    /// after normalization).
    pub(crate) fn same_document(&self, query: &str, operation: &PersistedOperation) -> bool {
        if query == &*operation.body {
            return true;
        }
        match (
            normalized_hash(query, self.limits),
            normalized_hash(&operation.body, self.limits),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// The id in `extensions.persistedQuery.sha256Hash`, if the request has one.
fn persisted_hash(
    extensions: &serde_json::Map<String, Value>,
) -> Result<Option<&str>, PersistedQueryError> {
    let Some(persisted) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(persisted) = persisted else {
        return Err(PersistedQueryError::Malformed(
            "`extensions.persistedQuery` must be an object",
        ));
    };
    match persisted.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => {
            return Err(PersistedQueryError::Malformed(
                "`extensions.persistedQuery.version` must be 1",
            ))
        }
    }
    match persisted.get("sha256Hash") {
        Some(Value::String(hash)) if !hash.is_empty() => Ok(Some(hash)),
        _ => Err(PersistedQueryError::Malformed(
            "`extensions.persistedQuery.sha256Hash` must be a non-empty string",
        )),
    }
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// SHA-256 of the document printed without whitespace and comments, or
/// `None` when it does not parse.
fn normalized_hash(text: &str, (depth, tokens): (usize, usize)) -> Option<[u8; 32]> {
    let document = Parser::new()
        .recursion_limit(depth)
        .token_limit(tokens)
        .parse_ast(text, "operation.graphql")
        .ok()?;
    Some(sha256(&document.serialize().no_indent().to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApolloManifest {
    format: String,
    version: u64,
    operations: Vec<ApolloOperation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApolloOperation {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    body: String,
    #[serde(rename = "clientName", default)]
    _client_name: Option<String>,
}

/// Reads a manifest: Apollo's format, or a JSON object mapping ids to
/// documents. Every body must parse and hold exactly one operation (plus
/// fragments) whose name and type match the entry.
fn parse_manifest(text: &str, limits: &LimitsConfig) -> Result<Vec<PersistedOperation>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let entries: Vec<(String, Option<String>, Option<String>, String)> = if value
        .get("format")
        .is_some()
    {
        let manifest: ApolloManifest =
            serde_json::from_value(value).map_err(|e| format!("not a manifest: {e}"))?;
        if manifest.format != "apollo-persisted-query-manifest" || manifest.version != 1 {
            return Err(format!(
                    "unsupported manifest format `{}` version {} (expected apollo-persisted-query-manifest version 1)",
                    manifest.format, manifest.version
                ));
        }
        manifest
            .operations
            .into_iter()
            .map(|op| (op.id, op.name, op.kind, op.body))
            .collect()
    } else if let Value::Object(map) = value {
        map.into_iter()
            .map(|(id, body)| match body {
                Value::String(body) => Ok((id, None, None, body)),
                _ => Err(format!("`{id}`: the document must be a string")),
            })
            .collect::<Result<_, _>>()?
    } else {
        return Err(
            "expected an Apollo persisted query manifest or an object of id: document".to_owned(),
        );
    };
    let mut seen = std::collections::HashSet::new();
    let mut operations = Vec::with_capacity(entries.len());
    for (id, name, kind, body) in entries {
        if id.is_empty() {
            return Err("an operation has an empty id".to_owned());
        }
        if !seen.insert(id.clone()) {
            return Err(format!("the id `{id}` appears twice"));
        }
        let document = Parser::new()
            .recursion_limit(limits.max_parser_depth)
            .token_limit(limits.max_tokens)
            .parse_ast(&body, "manifest.graphql")
            .map_err(|e| format!("operation `{id}` does not parse: {}", e.errors))?;
        let mut found = document.definitions.iter().filter_map(|d| match d {
            apollo_compiler::ast::Definition::OperationDefinition(op) => Some(op),
            _ => None,
        });
        let (Some(operation), None) = (found.next(), found.next()) else {
            return Err(format!(
                "operation `{id}`: the document must hold exactly one operation"
            ));
        };
        let actual = operation.name.as_ref().map(|n| n.as_str().to_owned());
        if name.is_some() && name != actual {
            return Err(format!(
                "operation `{id}`: named `{}` in the manifest but `{}` in its body",
                name.as_deref().unwrap_or(""),
                actual.as_deref().unwrap_or("(anonymous)")
            ));
        }
        if let Some(kind) = kind {
            if kind != operation.operation_type.name() {
                return Err(format!(
                    "operation `{id}`: type `{kind}` in the manifest but `{}` in its body",
                    operation.operation_type.name()
                ));
            }
        }
        operations.push(PersistedOperation {
            id: Arc::from(id),
            name: actual.map(Arc::from),
            body: Arc::from(body),
        });
    }
    Ok(operations)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: &str = "query Top { topProducts { upc } }";
    const ME: &str = "query Me {\n  me { id }\n}";

    fn manifest() -> String {
        serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {"id": "top-1", "name": "Top", "type": "query", "body": TOP},
                {"id": "me-1", "name": "Me", "type": "query", "body": ME},
            ]
        })
        .to_string()
    }

    fn load(yaml: &str) -> Result<PersistedQueries, PersistedSetupError> {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-pq-{}-{}",
            std::process::id(),
            crate::context::RequestContext::new().request_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest.json"), manifest()).unwrap();
        let config: PersistedQueriesConfig = serde_yaml::from_str(yaml).unwrap();
        let result = PersistedQueries::load(&config, &dir, &LimitsConfig::default());
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    fn request(query: &str, hash: Option<&str>) -> GraphqlRequest {
        let mut request = GraphqlRequest {
            query: query.to_owned(),
            ..GraphqlRequest::default()
        };
        if let Some(hash) = hash {
            request.extensions.insert(
                "persistedQuery".to_owned(),
                serde_json::json!({"version": 1, "sha256Hash": hash}),
            );
        }
        request
    }

    fn hex(text: &str) -> String {
        format!("{:x}", Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn ids_resolve_to_manifest_documents() {
        let store = load("manifest: manifest.json").unwrap();
        let mut req = request("", Some("top-1"));
        let op = store.resolve(&mut req).unwrap().unwrap();
        assert_eq!(req.query, TOP);
        assert_eq!(op.name.as_deref(), Some("Top"));
        // The exact body sent as text is identified too; another document is not.
        let mut req = request(TOP, None);
        assert_eq!(&*store.resolve(&mut req).unwrap().unwrap().id, "top-1");
        let mut req = request("{ topProducts { upc name } }", None);
        assert!(store.resolve(&mut req).unwrap().is_none());
        // Id and a different document: refused.
        let mut req = request("{ topProducts { name } }", Some("top-1"));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::HashMismatch
        );
        // Id and the same document reformatted: fine.
        let mut req = request("query Top {topProducts{upc}} # c", Some("top-1"));
        assert!(store.resolve(&mut req).unwrap().is_some());
        let mut req = request("", Some("nope"));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::NotFound
        );
    }

    #[test]
    fn apq_registers_verified_documents_but_never_identifies_them() {
        let store = load("{}").unwrap();
        let query = "{ topProducts { upc } }";
        let hash = hex(query);
        let mut req = request("", Some(&hash));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::NotFound
        );
        assert_eq!(
            PersistedQueryError::NotFound.to_string(),
            "PersistedQueryNotFound"
        );
        let mut req = request(query, Some(&hex("other")));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::HashMismatch
        );
        let mut req = request(query, Some(&hash));
        assert!(store.resolve(&mut req).unwrap().is_none());
        let mut req = request("", Some(&hash.to_uppercase()));
        assert!(store.resolve(&mut req).unwrap().is_none());
        assert_eq!(req.query, query);
    }

    #[test]
    fn registering_a_manifest_body_through_apq_still_identifies_only_by_content() {
        let store = load("manifest: manifest.json").unwrap();
        let mut req = request(TOP, Some(&hex(TOP)));
        assert_eq!(&*store.resolve(&mut req).unwrap().unwrap().id, "top-1");
        let mut req = request("", Some(&hex(TOP)));
        assert_eq!(&*store.resolve(&mut req).unwrap().unwrap().id, "top-1");
    }

    #[test]
    fn safelist_and_require_id() {
        let store =
            load("{ manifest: manifest.json, safelist: true, apq: { enabled: false } }").unwrap();
        let mut req = request("query Me { me { id } }", None);
        assert_eq!(&*store.resolve(&mut req).unwrap().unwrap().id, "me-1");
        let mut req = request("{ me { id name } }", None);
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::NotInSafelist
        );
        let mut req = request("", Some(&hex("{ x }")));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::NotFound
        );
        let store = load(
            "{ manifest: manifest.json, safelist: true, require_id: true, apq: { enabled: false } }",
        )
        .unwrap();
        let mut req = request(TOP, None);
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::IdRequired
        );
        let mut req = request("", Some("me-1"));
        assert!(store.resolve(&mut req).unwrap().is_some());
    }

    #[test]
    fn without_manifest_or_apq_ids_are_not_supported() {
        let store = load("apq: { enabled: false }").unwrap();
        let mut req = request("", Some(&hex(TOP)));
        assert_eq!(
            store.resolve(&mut req).unwrap_err(),
            PersistedQueryError::NotSupported
        );
        let mut req = request(TOP, None);
        assert!(store.resolve(&mut req).unwrap().is_none());
    }

    #[test]
    fn malformed_extensions_are_request_errors() {
        let store = PersistedQueries::default();
        for bad in [
            serde_json::json!("x"),
            serde_json::json!({"version": 2, "sha256Hash": "a"}),
            serde_json::json!({"version": 1}),
            serde_json::json!({"version": 1, "sha256Hash": ""}),
        ] {
            let mut req = request("{ x }", None);
            req.extensions.insert("persistedQuery".to_owned(), bad);
            assert!(matches!(
                store.resolve(&mut req),
                Err(PersistedQueryError::Malformed(_))
            ));
        }
    }

    #[test]
    fn bad_settings_and_manifests_name_the_problem() {
        let err = |yaml: &str| load(yaml).unwrap_err().to_string();
        assert!(err("safelist: true").contains("persisted_queries.safelist: a safelist needs"));
        assert!(err("{ manifest: manifest.json, safelist: true }").contains("APQ"));
        assert!(err("require_id: true").contains("persisted_queries.require_id"));
        assert!(err("manifest: missing.json").contains("cannot read"));
        let limits = LimitsConfig::default();
        for (manifest, expected) in [
            ("[1]", "expected an Apollo"),
            (r#"{"a": 1}"#, "must be a string"),
            (r#"{"a": "{ x"}"#, "does not parse"),
            (
                r#"{"a": "query A { x } query B { y }"}"#,
                "exactly one operation",
            ),
            (
                r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"a","name":"B","type":"query","body":"query A { x }"}]}"#,
                "named `B`",
            ),
            (
                r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"a","name":"A","type":"mutation","body":"query A { x }"}]}"#,
                "type `mutation`",
            ),
            (
                r#"{"format":"apollo-persisted-query-manifest","version":2,"operations":[]}"#,
                "unsupported manifest format",
            ),
            (
                r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"a","body":"{ x }"},{"id":"a","body":"{ y }"}]}"#,
                "appears twice",
            ),
        ] {
            let error = parse_manifest(manifest, &limits).unwrap_err();
            assert!(error.contains(expected), "{manifest}: {error}");
        }
        let plain =
            parse_manifest(r#"{"abc": "query Q { x } fragment F on T { y }"}"#, &limits).unwrap();
        assert_eq!(plain[0].name.as_deref(), Some("Q"));
    }
}
