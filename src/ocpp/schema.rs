//! Validating deserialisation shared by the OCPP 1.6, 2.0.1 and 2.1 message types.
//!
//! Each message type is declared once (with [`ocpp_object!`] and [`ocpp_enum!`])
//! and gets a [`FromJson`] impl that checks the payload against the rules of
//! its official JSON schema *while* deserialising it, in one pass over the
//! text. Plain `serde::Deserialize` would not do: its errors say neither which
//! schema rule broke (so which CALLERROR code is due) nor where. Instead every
//! value is deserialised through a [`Seed`] that carries a [`Ctx`]: the place
//! that sees a violation records its code and message there, and each level on
//! the way back up adds its path segment, so the final [`Violation`] names
//! the JSON path (`meterValue[0].sampledValue[1].measurand`). A serde error
//! without a recorded violation can only be serde's own type mismatch (the
//! frame parser has already checked that the payload is JSON), so it becomes
//! `TypeConstraintViolation`.
//!
//! Cost: object keys are borrowed from the payload, nothing is allocated for
//! the path or the message unless the payload is refused; a Heartbeat `{}`
//! parses without touching the heap.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::error::Category;

use super::{ErrorCode, Violation};

mod custom_data;
mod datetime;
mod lenient;
mod primitives;
mod ranged_int;
mod strings;

pub use custom_data::CustomData;
pub use datetime::DateTime;
pub use lenient::{Lenience, MAX_NOTES, Quirk, Tolerated};
pub use ranged_int::RangedInt;
pub use strings::{BoundedString, Uri};

/// The JSON-schema draft a message's schema is written in. It matters for one
/// rule only: draft-04 `"type":"integer"` accepts only numbers written without
/// fraction or exponent, draft-06 any number with a zero fractional part
/// (`1.0`, `1e2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draft {
    Draft04,
    Draft06,
}

/// A refused value: the CALLERROR code and what is wrong with the value.
pub type Fail = (ErrorCode, String);

/// The state threaded through one payload's deserialisation.
pub struct Ctx {
    draft: Draft,
    /// The first violation found. Boxed so a `Ctx` stays small on the
    /// happy path.
    pending: Option<Box<Pending>>,
    /// Set only for a lenient parse: strict parses pay one `None` check
    /// per rule site and per property, nothing else.
    lenient: Option<Box<LenientState>>,
}

/// A lenient parse's own state.
struct LenientState {
    allowed: Lenience,
    /// Where the payload text lies in memory: a string value whose slice
    /// lies inside it was borrowed from it, so its byte span is known (a
    /// value with escapes was unescaped elsewhere and has none).
    base: usize,
    len: usize,
    /// The path of the value being deserialised, outermost first (pushed
    /// on the way down, unlike a violation's, which is built on the way up).
    path: Vec<Seg>,
    tolerated: Tolerated,
}

struct Pending {
    code: ErrorCode,
    message: String,
    /// Innermost segment first: each level pushes its own on the way out.
    path: Vec<Seg>,
}

enum Seg {
    Key(&'static str),
    /// A property the schema does not know, so not a `'static` name.
    Unknown(String),
    Index(usize),
}

/// The text of every serde error raised for a schema violation; the
/// violation itself travels in the [`Ctx`].
const VIOLATION: &str = "schema violation";

impl Ctx {
    pub fn new(draft: Draft) -> Ctx {
        Ctx {
            draft,
            pending: None,
            lenient: None,
        }
    }

    /// A parse of `payload` that tolerates what `allowed` names.
    fn lenient(draft: Draft, allowed: Lenience, payload: &str) -> Ctx {
        let lenient = (!allowed.is_strict()).then(|| {
            Box::new(LenientState {
                allowed,
                base: payload.as_ptr() as usize,
                len: payload.len(),
                path: Vec::new(),
                tolerated: Tolerated::default(),
            })
        });
        Ctx {
            draft,
            pending: None,
            lenient,
        }
    }

    pub fn draft(&self) -> Draft {
        self.draft
    }

    /// Whether this parse tolerates `quirk`.
    pub fn tolerates(&self, quirk: Quirk) -> bool {
        self.lenient
            .as_ref()
            .is_some_and(|l| l.allowed.allows(quirk))
    }

