//! Reading attributes out of SCIM 2.0 resources (RFC 7643) by the paths of RFC 7644 §3.10.

use serde_json::Value;

/// Case-insensitive member lookup: SCIM attribute names are case-insensitive (RFC 7643 §2.1).
fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The value at `path` in `resource`: `userName`, `name.formatted`, or an extension attribute by
/// its full URN, `urn:…:User:uidNumber` (the schema URN is everything before the last `:`).
pub fn attribute<'a>(resource: &'a Value, path: &str) -> Option<&'a Value> {
    let (mut value, rest) = if path.to_ascii_lowercase().starts_with("urn:") {
        let (schema, attr) = path.rsplit_once(':')?;
        (member(resource, schema)?, attr)
    } else {
        (resource, path)
    };
    for part in rest.split('.') {
        value = member(value, part)?;
    }
    match value {
        Value::Null => None,
        v => Some(v),
    }
}

/// A string attribute; `None` when absent, `Err` when present but not a string.
pub fn string_attribute<'a>(resource: &'a Value, path: &str) -> Result<Option<&'a str>, String> {
    match attribute(resource, path) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{path} is not a string: {}", short(other))),
    }
}

/// An integer attribute, given as a JSON number or a string of digits.
pub fn integer_attribute(resource: &Value, path: &str) -> Result<Option<i64>, String> {
    match attribute(resource, path) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{path} is not an integer: {n}")),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            format!(
                "{path} is not an integer: {}",
                short(&Value::String(s.clone()))
            )
        }),
        Some(other) => Err(format!("{path} is not an integer: {}", short(other))),
    }
}

/// A boolean attribute (`true`/`false`, or those words as strings).
pub fn bool_attribute(resource: &Value, path: &str) -> Result<Option<bool>, String> {
    match attribute(resource, path) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(format!("{path} is not a boolean: {}", short(other))),
    }
}

/// The string values of a multi-valued attribute: plain strings, or complex values' `value`,
/// with the one marked `primary` first (RFC 7643 §2.4).
pub fn multi_values(resource: &Value, path: &str) -> Vec<String> {
    let items: Vec<&Value> = match attribute(resource, path) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
    };
    let mut out: Vec<(bool, String)> = items
        .into_iter()
        .filter_map(|item| match item {
            Value::String(s) => Some((false, s.clone())),
            Value::Object(_) => {
                let primary = matches!(member(item, "primary"), Some(Value::Bool(true)));
                match member(item, "value") {
                    Some(Value::String(s)) => Some((primary, s.clone())),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(primary, _)| !primary);
    out.into_iter().map(|(_, v)| v).collect()
}

/// The value a multi-valued attribute vouches for as its one primary: the only item whose
/// `primary` is true, or the only item when there is one. None when two items claim to be
/// primary, or several are listed and none is marked.
pub fn primary_value<'a>(resource: &'a Value, path: &str) -> Option<&'a str> {
    let items: Vec<&Value> = match attribute(resource, path)? {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let value = |item: &'a Value| match item {
        Value::String(s) => Some(s.as_str()),
        Value::Object(_) => member(item, "value").and_then(Value::as_str),
        _ => None,
    };
    let primaries: Vec<&Value> = items
        .iter()
        .copied()
        .filter(|item| matches!(member(item, "primary"), Some(Value::Bool(true))))
        .collect();
    match (primaries.as_slice(), items.as_slice()) {
        ([only], _) => value(only),
        ([], [only]) => value(only),
        _ => None,
    }
}

/// The user id a `members` item names: a bare id, or a complex value's `value` (RFC 7643 §4.2);
/// nested groups (`"type": "Group"`) name none, they are not flattened.
pub fn member_id(item: &Value) -> Option<&str> {
    match item {
        Value::String(id) => Some(id),
        Value::Object(_) => {
            let nested = matches!(member(item, "type"),
                Some(Value::String(t)) if t.eq_ignore_ascii_case("group"));
            match member(item, "value") {
                Some(Value::String(id)) if !nested => Some(id),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The user ids in a Group resource's `members`.
pub fn member_ids(group: &Value) -> impl Iterator<Item = &str> {
    let items = match attribute(group, "members") {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    items.iter().filter_map(member_id)
}

/// Shrinks a Group resource's `members` to the bare user ids (`["id", …]`), dropping `display`,
/// `$ref` and nested-group members. A group of thousands of members otherwise holds thousands of
/// small JSON objects.
pub fn compact_members(group: &mut Value) {
    let Some(object) = group.as_object_mut() else {
        return;
    };
    let Some(key) = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case("members"))
        .cloned()
    else {
        return;
    };
    if let Some(Value::Array(items)) = object.get_mut(&key) {
        let compact: Vec<Value> = items
            .iter()
            .filter_map(|item| member_id(item).map(|id| Value::String(id.to_string())))
            .collect();
        *items = compact;
    }
}

/// A Group resource that is compacted (`compact_members`) as soon as it is parsed, so a large
/// export never holds every member object at once.
pub struct CompactGroup(pub Value);

impl<'de> serde::Deserialize<'de> for CompactGroup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut group = Value::deserialize(deserializer)?;
        compact_members(&mut group);
        Ok(CompactGroup(group))
    }
}

/// A printable, bounded rendering of untrusted input for log lines.
pub fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    printable(&text)
}

/// `text` with control characters escaped and cut to 64 characters, safe for one log line.
pub fn printable(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_core_sub_and_extension_attributes() {
        let r = json!({
            "userName": "alice@example.com",
            "name": {"formatted": "Alice A"},
            "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 5000, "loginShell": null},
            "emails": [{"value": "b@x", "primary": false}, {"value": "a@x", "primary": true}],
            "active": "False"
        });
        assert_eq!(
            string_attribute(&r, "USERNAME").unwrap(),
            Some("alice@example.com")
        );
        assert_eq!(
            string_attribute(&r, "name.formatted").unwrap(),
            Some("Alice A")
        );
        assert_eq!(
            integer_attribute(
                &r,
                "urn:usher:params:scim:schemas:extension:posix:2.0:User:uidNumber"
            )
            .unwrap(),
            Some(5000)
        );
        assert_eq!(
            attribute(
                &r,
                "urn:usher:params:scim:schemas:extension:posix:2.0:User:loginShell"
            ),
            None
        );
        assert_eq!(multi_values(&r, "emails"), vec!["a@x", "b@x"]);
        assert_eq!(bool_attribute(&r, "active").unwrap(), Some(false));
        assert!(integer_attribute(&r, "userName").is_err());
        assert!(string_attribute(&r, "name").is_err());
    }

    #[test]
    fn members_compact_to_user_ids() {
        let mut g = json!({"id": "g", "Members": [
            {"value": "u1", "display": "Alice", "$ref": "https://x/Users/u1"},
            "u2",
            {"value": "g2", "type": "Group"},
            {"display": "no value"},
            7
        ]});
        compact_members(&mut g);
        assert_eq!(g["Members"], json!(["u1", "u2"]));
        let parsed: CompactGroup =
            serde_json::from_str(r#"{"members": [{"value": "u9", "display": "x"}]}"#).unwrap();
        assert_eq!(parsed.0["members"], json!(["u9"]));
    }

    #[test]
    fn printable_escapes_and_bounds() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 65);
    }
}
