//! One webhook call: render the task's `custom` with the inputs, turn it
//! into an HTTP request, and turn the answer into the resource flytekit's
//! connector would return.

use std::time::Duration;

use hangar_agent::{Map, Resource, Task, Value, http, json, log};

use crate::flytekit_inputs::flytekit_inputs;
use crate::python_text::{ascii_encode_error, str_of, truthy, type_name};
use crate::template::render;

/// flytekit's default when the template has no `timeout_sec`.
const DEFAULT_TIMEOUT_SEC: f64 = 10.0;
/// flytekit's message on success.
pub const SUCCESS_MESSAGE: &str = "Webhook was successfully invoked!";

/// What the rendered `custom` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSpec {
    pub url: String,
    /// True for `GET`; everything else is sent as `POST`.
    pub is_get: bool,
    /// As rendered: a value that is not a string fails when sending, as
    /// it does in httpx.
    pub headers: Vec<(String, Value)>,
    /// The rendered `data` (`None` when the template has none).
    pub data: Option<Value>,
    pub show_data: bool,
    pub show_url: bool,
    /// `None`: no timeout (the template set `timeout_sec` to null).
    pub timeout: Option<Duration>,
}

/// Runs the task; every outcome is a terminal resource.
pub fn run(task: &Task) -> Resource {
    let spec = match spec_of(task) {
        Ok(spec) => spec,
        Err(message) => return Resource::failed(message),
    };
    let request = match request_of(&spec) {
        Ok(request) => request,
        Err(message) => return Resource::failed(message),
    };
    log::debug!("webhook {} {}", request.method.as_str(), request.url);
    match request.send() {
        Ok(response) => resource_of(&spec, response.status, &response.text()),
        Err(e) => Resource::failed(e.message),
    }
}

/// Renders `custom` against the inputs and reads the fields, as flytekit's
/// `_get_final_dict` and `_process_webhook` do.
pub fn spec_of(task: &Task) -> Result<WebhookSpec, String> {
    // flytekit reads `custom` through protobuf's Struct, where every number
    // is a float: `{"n": 1}` arrives as 1.0 (and is sent and shown so).
    let custom = floats_only(task.custom.clone());
    let scope = json!({"inputs": flytekit_inputs(&task.inputs, &task.inputs_raw)});
    let Value::Object(fields) = render(custom, &scope)? else {
        return Err(
            "the task template's `custom` is not an object: was this task registered by \
                    flytekit's WebhookTask?"
                .into(),
        );
    };
    let url = match fields.get("url") {
        Some(Value::String(url)) => url.clone(),
        Some(other) => {
            return Err(format!(
                "the webhook `url` must be a string, not {}",
                str_of(other)
            ));
        }
        None => return Err("the task template has no webhook `url` (custom.url)".into()),
    };
    let method = str_of(fields.get("method").unwrap_or(&Value::Null)).to_uppercase();
    let headers = match fields.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => {
            return Err(format!(
                "the webhook `headers` must be an object, not {}",
                str_of(other)
            ));
        }
    };
    let timeout = match fields.get("timeout_sec") {
        None => Some(Duration::from_secs_f64(DEFAULT_TIMEOUT_SEC)),
        Some(Value::Null) => None,
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        Some(other) => {
            return Err(format!(
                "the webhook `timeout_sec` must be a number, not {}",
                str_of(other)
            ));
        }
    };
    let flag = |name: &str| fields.get(name).is_some_and(truthy);
    Ok(WebhookSpec {
        url,
        is_get: method == "GET",
        headers,
        data: fields.get("data").filter(|d| !d.is_null()).cloned(),
        show_data: flag("show_data"),
        show_url: flag("show_url"),
        timeout,
    })
}

/// The HTTP request flytekit's connector (httpx) would send.
pub fn request_of(spec: &WebhookSpec) -> Result<http::Request, String> {
    let mut request = if spec.is_get {
        http::get(get_url(&spec.url, spec.data.as_ref())?)
    } else {
        http::post(spec.url.clone())
    };
    for (name, value) in &spec.headers {
        // httpx takes only text values and sends names and values as ASCII.
        if let Some(e) = ascii_encode_error(name) {
            return Err(e);
        }
        let Value::String(value) = value else {
            return Err(format!(
                "Header value must be str or bytes, not <class '{}'>",
                type_name(value)
            ));
        };
        if let Some(e) = ascii_encode_error(value) {
            return Err(e);
        }
        request = request.header(name.as_str(), value.as_str());
    }
    if !spec.is_get
        && let Some(data) = &spec.data
    {
        request = request.json(data);
    }
    if let Some(timeout) = spec.timeout {
        request = request.timeout(timeout);
    }
    Ok(request)
}

/// For a GET, `data` replaces the URL's query (httpx's `params`): each item
/// a `name=value` pair, a list one pair per element, `true`/`false` for
/// booleans, empty for None, Python's `str()` otherwise. An empty `data`
/// drops the query.
fn get_url(url: &str, data: Option<&Value>) -> Result<String, String> {
    let Some(data) = data else {
        return Ok(url.to_string());
    };
    let Value::Object(params) = data else {
        return Err(format!(
            "the webhook `data` of a GET must be an object (its items become the query), not {}",
            str_of(data)
        ));
    };
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let base = before_fragment.split('?').next().unwrap_or_default();
    let mut pairs = Vec::new();
    for (name, value) in params {
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            pairs.push(format!(
                "{}={}",
                http::form_encode(name),
                http::form_encode(&param_text(v))
            ));
        }
    }
    let mut out = base.to_string();
    if !pairs.is_empty() {
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Ok(out)
}