    /// Records a tolerated violation of `quirk` at the current value
    /// (`child`: a property below it, for an extra field).
    pub fn note(&mut self, quirk: Quirk, child: Option<&str>) {
        let Some(l) = self.lenient.as_mut() else {
            return;
        };
        let segs = &l.path;
        l.tolerated.note(quirk, || {
            let mut note = String::with_capacity(48);
            note.push_str(quirk.name());
            note.push(':');
            let at = note.len();
            push_path(&mut note, at, segs.iter());
            if let Some(child) = child {
                push_segment(&mut note, at, &cut_name(child));
            }
            note
        });
    }

    /// The byte span of `value` in the payload, if it was borrowed from it.
    pub fn span_of(&self, value: &str) -> Option<std::ops::Range<usize>> {
        let l = self.lenient.as_ref()?;
        let start = (value.as_ptr() as usize).checked_sub(l.base)?;
        let end = start.checked_add(value.len())?;
        (end <= l.len).then_some(start..end)
    }

    /// Records that the payload's bytes at `range` are to read `text`.
    pub fn fix(&mut self, range: std::ops::Range<usize>, text: &'static str) {
        if let Some(l) = self.lenient.as_mut() {
            l.tolerated.fix(range, text);
        }
    }

    /// Entering a child value (lenient parses only keep the path).
    fn enter(&mut self, seg: impl FnOnce() -> Seg) {
        if let Some(l) = self.lenient.as_mut() {
            l.path.push(seg());
        }
    }

    fn leave(&mut self) {
        if let Some(l) = self.lenient.as_mut() {
            l.path.pop();
        }
    }

    fn take_tolerated(&mut self) -> Tolerated {
        self.lenient.take().map(|l| l.tolerated).unwrap_or_default()
    }

    /// Records a violation of the value being deserialised (the callers up
    /// the tree add the path) and returns the error that unwinds serde.
    pub fn fail<E: de::Error>(&mut self, (code, message): Fail) -> E {
        if self.pending.is_none() {
            self.pending = Some(Box::new(Pending {
                code,
                message,
                path: Vec::new(),
            }));
        }
        E::custom(VIOLATION)
    }

    /// A child value at `seg` failed. If nothing was recorded, serde itself
    /// refused the JSON type of the value.
    fn child_failed(&mut self, seg: Seg, expected: &'static str) {
        let pending = self.pending.get_or_insert_with(|| {
            Box::new(Pending {
                code: ErrorCode::TypeConstraintViolation,
                message: format!("expected {expected}"),
                path: Vec::new(),
            })
        });
        pending.path.push(seg);
    }

    fn into_violation(self, err: &serde_json::Error, payload: &str) -> Violation {
        // A violation found before a syntax error further on (`{} {}`) must
        // not hide it: re-scan the text, on this error path only.
        let syntax = match err.classify() {
            Category::Syntax | Category::Eof | Category::Io => Some(err.to_string()),
            Category::Data => serde_json::from_str::<de::IgnoredAny>(payload)
                .err()
                .map(|e| e.to_string()),
        };
        if let Some(syntax) = syntax {
            return Violation::new(
                ErrorCode::FormatViolation,
                format!("payload is not valid JSON: {syntax}"),
            );
        }
        let Some(pending) = self.pending else {
            // Only the top-level object can fail without a parent to record it.
            return Violation::new(ErrorCode::FormatViolation, "payload is not a JSON object");
        };
        let field = path_text(pending.path.iter().rev());
        if field.is_empty() {
            return Violation::new(pending.code, pending.message);
        }
        Violation::new(pending.code, format!("{field}: {}", pending.message)).at(field)
    }
}

/// `meterValue[0].sampledValue[1].measurand`, outermost segment first.
fn path_text<'a>(segs: impl Iterator<Item = &'a Seg>) -> String {
    let mut path = String::new();
    push_path(&mut path, 0, segs);
    path
}

