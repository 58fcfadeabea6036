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
    /// Bidi controls and zero-width characters make a name read differently from what it is.
    #[error("must not contain invisible formatting characters (bidi controls, zero-width characters)")]
    FormatCharacter,
}

impl ErrorCode for TextError {
    fn code(&self) -> &'static str {
        match self {
            TextError::Empty => "required",
            TextError::TooLong { .. } => "too_long",
            TextError::ControlCharacter | TextError::FormatCharacter => "invalid_characters",
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
    if trimmed.chars().any(is_format_char) {
        return Err(TextError::FormatCharacter);
    }
    Ok(trimmed.to_owned())
}

/// Unicode general category `Cf` (Unicode 15.1): bidi overrides and isolates, zero-width spaces and
/// joiners, the BOM, tag characters. Written out because the standard library has no category lookup
/// and the list is short and stable.
pub fn is_format_char(c: char) -> bool {
    let n = c as u32;
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&n))
}

pub(crate) const FORMAT_CHARS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A name as an identity provider's claim gives it (`name`, `preferred_username`). The claim comes
/// from a signed token, so it is not refused like typed input but made safe to store and show:
/// control and formatting characters and angle brackets dropped, whitespace runs folded, clamped to
/// [`DisplayName::MAX_CHARS`]. `None` when nothing is left.
pub fn display_name_from_claim(raw: &str) -> Option<DisplayName> {
    let mut out = String::new();
    let mut kept = 0;
    for word in raw.split(char::is_whitespace) {
        let word: String = word.chars().filter(|&c| !c.is_control() && !is_format_char(c) && c != '<' && c != '>').collect();
        if word.is_empty() {
            continue;
        }
        for c in (!out.is_empty()).then_some(' ').into_iter().chain(word.chars()) {
            if kept == DisplayName::MAX_CHARS {
                break;
            }
            out.push(c);
            kept += 1;
        }
    }
    DisplayName::parse(&out).ok()
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
    fn hardening_names_refuse_bidi_controls_and_zero_width_characters() {
        for bad in ["evil\u{202E}gpj.exe", "a\u{200B}b", "a\u{2066}b", "\u{FEFF}Contoso", "x\u{E0041}"] {
            assert_eq!(DisplayName::parse(bad), Err(TextError::FormatCharacter), "{bad:?}");
        }
        assert!(DisplayName::parse("Zoë Ørsted-Łukasz 山田").is_ok());
    }

    #[test]
    fn hardening_identity_claims_are_clamped_and_cleaned() {
        let long = "A".repeat(5000);
        assert_eq!(display_name_from_claim(&long).map(|d| d.as_str().chars().count()), Some(DisplayName::MAX_CHARS));
        let html = display_name_from_claim("<script>alert(1)</script> Mallory").map(String::from);
        assert_eq!(html.as_deref(), Some("scriptalert(1)/script Mallory"));
        let rtl = display_name_from_claim("Admin\u{202E}nimda\u{200B}\n\t Team").map(String::from);
        assert_eq!(rtl.as_deref(), Some("Adminnimda Team"));
        assert_eq!(display_name_from_claim("\u{202E}\u{200B} \u{0}"), None);
        let wide = format!("{} xyz", "é".repeat(97));
        assert_eq!(display_name_from_claim(&wide).map(|d| d.as_str().chars().count()), Some(100));
    }

    #[test]
    fn display_name_deserialize_validates() {
        assert!(serde_json::from_str::<DisplayName>("\"  \"").is_err());
        assert_eq!(serde_json::from_str::<DisplayName>("\" x \"").map(|d| d.0).ok(), Some("x".to_owned()));
    }
}
