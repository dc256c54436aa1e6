//! Amazon's published API contract, enforced: every request ams-hub sends to the Amazon
//! stand-in and every answer the stand-in gives is checked against the contract files in
//! `fixtures/amazon-api/` (derived from Amazon's own OpenAPI documents by
//! `scripts/amazon_contract.py`; see `fixtures/amazon-api/README.md`).
//!
//! A request must match a path of the contract exactly (no trailing slash) with a declared
//! method; carry every required header and query parameter, with values of the declared type
//! and bounds; name no `Amazon-*` header and no query parameter the operation does not declare;
//! send a body only where one is declared, with a declared `Content-Type`, valid against the
//! schema; and `Accept` only a media type the operation answers with. An answer must have a
//! declared status, a declared `Content-Type` and a body valid against its schema (or no body
//! where none is declared).
//!
//! Schemas are read strictly: an object may hold only the properties its schema lists
//! (`additionalProperties: false` is added wherever a schema lists properties and says nothing
//! else), so neither side can rely on a field Amazon does not document.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

/// The contract files the stand-in enforces.
pub const FILES: [&str; 5] = [
    "marketing-stream-v1.contract.json",
    "profiles.contract.json",
    "dsp-advertisers.contract.json",
    "stream-v2-subscriptions.contract.json",
    "ads-accounts.contract.json",
];

/// A rule broken, with what broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 415 for a media type, 400 for anything else in a request; 500 for an answer.
    pub status: u16,
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rule)
    }
}

/// A request as the contract sees it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The operation a request matched: which document, which path template, which method.
#[derive(Debug, Clone)]
pub struct Operation {
    doc: usize,
    template: String,
    method: String,
}

impl Operation {
    /// `GET /streams/subscriptions/{subscriptionId}`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.template)
    }
}

pub struct Contract {
    docs: Vec<Value>,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn media_type(v: &str) -> String {
    v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// `additionalProperties: false` wherever a schema lists properties and leaves it unsaid.
fn strict(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".into(), Value::Bool(false));
            }
            o.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| if t.starts_with('{') && t.ends_with('}') { !p.is_empty() } else { t == p })
}

