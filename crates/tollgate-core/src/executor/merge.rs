//! Moving around the merged response data: deep-merging a subgraph's answer
//! into what is already there, and visiting the objects at a plan path
//! (`a.@.b`) in a fixed order, read-only to build representations and
//! mutably to merge the entities back.

use serde_json::{Map, Value};

use apollo_compiler::Name;

use crate::planner::PathElem;

/// Called with each object found at a path and its concrete response path.
pub type ObjectVisitor<'v, 'a> = dyn FnMut(&'a Map<String, Value>, &[Value]) + 'v;

/// Merges `source` into `target`: objects key by key (recursively), lists
/// item by item, anything else replaced.
pub fn deep_merge(target: &mut Value, source: Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => merge_objects(target, source),
        (Value::Array(target), Value::Array(source)) => {
            let extra = source.len().saturating_sub(target.len());
            let mut source = source.into_iter();
            for (slot, item) in target.iter_mut().zip(source.by_ref()) {
                deep_merge(slot, item);
            }
            if extra > 0 {
                target.extend(source);
            }
        }
        (_, Value::Null) => {}
        (target, source) => *target = source,
    }
}

/// Merges the entries of one object into another.
pub fn merge_objects(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        match target.get_mut(&key) {
            Some(existing) => {
                if existing.is_null() {
                    *existing = value;
                } else {
                    deep_merge(existing, value);
                }
            }
            None => {
                target.insert(key, value);
            }
        }
    }
}

/// Renames aliased keys back to the client's keys, everywhere in `value`.
pub fn rename_keys(value: &mut Value, renames: &[(Name, Name)], depth: usize) {
    if depth > 512 {
        return;
    }
    match value {
        Value::Object(object) => {
            for (alias, key) in renames {
                if let Some(moved) = object.remove(alias.as_str()) {
                    match object.get_mut(key.as_str()) {
                        Some(existing) => deep_merge(existing, moved),
                        None => {
                            object.insert(key.as_str().to_owned(), moved);
                        }
                    }
                }
            }
            for nested in object.values_mut() {
                rename_keys(nested, renames, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                rename_keys(item, renames, depth + 1);
            }
        }
        _ => {}
    }
}

/// Visits every object at `path` (nulls and non-objects skipped), with its
/// concrete response path.
pub fn visit<'a>(
    value: &'a Value,
    path: &[PathElem],
    concrete: &mut Vec<Value>,
    visit_object: &mut ObjectVisitor<'_, 'a>,
) {
    match path.split_first() {
        None => match value {
            Value::Object(object) => visit_object(object, concrete),
            // A list where the plan expected an object (nested lists of
            // entities the plan flattened once): visit every item.
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    concrete.push(Value::from(index));
                    visit(item, path, concrete, visit_object);
                    concrete.pop();
                }
            }
            _ => {}
        },
        Some((PathElem::Key(key), rest)) => {
            if let Some(next) = value.as_object().and_then(|o| o.get(key.as_str())) {
                concrete.push(Value::String(key.as_str().to_owned()));
                visit(next, rest, concrete, visit_object);
                concrete.pop();
            }
        }
        Some((PathElem::List, rest)) => {
            if let Value::Array(items) = value {
                for (index, item) in items.iter().enumerate() {
                    concrete.push(Value::from(index));
                    visit(item, rest, concrete, visit_object);
                    concrete.pop();
                }
            }
        }
    }
}

/// Visits the same objects as [`visit`], in the same order, mutably.
pub fn visit_mut(
    value: &mut Value,
    path: &[PathElem],
    visit_object: &mut dyn FnMut(&mut Map<String, Value>),
) {
    match path.split_first() {
        None => match value {
            Value::Object(object) => visit_object(object),
            Value::Array(items) => {
                for item in items {
                    visit_mut(item, path, visit_object);
                }
            }
            _ => {}
        },
        Some((PathElem::Key(key), rest)) => {
            if let Some(next) = value.as_object_mut().and_then(|o| o.get_mut(key.as_str())) {
                visit_mut(next, rest, visit_object);
            }
        }
        Some((PathElem::List, rest)) => {
            if let Value::Array(items) = value {
                for item in items {
                    visit_mut(item, rest, visit_object);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_combines_objects_and_lists() {
        let mut target = json!({"a": {"x": 1}, "l": [{"id": 1}, {"id": 2}], "n": null});
        deep_merge(
            &mut target,
            json!({"a": {"y": 2}, "l": [{"v": "a"}, {"v": "b"}], "n": {"z": 3}}),
        );
        assert_eq!(
            target,
            json!({"a": {"x": 1, "y": 2}, "l": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], "n": {"z": 3}})
        );
    }

    #[test]
    fn aliases_are_renamed_back_at_every_depth() {
        let renames = vec![(Name::new("_tg_id_1").unwrap(), Name::new("id").unwrap())];
        let mut data = json!({"a": [{"__typename": "Admin", "_tg_id_1": null, "n": {"_tg_id_1": "x"}}, {"id": "u"}]});
        rename_keys(&mut data, &renames, 0);
        assert_eq!(
            data,
            json!({"a": [{"__typename": "Admin", "n": {"id": "x"}, "id": null}, {"id": "u"}]})
        );
    }

    #[test]
    fn visits_objects_along_a_path_in_order() {
        let data = json!({"top": [{"r": [{"id": 1}, null, {"id": 2}]}, {"r": [{"id": 3}]}, null]});
        let path = vec![
            PathElem::Key(Name::new("top").unwrap()),
            PathElem::List,
            PathElem::Key(Name::new("r").unwrap()),
            PathElem::List,
        ];
        let mut seen = Vec::new();
        visit(&data, &path, &mut Vec::new(), &mut |object, concrete| {
            seen.push((object["id"].clone(), concrete.to_vec()));
        });
        assert_eq!(
            seen,
            vec![
                (json!(1), vec![json!("top"), json!(0), json!("r"), json!(0)]),
                (json!(2), vec![json!("top"), json!(0), json!("r"), json!(2)]),
                (json!(3), vec![json!("top"), json!(1), json!("r"), json!(0)]),
            ]
        );
        let mut data = data;
        let mut n = 0;
        visit_mut(&mut data, &path, &mut |object| {
            n += 1;
            object.insert("n".into(), json!(n));
        });
        assert_eq!(data["top"][1]["r"][0]["n"], json!(3));
    }
}
