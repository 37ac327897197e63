//! An integer array element with `minimum` / `maximum`.

use std::ops::Deref;

use serde::{Deserializer, Serialize, Serializer};

use super::{Ctx, FromJson, check};

/// An integer in `MIN..=MAX`, for the elements of an array whose `items`
/// carry `minimum`/`maximum` (2.1 `evseId: [0, 1]`). A property-level rule
/// (`check::int_range`) would name the array, not the element; as an element
/// type the refused value's path gets its index (`evseId[1]`). A bare integer
/// property keeps `i64` and a property rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RangedInt<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Deref for RangedInt<MIN, MAX> {
    type Target = i64;
    fn deref(&self) -> &i64 {
        &self.0
    }
}

impl<const MIN: i64, const MAX: i64> Serialize for RangedInt<MIN, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<const MIN: i64, const MAX: i64> FromJson for RangedInt<MIN, MAX> {
    const EXPECTED: &'static str = "an integer";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        let v = i64::from_json(de, cx)?;
        let bound = |b: i64, none: i64| (b != none).then_some(b);
        match check::int_range(bound(MIN, i64::MIN), bound(MAX, i64::MAX))(&v) {
            Ok(()) => Ok(RangedInt(v)),
            Err(fail) => Err(cx.fail(fail)),
        }
    }
}