fn param_text(value: &Value) -> String {
    match value {
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::Null => String::new(),
        other => str_of(other),
    }
}

/// The resource for an answer: 200 succeeds with `info`, anything else fails.
pub fn resource_of(spec: &WebhookSpec, status: u16, text: &str) -> Resource {
    if status != 200 {
        return Resource::failed(format!(
            "Webhook failed with status code {status}, response: {text}"
        ));
    }
    let mut info = Map::new();
    info.insert("status_code".into(), json!(status));
    info.insert("response_data".into(), json!(text));
    if spec.show_data {
        info.insert(
            "input_data".into(),
            spec.data.clone().unwrap_or(Value::Null),
        );
    }
    if spec.show_url {
        info.insert("url".into(), json!(spec.url));
    }
    let mut outputs = Map::new();
    outputs.insert("info".into(), Value::Object(info));
    Resource::succeeded_with(outputs).with_message(SUCCESS_MESSAGE)
}

/// Every number as a float, as protobuf's Struct holds them.
fn floats_only(value: Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(hangar_agent::serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(items.into_iter().map(floats_only).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, floats_only(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_agent::{Outputs, Phase};

    fn spec(custom: Value, inputs: Value) -> Result<WebhookSpec, String> {
        let mut task = Task::new("webhook", custom);
        let Value::Object(inputs) = inputs else {
            unreachable!()
        };
        task.inputs = inputs;
        spec_of(&task)
    }

    fn custom(url: &str, method: &str, data: Value) -> Value {
        json!({"url": url, "method": method, "headers": {"X-Id": "id {inputs.id}"}, "data": data,
               "show_data": true, "show_url": false, "timeout_sec": 2})
    }

    #[test]
    fn a_get_puts_data_in_the_query_like_httpx() {
        let s = spec(
            custom(
                "http://h/items/{inputs.id}?old=1",
                "GET",
                json!({"q": "{inputs.s}", "n": 1, "b": true, "z": null, "l": [1, "a b"]}),
            ),
            json!({"id": 7, "s": "x y/é"}),
        )
        .expect("spec");
        assert!(s.is_get);
        assert_eq!(s.headers, vec![("X-Id".to_string(), json!("id 7"))]);
        assert_eq!(s.timeout, Some(Duration::from_secs(2)));
        let r = request_of(&s).expect("request");
        assert_eq!(
            r.url,
            "http://h/items/7?b=true&l=1.0&l=a+b&n=1.0&q=x+y%2F%C3%A9&z="
        );
        assert!(r.body.is_empty());
    }

    #[test]
    fn an_empty_get_data_drops_the_query() {
        let s = spec(custom("http://h/p?a=1", "get", json!({})), json!({"id": 1})).expect("spec");
        assert_eq!(request_of(&s).expect("request").url, "http://h/p");
    }

    #[test]
    fn anything_but_get_is_a_json_post() {
        let s = spec(
            custom(
                "http://h/",
                "PUT",
                json!({"text": "{inputs.s}", "n": 2, "id": "{inputs.id}"}),
            ),
            json!({"id": 3, "s": "hi"}),
        )
        .expect("spec");
        let r = request_of(&s).expect("request");
        assert_eq!(r.method, http::Method::Post);
        assert_eq!(r.body, br#"{"id":3,"n":2.0,"text":"hi"}"#);
        assert_eq!(r.header_value("content-type"), Some("application/json"));
    }

    #[test]
    fn info_holds_what_was_asked() {
        let s = spec(
            custom("http://h/{inputs.id}", "POST", json!({"n": 1})),
            json!({"id": 3}),
        )
        .expect("spec");
        let r = resource_of(&s, 200, "ok");
        assert_eq!(r.phase, Phase::Succeeded);
        assert_eq!(r.message, SUCCESS_MESSAGE);
        let Some(Outputs::Json(out)) = r.outputs else {
            panic!("json outputs")
        };
        assert_eq!(
            out["info"],
            json!({"status_code": 200, "response_data": "ok", "input_data": {"n": 1.0}})
        );
        assert!(out["info"]["input_data"]["n"].is_f64());
    }

    #[test]
    fn a_non_200_fails_with_flytekits_message() {
        let s = spec(custom("http://h/", "POST", json!({})), json!({"id": 1})).expect("spec");
        let r = resource_of(&s, 404, "nope");
        assert_eq!(r.phase, Phase::Failed);
        assert_eq!(
            r.message,
            "Webhook failed with status code 404, response: nope"
        );
    }

    #[test]
    fn header_values_must_be_ascii_text_as_in_httpx() {
        let mut c = custom("http://h/", "POST", json!({}));
        c["headers"] = json!({"X-N": "{inputs.id}"});
        let e = request_of(&spec(c.clone(), json!({"id": 1})).expect("spec")).expect_err("int");
        assert_eq!(e, "Header value must be str or bytes, not <class 'int'>");
        let e = request_of(&spec(c, json!({"id": "\u{e9}"})).expect("spec")).expect_err("ascii");
        assert!(e.starts_with("'ascii' codec can't encode character"), "{e}");
    }

    #[test]
    fn template_errors_are_messages() {
        let e = spec(
            custom("http://h/{inputs.missing}", "POST", json!({})),
            json!({"id": 1}),
        )
        .expect_err("missing");
        assert_eq!(e, "Could not find the key missing in {'id': 1}.");
        let e = spec(json!({"method": "GET"}), json!({})).expect_err("no url");
        assert!(e.contains("custom.url"), "{e}");
    }
}
