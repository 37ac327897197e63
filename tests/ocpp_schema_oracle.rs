//! The official OCPP JSON schemas as the oracle for the gateway's typed
//! validation (`ocpp::v16`, `ocpp::v201`, `ocpp::v21`).
//!
//! Everything is generated from the schema files, so a new or forgotten
//! action cannot slip through: every schema file must map to an action with
//! types; for every message, payloads generated from its schema (only the
//! required properties; every property; every enum value) must be accepted by
//! both the `jsonschema` crate and our parser, and our re-serialisation must be
//! schema-valid and parse back to the same value; and for every property of
//! the full payload, each applicable rule is broken once (missing required,
//! wrong JSON type, bad enum value, over-long string, bad date-time, unknown
//! property, decimal for an integer, out of range, too few items) — both
//! validators must refuse it, ours with the CALLERROR code of DESIGN.md and
//! the JSON path of the property.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ocpp_gateway::ocpp::{ErrorCode, Violation, v16, v21, v201};
use serde_json::{Map, Value, json};

/// Vendored, unchanged, in the repository (see `tests/ocpp-schemas/SOURCE.md`),
/// so a fresh clone runs this test.
const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocpp-schemas");

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ver {
    V16,
    V201,
    V21,
}

struct Message {
    ver: Ver,
    /// File stem, e.g. `AuthorizeResponse` or `AuthorizeRequest`.
    stem: String,
    action: String,
    response: bool,
    schema: Value,
    draft04: bool,
    validator: jsonschema::Validator,
}

impl Message {
    /// Our parser, and our re-serialisation of what it parsed.
    fn ours(&self, payload: &str) -> Result<String, Violation> {
        let to_json = |v: &dyn erased::Ser| v.json();
        match self.ver {
            Ver::V16 => {
                let action = v16::Action::from_name(&self.action).expect("checked by coverage");
                if self.response {
                    v16::parse_response(action, payload).map(|r| to_json(&r))
                } else {
                    v16::parse_request(action, payload).map(|r| to_json(&r))
                }
            }
            Ver::V201 => {
                let action = v201::Action::from_name(&self.action).expect("checked by coverage");
                if self.response {
                    v201::parse_response(action, payload).map(|r| to_json(&r))
                } else {
                    v201::parse_request(action, payload).map(|r| to_json(&r))
                }
            }
            Ver::V21 => {
                let action = v21::Action::from_name(&self.action).expect("checked by coverage");
                if self.response {
                    v21::parse_response(action, payload).map(|r| to_json(&r))
                } else {
                    v21::parse_request(action, payload).map(|r| to_json(&r))
                }
            }
        }
    }
}

/// Serialisation of any of the four payload enums, without naming them.
mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("payload types always serialise")
        }
    }
}

fn schema_dir(ver: Ver) -> PathBuf {
    Path::new(SCHEMAS).join(match ver {
        Ver::V16 => "v16",
        Ver::V201 => "v201",
        Ver::V21 => "v21",
    })
}

