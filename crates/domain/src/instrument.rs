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

/// True when `s` holds something that looks like a payment card number: 13–19 digits of a card
/// brand's range that pass the Luhn check, written in one piece or in groups split by any
/// separators (spaces, dashes, dots, slashes, underscores, …). Digits of any script count
/// (full-width `４２４２` is 4242). Letters end a number, so a processor token such as
/// `pm_1N2b3C4d5E6f` is never taken for one, and a run of digits inside a token is judged whole,
/// not by every window of it.
pub fn looks_like_card_number(s: &str) -> bool {
    // Digit groups of the current stretch (groups joined only by separators), and the group being read.
    let mut groups: Vec<Vec<u8>> = Vec::new();
    let mut group: Vec<u8> = Vec::new();
    for c in s.chars() {
        if let Some(d) = decimal_digit(c) {
            group.push(d);
            continue;
        }
        if !group.is_empty() {
            groups.push(std::mem::take(&mut group));
        }
        if c.is_alphanumeric() {
            if any_card_in(&groups) {
                return true;
            }
            groups.clear();
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    any_card_in(&groups)
}

/// Whether some consecutive groups of one stretch spell a card number: each span of whole groups
/// 13–19 digits long.
fn any_card_in(groups: &[Vec<u8>]) -> bool {
    (0..groups.len()).any(|i| {
        let mut digits: Vec<u8> = Vec::new();
        groups[i..].iter().any(|g| {
            digits.extend_from_slice(g);
            (13..=19).contains(&digits.len()) && luhn(&digits) && card_brand_prefix(&digits)
        })
    })
}

/// The first code point of each block of ten decimal digits (Unicode `Nd`) in the scripts people
/// type card numbers in, besides ASCII.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040,
    0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50,
    0xABF0, 0xFF10, 0x104A0, 0x11066, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E950, 0x1FBF0,
];

/// The value of a decimal digit of any of those scripts.
fn decimal_digit(c: char) -> Option<u8> {
    if let Some(d) = c.to_digit(10) {
        return u8::try_from(d).ok();
    }
    let cp = u32::from(c);
    DIGIT_ZEROS.iter().find(|&&zero| (zero..zero + 10).contains(&cp)).and_then(|zero| u8::try_from(cp - zero).ok())
}

/// Whether the number starts in a card brand's range (Visa, Mastercard, Amex, Discover, Diners,
/// JCB, UnionPay, Maestro, Mir, RuPay, Verve, UATP).
fn card_brand_prefix(d: &[u8]) -> bool {
    let n = |k: usize| d.iter().take(k).fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    match d.first() {
        Some(1 | 4 | 5 | 6) => true,
        Some(2) => (2200..=2204).contains(&n(4)) || (2221..=2720).contains(&n(4)),
        Some(3) => (300..=305).contains(&n(3)) || matches!(n(2), 34 | 36..=39) || (3528..=3589).contains(&n(4)),
        Some(8) => matches!(n(2), 81 | 82),
        _ => false,
    }
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[test]
    fn card_numbers_are_recognised() {
        for card in ["4242424242424242", "4242 4242 4242 4242", "tok 5555-5555-5555-4444 x", "378282246310005"] {
            assert!(looks_like_card_number(card), "{card}");
        }
        for ok in ["tok_visa_4242", "Visa 4242", "pm_1N2b3C4d5E6f", "", "1234567890"] {
            assert!(!looks_like_card_number(ok), "{ok}");
        }
    }

    /// Found on the running binary: these card numbers went through.
    #[test]
    fn hardening_card_filter_catches_any_separator_and_full_width_digits() {
        for card in [
            "4242.4242.4242.4242",
            "4242/4242/4242/4242",
            "4242_4242_4242_4242",
            "４２４２４２４２４２４２４２４２",
            "４２４２ ４２４２ ４２４２ ４２４２",
            "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",
            "card: 4242 . 4242 . 4242 . 4242!",
            "4242 4242 4242 4242 / 5555 5555 5555 4444",
        ] {
            assert!(looks_like_card_number(card), "{card}");
        }
    }

    /// Found on the running binary: a token with a long digit run was refused whenever any window
    /// of it passed Luhn. `tok_` + 4242424242424241 fails Luhn as a whole, but its 12-digit window
    /// 424242424241 passes.
    #[test]
    fn hardening_card_filter_judges_whole_digit_runs_not_windows() {
        assert!(!looks_like_card_number("tok_4242424242424241"));
        assert!(!looks_like_card_number("tok_9999999999999995"), "Luhn-valid, but no card brand starts with 9");
        assert!(!looks_like_card_number("order 2026-11-29"));
    }

    /// A number 13–19 digits long that passes Luhn and starts like a card brand.
    fn card() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![vec![4u8], vec![5, 1], vec![5, 5], vec![3, 4], vec![3, 7], vec![6, 0, 1, 1], vec![2, 2, 2, 1]]),
            13usize..=19,
        )
            .prop_flat_map(|(prefix, len)| {
                let rest = len - prefix.len() - 1;
                (Just(prefix), prop::collection::vec(0u8..10, rest))
            })
            .prop_map(|(prefix, middle)| {
                let mut d: Vec<u8> = prefix.into_iter().chain(middle).collect();
                d.push(0);
                let check = (0..10u8).find(|&c| {
                    let last = d.len() - 1;
                    d[last] = c;
                    luhn(&d)
                });
                let last = d.len() - 1;
                d[last] = check.unwrap_or(0);
                d
            })
    }

    proptest! {
        #[test]
        fn hardening_card_filter_refuses_every_card_however_written(
            digits in card(),
            sep in prop::sample::select(vec!["", " ", "-", ".", "/", "_", " - ", "\u{2009}"]),
            group in 1usize..6,
            wide in any::<bool>(),
        ) {
            let shown: Vec<String> = digits
                .iter()
                .map(|&d| if wide { char::from_u32(0xFF10 + u32::from(d)).map(String::from).unwrap_or_default() } else { d.to_string() })
                .collect();
            let written = shown.chunks(group).map(|c| c.concat()).collect::<Vec<_>>().join(sep);
            prop_assert!(looks_like_card_number(&written), "{}", written);
        }

        #[test]
        fn hardening_card_filter_accepts_processor_like_tokens(
            prefix in prop::sample::select(vec!["tok_", "pm_", "card_", "src_", "ba_"]),
            body in "[A-Za-z][A-Za-z0-9]{7,40}",
        ) {
            // Letters keep every digit run of a random alphanumeric token short.
            let token = format!("{prefix}{body}");
            let longest_run = token.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
            prop_assume!(longest_run < 13);
            prop_assert!(!looks_like_card_number(&token), "{}", token);
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
