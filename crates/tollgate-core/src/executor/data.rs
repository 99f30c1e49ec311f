//! The executor's response tree: JSON values parsed straight from subgraph
//! answers, merged in place and read by the shaper. Objects are vectors of
//! `(key, value)` pairs searched linearly: subgraph objects hold a handful of
//! keys, and a scan of a few short keys is cheaper than hashing every key
//! on insert and lookup (serde_json's order-keeping map hashes with SipHash
//! and allocates twice per object). Large objects (hostile or odd answers)
//! get a hashed index where a scan would be quadratic. Keys and strings are
//! `CompactString`s: up to 24 bytes (most keys, ids and names) they live
//! inline, without an allocation.

use std::collections::HashMap;
use std::fmt;

use compact_str::CompactString as Str;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Above this many entries, operations that would scan once per key build
/// a hashed index instead.
const SCAN_LIMIT: usize = 32;

/// A JSON value of the response tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, exactly as serde_json reads it.
    Number(serde_json::Number),
    /// A string.
    String(Text),
    /// A list.
    Array(Vec<Value>),
    /// An object.
    Object(Object),
}

/// A string of the tree, with whether it is known to need no escaping in
/// JSON: strings serde_json's parser lends straight from the input
/// (`visit_borrowed_str`) had no escape sequences, and JSON forbids raw
/// quotes, backslashes and control characters in them. [`Value`] is only
/// deserialized from JSON text (`serde_json::from_slice`/`from_str`).
#[derive(Debug, Clone, Default)]
pub struct Text {
    text: Str,
    plain: bool,
}

impl Text {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self {
            text: text.into(),
            plain: false,
        }
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self {
            text: text.into(),
            plain: false,
        }
    }
}

/// A JSON object: entries in arrival order, keys unique.
#[derive(Debug, Clone, Default)]
pub struct Object {
    entries: Vec<(Str, Value)>,
}