/// Appends a path to `out`, whose text from `at` on is the path so far.
fn push_path<'a>(out: &mut String, at: usize, segs: impl Iterator<Item = &'a Seg>) {
    for seg in segs {
        match seg {
            Seg::Key(k) => push_segment(out, at, k),
            Seg::Unknown(k) => push_segment(out, at, k),
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

/// Appends property `key`, after a `.` unless the path (from `at`) is empty.
fn push_segment(out: &mut String, at: usize, key: &str) {
    if out.len() > at {
        out.push('.');
    }
    out.push_str(key);
}

/// A property name the sender made up: cut a huge one rather than echo it.
fn cut_name(key: &str) -> Cow<'_, str> {
    match key.char_indices().nth(64) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &key[..cut])),
        None => Cow::Borrowed(key),
    }
}

/// Parses and validates one payload (the JSON text of a CALL or CALLRESULT
/// payload) into `T`.
pub fn parse<T: FromJson>(payload: &str, draft: Draft) -> Result<T, Violation> {
    parse_lenient(payload, draft, Lenience::STRICT).map(|(v, _)| v)
}

/// [`parse`], tolerating what `allowed` names; `Ok` also says what was
/// tolerated (empty for a payload valid as written, and for
/// [`Lenience::STRICT`]).
pub fn parse_lenient<T: FromJson>(
    payload: &str,
    draft: Draft,
    allowed: Lenience,
) -> Result<(T, Tolerated), Violation> {
    let mut cx = Ctx::lenient(draft, allowed, payload);
    let mut de = serde_json::Deserializer::from_str(payload);
    match T::from_json(&mut de, &mut cx).and_then(|v| de.end().map(|()| v)) {
        Ok(v) => Ok((v, cx.take_tolerated())),
        Err(e) => Err(cx.into_violation(&e, payload)),
    }
}

/// A type that deserialises itself while checking its schema's rules.
pub trait FromJson: Sized {
    /// What the schema expects here, for a type error's description.
    const EXPECTED: &'static str;
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error>;
}

/// Carries the [`Ctx`] into serde's nested deserialisers.
pub struct Seed<'c, T> {
    cx: &'c mut Ctx,
    _t: PhantomData<fn() -> T>,
}

impl<'c, T> Seed<'c, T> {
    pub fn new(cx: &'c mut Ctx) -> Self {
        Seed {
            cx,
            _t: PhantomData,
        }
    }
}

impl<'de, T: FromJson> DeserializeSeed<'de> for Seed<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        T::from_json(de, self.cx)
    }
}

/// An object key, borrowed from the payload unless it holds escapes.
pub struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// The value of property `key` (used by [`ocpp_object!`]).
pub fn next_field<'de, A: MapAccess<'de>, T: FromJson>(
    map: &mut A,
    cx: &mut Ctx,
    key: &'static str,
) -> Result<T, A::Error> {
    cx.enter(|| Seg::Key(key));
    let value = map.next_value_seed(Seed::<T>::new(cx));
    cx.leave();
    value.inspect_err(|_| cx.child_failed(Seg::Key(key), T::EXPECTED))
}

/// Applies a property-level rule (`minItems`, `minimum`, `multipleOf`) to
/// the value of property `key`.
pub fn check_field<T, E: de::Error>(
    cx: &mut Ctx,
    key: &'static str,
    value: &T,
    rule: impl Fn(&T) -> Result<(), Fail>,
) -> Result<(), E> {
    rule(value).map_err(|fail| {
        let e = cx.fail(fail);
        cx.child_failed(Seg::Key(key), "");
        e
    })
}

/// A required property is absent.
pub fn missing<E: de::Error>(cx: &mut Ctx, key: &'static str) -> E {
    let e = cx.fail((
        ErrorCode::OccurrenceConstraintViolation,
        "required property is missing".into(),
    ));
    cx.child_failed(Seg::Key(key), "");
    e
}

/// A property the schema does not define (every OCPP object schema has
/// `additionalProperties: false`).
pub fn unknown<E: de::Error>(cx: &mut Ctx, key: &str) -> E {
    let e = cx.fail((
        ErrorCode::FormatViolation,
        "property is not defined by the schema".into(),
    ));
    cx.child_failed(Seg::Unknown(cut_name(key).into_owned()), "");
    e
}

/// A property the schema does not define: refused ([`unknown`]), or, where
/// `extra_fields` is tolerated, noted and skipped (it stays in the text).
pub fn extra_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    cx: &mut Ctx,
    key: &str,
) -> Result<(), A::Error> {
    if !cx.tolerates(Quirk::ExtraFields) {
        return Err(unknown(cx, key));
    }
    cx.note(Quirk::ExtraFields, Some(key));
    map.next_value::<de::IgnoredAny>().map(|_| ())
}

