//! Moving around the merged response data: deep-merging a subgraph's answer
//! into what is already there, and visiting the objects at a plan path
//! (`a.@.b`) in a fixed order, read-only to build representations and
//! mutably to merge the entities back.

use apollo_compiler::Name;

use super::data::{Object, Value};
use crate::planner::PathElem;

/// One step of a concrete response path while visiting: a key of the plan's
/// path or a list index (turned into JSON only when an error needs it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step<'p> {
    /// An object key.
    Key(&'p str),
    /// A list index.
    Index(usize),
}

impl Step<'_> {
    /// The step as a JSON path element.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Step::Key(key) => serde_json::Value::String(key.to_owned()),
            Step::Index(index) => serde_json::Value::from(index),
        }
    }

    /// Whether a JSON path element (of an error's `path`) is this step.
    pub fn matches(self, value: &serde_json::Value) -> bool {
        match (self, value) {
            (Step::Key(key), serde_json::Value::String(s)) => s == key,
            (Step::Index(index), serde_json::Value::Number(n)) => {
                *n == serde_json::Number::from(index)
            }
            _ => false,
        }
    }
}

/// Called with each object found at a path and its concrete response path.
pub type ObjectVisitor<'v, 'a, 'p> = dyn FnMut(&'a Object, &[Step<'p>]) + 'v;

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
pub fn merge_objects(target: &mut Object, source: Object) {
    target.merge_with(source, |existing, value| {
        if existing.is_null() {
            *existing = value;
        } else {
            deep_merge(existing, value);
        }
    });
}

/// [`deep_merge`] from a borrowed source (an answer several requests
/// share): only what `target` lacks is copied.
pub fn deep_merge_ref(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => merge_objects_ref(target, source),
        (Value::Array(target), Value::Array(source)) => {
            for (slot, item) in target.iter_mut().zip(source) {
                deep_merge_ref(slot, item);
            }
            if source.len() > target.len() {
                target.extend_from_slice(&source[target.len()..]);
            }
        }
        (_, Value::Null) => {}
        (target, source) => *target = source.clone(),
    }
}

/// [`merge_objects`] from a borrowed source.
pub fn merge_objects_ref(target: &mut Object, source: &Object) {
    target.merge_with_ref(source, |existing, value| {
        if existing.is_null() {
            *existing = value.clone();
        } else {
            deep_merge_ref(existing, value);
        }
    });
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
                        None => object.insert(key.as_str(), moved),
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
pub fn visit<'a, 'p>(
    value: &'a Value,
    path: &'p [PathElem],
    concrete: &mut Vec<Step<'p>>,
    visit_object: &mut ObjectVisitor<'_, 'a, 'p>,
) {
    match path.split_first() {
        None => match value {
            Value::Object(object) => visit_object(object, concrete),
            // A list where the plan expected an object (nested lists of
            // entities the plan flattened once): visit every item.
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    concrete.push(Step::Index(index));
                    visit(item, path, concrete, visit_object);
                    concrete.pop();
                }
            }
            _ => {}
        },
        Some((PathElem::Key(key), rest)) => {
            if let Some(next) = value.as_object().and_then(|o| o.get(key.as_str())) {
                concrete.push(Step::Key(key.as_str()));
                visit(next, rest, concrete, visit_object);
                concrete.pop();
            }
        }
        Some((PathElem::List, rest)) => {
            if let Value::Array(items) = value {
                for (index, item) in items.iter().enumerate() {
                    concrete.push(Step::Index(index));
                    visit(item, rest, concrete, visit_object);
                    concrete.pop();
                }
            }
        }
    }
}

/// Visits the same objects as [`visit`], in the same order, mutably.
pub fn visit_mut(value: &mut Value, path: &[PathElem], visit_object: &mut dyn FnMut(&mut Object)) {
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

    fn json(value: serde_json::Value) -> Value {
        Value::from(value)
    }

    #[test]
    fn deep_merge_combines_objects_and_lists() {
        let mut target =
            json(serde_json::json!({"a": {"x": 1}, "l": [{"id": 1}, {"id": 2}], "n": null}));
        deep_merge(
            &mut target,
            json(serde_json::json!({"a": {"y": 2}, "l": [{"v": "a"}, {"v": "b"}], "n": {"z": 3}})),
        );
        assert_eq!(
            target,
            json(
                serde_json::json!({"a": {"x": 1, "y": 2}, "l": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], "n": {"z": 3}})
            )
        );
    }

    #[test]
    fn merging_a_borrowed_answer_gives_what_merging_it_owned_gives() {
        let target = json(
            serde_json::json!({"a": {"x": 1}, "l": [{"id": 1}], "n": null, "s": "old", "k": {"z": 0}}),
        );
        let sources = [
            serde_json::json!({"a": {"y": 2}, "l": [{"v": "a"}, {"v": "b"}], "n": {"z": 3}, "s": "new", "k": null}),
            serde_json::json!({"a": null, "l": [], "extra": [1, {"q": true}]}),
            serde_json::json!([1, 2]),
        ];
        for source in sources {
            let source = json(source);
            let mut owned = target.clone();
            deep_merge(&mut owned, source.clone());
            let mut borrowed = target.clone();
            deep_merge_ref(&mut borrowed, &source);
            assert_eq!(owned, borrowed, "{source:?}");
        }
    }

    #[test]
    fn aliases_are_renamed_back_at_every_depth() {
        let renames = vec![(Name::new("_tg_id_1").unwrap(), Name::new("id").unwrap())];
        let mut data = json(
            serde_json::json!({"a": [{"__typename": "Admin", "_tg_id_1": null, "n": {"_tg_id_1": "x"}}, {"id": "u"}]}),
        );
        rename_keys(&mut data, &renames, 0);
        assert_eq!(
            data,
            json(
                serde_json::json!({"a": [{"__typename": "Admin", "n": {"id": "x"}, "id": null}, {"id": "u"}]})
            )
        );
    }

    #[test]
    fn visits_objects_along_a_path_in_order() {
        let data = json(
            serde_json::json!({"top": [{"r": [{"id": 1}, null, {"id": 2}]}, {"r": [{"id": 3}]}, null]}),
        );
        let path = vec![
            PathElem::Key(Name::new("top").unwrap()),
            PathElem::List,
            PathElem::Key(Name::new("r").unwrap()),
            PathElem::List,
        ];
        let mut seen = Vec::new();
        visit(&data, &path, &mut Vec::new(), &mut |object, concrete| {
            seen.push((
                object.get("id").cloned().unwrap_or_default().to_json(),
                concrete.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
            ));
        });
        use serde_json::json as j;
        assert_eq!(
            seen,
            vec![
                (j!(1), vec![j!("top"), j!(0), j!("r"), j!(0)]),
                (j!(2), vec![j!("top"), j!(0), j!("r"), j!(2)]),
                (j!(3), vec![j!("top"), j!(1), j!("r"), j!(0)]),
            ]
        );
        let mut data = data;
        let mut n = 0;
        visit_mut(&mut data, &path, &mut |object| {
            n += 1;
            object.insert("n", json(serde_json::json!(n)));
        });
        assert_eq!(data.to_json()["top"][1]["r"][0]["n"], serde_json::json!(3));
    }
}
