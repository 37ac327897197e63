//! `CustomDataType`, the optional `customData` of every 2.0.1 and 2.1 object.

use std::fmt;

use serde::Serialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap as _, Serializer};

use super::{BoundedString, Ctx, FromJson, Key, missing, next_field};

/// `CustomDataType`: the one object the schemas leave open (no
/// `additionalProperties: false`), so vendors can add properties.
/// `vendorId` is required; every other property is kept as it came, in
/// `extra`. Its definition is the same in 2.0.1 and 2.1.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomData {
    pub vendor_id: BoundedString<255>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Serialize for CustomData {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(None)?;
        map.serialize_entry("vendorId", &self.vendor_id)?;
        for (k, v) in &self.extra {
            // `extra` never holds `vendorId` when parsed; one set by hand
            // would duplicate the key, so it is skipped.
            if k != "vendorId" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl FromJson for CustomData {
    const EXPECTED: &'static str = "an object";
    fn from_json<'de, D: Deserializer<'de>>(de: D, cx: &mut Ctx) -> Result<Self, D::Error> {
        struct V<'c>(&'c mut Ctx);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = CustomData;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomData, A::Error> {
                let cx = self.0;
                let mut vendor_id = None;
                let mut extra = serde_json::Map::new();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    if key.as_str() == "vendorId" {
                        vendor_id = Some(next_field(&mut map, cx, "vendorId")?);
                    } else {
                        // Any JSON is allowed here, so this cannot fail on a
                        // payload the frame parser accepted.
                        let value = map.next_value::<serde_json::Value>()?;
                        extra.insert(key.as_str().to_owned(), value);
                    }
                }
                match vendor_id {
                    Some(vendor_id) => Ok(CustomData { vendor_id, extra }),
                    None => Err(missing(cx, "vendorId")),
                }
            }
        }
        de.deserialize_map(V(cx))
    }
}