/// Declares one schema object: the struct, its `Serialize` (absent optional
/// properties are left out) and its validating [`FromJson`].
///
/// Each property is `req|opt "jsonName" rust_name: Type`, optionally
/// followed by `[rule, ...]` (functions from [`check`]).
macro_rules! ocpp_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $req:ident $json:literal $field:ident : $ty:ty $([ $($rule:expr),+ ])? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( pub $field: $crate::ocpp::schema::ocpp_object!(@ty $req $ty), )*
        }

        impl ::serde::Serialize for $name {
            #[allow(unused_mut)] // objects without properties (Heartbeat)
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeMap as _;
                let mut map = s.serialize_map(None)?;
                $( $crate::ocpp::schema::ocpp_object!(@ser $req map $json (&self.$field)); )*
                map.end()
            }
        }

        impl $crate::ocpp::schema::FromJson for $name {
            const EXPECTED: &'static str = "an object";
            fn from_json<'de, D: ::serde::Deserializer<'de>>(
                de: D,
                cx: &mut $crate::ocpp::schema::Ctx,
            ) -> Result<Self, D::Error> {
                struct V<'c>(&'c mut $crate::ocpp::schema::Ctx);
                impl<'de> ::serde::de::Visitor<'de> for V<'_> {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter) -> ::std::fmt::Result {
                        f.write_str("an object")
                    }
                    #[allow(unused_mut)] // objects without properties (Heartbeat)
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        use $crate::ocpp::schema as s;
                        let cx = self.0;
                        $( let mut $field: Option<$ty> = None; )*
                        while let Some(key) = map.next_key::<s::Key<'de>>()? {
                            match key.as_str() {
                                $( $json => {
                                    let value: $ty = s::next_field(&mut map, cx, $json)?;
                                    $($( s::check_field::<_, A::Error>(cx, $json, &value, $rule)?; )+)?
                                    $field = Some(value);
                                } )*
                                other => s::extra_field(&mut map, cx, other)?,
                            }
                        }
                        Ok($name {
                            $( $field: $crate::ocpp::schema::ocpp_object!(@finish $req $field cx $json), )*
                        })
                    }
                }
                de.deserialize_map(V(cx))
            }
        }
    };
    (@ty req $ty:ty) => { $ty };
    (@ty opt $ty:ty) => { Option<$ty> };
    (@ser req $map:ident $json:literal ($value:expr)) => {
        $map.serialize_entry($json, $value)?
    };
    (@ser opt $map:ident $json:literal ($value:expr)) => {
        if let Some(v) = $value {
            $map.serialize_entry($json, v)?
        }
    };
    (@finish req $field:ident $cx:ident $json:literal) => {
        match $field {
            Some(v) => v,
            None => return Err($crate::ocpp::schema::missing($cx, $json)),
        }
    };
    (@finish opt $field:ident $cx:ident $json:literal) => { $field };
}
pub(crate) use ocpp_object;

/// A closed set of string values (a schema `enum`).
pub trait EnumValue: Copy + 'static {
    const ALL: &'static [Self];
    /// The value a tolerated unknown enum value reads as.
    const NOT_IN_SCHEMA: Self;
    fn as_str(self) -> &'static str;
}

/// Declares a schema `enum` of strings: `Variant = "wire value"`.
macro_rules! ocpp_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $variant:ident = $json:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $variant, )*
            /// A value outside the schema's enum, taken only from a charge
            /// point whose profile tolerates `unknown_enum_values` (the
            /// payload keeps the text it sent). Never serialised.
            NotInSchema,
        }

        impl $name {
            /// The schema's values (not [`NotInSchema`](Self::NotInSchema)).
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The wire spelling; `NotInSchema` has none.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $json, )* $name::NotInSchema => "(not in schema)" }
            }
            /// The variant spelled `s` on the wire (case-sensitive, as the schema).
            pub fn parse(s: &str) -> Option<$name> {
                match s { $( $json => Some($name::$variant), )* _ => None }
            }
        }

        impl $crate::ocpp::schema::EnumValue for $name {
            const ALL: &'static [$name] = $name::ALL;
            const NOT_IN_SCHEMA: $name = $name::NotInSchema;
            fn as_str(self) -> &'static str { $name::as_str(self) }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $name::NotInSchema => Err(<S::Error as ::serde::ser::Error>::custom(
                        concat!("a ", stringify!($name), " value outside the schema cannot be written"),
                    )),
                    known => s.serialize_str(known.as_str()),
                }
            }
        }

        impl $crate::ocpp::schema::FromJson for $name {
            const EXPECTED: &'static str = "a string";
            fn from_json<'de, D: ::serde::Deserializer<'de>>(
                de: D,
                cx: &mut $crate::ocpp::schema::Ctx,
            ) -> Result<Self, D::Error> {
                $crate::ocpp::schema::enum_from_json(de, cx, $name::parse)
            }
        }
    };
}
pub(crate) use ocpp_enum;

