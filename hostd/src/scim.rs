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
    fn printable_escapes_and_bounds() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 65);
    }
}
