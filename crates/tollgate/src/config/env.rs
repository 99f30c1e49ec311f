//! `${env.NAME}` and `${env.NAME:-default}` expansion inside the string
//! values of a parsed YAML config, so secrets stay out of files. Only values
//! are expanded (never keys), and an expanded value stays a string.

use serde_yaml::Value;

/// Expands every string value in `value`; returns one error per unset
/// variable without a default, naming the config key.
pub(crate) fn expand(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut errors = Vec::new();
    walk(value, &mut String::new(), lookup, &mut errors);
    errors
}

fn walk(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) {
    match value {
        Value::String(text) => {
            if text.contains("${") {
                match expand_str(text, lookup) {
                    Ok(expanded) => *text = expanded,
                    Err(message) => errors.push(format!("{}: {message}", display_path(path))),
                }
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, lookup, errors);
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                let key = match key {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                walk(item, path, lookup, errors);
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, errors),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "(root)"
    } else {
        path
    }
}

/// Expands the placeholders of one string.
pub(crate) fn expand_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("unterminated `${` placeholder".to_owned());
        };
        let inner = &after[..end];
        let Some(spec) = inner.strip_prefix("env.") else {
            return Err(format!(
                "unsupported placeholder `${{{inner}}}`: use `${{env.NAME}}` or `${{env.NAME:-default}}`"
            ));
        };
        let (name, default) = match spec.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (spec, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`{name}` is not a valid environment variable name"));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                "environment variable `{name}` is not set and the placeholder has no `:-default`"
            ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    #[test]
    fn expands_set_unset_and_defaults() {
        assert_eq!(expand_str("a-${env.SET}-b", &lookup).unwrap(), "a-value-b");
        assert_eq!(expand_str("${env.UNSET:-dflt}", &lookup).unwrap(), "dflt");
        assert_eq!(expand_str("${env.SET:-dflt}", &lookup).unwrap(), "value");
        assert_eq!(expand_str("${env.UNSET:-}", &lookup).unwrap(), "");
        assert!(expand_str("${env.UNSET}", &lookup)
            .unwrap_err()
            .contains("UNSET"));
        assert!(expand_str("${env.SET", &lookup)
            .unwrap_err()
            .contains("unterminated"));
        assert!(expand_str("${file.x}", &lookup)
            .unwrap_err()
            .contains("unsupported"));
    }

    #[test]
    fn errors_name_the_key() {
        let mut value: Value =
            serde_yaml::from_str("jwt:\n  jwks_providers:\n    - url: \"${env.NOPE}\"\n").unwrap();
        let errors = expand(&mut value, &lookup);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("jwt.jwks_providers[0].url: "),
            "{}",
            errors[0]
        );
    }
}
