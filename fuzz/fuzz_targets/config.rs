//! The config loader: any text through YAML parsing, `${env.NAME}`
//! expansion (with a lookup that knows one variable), typed deserialization
//! with the key-naming errors, and the semantic checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |name: &str| (name == "SET").then(|| "value".to_owned());
    let _ = tollgate::config::parse(text, &lookup);
});
