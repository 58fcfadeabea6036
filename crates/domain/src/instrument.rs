//! Payment instruments as this service keeps them: the payment processor's token and a hint for
//! people ("Visa 4242"). A card number is never accepted, so it can never be stored or logged: the
//! input types below cannot hold one.

use serde::{Deserialize, Serialize};

use crate::text::{TextError, clean_text};
use crate::validation::{ErrorCode, FieldErrors};

/// The kinds of payment instrument a profile can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentInstrumentKind {
    Card,
    BankTransfer,
}

impl PaymentInstrumentKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentInstrumentKind::Card => "card",
            PaymentInstrumentKind::BankTransfer => "bank_transfer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "card" => Some(Self::Card),
            "bank_transfer" => Some(Self::BankTransfer),
            _ => None,
        }
    }

    /// Words for people.
    pub fn describe(&self) -> &'static str {
        match self {
            PaymentInstrumentKind::Card => "card",
            PaymentInstrumentKind::BankTransfer => "bank transfer",
        }
    }
}

/// Why an instrument's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentTextError {
    #[error("{0}")]
    Text(#[from] TextError),
    #[error("looks like a card number; send the payment processor's token and only the last digits")]
    CardNumber,
}

impl ErrorCode for InstrumentTextError {
    fn code(&self) -> &'static str {
        match self {
            InstrumentTextError::Text(e) => e.code(),
            InstrumentTextError::CardNumber => "card_number_refused",
        }
    }
}

fn instrument_text(raw: &str, max: usize) -> Result<String, InstrumentTextError> {
    let s = clean_text(raw, max)?;
    if looks_like_card_number(&s) {
        return Err(InstrumentTextError::CardNumber);
    }
    Ok(s)
}

/// The payment processor's token for an instrument: 1–200 printable characters, never a card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorToken(String);

impl ProcessorToken {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InstrumentTextError> {
        instrument_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What people see of an instrument, e.g. "Visa 4242": 1–100 printable characters, never a card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayHint(String);

impl DisplayHint {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, InstrumentTextError> {
        instrument_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new payment instrument, valid in every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentInstrument {
    pub kind: PaymentInstrumentKind,
    pub token: ProcessorToken,
    pub display_hint: DisplayHint,
}

/// A payment instrument as submitted (API body or page form); see [`PaymentInstrumentInput::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInstrumentInput {
    /// `card` or `bank_transfer`.
    pub kind: Option<String>,
    /// The payment processor's token for the instrument. Never a card number.
    pub token: Option<String>,
    /// What people see, e.g. "Visa 4242".
    pub display_hint: Option<String>,
}

impl PaymentInstrumentInput {
    /// Parses every field, naming each bad one. Card numbers are refused (`card_number_refused`) and
    /// never echoed in the message.
    pub fn parse(&self) -> Result<NewPaymentInstrument, FieldErrors> {
        let mut e = FieldErrors::new();
        let kind = match self.kind.as_deref().map(PaymentInstrumentKind::parse) {
            Some(Some(k)) => Some(k),
            Some(None) => {
                e.push("kind", "invalid_kind", "must be card or bank_transfer");
                None
            }
            None => {
                e.push("kind", "required", "is required");
                None
            }
        };
        let token = e.required("token", self.token.as_deref(), ProcessorToken::parse);
        let display_hint = e.required("display_hint", self.display_hint.as_deref(), DisplayHint::parse);
        e.finish(|| Some(NewPaymentInstrument { kind: kind?, token: token?, display_hint: display_hint? }))
    }
}

/// True when `s` holds something that looks like a payment card number: 12–19 digits (spaces and
/// dashes between them allowed) passing the Luhn check.
pub fn looks_like_card_number(s: &str) -> bool {
    let mut digits: Vec<u32> = Vec::new();
    let mut runs: Vec<Vec<u32>> = Vec::new();
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d);
        } else if c == ' ' || c == '-' {
            continue;
        } else if !digits.is_empty() {
            runs.push(std::mem::take(&mut digits));
        }
    }
    if !digits.is_empty() {
        runs.push(digits);
    }
    runs.iter().any(|run| (12..=19).any(|len| run.len() >= len && run.windows(len).any(luhn)))
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 =
        digits.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }).sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_recognised() {
        for card in ["4242424242424242", "4242 4242 4242 4242", "tok 5555-5555-5555-4444 x", "378282246310005"] {
            assert!(looks_like_card_number(card), "{card}");
        }
        for ok in ["tok_visa_4242", "Visa 4242", "pm_1N2b3C4d5E6f", "", "1234567890"] {
            assert!(!looks_like_card_number(ok), "{ok}");
        }
    }

    fn input(kind: &str, token: &str, hint: &str) -> PaymentInstrumentInput {
        PaymentInstrumentInput { kind: Some(kind.into()), token: Some(token.into()), display_hint: Some(hint.into()) }
    }

    #[test]
    fn instrument_input_is_parsed_once_with_every_check() {
        let ok = input("card", " tok_visa ", "Visa 4242").parse();
        assert_eq!(ok.as_ref().map(|p| p.token.as_str()), Ok("tok_visa"));
        let codes = |i: PaymentInstrumentInput| -> Vec<(String, String)> {
            i.parse().err().map(|e| e.0.into_iter().map(|f| (f.field, f.code)).collect()).unwrap_or_default()
        };
        assert_eq!(codes(input("card", "4242 4242 4242 4242", "Visa")), vec![("token".into(), "card_number_refused".into())]);
        assert_eq!(codes(input("card", "tok", "a\u{7}b")), vec![("display_hint".into(), "invalid_characters".into())]);
        assert_eq!(codes(input("cash", "", "x")), vec![("kind".into(), "invalid_kind".into()), ("token".into(), "required".into())]);
        assert_eq!(codes(input("card", "tok", &"x".repeat(101))), vec![("display_hint".into(), "too_long".into())]);
        assert_eq!(codes(PaymentInstrumentInput::default()).len(), 3);
    }

    #[test]
    fn a_refused_card_number_is_not_echoed() {
        let e = input("card", "4242424242424242", "Visa").parse().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!e.contains("4242424242424242"), "{e}");
    }
}