fn stems(ver: Ver) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(schema_dir(ver))
        .unwrap_or_else(|e| panic!("schemas expected at {SCHEMAS}: {e}"))
        .map(|e| {
            e.expect("readable dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    out.sort();
    out
}

/// `(action, is_response)` of a schema file stem.
fn split_stem(ver: Ver, stem: &str) -> (String, bool) {
    if let Some(a) = stem.strip_suffix("Response") {
        return (a.to_owned(), true);
    }
    match ver {
        Ver::V16 => (stem.to_owned(), false),
        Ver::V201 => (
            stem.strip_suffix("Request")
                .expect("v201 files end in Request or Response")
                .to_owned(),
            false,
        ),
        // A SEND (NotifyPeriodicEventStream.json) has one schema, no suffix.
        Ver::V21 => (
            stem.strip_suffix("Request").unwrap_or(stem).to_owned(),
            false,
        ),
    }
}

/// Whether the version has `action` (every action is typed: the generator
/// writes types for every schema file).
fn known(ver: Ver, action: &str) -> bool {
    match ver {
        Ver::V16 => v16::Action::from_name(action).is_some(),
        Ver::V201 => v201::Action::from_name(action).is_some(),
        Ver::V21 => v21::Action::from_name(action).is_some(),
    }
}

/// Every message the gateway has types for, with its schema and a validator.
fn messages() -> Vec<Message> {
    let mut out = Vec::new();
    for ver in [Ver::V16, Ver::V201, Ver::V21] {
        for stem in stems(ver) {
            let (action, response) = split_stem(ver, &stem);
            if !known(ver, &action) {
                continue;
            }
            let path = schema_dir(ver).join(format!("{stem}.json"));
            let text = std::fs::read_to_string(&path).expect("readable schema");
            let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
            let draft04 = schema["$schema"]
                .as_str()
                .is_some_and(|s| s.contains("draft-04"));
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{stem}: {e}"));
            out.push(Message {
                ver,
                stem,
                action,
                response,
                schema,
                draft04,
                validator,
            });
        }
    }
    out
}

#[test]
fn every_schema_has_an_action_and_every_action_a_schema() {
    let mut problems = Vec::new();
    for stem in stems(Ver::V16) {
        let (action, _) = split_stem(Ver::V16, &stem);
        match v16::Action::from_name(&action) {
            Some(a) if a.name() == action => {}
            _ => problems.push(format!("v16/{stem}.json: no v16::Action {action}")),
        }
    }
    for stem in stems(Ver::V201) {
        let (action, _) = split_stem(Ver::V201, &stem);
        if v201::Action::from_name(&action).map(|a| a.name()) != Some(action.as_str()) {
            problems.push(format!("v201/{stem}.json: no v201::Action {action}"));
        }
    }
    let v16_files = stems(Ver::V16);
    for a in v16::Action::ALL {
        for stem in [a.name().to_owned(), format!("{}Response", a.name())] {
            if !v16_files.contains(&stem) {
                problems.push(format!("v16::Action::{a:?} has no schema {stem}.json"));
            }
        }
    }
    let v201_files = stems(Ver::V201);
    for a in v201::Action::ALL {
        for stem in [
            format!("{}Request", a.name()),
            format!("{}Response", a.name()),
        ] {
            if !v201_files.contains(&stem) {
                problems.push(format!("v201::Action::{a:?} has no schema {stem}.json"));
            }
        }
    }
    // 2.1: every file an action with types, every action its files (a
    // SEND has no response schema), in the names the files use.
    let v21_files = stems(Ver::V21);
    for stem in &v21_files {
        let (action, response) = split_stem(Ver::V21, stem);
        match v21::Action::from_name(&action) {
            Some(a) if a.name() == action => {
                let suffix = if a.is_send() { "" } else { "Request" };
                if !response && *stem != format!("{action}{suffix}") {
                    problems.push(format!("v21/{stem}.json: a SEND file for a CALL or back"));
                }
            }
            _ => problems.push(format!("v21/{stem}.json: no v21::Action {action}")),
        }
    }
    let mut v21_expected = 0;
    for a in v21::Action::ALL {
        let mut wanted = vec![
            format!("{}Request", a.name()),
            format!("{}Response", a.name()),
        ];
        if a.is_send() {
            wanted = vec![a.name().to_owned()];
            let err = v21::parse_response(*a, "{}").expect_err("a SEND has no response");
            assert_eq!(err.code, ErrorCode::NotSupported, "{a:?}");
        }
        for stem in wanted {
            v21_expected += 1;
            if !v21_files.contains(&stem) {
                problems.push(format!("v21::Action::{a:?} has no schema {stem}.json"));
            }
        }
    }
    assert_eq!(
        v21::Action::ALL.len(),
        91,
        "OCPP 2.1 Edition 1 has 91 actions"
    );
    assert_eq!(v21_expected, v21_files.len());
    assert_eq!(v16::Action::ALL.len() * 2, v16_files.len());
    assert_eq!(v201::Action::ALL.len() * 2, v201_files.len());
    assert!(
        v16::Action::from_name("heartbeat").is_none(),
        "names are case-sensitive"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------- generation

/// Follows a local `$ref` (`#/definitions/X`).
fn resolve<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/definitions/").expect("local refs only");
            &root["definitions"][name]
        }
        None => node,
    }
}

fn is_custom_data(node: &Value) -> bool {
    node.get("$ref").and_then(Value::as_str) == Some("#/definitions/CustomDataType")
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Required properties only, arrays at their minimum useful length.
    Minimal,
    /// Every property; arrays with two elements where allowed.
    Full,
}

const DATE_TIMES: &[&str] = &[
    "2024-01-02T03:04:05Z",
    "2024-02-29T23:59:59.123456+02:00",
    "2016-12-31T23:59:60Z",
    "2030-07-15t12:00:00.5-05:30",
];

/// A schema-valid value for `node`. `variant` rotates through enum values and
/// date-time spellings so that repeated generation covers all of them.
fn valid(node: &Value, root: &Value, mode: Mode, variant: usize, draft04: bool) -> Value {
    if is_custom_data(node) {
        return match mode {
            Mode::Minimal => json!({"vendorId": "com.example"}),
            Mode::Full => json!({"vendorId": "com.example", "vendorThing": {"a": [1, null]}}),
        };
    }
    let node = resolve(node, root);
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return values[variant % values.len()].clone();
    }
    match node.get("type").and_then(Value::as_str) {
        None => match mode {
            // No type at all (2.0.1 DataTransfer `data`): anything goes.
            Mode::Minimal => json!("free text"),
            Mode::Full => json!({"any": [1, "x", {"nested": true}]}),
        },
        Some("string") => match node.get("format").and_then(Value::as_str) {
            Some("date-time") => json!(DATE_TIMES[variant % DATE_TIMES.len()]),
            Some("uri") => json!("ftp://user@example.com:21/diag/upload?x=1"),
            Some(other) => panic!("format {other} not generated"),
            None => match (mode, node.get("maxLength").and_then(Value::as_u64)) {
                // Exactly at the limit, in two-byte characters: the limit
                // counts characters, not bytes.
                (Mode::Full, Some(n)) => json!("é".repeat(n as usize)),
                (Mode::Full, None) => json!("text without a length limit ✓"),
                (Mode::Minimal, _) => json!("x"),
            },
        },
        Some("integer") => {
            let mut base = node.get("minimum").and_then(Value::as_f64).unwrap_or(1.0) as i64 + 1;
            // 2.1 has upper bounds too (and ranges like [-1, 0]).
            if let Some(max) = node.get("maximum").and_then(Value::as_f64) {
                base = base.min(max as i64);
            }
            match (mode, draft04) {
                // draft-06 takes an integer-valued number as an integer.
                (Mode::Full, false) => json!(base as f64),
                _ => json!(base),
            }
        }
        Some("number") => {
            let min = node.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
            let max = node
                .get("maximum")
                .and_then(Value::as_f64)
                .unwrap_or(f64::MAX);
            match mode {
                Mode::Minimal => json!(((min as i64 + 3) as f64).min(max)),
                Mode::Full => json!((min + 16.5).min(max)),
            }
        }
        Some("boolean") => json!(variant.is_multiple_of(2)),
        Some("array") => {
            let min = node.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = node
                .get("maxItems")
                .and_then(Value::as_u64)
                .map(|m| m as usize);
            let want = match mode {
                Mode::Minimal => min.max(1),
                Mode::Full => min.max(2),
            };
            let n = max.map_or(want, |m| want.min(m));
            Value::Array(
                (0..n)
                    .map(|i| valid(&node["items"], root, mode, variant + i, draft04))
                    .collect(),
            )
        }
        Some("object") => {
            let required: Vec<&str> = node
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if mode == Mode::Full || required.contains(&k.as_str()) {
                        out.insert(k.clone(), valid(sub, root, mode, variant, draft04));
                    }
                }
            }
            Value::Object(out)
        }
        Some(t) => panic!("type {t} not generated"),
    }
}