/// The shared body of every enum's [`FromJson`].
pub fn enum_from_json<'de, D: Deserializer<'de>, T: EnumValue>(
    de: D,
    cx: &mut Ctx,
    parse: fn(&str) -> Option<T>,
) -> Result<T, D::Error> {
    struct V<'c, T> {
        cx: &'c mut Ctx,
        parse: fn(&str) -> Option<T>,
    }
    impl<T: EnumValue> Visitor<'_> for V<'_, T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            if let Some(t) = (self.parse)(v) {
                return Ok(t);
            }
            if let Some(t) = tolerated_enum_value(self.cx, v) {
                return Ok(t);
            }
            let allowed: Vec<&str> = T::ALL.iter().map(|t| t.as_str()).collect();
            Err(self.cx.fail((
                ErrorCode::PropertyConstraintViolation,
                format!("{} is not one of {}", excerpt(v), allowed.join(", ")),
            )))
        }
    }
    de.deserialize_str(V { cx, parse })
}

/// An enum value the profile's quirks let through: the value in another
/// case (`enum_case`: corrected to the schema's spelling, which needs the
/// value's span), else any string (`unknown_enum_values`: kept as sent).
fn tolerated_enum_value<T: EnumValue>(cx: &mut Ctx, v: &str) -> Option<T> {
    if cx.tolerates(Quirk::EnumCase)
        && let Some(&t) = T::ALL.iter().find(|t| t.as_str().eq_ignore_ascii_case(v))
        && let Some(span) = cx.span_of(v)
    {
        cx.note(Quirk::EnumCase, None);
        cx.fix(span, t.as_str());
        return Some(t);
    }
    if cx.tolerates(Quirk::UnknownEnumValues) {
        cx.note(Quirk::UnknownEnumValues, None);
        return Some(T::NOT_IN_SCHEMA);
    }
    None
}

/// A refused string value for a description: quoted, and cut to 40
/// characters so a huge value is not echoed back in the CALLERROR.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

/// Deserialises a string, borrowed from the payload when it can be, and
/// hands it to `f`.
fn with_str<'de, D: Deserializer<'de>, T>(
    de: D,
    cx: &mut Ctx,
    f: impl FnOnce(&mut Ctx, Cow<'_, str>) -> Result<T, Fail>,
) -> Result<T, D::Error> {
    struct V<'c, F> {
        cx: &'c mut Ctx,
        f: F,
    }
    impl<T, F: FnOnce(&mut Ctx, Cow<'_, str>) -> Result<T, Fail>> Visitor<'_> for V<'_, F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.f)(self.cx, Cow::Borrowed(v)).map_err(|fail| self.cx.fail(fail))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
            (self.f)(self.cx, Cow::Owned(v)).map_err(|fail| self.cx.fail(fail))
        }
    }
    de.deserialize_str(V { cx, f })
}

/// Property-level rules for [`ocpp_object!`]'s `[rule, ...]` lists.
pub mod check {
    use super::{ErrorCode, Fail};

    /// `minItems` / `maxItems`. Too few or too many elements is a
    /// cardinality (occurrence) violation, like a missing property.
    pub fn items<T>(min: usize, max: Option<usize>) -> impl Fn(&Vec<T>) -> Result<(), Fail> {
        move |v| {
            let n = v.len();
            if n < min {
                return Err((
                    ErrorCode::OccurrenceConstraintViolation,
                    format!("array has {n} elements, at least {min} are required"),
                ));
            }
            match max {
                Some(max) if n > max => Err((
                    ErrorCode::OccurrenceConstraintViolation,
                    format!("array has {n} elements, at most {max} are allowed"),
                )),
                _ => Ok(()),
            }
        }
    }

