//! [`FromJson`] for the JSON types themselves: strings, booleans,
//! integers, numbers, any value, arrays. The integer and number impls are
//! where `numbers_as_strings` is tolerated.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{Ctx, Draft, Fail, FromJson, Quirk, Seed, Seg, lenient, with_str};
use crate::ocpp::ErrorCode;

impl FromJson for String {
    const EXPECTED: &'static str = "a string";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        with_str(de, cx, |_, s| Ok(s.into_owned()))
    }
}

impl FromJson for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_json<'de, D: Deserializer<'de>>(de: D, _cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
        }
        de.deserialize_bool(V)
    }
}

/// `"type":"integer"`. The schemas set no bounds, the gateway keeps `i64`:
/// a larger integer (which no OCPP quantity reaches; the specification's
/// integers are 32-bit) is refused as out of range.
impl FromJson for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V<'c>(&'c mut Ctx);
        impl Visitor<'_> for V<'_> {
            type Value = i64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| self.0.fail(out_of_i64(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
                // serde_json calls this for any number written with a fraction
                // or an exponent; only draft-06 takes `1.0` as an integer.
                if self.0.draft == Draft::Draft04 || v.fract() != 0.0 {
                    return Err(E::invalid_type(de::Unexpected::Float(v), &self));
                }
                if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
                    return Err(self.0.fail(out_of_i64(v)));
                }
                Ok(v as i64)
            }
            /// Reached only through `deserialize_any`: `numbers_as_strings`.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                let cx = self.0;
                let Some(span) = number_string(cx, v) else {
                    return Err(E::invalid_type(de::Unexpected::Str(v), &"an integer"));
                };
                let n: serde_json::Number = serde_json::from_str(v)
                    .map_err(|_| E::invalid_type(de::Unexpected::Str(v), &"an integer"))?;
                let value = match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => V(cx).visit_i64(i),
                    (None, Some(u)) => V(cx).visit_u64(u),
                    (None, None) => V(cx).visit_f64(n.as_f64().unwrap_or(f64::NAN)),
                }?;
                number_fixed(cx, span);
                Ok(value)
            }
        }
        if cx.tolerates(Quirk::NumbersAsStrings) {
            // `any` also hands strings to the visitor; numbers go to the
            // same `visit_*` as `deserialize_i64` sends them.
            de.deserialize_any(V(cx))
        } else {
            de.deserialize_i64(V(cx))
        }
    }
}

/// The span of a string value that holds a JSON number, when
/// `numbers_as_strings` is tolerated and the value was borrowed.
fn number_string(cx: &Ctx, v: &str) -> Option<std::ops::Range<usize>> {
    if !cx.tolerates(Quirk::NumbersAsStrings) || !lenient::is_json_number(v) {
        return None;
    }
    cx.span_of(v)
}

/// Notes a number sent as a string and corrects it: the quotes around
/// `span` (the string's content) go, the digits stay as written.
fn number_fixed(cx: &mut Ctx, span: std::ops::Range<usize>) {
    cx.note(Quirk::NumbersAsStrings, None);
    cx.fix(span.start.saturating_sub(1)..span.start, "");
    cx.fix(span.end..span.end + 1, "");
}

fn out_of_i64(v: f64) -> Fail {
    (
        ErrorCode::PropertyConstraintViolation,
        format!("{v} is outside the integer range this gateway supports"),
    )
}

/// `"type":"number"`: any JSON number.
impl FromJson for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V<'c>(&'c mut Ctx);
        impl Visitor<'_> for V<'_> {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            /// Reached only through `deserialize_any`: `numbers_as_strings`.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                let cx = self.0;
                // Finite: `1e999` is no JSON number serde_json would take.
                let number = number_string(cx, v).and_then(|span| {
                    let value: f64 = v.parse().ok()?;
                    value.is_finite().then_some((span, value))
                });
                let Some((span, value)) = number else {
                    return Err(E::invalid_type(de::Unexpected::Str(v), &"a number"));
                };
                number_fixed(cx, span);
                Ok(value)
            }
        }
        if cx.tolerates(Quirk::NumbersAsStrings) {
            de.deserialize_any(V(cx))
        } else {
            de.deserialize_f64(V(cx))
        }
    }
}

/// A property without a `type` (2.0.1 DataTransfer `data`): any JSON value.
impl FromJson for serde_json::Value {
    const EXPECTED: &'static str = "a JSON value";
    fn from_json<'de, D: Deserializer<'de>>(de: D, _cx: &mut Ctx) -> Result<Self, D::Error> {
        de::Deserialize::deserialize(de)
    }
}

/// `"type":"array"`. Element failures get their index in the path.
impl<T: FromJson> FromJson for Vec<T> {
    const EXPECTED: &'static str = "an array";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V<'c, T>(&'c mut Ctx, PhantomData<T>);
        impl<'de, T: FromJson> Visitor<'de> for V<'_, T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let cx = self.0;
                let mut out = Vec::new();
                loop {
                    let index = out.len();
                    cx.enter(|| Seg::Index(index));
                    let element = seq.next_element_seed(Seed::<T>::new(cx));
                    cx.leave();
                    match element {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => return Ok(out),
                        Err(e) => {
                            cx.child_failed(Seg::Index(out.len()), T::EXPECTED);
                            return Err(e);
                        }
                    }
                }
            }
        }
        de.deserialize_seq(V(cx, PhantomData))
    }
}
