//! The schemas of one version read into a model: the messages, and the
//! named types (the schemas' `definitions`) they use, each once.
//!
//! Invariant: a Rust type name means the same type in every file of a
//! version (checked: two files, or two inline schemas of 1.6, that define
//! it differently stop the generator), so one Rust type serves all of them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::json::Json;
use crate::{names, tables};

/// The Rust shape of a schema value.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// `maxLength`, if any.
    Str(Option<u64>),
    DateTime,
    Uri,
    Int {
        min: Option<f64>,
        max: Option<f64>,
    },
    Num {
        min: Option<f64>,
        max: Option<f64>,
        tenth: bool,
    },
    Bool,
    /// No `type`: any JSON value.
    Any,
    Array {
        item: Box<Ty>,
        min: Option<u64>,
        max: Option<u64>,
    },
    /// A named type: the Rust name.
    Named(String),
    CustomData,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prop {
    pub json: String,
    pub required: bool,
    pub ty: Ty,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Wire values, in schema order.
    Enum(Vec<String>),
    Object(Vec<Prop>),
}

#[derive(Clone, Debug)]
pub struct Def {
    pub rust: String,
    pub kind: Kind,
    /// Message type names (`AuthorizeRequest`) that use it, sorted.
    pub used_by: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Message {
    /// File stem, `AuthorizeRequest`.
    pub stem: String,
    pub action: String,
    pub response: bool,
    pub draft04: bool,
    pub props: Vec<Prop>,
}

#[derive(Debug)]
pub struct Model {
    /// `v201`.
    pub ver: String,
    /// The schemas' `comment` (the OCA licence line), the same in every
    /// file; `None` where the files carry none (1.6's).
    pub licence: Option<String>,
    pub defs: Vec<Def>,
    pub messages: Vec<Message>,
}

impl Message {
    /// The Rust type: `AuthorizeRequest`, `AuthorizeResponse`; also for the
    /// 2.1 SEND message file `NotifyPeriodicEventStream.json`.
    pub fn rust(&self) -> String {
        message_type(&self.action, self.response)
    }
}

/// `AuthorizeRequest` / `AuthorizeResponse`: a message's Rust type name.
fn message_type(action: &str, response: bool) -> String {
    format!("{action}{}", if response { "Response" } else { "Request" })
}

impl Model {
    /// Actions in file order, each once.
    pub fn actions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for m in &self.messages {
            if !out.contains(&m.action.as_str()) {
                out.push(&m.action);
            }
        }
        out
    }

    pub fn message(&self, action: &str, response: bool) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.action == action && m.response == response)
    }
}

/// Reads every `*.json` of `dir` (sorted by name).
pub fn read(dir: &Path, ver: &str) -> Model {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut model = Model {
        ver: ver.to_owned(),
        licence: None,
        defs: Vec::new(),
        messages: Vec::new(),
    };
    // Rust type name → index in `model.defs`.
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for path in files {
        let stem = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let file = format!("{ver}/{stem}.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let root: Json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let licence = root.str("comment").map(str::to_owned);
        if model.messages.is_empty() {
            model.licence.clone_from(&licence);
        }
        assert_eq!(
            model.licence, licence,
            "{file}: `comment` differs from the other files"
        );
        let draft04 = match root.str("$schema") {
            Some(s) if s.contains("draft-04") => true,
            Some(s) if s.contains("draft-06") => false,
            other => panic!("{file}: unsupported $schema {other:?}"),
        };
        let (action, response) = split_stem(&stem, ver);
        let rust = message_type(&action, response);
        let mut reader = Reader {
            ver,
            file: &file,
            root: &root,
            model: &mut model,
            index: &mut index,
            user: &stem,
        };
        let props = reader.object(&root, "", &rust);
        model.messages.push(Message {
            stem,
            action,
            response,
            draft04,
            props,
        });
    }
    for def in &mut model.defs {
        def.used_by.sort();
        def.used_by.dedup();
    }
    model
}

/// `(action, is_response)`: 2.x files end in `Request`/`Response`, 1.6
/// requests and 2.1 SEND messages (`NotifyPeriodicEventStream.json`) are
/// the bare action name.
fn split_stem(stem: &str, ver: &str) -> (String, bool) {
    if let Some(a) = stem.strip_suffix("Response") {
        return (a.to_owned(), true);
    }
    if tables::is_send(ver, stem) {
        return (stem.to_owned(), false);
    }
    match stem.strip_suffix("Request") {
        Some(a) if ver != "v16" => (a.to_owned(), false),
        _ if ver == "v16" => (stem.to_owned(), false),
        _ => panic!("{ver}/{stem}.json: name ends in neither Request nor Response"),
    }
}

struct Reader<'a> {
    ver: &'a str,
    file: &'a str,
    root: &'a Json,
    model: &'a mut Model,
    index: &'a mut BTreeMap<String, usize>,
    /// The message type being read, for `used_by`.
    user: &'a str,
}