    /// `minimum` / `maximum` of an integer.
    pub fn int_range(min: Option<i64>, max: Option<i64>) -> impl Fn(&i64) -> Result<(), Fail> {
        move |&v| range(v as f64, min.map(|m| m as f64), max.map(|m| m as f64))
    }

    /// `minimum` / `maximum` of a number.
    pub fn num_range(min: Option<f64>, max: Option<f64>) -> impl Fn(&f64) -> Result<(), Fail> {
        move |&v| range(v, min, max)
    }

    fn range(v: f64, min: Option<f64>, max: Option<f64>) -> Result<(), Fail> {
        if let Some(min) = min.filter(|&m| v < m) {
            return Err((
                ErrorCode::PropertyConstraintViolation,
                format!("{v} is below the minimum {min}"),
            ));
        }
        if let Some(max) = max.filter(|&m| v > m) {
            return Err((
                ErrorCode::PropertyConstraintViolation,
                format!("{v} is above the maximum {max}"),
            ));
        }
        Ok(())
    }

    /// `"multipleOf": 0.1` (1.6 charging limits). Judged on the number's
    /// shortest decimal form, as JSON Schema validators do, not on binary
    /// floating point, where 0.3 / 0.1 is not an integer: a multiple of 0.1
    /// has at most one digit after the decimal point (0 counts).
    pub fn multiple_of_tenth(v: &f64) -> Result<(), Fail> {
        // `{}` on f64 prints the shortest round-tripping decimal, never with
        // an exponent; a stack buffer keeps this allocation-free.
        let mut buf = [0u8; 400];
        let mut w = &mut buf[..];
        let ok = match std::io::Write::write_fmt(&mut w, format_args!("{}", v.abs())) {
            Ok(()) => {
                let used = 400 - w.len();
                let text = &buf[..used];
                match text.iter().position(|&c| c == b'.') {
                    Some(dot) => used - dot - 1 <= 1,
                    None => true,
                }
            }
            Err(_) => false,
        };
        if ok && v.is_finite() {
            Ok(())
        } else {
            Err((
                ErrorCode::PropertyConstraintViolation,
                format!("{v} is not a multiple of 0.1"),
            ))
        }
    }
}

