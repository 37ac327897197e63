//! Rust names for schema names.

/// `chargingStation` → `charging_station`, `responderURL` → `responder_url`,
/// `iso15118CertificateHashData` → `iso15118_certificate_hash_data`; `type`
/// (a keyword, and the most common clash) becomes `kind`, other keywords
/// are raw identifiers.
pub fn field(json: &str) -> String {
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    match out.as_str() {
        "type" => "kind".to_owned(),
        "as" | "async" | "await" | "box" | "break" | "const" | "continue" | "crate" | "dyn"
        | "else" | "enum" | "extern" | "false" | "final" | "fn" | "for" | "gen" | "if" | "impl"
        | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "override" | "priv"
        | "pub" | "ref" | "return" | "static" | "struct" | "trait" | "true" | "try" | "typeof"
        | "unsafe" | "use" | "where" | "while" | "yield" => format!("r#{out}"),
        _ => out,
    }
}

/// An enum variant for a wire value: words split at `.`, `-`, `_`, ` `,
/// `/`; a word without lower-case letters is an acronym and is written
/// `Iso14443`, `Ev`; other words keep their inner capitals (`SOCLimitReached`,
/// `eMAID` → `Emaid` is the exception: all-caps after the first letter).
pub fn variant(wire: &str) -> String {
    let mut out = String::new();
    for word in wire
        .split(['.', '-', '_', ' ', '/'])
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        let first = chars.next().expect("non-empty word");
        let rest: String = chars.collect();
        out.push(first.to_ascii_uppercase());
        if rest.chars().any(|c| c.is_ascii_lowercase()) {
            out.push_str(&rest);
        } else {
            out.push_str(&rest.to_ascii_lowercase());
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    assert!(
        !out.is_empty() && out.chars().all(|c| c.is_ascii_alphanumeric()),
        "enum value {wire:?} has no Rust variant name"
    );
    out
}

/// A schema definition's Rust name: `IdTokenType` → `IdToken`,
/// `IdTokenEnumType` → `IdTokenEnum`; an acronym is one word, as Rust names
/// write it (`EVSEType` → `Evse`, `OCSPRequestDataType` → `OcspRequestData`).
pub fn type_name(definition: &str) -> String {
    let base: Vec<char> = definition
        .strip_suffix("Type")
        .unwrap_or(definition)
        .chars()
        .collect();
    let mut out = String::new();
    let mut prev_letter_upper = false;
    for (i, &c) in base.iter().enumerate() {
        if c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let next_lower = base.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        if c.is_ascii_uppercase() && prev_letter_upper && !next_lower {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        prev_letter_upper = c.is_ascii_uppercase();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(field("responderURL"), "responder_url");
        assert_eq!(
            field("iso15118CertificateHashData"),
            "iso15118_certificate_hash_data"
        );
        assert_eq!(field("language1"), "language1");
        assert_eq!(field("type"), "kind");
        assert_eq!(field("evseId"), "evse_id");
        assert_eq!(variant("eMAID"), "Emaid");
        assert_eq!(variant("ISO14443"), "Iso14443");
        assert_eq!(variant("L1-N"), "L1N");
        assert_eq!(variant("SOCLimitReached"), "SOCLimitReached");
        assert_eq!(
            variant("Energy.Active.Import.Register"),
            "EnergyActiveImportRegister"
        );
        assert_eq!(variant("dateTime"), "DateTime");
        assert_eq!(type_name("IdTokenEnumType"), "IdTokenEnum");
        assert_eq!(type_name("EVSEType"), "Evse");
        assert_eq!(type_name("OCSPRequestDataType"), "OcspRequestData");
        assert_eq!(
            type_name("V2XChargingParametersType"),
            "V2xChargingParameters"
        );
        assert_eq!(
            type_name("APNAuthenticationEnumType"),
            "ApnAuthenticationEnum"
        );
    }
}