impl Contract {
    /// The contract files in `dir`.
    pub fn load(dir: &Path, files: &[&str]) -> Contract {
        let docs = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("contract file {f}: {e}"));
                let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("contract file {f}: {e}"));
                strict(&mut v);
                v
            })
            .collect();
        Contract { docs, validators: Mutex::new(HashMap::new()) }
    }

    /// Amazon's contract as the stand-in enforces it (`fixtures/amazon-api/`).
    pub fn amazon() -> Contract {
        Contract::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/amazon-api"), &FILES)
    }

    fn operation(&self, op: &Operation) -> &Value {
        &self.docs[op.doc]["paths"][&op.template][&op.method]
    }

    /// An inline schema or a `$ref`, validated with the document's components in reach.
    fn validate(&self, doc: usize, schema: &Value, instance: &Value) -> Result<(), String> {
        let key = format!("{doc}:{schema}");
        let validator = {
            let mut cache = self.validators.lock().unwrap();
            match cache.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let mut root = schema.clone();
                    if let Value::Object(o) = &mut root {
                        o.insert("components".into(), self.docs[doc]["components"].clone());
                    }
                    let v = std::sync::Arc::new(jsonschema::draft4::new(&root).map_err(|e| format!("the contract's schema does not compile: {e}"))?);
                    cache.insert(key, v.clone());
                    v
                }
            }
        };
        let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{e} (at '{}')", e.instance_path())).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// A parameter's value (always text on the wire) against its schema.
    fn parameter_value(&self, doc: usize, schema: &Value, text: &str) -> Result<(), String> {
        let resolved = match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.docs[doc].pointer(r.trim_start_matches('#')).cloned().unwrap_or(Value::Null),
            None => schema.clone(),
        };
        let instance = match resolved.get("type").and_then(Value::as_str) {
            Some("integer") => text.parse::<i64>().map(Value::from).map_err(|_| format!("{text:?} is not an integer"))?,
            Some("number") => text.parse::<f64>().map(|f| json!(f)).map_err(|_| format!("{text:?} is not a number"))?,
            Some("boolean") => text.parse::<bool>().map(Value::from).map_err(|_| format!("{text:?} is not a boolean"))?,
            _ => Value::String(text.to_owned()),
        };
        self.validate(doc, &resolved, &instance)
    }

    fn bad(rule: String) -> Violation {
        Violation { status: 400, rule }
    }

    /// A parameter, its `$ref` (within the same document) followed.
    fn parameter<'a>(&'a self, doc: usize, p: &'a Value) -> &'a Value {
        match p.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/")) {
            Some(path) => path.split('/').fold(&self.docs[doc], |v, k| &v[k]),
            None => p,
        }
    }

    /// Checks a request; the operation it is, or the rule it broke.
    pub fn check_request(&self, r: &Request<'_>) -> Result<Operation, Violation> {
        let method = r.method.to_ascii_lowercase();
        let found = self.docs.iter().enumerate().find_map(|(i, d)| {
            d["paths"].as_object()?.keys().find(|t| template_matches(t, r.path)).map(|t| (i, t.clone()))
        });
        let Some((doc, template)) = found else {
            return Err(Self::bad(format!("{} {}: no such path in Amazon's contract (a trailing slash is not allowed)", r.method, r.path)));
        };
        let op = Operation { doc, template, method };
        let path_item = &self.docs[doc]["paths"][&op.template];
        let Some(spec) = path_item.get(&op.method) else {
            return Err(Self::bad(format!("{} {}: the contract has no {} on this path", r.method, r.path, r.method)));
        };
        let name = op.name();
        let mut parameters: Vec<&Value> = Vec::new();
        for list in [path_item.get("parameters"), spec.get("parameters")].into_iter().flatten() {
            // A parameter may be a `$ref` to `#/components/parameters/…` (the v2 document's
            // `Amazon-Ads-ClientId` is).
            parameters.extend(list.as_array().into_iter().flatten().map(|p| self.parameter(doc, p)));
        }
        for p in &parameters {
            let (pname, place) = (p["name"].as_str().unwrap_or_default(), p["in"].as_str().unwrap_or_default());
            let required = p["required"].as_bool().unwrap_or(place == "path");
            let value = match place {
                "header" => r.header(pname).map(str::to_owned),
                "query" => r.query.iter().find(|(k, _)| k == pname).map(|(_, v)| v.clone()),
                _ => None,
            };
            match value {
                None if required && place != "path" => return Err(Self::bad(format!("{name}: the required {place} {pname} is missing"))),
                Some(v) => self
                    .parameter_value(doc, &p["schema"], &v)
                    .map_err(|e| Self::bad(format!("{name}: {place} {pname}: {e}")))?,
                None => {}
            }
        }
        let declared = |place: &str, n: &str| {
            parameters.iter().any(|p| p["in"] == place && p["name"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(n)))
        };
        for (h, _) in &r.headers {
            if h.to_ascii_lowercase().starts_with("amazon-") && !declared("header", h) {
                return Err(Self::bad(format!("{name}: header {h} is not one the operation declares")));
            }
        }
        for (k, _) in &r.query {
            if !declared("query", k) {
                return Err(Self::bad(format!("{name}: query parameter {k} is not one the operation declares")));
            }
        }
        match spec.get("requestBody") {
            None if !r.body.is_empty() => return Err(Self::bad(format!("{name}: takes no body"))),
            None => {}
            Some(body) => {
                let content = body["content"].as_object().cloned().unwrap_or_default();
                if r.body.is_empty() {
                    if body["required"].as_bool() == Some(true) {
                        return Err(Self::bad(format!("{name}: the body is required")));
                    }
                } else {
                    let given = media_type(r.header("content-type").unwrap_or(""));
                    let Some(media) = content.get(&given) else {
                        return Err(Violation {
                            status: 415,
                            rule: format!("{name}: Content-Type {given:?} is not one of {:?}", content.keys().collect::<Vec<_>>()),
                        });
                    };
                    let v: Value = serde_json::from_slice(r.body).map_err(|e| Self::bad(format!("{name}: the body is not JSON: {e}")))?;
                    self.validate(doc, &media["schema"], &v).map_err(|e| Self::bad(format!("{name}: request body: {e}")))?;
                }
            }
        }
        if let Some(accept) = r.header("accept") {
            let offered: Vec<String> = answers(spec).into_iter().filter(|(s, _)| s.starts_with('2')).flat_map(|(_, c)| c).collect();
            let ok = accept.split(',').map(media_type).any(|a| a == "*/*" || offered.is_empty() || offered.contains(&a));
            if !ok {
                return Err(Violation { status: 415, rule: format!("{name}: Accept {accept:?} is none of {offered:?}") });
            }
        }
        Ok(op)
    }

    /// Checks an answer to `op`.
    pub fn check_response(&self, op: &Operation, status: u16, content_type: Option<&str>, body: &[u8]) -> Result<(), Violation> {
        let bad = |rule: String| Violation { status: 500, rule: format!("{} answered {status}: {rule}", op.name()) };
        let spec = self.operation(op);
        let responses = &spec["responses"];
        let Some(declared) = responses.get(status.to_string()).or_else(|| responses.get("default")) else {
            // Amazon's documents leave out error statuses its services do answer (the Profiles
            // document declares only 200; the DSP subscription paths no 401): such an answer
            // must still be an error in Amazon's shape.
            if status >= 400 {
                let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("an error body that is not JSON: {e}")))?;
                let shape = json!({"type": "object", "required": ["message"], "additionalProperties": false,
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "requestId": {"type": "string"}}});
                return self.validate(op.doc, &shape, &v).map_err(|e| bad(format!("undeclared error status with a body not in Amazon's error shape: {e}")));
            }
            return Err(bad("a status the operation does not declare".into()));
        };
        let content = declared.get("content").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
        if content.is_empty() {
            return if body.is_empty() { Ok(()) } else { Err(bad("a body where none is declared".into())) };
        }
        let given = media_type(content_type.unwrap_or(""));
        let Some(media) = content.get(&given) else {
            return Err(bad(format!("Content-Type {given:?} is not one of {:?}", content.keys().collect::<Vec<_>>())));
        };
        let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        self.validate(op.doc, &media["schema"], &v).map_err(|e| bad(format!("response body: {e}")))
    }
}