impl Reader<'_> {
    /// The properties of the object schema `node` (at JSON pointer `at`),
    /// which is the Rust type `owner`.
    fn object(&mut self, node: &Json, at: &str, owner: &str) -> Vec<Prop> {
        if node.get("additionalProperties") != Some(&Json::Bool(false)) {
            panic!(
                "{}#{at}: object without `additionalProperties: false` is not supported",
                self.file
            );
        }
        let required: Vec<&str> = node
            .get("required")
            .map(|r| {
                r.items()
                    .iter()
                    .filter_map(|v| {
                        if let Json::Str(s) = v {
                            Some(s.as_str())
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut props = Vec::new();
        if let Some(p) = node.get("properties") {
            for (key, sub) in p.entries() {
                let ty = self.ty(sub, &format!("{at}/properties/{key}"), owner, key);
                props.push(Prop {
                    json: key.clone(),
                    required: required.contains(&key.as_str()),
                    ty,
                });
            }
        }
        for r in &required {
            assert!(
                props.iter().any(|p| p.json == *r),
                "{}#{at}: required {r} is not a property",
                self.file
            );
        }
        props
    }

    /// The type of property `property` of the Rust type `owner`.
    fn ty(&mut self, node: &Json, at: &str, owner: &str, property: &str) -> Ty {
        if let Some(r) = node.str("$ref") {
            return self.reference(r, at);
        }
        if node.get("enum").is_some() || node.str("type") == Some("object") {
            return self.inline(node, at, owner, property);
        }
        let file = self.file;
        match node.str("type") {
            None => Ty::Any,
            Some("string") => match node.str("format") {
                None => Ty::Str(node.num("maxLength").map(|n| n as u64)),
                Some("date-time") => Ty::DateTime,
                Some("uri") => Ty::Uri,
                Some(f) => panic!("{file}#{at}: format {f} is not supported"),
            },
            Some("integer") => Ty::Int {
                min: node.num("minimum"),
                max: node.num("maximum"),
            },
            Some("number") => {
                let tenth = match node.num("multipleOf") {
                    None => false,
                    Some(0.1) => true,
                    Some(m) => panic!("{file}#{at}: multipleOf {m} is not supported"),
                };
                Ty::Num {
                    min: node.num("minimum"),
                    max: node.num("maximum"),
                    tenth,
                }
            }
            Some("boolean") => Ty::Bool,
            Some("array") => {
                let items = node
                    .get("items")
                    .unwrap_or_else(|| panic!("{file}#{at}: array without items"));
                let item = self.ty(items, &format!("{at}/items"), owner, property);
                if let Ty::Array { .. } = item {
                    panic!("{file}#{at}: array of arrays is not supported");
                }
                Ty::Array {
                    item: Box::new(item),
                    min: node.num("minItems").map(|n| n as u64),
                    max: node.num("maxItems").map(|n| n as u64),
                }
            }
            Some(t) => panic!("{file}#{at}: type {t} is not supported"),
        }
    }

    /// `#/definitions/X`: reads X the first time any file uses it.
    fn reference(&mut self, r: &str, at: &str) -> Ty {
        let file = self.file;
        let name = r.strip_prefix("#/definitions/").unwrap_or_else(|| {
            panic!("{file}#{at}: only local #/definitions refs are supported, not {r}")
        });
        if name == "CustomDataType" {
            return Ty::CustomData;
        }
        let node = self
            .root
            .get("definitions")
            .and_then(|d| d.get(name))
            .unwrap_or_else(|| panic!("{file}#{at}: {r} is not defined"));
        let rust =
            tables::definition_name(self.ver, name).unwrap_or_else(|| names::type_name(name));
        self.define(node, &format!("/definitions/{name}"), rust)
    }

    /// An enum or object written in place (1.6): named by `tables.rs`.
    fn inline(&mut self, node: &Json, at: &str, owner: &str, property: &str) -> Ty {
        let rust = tables::inline_name(self.ver, owner, property).unwrap_or_else(|| {
            panic!(
                "{}#{at}: inline schema {owner}.{property} has no name (add it to tables.rs)",
                self.file
            )
        });
        self.define(node, at, rust.to_owned())
    }

    /// Reads the enum or object `node` (at `at`) as the Rust type `rust`,
    /// once per version: a later use must define it identically.
    fn define(&mut self, node: &Json, at: &str, rust: String) -> Ty {
        let file = self.file;
        let kind = if let Some(values) = node.get("enum") {
            Kind::Enum(
                values
                    .items()
                    .iter()
                    .map(|v| match v {
                        Json::Str(s) => s.clone(),
                        _ => panic!("{file}#{at}: non-string enum value"),
                    })
                    .collect(),
            )
        } else if node.str("type") == Some("object") {
            Kind::Object(self.object(node, at, &rust))
        } else {
            panic!("{file}#{at}: definition is neither an enum nor an object");
        };
        match self.index.get(&rust) {
            Some(&i) => {
                let def = &mut self.model.defs[i];
                assert_eq!(
                    def.kind, kind,
                    "{file}#{at}: {rust} differs from the {rust} of another schema"
                );
                def.used_by.push(self.user.to_owned());
            }
            None => {
                self.index.insert(rust.clone(), self.model.defs.len());
                self.model.defs.push(Def {
                    rust: rust.clone(),
                    kind,
                    used_by: vec![self.user.to_owned()],
                });
            }
        }
        Ty::Named(rust)
    }
}
