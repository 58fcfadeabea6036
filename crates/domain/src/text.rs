//! Human-entered names.

use serde::{Deserialize, Serialize};

use crate::validation::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl ErrorCode for TextError {
    fn code(&self) -> &'static str {
        match self {
            TextError::Empty => "required",
            TextError::TooLong { .. } => "too_long",
            TextError::ControlCharacter => "invalid_characters",
        }
    }
}

/// Trims `raw` and checks it is 1..=`max` characters with no control characters.
pub(crate) fn clean_text(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

/// A display name: trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        clean_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = TextError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

impl std::fmt::Display for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_is_trimmed() {
        assert_eq!(DisplayName::parse("  Contoso  ").map(|d| d.0), Ok("Contoso".to_owned()));
    }

    #[test]
    fn display_name_rejects_empty_and_blank() {
        assert_eq!(DisplayName::parse(""), Err(TextError::Empty));
        assert_eq!(DisplayName::parse(" \t "), Err(TextError::Empty));
    }

    #[test]
    fn display_name_counts_characters_not_bytes() {
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(DisplayName::parse(&"é".repeat(101)), Err(TextError::TooLong { max: 100 }));
    }

    #[test]
    fn display_name_rejects_control_characters() {
        assert_eq!(DisplayName::parse("a\u{0}b"), Err(TextError::ControlCharacter));
        assert_eq!(DisplayName::parse("a\nb"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn display_name_deserialize_validates() {
        assert!(serde_json::from_str::<DisplayName>("\"  \"").is_err());
        assert_eq!(serde_json::from_str::<DisplayName>("\" x \"").map(|d| d.0).ok(), Some("x".to_owned()));
    }
}
