//! The Rhai engine: limits, imports confined to the scripts folder, the
//! helper functions and modules scripts may call, and the constants
//! (`APOLLO_AUTHENTICATION_JWT_CLAIMS`, `JWT_CLAIMS`, `Router.*`).

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rhai::module_resolvers::FileModuleResolver;
use rhai::{Dynamic, Engine, EvalAltResult, Module, ModuleResolver, Position, Shared, AST};
use sha2::Digest as _;

use crate::config::RhaiLimits;

/// Context key of verified JWT claims (Tollgate's own name).
pub const JWT_CLAIMS_KEY: &str = tollgate_core::context::JWT_CLAIMS_KEY;
/// The same claims under Apollo Router's key.
pub const APOLLO_JWT_CLAIMS_KEY: &str = "apollo::authentication::jwt_claims";

thread_local! {
    /// The request a hook runs for, for the log helpers.
    pub(crate) static REQUEST_ID: Cell<u64> = const { Cell::new(0) };
}

fn request_id() -> u64 {
    REQUEST_ID.with(Cell::get)
}

/// Builds the engine every hook runs on.
pub(crate) fn build(scripts_dir: &Path, limits: &RhaiLimits) -> Engine {
    let mut engine = Engine::new();
    crate::objects::register(&mut engine);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_array_size(100_000);
    engine.set_max_map_size(100_000);
    engine.set_max_modules(64);
    engine.disable_symbol("eval");
    engine.set_module_resolver(ConfinedResolver::new(scripts_dir));

    engine.on_print(|text| tracing::info!(target: "rhai", request_id = request_id(), "{text}"));
    engine.on_debug(
        |text, _, _| tracing::debug!(target: "rhai", request_id = request_id(), "{text}"),
    );
    engine.register_fn(
        "log_trace",
        |m: &str| tracing::trace!(target: "rhai", request_id = request_id(), "{m}"),
    );
    engine.register_fn(
        "log_debug",
        |m: &str| tracing::debug!(target: "rhai", request_id = request_id(), "{m}"),
    );
    engine.register_fn(
        "log_info",
        |m: &str| tracing::info!(target: "rhai", request_id = request_id(), "{m}"),
    );
    engine.register_fn(
        "log_warn",
        |m: &str| tracing::warn!(target: "rhai", request_id = request_id(), "{m}"),
    );
    engine.register_fn(
        "log_error",
        |m: &str| tracing::error!(target: "rhai", request_id = request_id(), "{m}"),
    );

    engine.register_fn("uuid_v4", || uuid::Uuid::new_v4().to_string());
    engine.register_fn("unix_now", || unix_now().as_secs() as i64);
    engine.register_fn("unix_ms_now", || unix_now().as_millis() as i64);
    engine.register_fn("urlencode", urlencode);
    engine.register_fn("urldecode", urldecode);

    engine.register_static_module("json", json_module().into());
    engine.register_static_module("base64", base64_module().into());
    engine.register_static_module("sha256", sha256_module().into());
    engine.register_static_module("env", env_module().into());

    // Constants, readable anywhere (functions and closures included).
    // `on_var` is marked volatile by Rhai (its signature may change), not removed.
    #[allow(deprecated)]
    engine.on_var(|name, _, _| {
        Ok(match name {
            "APOLLO_AUTHENTICATION_JWT_CLAIMS" => Some(APOLLO_JWT_CLAIMS_KEY.into()),
            "JWT_CLAIMS" => Some(JWT_CLAIMS_KEY.into()),
            "Router" => {
                let mut router = rhai::Map::new();
                router.insert(
                    "APOLLO_AUTHENTICATION_JWT_CLAIMS".into(),
                    APOLLO_JWT_CLAIMS_KEY.into(),
                );
                router.insert("JWT_CLAIMS".into(), JWT_CLAIMS_KEY.into());
                Some(router.into())
            }
            _ => None,
        })
    });
    engine
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn runtime_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

fn json_module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("encode", |value: Dynamic| {
        serde_json::to_string(&value).map_err(|e| runtime_error(format!("json::encode: {e}")))
    });
    module.set_native_fn("decode", |text: &str| {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| runtime_error(format!("json::decode: {e}")))?;
        rhai::serde::to_dynamic(value)
    });
    module
}

fn base64_module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("encode", |text: &str| {
        Ok(base64::engine::general_purpose::STANDARD.encode(text))
    });
    module.set_native_fn("decode", |text: &str| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| runtime_error(format!("base64::decode: {e}")))?;
        String::from_utf8(bytes).map_err(|_| runtime_error("base64::decode: not UTF-8 text"))
    });
    module
}

fn sha256_module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("digest", |text: &str| {
        let digest = sha2::Sha256::digest(text.as_bytes());
        Ok(digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>())
    });
    module
}

fn env_module() -> Module {
    let mut module = Module::new();
    module.set_native_fn("get", |name: &str| {
        Ok(std::env::var(name)
            .map(Dynamic::from)
            .unwrap_or(Dynamic::UNIT))
    });
    module
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn urldecode(text: &str) -> Result<String, Box<EvalAltResult>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| runtime_error("urldecode: bad % escape"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| runtime_error("urldecode: not UTF-8 text"))
}

/// Resolves `import "name"` to `name.rhai` inside the scripts folder only.
pub(crate) struct ConfinedResolver {
    inner: FileModuleResolver,
}

impl ConfinedResolver {
    fn new(dir: &Path) -> Self {
        let mut inner = FileModuleResolver::new_with_path_and_extension(dir, "rhai");
        inner.enable_cache(true);
        Self { inner }
    }
}

/// Whether an import path stays inside the folder (no `..`, not absolute).
fn confined(path: &str) -> bool {
    let path = PathBuf::from(path);
    !path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl ModuleResolver for ConfinedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        if !confined(path) {
            return Err(Box::new(EvalAltResult::ErrorInModule(
                path.to_owned(),
                runtime_error("imports must name a script inside the scripts folder"),
                pos,
            )));
        }
        self.inner.resolve(engine, source, path, pos)
    }

    fn resolve_ast(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Option<Result<AST, Box<EvalAltResult>>> {
        if !confined(path) {
            return Some(Err(Box::new(EvalAltResult::ErrorInModule(
                path.to_owned(),
                runtime_error("imports must name a script inside the scripts folder"),
                pos,
            ))));
        }
        self.inner.resolve_ast(engine, source, path, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_coding_round_trips() {
        assert_eq!(urlencode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(urldecode("a%20b%2F%C3%A9+c").unwrap(), "a b/é c");
        assert!(urldecode("%zz").is_err());
    }

    #[test]
    fn imports_cannot_leave_the_folder() {
        assert!(confined("other"));
        assert!(confined("sub/other"));
        assert!(!confined("../secret"));
        assert!(!confined("/etc/passwd"));
    }
}
