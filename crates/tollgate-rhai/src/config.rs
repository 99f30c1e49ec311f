//! The `rhai:` section of `router.yaml`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

/// `rhai:` user scripts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RhaiConfig {
    /// Folder holding the scripts, relative to the config file's directory.
    #[serde(default = "default_scripts")]
    pub scripts: PathBuf,
    /// Entry file inside `scripts`; `import "other" as o;` loads
    /// `other.rhai` from the same folder.
    #[serde(default = "default_main")]
    pub main: String,
    /// Execution limits applied to every hook call.
    #[serde(default)]
    pub limits: RhaiLimits,
}

/// `rhai.limits:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RhaiLimits {
    /// Most operations one hook call may run (stops runaway loops).
    #[serde(default = "default_max_operations")]
    pub max_operations: u64,
    /// Deepest function call nesting.
    #[serde(default = "default_max_call_levels")]
    pub max_call_levels: usize,
    /// Longest string a script may build, in bytes.
    #[serde(default = "default_max_string_size")]
    pub max_string_size: usize,
}

impl Default for RhaiLimits {
    fn default() -> Self {
        Self {
            max_operations: default_max_operations(),
            max_call_levels: default_max_call_levels(),
            max_string_size: default_max_string_size(),
        }
    }
}

fn default_scripts() -> PathBuf {
    PathBuf::from("rhai")
}
fn default_main() -> String {
    "main.rhai".to_owned()
}
fn default_max_operations() -> u64 {
    100_000
}
fn default_max_call_levels() -> usize {
    32
}
fn default_max_string_size() -> usize {
    1024 * 1024
}
