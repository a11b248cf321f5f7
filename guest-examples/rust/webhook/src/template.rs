//! `{inputs.NAME}` templating, with the rules flytekit's connectors use
//! (`flytekit.utils.dict_formatter.format_dict`), so a task written for
//! flytekit's webhook connector renders the same here:
//!
//! - Strings, and strings inside lists and dict values (never dict keys),
//!   are rendered; other values pass through.
//! - A placeholder is `{` up to the next `}`; only dotted ones
//!   (`{inputs.x}`, `{inputs.d.k}`) are looked up, others stay as written.
//! - A string that is exactly one placeholder becomes the value itself, with
//!   its type (`"{inputs.n}"` renders as the number `3`); inside a longer
//!   string the value is spliced in as Python's `str()` (`True`, `1.0`,
//!   `{'a': 1}`).
//! - A missing key fails with flytekit's message,
//!   `Could not find the key x in {...}.`

use hangar_agent::Value;

use crate::python_text::{str_of, type_name};

/// Renders every placeholder in `value` against `scope` (`{"inputs": {...}}`).
pub fn render(value: Value, scope: &Value) -> Result<Value, String> {
    match value {
        Value::String(text) => render_text(text, scope),
        Value::Array(items) => items
            .into_iter()
            .map(|item| render(item, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| render(v, scope).map(|v| (k, v)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other),
    }
}

fn render_text(text: String, scope: &Value) -> Result<Value, String> {
    if !(text.contains('{') && text.contains('}')) {
        return Ok(Value::String(text));
    }
    let mut current = text.clone();
    for name in placeholders(&text) {
        if !name.contains('.') {
            continue;
        }
        let value = lookup(scope, name.split('.'))?;
        let placeholder = format!("{{{name}}}");
        if current == placeholder {
            return Ok(value.clone());
        }
        current = current.replace(&placeholder, &str_of(value));
    }
    Ok(Value::String(current))
}

/// What a `\{([^}]+)\}` scan finds, left to right, without overlaps.
fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        if close == 0 {
            rest = after; // "{}" matches nothing; try the next "{"
            continue;
        }
        found.push(&after[..close]);
        rest = &after[close + 1..];
    }
    found
}

/// Follows `keys` down from `scope`, failing as Python's `key in d` /
/// `d[key]` would.
fn lookup<'a, 'k>(
    scope: &'a Value,
    keys: impl Iterator<Item = &'k str>,
) -> Result<&'a Value, String> {
    let mut current = scope;
    for key in keys {
        let not_found = || format!("Could not find the key {key} in {}.", str_of(current));
        current = match current {
            Value::Object(map) => map.get(key).ok_or_else(not_found)?,
            Value::Array(items) => {
                if items.iter().any(|i| i.as_str() == Some(key)) {
                    return Err("list indices must be integers or slices, not str".into());
                }
                return Err(not_found());
            }
            Value::String(s) => {
                if s.contains(key) {
                    return Err("string indices must be integers, not 'str'".into());
                }
                return Err(not_found());
            }
            other => {
                return Err(format!(
                    "argument of type '{}' is not iterable",
                    type_name(other)
                ));
            }
        };
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_agent::json;

    fn scope() -> Value {
        json!({"inputs": {"s": "hi", "n": 3, "f": 1.0, "b": true, "d": {"k": "v"}, "xs": [1, 2]}})
    }

    #[test]
    fn a_whole_placeholder_keeps_the_type() {
        assert_eq!(render(json!("{inputs.n}"), &scope()), Ok(json!(3)));
        assert_eq!(render(json!("{inputs.d}"), &scope()), Ok(json!({"k": "v"})));
        assert_eq!(render(json!("{inputs.d.k}"), &scope()), Ok(json!("v")));
    }

    #[test]
    fn spliced_values_use_python_str() {
        let got = render(
            json!(
                "s={inputs.s} n={inputs.n} f={inputs.f} b={inputs.b} xs={inputs.xs} d={inputs.d}"
            ),
            &scope(),
        );
        assert_eq!(
            got,
            Ok(json!("s=hi n=3 f=1.0 b=True xs=[1, 2] d={'k': 'v'}"))
        );
        assert_eq!(
            render(json!("{inputs.s}{inputs.s}"), &scope()),
            Ok(json!("hihi"))
        );
    }

    #[test]
    fn renders_inside_lists_and_dict_values_not_keys() {
        let got = render(
            json!({"{inputs.s}": ["{inputs.n}", 2, {"q": "x{inputs.s}"}]}),
            &scope(),
        );
        assert_eq!(got, Ok(json!({"{inputs.s}": [3, 2, {"q": "xhi"}]})));
    }

    #[test]
    fn undotted_and_empty_braces_stay() {
        assert_eq!(
            render(json!("{x} {} {inputs.s}"), &scope()),
            Ok(json!("{x} {} hi"))
        );
        assert_eq!(
            render(json!("{\"a\": 1}"), &scope()),
            Ok(json!("{\"a\": 1}"))
        );
    }

    #[test]
    fn missing_keys_fail_like_flytekit() {
        let e =
            render(json!("{inputs.nope}"), &json!({"inputs": {"s": "hi"}})).expect_err("missing");
        assert_eq!(e, "Could not find the key nope in {'s': 'hi'}.");
        let e = render(json!("{other.x}"), &json!({"inputs": {}})).expect_err("missing");
        assert_eq!(e, "Could not find the key other in {'inputs': {}}.");
        let e = render(json!("{inputs.n.x}"), &scope()).expect_err("not a dict");
        assert_eq!(e, "argument of type 'int' is not iterable");
    }
}