/// (status, media types) an operation answers with.
fn answers(spec: &Value) -> Vec<(String, Vec<String>)> {
    spec["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(s, r)| (s.clone(), r["content"].as_object().map(|c| c.keys().cloned().collect()).unwrap_or_default()))
        .collect()
}

/// One operation of an AWS query-protocol service, as AWS's own service model describes it
/// (`fixtures/aws-api/`, derived by `scripts/aws_contract.py`): the stand-in for Amazon's SNS
/// checks `ConfirmSubscription` requests and its own answers against it.
pub struct AwsQuery {
    spec: Value,
}

impl AwsQuery {
    pub fn load(file: &str) -> AwsQuery {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/aws-api").join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("contract file {file}: {e}"));
        AwsQuery { spec: serde_json::from_str(&text).unwrap_or_else(|e| panic!("contract file {file}: {e}")) }
    }

    fn names(&self, pointer: &str) -> Vec<&str> {
        self.spec.pointer(pointer).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
    }

    /// The request: method and path, `Action` and `Version`, every required member, no member
    /// the operation does not have.
    pub fn check_request(&self, method: &str, path: &str, form: &HashMap<String, String>) -> Result<(), Violation> {
        let op = self.spec["operation"].as_str().unwrap_or_default();
        let bad = |rule: String| Violation { status: 400, rule: format!("{} {op}: {rule}", self.spec["service"].as_str().unwrap_or_default()) };
        if method != self.spec["http"]["method"] || path != self.spec["http"]["requestUri"] {
            return Err(bad(format!("{method} {path} is not the operation's {} {}", self.spec["http"]["method"], self.spec["http"]["requestUri"])));
        }
        if form.get("Action").map(String::as_str) != Some(op) {
            return Err(bad(format!("Action is {:?}", form.get("Action"))));
        }
        if form.get("Version").map(String::as_str) != self.spec["apiVersion"].as_str() {
            return Err(bad(format!("Version is {:?}, not {}", form.get("Version"), self.spec["apiVersion"])));
        }
        for required in self.names("/input/required") {
            if form.get(required).is_none_or(|v| v.is_empty()) {
                return Err(bad(format!("the required {required} is missing")));
            }
        }
        let members = self.names("/input/members");
        match form.keys().find(|k| !matches!(k.as_str(), "Action" | "Version") && !members.contains(&k.as_str())) {
            Some(k) => Err(bad(format!("{k} is no member of the operation's input"))),
            None => Ok(()),
        }
    }

    /// An error answer: a code the operation declares, with its HTTP status.
    pub fn check_error(&self, status: u16, code: &str) -> Result<(), Violation> {
        let declared = self.spec["errors"].as_array().into_iter().flatten().any(|e| e["code"] == code && e["httpStatusCode"] == status);
        if declared {
            Ok(())
        } else {
            Err(Violation { status: 500, rule: format!("{} answered {status} {code}, an error the operation does not declare", self.spec["operation"]) })
        }
    }

    /// A success: `<{Op}Response xmlns=…><{wrapper}>` holding only the output's members.
    pub fn check_success(&self, xml: &str) -> Result<(), Violation> {
        let op = self.spec["operation"].as_str().unwrap_or_default();
        let bad = |rule: String| Violation { status: 500, rule: format!("{op} answer: {rule}") };
        let root = format!("<{op}Response xmlns=\"{}\">", self.spec["xmlNamespace"].as_str().unwrap_or_default());
        if !xml.starts_with(&root) {
            return Err(bad(format!("it does not begin with {root}")));
        }
        let wrapper = self.spec["output"]["resultWrapper"].as_str().unwrap_or_default();
        let inner = xml
            .split_once(&format!("<{wrapper}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{wrapper}>")))
            .map(|(inner, _)| inner)
            .ok_or_else(|| bad(format!("no <{wrapper}>")))?;
        let members = self.names("/output/members");
        for tag in inner.split('<').skip(1).filter(|t| !t.starts_with('/')) {
            let name = tag.split(['>', ' ']).next().unwrap_or_default();
            if !members.contains(&name) {
                return Err(bad(format!("<{name}> is no member of the output")));
            }
        }
        Ok(())
    }
}