impl Value {
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object, mutably, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Converts to a serde_json value (for the response and representations).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(object) => serde_json::Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(items) => {
                Value::Array(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => Value::Object(Object {
                // serde_json's map keys are unique already.
                entries: map
                    .into_iter()
                    .map(|(k, v)| (k.into(), Value::from(v)))
                    .collect(),
            }),
        }
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `key` is among the entries.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| &**k == key)
    }

    /// The entry at `index`, in arrival order.
    pub fn entry_at(&self, index: usize) -> Option<(&str, &Value)> {
        self.entries.get(index).map(|(k, v)| (&**k, v))
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find_map(|(k, v)| (&**k == key).then_some(v))
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find_map(|(k, v)| (&**k == key).then_some(v))
    }

    /// Sets `key` to `value` (replacing an existing entry in place).
    pub fn insert(&mut self, key: &str, value: Value) {
        match self.position(key) {
            Some(index) => self.entries[index].1 = value,
            None => self.entries.push((key.into(), value)),
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.position(key)?;
        Some(self.entries.remove(index).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    /// The values in order, mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Merges `source` into this object: a key already here takes
    /// `merge(existing, new)`, a new key is appended.
    pub fn merge_with(&mut self, source: Object, mut merge: impl FnMut(&mut Value, Value)) {
        let mut index = self.merge_index(source.entries.len());
        for (key, value) in source.entries {
            match self.find(index.as_ref(), &key) {
                Some(i) => merge(&mut self.entries[i].1, value),
                None => self.append(index.as_mut(), key, value),
            }
        }
    }

    /// Like [`merge_with`](Self::merge_with) from a borrowed object: a new
    /// key is appended with a copy of its value.
    pub fn merge_with_ref(&mut self, source: &Object, mut merge: impl FnMut(&mut Value, &Value)) {
        let mut index = self.merge_index(source.entries.len());
        for (key, value) in &source.entries {
            match self.find(index.as_ref(), key) {
                Some(i) => merge(&mut self.entries[i].1, value),
                None => self.append(index.as_mut(), key.clone(), value.clone()),
            }
        }
    }

    /// A hashed index of the keys, when merging `incoming` entries into a
    /// large object would otherwise scan it once per entry.
    fn merge_index(&self, incoming: usize) -> Option<HashMap<Str, usize>> {
        (self.entries.len() > SCAN_LIMIT && incoming > 1).then(|| {
            self.entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect()
        })
    }

    /// Where `key` is, through `index` when there is one.
    fn find(&self, index: Option<&HashMap<Str, usize>>, key: &str) -> Option<usize> {
        match index {
            Some(index) => index.get(key).copied(),
            None => self.position(key),
        }
    }

    /// Appends an entry, keeping `index` up to date.
    fn append(&mut self, index: Option<&mut HashMap<Str, usize>>, key: Str, value: Value) {
        if let Some(index) = index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
    }

    /// Keeps the last value of each duplicated key (serde_json's rule for
    /// duplicate keys in a document), in first-appearance order.
    fn dedupe_keys(&mut self) {
        let n = self.entries.len();
        let duplicated = if n <= SCAN_LIMIT {
            (1..n).any(|i| {
                self.entries[..i]
                    .iter()
                    .any(|(k, _)| *k == self.entries[i].0)
            })
        } else {
            let mut seen = std::collections::HashSet::with_capacity(n);
            !self.entries.iter().all(|(k, _)| seen.insert(&**k))
        };
        if !duplicated {
            return;
        }
        let mut out: Vec<(Str, Value)> = Vec::with_capacity(n);
        let mut index: HashMap<Str, usize> = HashMap::with_capacity(n);
        for (key, value) in std::mem::take(&mut self.entries) {
            match index.get(&key) {
                Some(i) => out[*i].1 = value,
                None => {
                    index.insert(key.clone(), out.len());
                    out.push((key, value));
                }
            }
        }
        self.entries = out;
    }
}

impl PartialEq for Object {
    /// Objects are equal when they hold the same keys with equal values,
    /// whatever the order (JSON object semantics).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl IntoIterator for Object {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(Str, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (Str, Value)>>(iter: I) -> Self {
        let mut object = Object {
            entries: iter.into_iter().collect(),
        };
        object.dedupe_keys();
        object
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object.iter() {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value, E> {
        // serde_json lends the input only for strings without escapes.
        Ok(Value::String(Text {
            text: v.into(),
            plain: true,
        }))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Str, Value)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key::<KeyString>()? {
            let value = map.next_value()?;
            entries.push((key.0, value));
        }
        let mut object = Object { entries };
        object.dedupe_keys();
        Ok(Value::Object(object))
    }
}

/// An object key, read without an intermediate `String` when the input
/// lends the text.
struct KeyString(Str);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.into()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v.into()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Writes a value as JSON text (what serde_json writes, faster for strings).
pub fn write_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // Writing to a vector cannot fail.
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) if s.plain => {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(object) => {
            out.push(b'{');
            for (index, (key, item)) in object.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_json(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Writes a JSON string. Most strings need no escaping: those are copied
/// in one go; the others go through serde_json's escaper.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Writing to a vector cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn round_trips_through_serde_json_in_order() {
        let text = r#"{"b":1,"a":[true,null,"x",{"z":1.5,"y":-2}],"c":{}}"#;
        let value = parse(text);
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
        assert_eq!(
            value.to_json(),
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
        assert_eq!(Value::from(value.to_json()), value);
    }

    #[test]
    fn strings_read_with_escapes_are_written_escaped_again() {
        let text = r#"{"plain":"Lorem ipsum","quote":"a \"b\"","slash":"c\\d","nl":"e\nf","u":"\u0001 \u00e9"}"#;
        let value = parse(text);
        let mut out = Vec::new();
        write_json(&mut out, &value);
        let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            written,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
        assert!(
            matches!(value.as_object().unwrap().get("plain"), Some(Value::String(s)) if s.plain)
        );
        assert!(
            matches!(value.as_object().unwrap().get("quote"), Some(Value::String(s)) if !s.plain)
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_serde_json_does() {
        let value = parse(r#"{"a":1,"b":2,"a":3}"#);
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":3,"b":2}"#);
        // Past the scan limit too.
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k7\":\"last\"}");
        let value = parse(&text);
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 100);
        assert_eq!(object.get("k7"), Some(&Value::String("last".into())));
    }

    #[test]
    fn objects_compare_regardless_of_order_and_merge_by_key() {
        assert_eq!(parse(r#"{"a":1,"b":2}"#), parse(r#"{"b":2,"a":1}"#));
        assert_ne!(parse(r#"{"a":1}"#), parse(r#"{"a":1,"b":2}"#));
        for size in [3, 100] {
            let mut target = Object::new();
            for i in 0..size {
                target.insert(&format!("k{i}"), Value::Bool(false));
            }
            // A new key twice: the second merges into the first's entry.
            let source: Object = [
                ("k1".into(), Value::Bool(true)),
                ("new".into(), Value::Null),
                ("new".into(), Value::Bool(true)),
            ]
            .into_iter()
            .collect();
            let mut borrowed = target.clone();
            borrowed.merge_with_ref(&source, |existing, new| *existing = new.clone());
            target.merge_with(source, |existing, new| *existing = new);
            for merged in [&target, &borrowed] {
                assert_eq!(merged.len(), size + 1);
                assert_eq!(merged.get("k1"), Some(&Value::Bool(true)));
                assert_eq!(merged.iter().last().map(|(k, _)| k), Some("new"));
                assert_eq!(merged.get("new"), Some(&Value::Bool(true)));
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_by_the_parser_not_a_stack_overflow() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }
}