/// Declares a version's actions: the `Action` enum (every action name of the
/// version), the `Request`/`Response` enums over the typed ones, and
/// `parse_request`/`parse_response`. `typed` lines are
/// `Action => RequestType, ResponseType, Sender, Draft;`, `sends` lines
/// `Action => RequestType, Sender, Draft;`: SEND messages (OCPP 2.1,
/// OCPP-J message type 6), which have a request but are never answered, so
/// they are in `Request` and not in `Response`.
/// Expects a `Sender` enum in scope.
macro_rules! ocpp_actions {
    (
        typed { $( $action:ident => $req:ty, $resp:ty, $sender:ident, $draft:ident; )* }
        sends { $( $saction:ident => $sreq:ty, $ssender:ident, $sdraft:ident; )* }
    ) => {
        /// An action name of this protocol version.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action { $( $action, )* $( $saction, )* }

        impl Action {
            /// Every action of the version: answered ones, then SEND messages.
            pub const ALL: &'static [Action] = &[
                $( Action::$action, )* $( Action::$saction, )*
            ];

            /// The action name as written in a CALL.
            pub fn name(self) -> &'static str {
                match self {
                    $( Action::$action => stringify!($action), )*
                    $( Action::$saction => stringify!($saction), )*
                }
            }

            /// The action named `s` (case-sensitive, as OCPP-J requires);
            /// `None` means the version has no such action (`NotImplemented`).
            pub fn from_name(s: &str) -> Option<Action> {
                match s {
                    $( stringify!($action) => Some(Action::$action), )*
                    $( stringify!($saction) => Some(Action::$saction), )*
                    _ => None,
                }
            }

            /// Who may send the request of this action.
            pub fn sender(self) -> Sender {
                match self {
                    $( Action::$action => Sender::$sender, )*
                    $( Action::$saction => Sender::$ssender, )*
                }
            }

            /// Whether this is a SEND message (OCPP 2.1): a request that
            /// gets no response, so `parse_response` always refuses it.
            pub fn is_send(self) -> bool {
                match self {
                    $( Action::$action => false, )*
                    $( Action::$saction => true, )*
                }
            }
        }

        impl ::std::fmt::Display for Action {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// A validated request payload, one variant per typed action.
        /// Variants differ widely in size (2.1's DER curves); boxing them
        /// would add an allocation to every small message (Heartbeat), so
        /// the enum stays flat: it lives on the stack for one parse.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum Request { $( $action($req), )* $( $saction($sreq), )* }

        /// A validated response payload, one variant per typed action that
        /// is answered. Flat for the same reason as `Request`.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum Response { $( $action($resp), )* }

        impl Request {
            pub fn action(&self) -> Action {
                match self {
                    $( Request::$action(_) => Action::$action, )*
                    $( Request::$saction(_) => Action::$saction, )*
                }
            }
        }

        impl Response {
            pub fn action(&self) -> Action {
                match self { $( Response::$action(_) => Action::$action, )* }
            }
        }

        /// Serialises the payload alone (what goes into the CALL).
        impl ::serde::Serialize for Request {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Request::$action(r) => r.serialize(s), )*
                    $( Request::$saction(r) => r.serialize(s), )*
                }
            }
        }

        /// Serialises the payload alone (what goes into the CALLRESULT).
        impl ::serde::Serialize for Response {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $( Response::$action(r) => r.serialize(s), )* }
            }
        }

        /// Validates the payload of a CALL (or SEND) of `action` against its
        /// schema.
        pub fn parse_request(action: Action, payload: &str) -> Result<Request, $crate::ocpp::Violation> {
            use $crate::ocpp::schema::{parse, Draft};
            match action {
                $( Action::$action => parse::<$req>(payload, Draft::$draft).map(Request::$action), )*
                $( Action::$saction => parse::<$sreq>(payload, Draft::$sdraft).map(Request::$saction), )*
            }
        }

        /// [`parse_request`], tolerating what `allowed` names (a charge
        /// point's profile): `Ok` also says what was tolerated.
        pub fn parse_request_lenient(
            action: Action,
            payload: &str,
            allowed: $crate::ocpp::schema::Lenience,
        ) -> Result<(Request, $crate::ocpp::schema::Tolerated), $crate::ocpp::Violation> {
            use $crate::ocpp::schema::{parse_lenient, Draft};
            match action {
                $( Action::$action => parse_lenient::<$req>(payload, Draft::$draft, allowed)
                    .map(|(r, t)| (Request::$action(r), t)), )*
                $( Action::$saction => parse_lenient::<$sreq>(payload, Draft::$sdraft, allowed)
                    .map(|(r, t)| (Request::$saction(r), t)), )*
            }
        }

        /// Validates the payload of a CALLRESULT answering a CALL of `action`.
        pub fn parse_response(action: Action, payload: &str) -> Result<Response, $crate::ocpp::Violation> {
            use $crate::ocpp::schema::{parse, Draft};
            match action {
                $( Action::$action => parse::<$resp>(payload, Draft::$draft).map(Response::$action), )*
                $( Action::$saction => Err($crate::ocpp::schema::no_response(action.name())), )*
            }
        }
    };
}
pub(crate) use ocpp_actions;

/// The answer to a CALLRESULT for a SEND message, which is never answered.
pub fn no_response(action: &str) -> Violation {
    Violation::new(
        ErrorCode::NotSupported,
        format!("{action} is a SEND message: it has no response"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiple_of_tenth_is_decimal() {
        for ok in [0.0, 0.3, 16.5, 32.0, -7.1, 1e20] {
            assert!(check::multiple_of_tenth(&ok).is_ok(), "{ok}");
        }
        for bad in [0.05, 16.55, 1.23, f64::NAN] {
            assert!(check::multiple_of_tenth(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refused_values_are_cut_in_descriptions() {
        assert_eq!(excerpt("Maybe"), "\"Maybe\"");
        let long = excerpt(&"é".repeat(1000));
        assert_eq!(long.chars().count(), 43, "{long}");
    }
}
