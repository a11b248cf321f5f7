//! How Python writes values as text, for JSON values.
//!
//! flytekit's webhook connector splices inputs into strings with Python's
//! `str()`, puts Python reprs into its error messages, and tests fields with
//! Python truthiness. A drop-in has to produce the same bytes, so this module
//! spells those rules out: `str`/`repr` of None, bools, ints, floats
//! (shortest round-trip digits, exponent form outside 1e-4..1e16), strings
//! (quotes and escapes), lists and dicts.

use hangar_agent::Value;

/// Python's `str(value)`: a string as is, anything else as its repr.
pub fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr_of(other),
    }
}

/// Python's `repr(value)`.
pub fn repr_of(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => float_repr(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => string_repr(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(repr_of).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", string_repr(k), repr_of(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's truthiness: None, False, 0, 0.0, "", [] and {} are false.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The Python type name of a value (for "argument of type 'int' ..." messages).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The error Python's `text.encode("ascii")` raises for the first run of
/// non-ASCII characters (httpx encodes header names and values so), or
/// `None` when `text` is ASCII.
pub fn ascii_encode_error(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.iter().position(|c| !c.is_ascii())?;
    let end = chars[start..]
        .iter()
        .position(|c| c.is_ascii())
        .map_or(chars.len(), |n| start + n);
    Some(if end - start == 1 {
        let c = chars[start] as u32;
        let escaped = if c < 0x100 {
            format!("\\x{c:02x}")
        } else if c < 0x10000 {
            format!("\\u{c:04x}")
        } else {
            format!("\\U{c:08x}")
        };
        format!(
            "'ascii' codec can't encode character '{escaped}' in position {start}: ordinal not in range(128)"
        )
    } else {
        format!(
            "'ascii' codec can't encode characters in position {start}-{}: ordinal not in range(128)",
            end - 1
        )
    })
}

/// `repr(float)`: shortest digits that round-trip; positional for exponents
/// -4..16 (always with a fractional part), else `d.ddde+XX`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.5e-5".
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let (int_part, frac_part) = if point <= 0 {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac_part = if frac_part.is_empty() {
            "0".to_string()
        } else {
            frac_part
        };
        format!("{sign}{int_part}.{frac_part}")
    } else {
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// `repr(str)`: single quotes unless the text holds a `'` and no `"`.
pub fn string_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `json.dumps(value)` with its defaults: `", "` and `": "`
/// separators, non-ASCII escaped as `\uXXXX`, floats as their repr.
pub fn json_dumps(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => repr_of(value),
        Value::String(s) => json_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json_dumps).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", json_string(k), json_dumps(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_agent::json;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123456.789, "123456.789"),
            (1e100, "1e+100"),
            (0.0, "0.0"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn containers_and_strings_print_like_python() {
        let v = json!({"a": [1, 2.0, "x", null, true], "b'": {"c": "it's"}});
        assert_eq!(
            repr_of(&v),
            r#"{'a': [1, 2.0, 'x', None, True], "b'": {'c': "it's"}}"#
        );
        assert_eq!(str_of(&json!("plain")), "plain");
        assert_eq!(string_repr("a\\b\n'\""), r#"'a\\b\n\'"'"#);
        assert_eq!(
            json_dumps(&json!({"k": [1, "é"], "z": 0.5})),
            r#"{"k": [1, "\u00e9"], "z": 0.5}"#
        );
    }

    #[test]
    fn ascii_errors_read_like_pythons() {
        assert_eq!(ascii_encode_error("plain"), None);
        assert_eq!(
            ascii_encode_error("user w\u{f6}rld").as_deref(),
            Some(
                "'ascii' codec can't encode character '\\xf6' in position 6: ordinal not in range(128)"
            )
        );
        assert_eq!(
            ascii_encode_error("a\u{20ac}\u{20ac}b\u{f6}").as_deref(),
            Some(
                "'ascii' codec can't encode characters in position 1-2: ordinal not in range(128)"
            )
        );
    }

    #[test]
    fn truthiness_and_type_names() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for true_ in [
            json!(true),
            json!(1),
            json!("x"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&true_), "{true_}");
        }
        assert_eq!(type_name(&json!(1)), "int");
        assert_eq!(type_name(&json!(1.5)), "float");
        assert_eq!(type_name(&json!(null)), "NoneType");
    }
}
