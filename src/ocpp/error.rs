//! CALLERROR codes, spelled the way each OCPP-J version spells them.

use super::OcppVersion;

/// A CALLERROR code. Variants name the concept; [`ErrorCode::as_str`] gives the
/// wire spelling of the connection's version (OCPP-J 1.6 §4.2.3, OCPP 2.0.1
/// Part 4 §4.3), which differs for several of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The action is not known to this protocol version.
    NotImplemented,
    /// The action is known but this gateway does not handle it.
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    /// The payload is syntactically wrong or has unknown fields
    /// (1.6 `FormationViolation`, 2.0.1 `FormatViolation`).
    FormatViolation,
    /// A field has a bad value: enum, length, range.
    PropertyConstraintViolation,
    /// A required field is missing (1.6 spells it `OccurenceConstraintViolation`).
    OccurrenceConstraintViolation,
    /// A field has the wrong JSON type.
    TypeConstraintViolation,
    GenericError,
    /// 2.0.1 only: the frame itself is broken (1.6 answers `FormationViolation`).
    RpcFrameworkError,
    /// 2.0.1 only: message type id other than 2, 3, 4.
    MessageTypeNotSupported,
}

impl ErrorCode {
    pub fn as_str(self, version: OcppVersion) -> &'static str {
        use ErrorCode::*;
        let v16 = version == OcppVersion::V16;
        match self {
            NotImplemented => "NotImplemented",
            NotSupported => "NotSupported",
            InternalError => "InternalError",
            ProtocolError => "ProtocolError",
            SecurityError => "SecurityError",
            FormatViolation if v16 => "FormationViolation",
            FormatViolation => "FormatViolation",
            PropertyConstraintViolation => "PropertyConstraintViolation",
            OccurrenceConstraintViolation if v16 => "OccurenceConstraintViolation",
            OccurrenceConstraintViolation => "OccurrenceConstraintViolation",
            TypeConstraintViolation => "TypeConstraintViolation",
            GenericError => "GenericError",
            // 1.6 has no RPC-framework code: a broken frame is a formation violation.
            RpcFrameworkError if v16 => "FormationViolation",
            RpcFrameworkError => "RpcFrameworkError",
            MessageTypeNotSupported if v16 => "NotSupported",
            MessageTypeNotSupported => "MessageTypeNotSupported",
        }
    }

    /// The code says the message itself was broken (its frame or its
    /// payload), not that the gateway could not or would not handle it.
    /// These count against a connection's bad-message budget.
    pub fn is_malformed_message(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            FormatViolation
                | PropertyConstraintViolation
                | OccurrenceConstraintViolation
                | TypeConstraintViolation
                | RpcFrameworkError
                | MessageTypeNotSupported
        )
    }

    /// Parses a code received in a CALLERROR, accepting both versions' spellings.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match s {
            "NotImplemented" => NotImplemented,
            "NotSupported" => NotSupported,
            "InternalError" => InternalError,
            "ProtocolError" => ProtocolError,
            "SecurityError" => SecurityError,
            "FormationViolation" | "FormatViolation" => FormatViolation,
            "PropertyConstraintViolation" => PropertyConstraintViolation,
            "OccurenceConstraintViolation" | "OccurrenceConstraintViolation" => {
                OccurrenceConstraintViolation
            }
            "TypeConstraintViolation" => TypeConstraintViolation,
            "GenericError" => GenericError,
            "RpcFrameworkError" => RpcFrameworkError,
            "MessageTypeNotSupported" => MessageTypeNotSupported,
            _ => return None,
        })
    }
}

/// Why a payload or action was refused: becomes one CALLERROR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub code: ErrorCode,
    /// Human-readable, for the charge point's logs.
    pub description: String,
    /// JSON path of the offending field (`idTagInfo.status`), if one is to blame.
    pub field: Option<String>,
    /// The CALLERROR's details object as JSON text, when someone else (a
    /// backend) decided the error; otherwise details are built from `field`.
    pub details: Option<Box<str>>,
}

impl Violation {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Violation {
        Violation {
            code,
            description: description.into(),
            field: None,
            details: None,
        }
    }

    pub fn at(mut self, field: impl Into<String>) -> Violation {
        self.field = Some(field.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_specific_spellings() {
        use OcppVersion::*;
        assert_eq!(ErrorCode::FormatViolation.as_str(V16), "FormationViolation");
        assert_eq!(ErrorCode::FormatViolation.as_str(V201), "FormatViolation");
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(V201),
            "OccurrenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::RpcFrameworkError.as_str(V16),
            "FormationViolation"
        );
    }
}