/// The longest enum in a schema: how many variants cover every enum value.
fn max_enum_len(node: &Value) -> usize {
    match node {
        Value::Object(m) => {
            let own = m.get("enum").and_then(Value::as_array).map_or(0, Vec::len);
            m.values().map(max_enum_len).max().unwrap_or(0).max(own)
        }
        Value::Array(a) => a.iter().map(max_enum_len).max().unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn generated_valid_payloads_are_accepted_by_both_and_round_trip() {
    let mut problems = Vec::new();
    let mut cases = 0;
    for m in messages() {
        let mut payloads = vec![valid(&m.schema, &m.schema, Mode::Minimal, 0, m.draft04)];
        for variant in 0..max_enum_len(&m.schema).max(DATE_TIMES.len()) {
            payloads.push(valid(&m.schema, &m.schema, Mode::Full, variant, m.draft04));
        }
        for payload in payloads {
            cases += 1;
            let text = payload.to_string();
            if !m.validator.is_valid(&payload) {
                problems.push(format!(
                    "{}: generator made a schema-invalid payload {text}",
                    m.stem
                ));
                continue;
            }
            match m.ours(&text) {
                Err(v) => problems.push(format!("{}: refused valid {text}: {v:?}", m.stem)),
                Ok(back) => {
                    let back_value: Value = serde_json::from_str(&back).expect("we emit JSON");
                    if !m.validator.is_valid(&back_value) {
                        problems.push(format!(
                            "{}: our serialisation {back} is schema-invalid",
                            m.stem
                        ));
                    }
                    match m.ours(&back) {
                        Ok(again) if again == back => {}
                        other => problems
                            .push(format!("{}: {back} does not round-trip: {other:?}", m.stem)),
                    }
                }
            }
        }
    }
    println!("{cases} valid payloads checked");
    assert!(cases > 200);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ------------------------------------------------------------- mutations

/// One invalid payload: what we expect our parser to say about it.
struct Case {
    payload: Value,
    code: ErrorCode,
    field: String,
    what: &'static str,
}

/// A JSON location as the path our violations name.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

fn at_mut<'a>(root: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(root, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn with(base: &Value, path: &[Step], f: impl FnOnce(&mut Value)) -> Value {
    let mut out = base.clone();
    f(at_mut(&mut out, path));
    out
}

fn type_name(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("any")
}

/// Invalid variants of the full payload `base`, for the value at `path`
/// described by schema `node`.
fn mutations(m: &Message, base: &Value, node: &Value, path: &[Step], out: &mut Vec<Case>) {
    let root = &m.schema;
    let field = render(path);
    let custom = is_custom_data(node);
    let node = resolve(node, root);
    let mut push = |payload: Value, code: ErrorCode, field: String, what: &'static str| {
        out.push(Case {
            payload,
            code,
            field,
            what,
        })
    };
    let ty = type_name(node);
    // Wrong JSON type (everything but the top level, which is a separate test).
    if !path.is_empty() && ty != "any" {
        let wrong = match ty {
            "string" => json!(42),
            "integer" | "number" => json!("42"),
            "boolean" => json!("true"),
            "array" => json!({"0": 1}),
            "object" => json!(["not", "an", "object"]),
            other => panic!("{other}"),
        };
        push(
            with(base, path, |v| *v = wrong),
            ErrorCode::TypeConstraintViolation,
            field.clone(),
            "wrong type",
        );
        push(
            with(base, path, |v| *v = Value::Null),
            ErrorCode::TypeConstraintViolation,
            field.clone(),
            "null",
        );
    }
    if node.get("enum").is_some() {
        push(
            with(base, path, |v| *v = json!("NotAValueOfThisEnum")),
            ErrorCode::PropertyConstraintViolation,
            field.clone(),
            "bad enum value",
        );
        // Enum values are case-sensitive.
        let first = node["enum"][0].as_str().expect("string enums");
        if first.to_lowercase() != first {
            push(
                with(base, path, |v| *v = json!(first.to_lowercase())),
                ErrorCode::PropertyConstraintViolation,
                field.clone(),
                "enum value in the wrong case",
            );
        }
        return;
    }
    match ty {
        "string" => {
            if let Some(n) = node.get("maxLength").and_then(Value::as_u64) {
                push(
                    with(base, path, |v| *v = json!("x".repeat(n as usize + 1))),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "string over maxLength",
                );
            }
            match node.get("format").and_then(Value::as_str) {
                Some("date-time") => {
                    for bad in [
                        "yesterday",
                        "2024-02-30T00:00:00Z",
                        "2024-01-02 03:04:05Z",
                        "2024-01-02T03:04:05",
                    ] {
                        push(
                            with(base, path, |v| *v = json!(bad)),
                            ErrorCode::PropertyConstraintViolation,
                            field.clone(),
                            "bad date-time",
                        );
                    }
                }
                Some("uri") => push(
                    with(base, path, |v| *v = json!("not a uri")),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "bad uri",
                ),
                _ => {}
            }
        }
        "integer" => {
            push(
                with(base, path, |v| *v = json!(1.5)),
                ErrorCode::TypeConstraintViolation,
                field.clone(),
                "decimal for an integer",
            );
            if m.draft04 {
                // Draft-04: an integer is written without fraction or exponent.
                push(
                    with(base, path, |v| *v = json!(2.0)),
                    ErrorCode::TypeConstraintViolation,
                    field.clone(),
                    "2.0 for a draft-04 integer",
                );
            }
            if let Some(min) = node.get("minimum").and_then(Value::as_f64) {
                push(
                    with(base, path, |v| *v = json!(min as i64 - 1)),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "below minimum",
                );
            }
            if let Some(max) = node.get("maximum").and_then(Value::as_f64) {
                push(
                    with(base, path, |v| *v = json!(max as i64 + 1)),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "above maximum",
                );
            }
        }
        "number" => {
            if node.get("multipleOf").is_some() {
                push(
                    with(base, path, |v| *v = json!(16.55)),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "not a multiple of 0.1",
                );
            }
            if let Some(min) = node.get("minimum").and_then(Value::as_f64) {
                push(
                    with(base, path, |v| *v = json!(min - 0.5)),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "below minimum",
                );
            }
            if let Some(max) = node.get("maximum").and_then(Value::as_f64) {
                push(
                    with(base, path, |v| *v = json!(max + 0.5)),
                    ErrorCode::PropertyConstraintViolation,
                    field.clone(),
                    "above maximum",
                );
            }
        }
        "array" => {
            let items = at_mut(&mut base.clone(), path)
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(min) = node
                .get("minItems")
                .and_then(Value::as_u64)
                .filter(|&n| n > 0)
            {
                let short = items[..min as usize - 1].to_vec();
                push(
                    with(base, path, |v| *v = Value::Array(short)),
                    ErrorCode::OccurrenceConstraintViolation,
                    field.clone(),
                    "too few items",
                );
            }
            if let Some(max) = node.get("maxItems").and_then(Value::as_u64) {
                let long = vec![items[0].clone(); max as usize + 1];
                push(
                    with(base, path, |v| *v = Value::Array(long)),
                    ErrorCode::OccurrenceConstraintViolation,
                    field.clone(),
                    "too many items",
                );
            }
            // Recurse into the last element, so paths carry a non-zero index.
            if let Some(last) = items.len().checked_sub(1) {
                let mut p = path.to_vec();
                p.push(Step::Index(last));
                mutations(m, base, &node["items"], &p, out);
            }
        }
        "object" => {
            let required: Vec<&str> = node
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in &required {
                let mut p = path.to_vec();
                p.push(Step::Key((*key).to_owned()));
                push(
                    with(base, path, |v| {
                        v.as_object_mut().expect("object").remove(*key);
                    }),
                    ErrorCode::OccurrenceConstraintViolation,
                    render(&p),
                    "required property missing",
                );
            }
            if !custom {
                let mut p = path.to_vec();
                p.push(Step::Key("notInTheSchema".into()));
                push(
                    with(base, path, |v| {
                        v.as_object_mut()
                            .expect("object")
                            .insert("notInTheSchema".into(), json!(1));
                    }),
                    ErrorCode::FormatViolation,
                    render(&p),
                    "unknown property",
                );
            }
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    let mut p = path.to_vec();
                    p.push(Step::Key(k.clone()));
                    mutations(m, base, sub, &p, out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn generated_invalid_payloads_get_the_right_code_and_field() {
    let mut problems = Vec::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for m in messages() {
        let mut cases = Vec::new();
        for variant in [0, 1] {
            let base = valid(&m.schema, &m.schema, Mode::Full, variant, m.draft04);
            mutations(&m, &base, &m.schema, &[], &mut cases);
        }
        for case in cases {
            *per_kind.entry(case.what).or_default() += 1;
            let text = case.payload.to_string();
            if m.validator.is_valid(&case.payload) {
                problems.push(format!(
                    "{}: jsonschema accepts the {} case {text}",
                    m.stem, case.what
                ));
                continue;
            }
            match m.ours(&text) {
                Ok(_) => problems.push(format!(
                    "{}: we accept the {} case {text}",
                    m.stem, case.what
                )),
                Err(v)
                    if v.code == case.code && v.field.as_deref() == Some(case.field.as_str()) =>
                {
                    if v.description.is_empty() || !v.description.contains(&case.field) {
                        problems.push(format!("{}: poor description {:?}", m.stem, v.description));
                    }
                }
                Err(v) => problems.push(format!(
                    "{}: {} case {text}: want {:?} at {}, got {:?} at {:?} ({})",
                    m.stem, case.what, case.code, case.field, v.code, v.field, v.description
                )),
            }
        }
    }
    let total: usize = per_kind.values().sum();
    println!("{total} invalid payloads checked: {per_kind:?}");
    for kind in [
        "required property missing",
        "wrong type",
        "bad enum value",
        "string over maxLength",
        "unknown property",
        "decimal for an integer",
        "bad date-time",
        "too few items",
        "not a multiple of 0.1",
        "below minimum",
    ] {
        assert!(
            per_kind.get(kind).is_some_and(|&n| n > 0),
            "no {kind} case generated"
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn payloads_that_are_not_objects_are_format_violations() {
    for m in messages() {
        for text in ["[]", "\"x\"", "1", "null", "true", "{", "{} {}", ""] {
            let err = m.ours(text).expect_err(text);
            assert_eq!(
                err.code,
                ErrorCode::FormatViolation,
                "{} {text}: {err:?}",
                m.stem
            );
            assert_eq!(err.field, None, "{} {text}", m.stem);
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                assert!(!m.validator.is_valid(&v), "{} {text}", m.stem);
            }
        }
    }
}

// ------------------------------------------------------------- properties

mod properties {
    use ocpp_gateway::ocpp::frame::{self, Frame};
    use ocpp_gateway::ocpp::{v16, v201};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "(?s).{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("(?s).{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[a-zA-Z]{1,12}|(?s).{0,8}", json(), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
    }

    /// Arrays shaped like frames, so the parser gets past its first checks.
    fn frame_like() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just(Value::from(2)),
                Just(Value::from(3)),
                Just(Value::from(4)),
                json()
            ],
            prop::collection::vec(json(), 0..5),
        )
            .prop_map(|(head, tail)| {
                let mut v = vec![head];
                v.extend(tail);
                Value::Array(v)
            })
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,64}") {
            let _ = frame::parse(&text);
        }

        #[test]
        fn arbitrary_json_never_panics(v in prop_oneof![json(), frame_like()]) {
            let text = v.to_string();
            let _ = frame::parse(&text);
        }

        #[test]
        fn calls_round_trip(id in "(?s).{0,36}", action in "(?s).{0,40}", payload in object()) {
            let payload_text = payload.to_string();
            let mut out = String::new();
            frame::write_call(&mut out, &id, &action, &payload_text);
            match frame::parse(&out) {
                Ok(Frame::Call { id: got_id, action: got_action, payload: got }) => {
                    prop_assert_eq!(got_id.as_ref(), id.as_str());
                    prop_assert_eq!(got_action.as_ref(), action.as_str());
                    let got: Value = serde_json::from_str(got.get()).expect("payload is JSON");
                    prop_assert_eq!(got, payload);
                }
                other => prop_assert!(false, "{out} parsed as {other:?}"),
            }
        }

        /// Payload validation never panics, whatever the object, and every
        /// refusal says why.
        #[test]
        fn payload_validation_never_panics(payload in prop_oneof![object(), json()]) {
            let text = payload.to_string();
            for a in v16::Action::ALL {
                for r in [v16::parse_request(*a, &text).err(), v16::parse_response(*a, &text).err()] {
                    prop_assert!(r.is_none_or(|v| !v.description.is_empty()));
                }
            }
            for a in v201::Action::ALL {
                for r in [v201::parse_request(*a, &text).err(), v201::parse_response(*a, &text).err()] {
                    prop_assert!(r.is_none_or(|v| !v.description.is_empty()));
                }
            }
        }
    }
}
