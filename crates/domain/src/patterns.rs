//! The input rules of this crate written as regular expressions, for the OpenAPI document: a client
//! (or a fuzzer) that follows the document's patterns sends exactly what the parsers here accept.
//! Each pattern is tested against its parser (`tests` below) so the two cannot drift apart.
//!
//! The dialect is the common ground of Python's `re`, Rust's `regex` and ECMA-262: `\uHHHH` escapes,
//! classes, counted repetition; characters beyond the BMP as `\UHHHHHHHH` (Python and Rust read it,
//! ECMA-262 does not). The one pattern with a lookahead (email, for its total length) is documented.

use crate::country::ASSIGNED;
use crate::money::CURRENCIES;
use crate::text::FORMAT_CHARS;

/// What `str::trim` removes: Unicode `White_Space`.
const WS: &str = r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// `core` with any whitespace around it, as a parser that trims first reads it.
pub fn trimmed(core: &str) -> String {
    format!("^[{WS}]*{core}[{WS}]*$")
}

/// Whitespace as `str::trim` knows it, as a class.
pub fn whitespace() -> String {
    format!("[{WS}]")
}

/// Not whitespace, as a class.
pub fn not_whitespace() -> String {
    format!("[^{WS}]")
}

/// Unicode `Cc`.
const CC: &str = r"\u0000-\u001F\u007F-\u009F";

fn esc(c: u32) -> String {
    if c > 0xFFFF { format!(r"\U{c:08X}") } else { format!(r"\u{c:04X}") }
}

/// Unicode `Cf` as [`crate::text::is_format_char`] knows it.
fn cf() -> String {
    FORMAT_CHARS.iter().map(|&(lo, hi)| if lo == hi { esc(lo) } else { format!("{}-{}", esc(lo), esc(hi)) }).collect()
}

/// Text that trims to 1..=`max` characters with no control or formatting characters
/// ([`crate::text::clean_text`]).
pub fn clean_text(max: usize) -> String {
    format!("^{}[{}]*$", clean_core(max), WS)
}

fn clean_core(max: usize) -> String {
    let cf = cf();
    let edge = format!("[^{WS}{CC}{cf}]");
    let inner = format!("[^{CC}{cf}]");
    format!("[{WS}]*{edge}(?:{inner}{{0,{}}}{edge})?", max.saturating_sub(2))
}

/// Like [`clean_text`], or blank: an optional field where blank means absent.
pub fn optional_clean_text(max: usize) -> String {
    format!("^(?:{})?[{WS}]*$", clean_core(max))
}

/// [`crate::EmailAddress::parse`]: one `@`, a dotted domain, no whitespace, control characters,
/// `<`, `>` or `,`; a local part of 1–64 characters and 3–254 in all. The total is a lookahead.
pub fn email() -> String {
    format!("^[{WS}]*{}[{WS}]*$", email_core())
}

fn email_core() -> String {
    let local = format!("[^{WS}{CC}<>,@]");
    let label = format!("[^{WS}{CC}<>,@.]");
    format!("(?=[^{WS}]{{3,254}}[{WS}]*$){local}{{1,64}}@{label}+(?:\\.{label}+)+")
}

/// An email, or blank.
pub fn optional_email() -> String {
    format!("^[{WS}]*(?:{})?[{WS}]*$", email_core())
}

/// [`crate::PhoneNumber::parse`]: digits, spaces and `+-.()`, 5–20 digits, `+` only first; or blank.
pub fn optional_phone() -> String {
    format!(r"^[{WS}]*(?:\+?[ .()\-]*(?:[0-9][ .()\-]*){{5,20}})?[{WS}]*$")
}

/// An assigned ISO 3166-1 alpha-2 code, either case ([`crate::CountryCode::parse`]).
pub fn country() -> String {
    let codes: Vec<String> =
        ASSIGNED.iter().map(|code| code.chars().map(|c| format!("[{}{}]", c, c.to_ascii_lowercase())).collect()).collect();
    format!("^[{WS}]*(?:{})[{WS}]*$", codes.join("|"))
}

/// An active ISO 4217 currency, either case ([`crate::Currency::parse`]).
pub fn currency() -> String {
    let codes: Vec<String> =
        CURRENCIES.iter().map(|(code, _)| code.chars().map(|c| format!("[{}{}]", c, c.to_ascii_lowercase())).collect()).collect();
    format!("^[{WS}]*(?:{})[{WS}]*$", codes.join("|"))
}

/// A postal code: 1–20 of letters, digits, spaces and hyphens after trimming; or blank.
pub fn optional_postal_code() -> String {
    format!("^[{WS}]*(?:[A-Za-z0-9\\-](?:[A-Za-z0-9 \\-]{{0,18}}[A-Za-z0-9\\-])?)?[{WS}]*$")
}

/// [`crate::OfferId::parse`]. Surrounding whitespace is trimmed by every token-like parser here,
/// so that a pattern's `$` (which also matches before a final newline) means the same everywhere.
pub fn offer_id() -> String {
    format!(r"^[{WS}]*[a-z0-9][a-z0-9\-]{{0,62}}[{WS}]*$")
}

/// [`crate::Period::parse`]: `YYYY-MM` from 1970.
pub fn period() -> String {
    format!(r"^[{WS}]*(?:19[7-9][0-9]|[2-9][0-9]{{3}})-(?:0[1-9]|1[0-2])[{WS}]*$")
}

/// A prefixed id (`ba_` and 32 hex digits).
pub fn prefixed_id(prefix: &str) -> String {
    format!("^[{WS}]*{prefix}_[0-9A-Fa-f]{{32}}[{WS}]*$")
}

/// A tenant's or user's GUID as [`uuid::Uuid::parse_str`] reads it after trimming: hyphenated,
/// simple, braced or as a URN.
pub fn guid() -> String {
    let h = "[0-9A-Fa-f]";
    let hyph = format!("{h}{{8}}-{h}{{4}}-{h}{{4}}-{h}{{4}}-{h}{{12}}");
    format!("^[{WS}]*(?:{hyph}|{h}{{32}}|\\{{{hyph}\\}}|urn:uuid:{hyph})[{WS}]*$")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::address::{AddressInput, ContactInput};
    use crate::{CountryCode, EmailAddress, OfferId, Period, TenantId};

    /// Rust's regex has no lookahead: the email pattern's length check is applied by hand. Each
    /// pattern is compiled once (the country pattern is large, and proptest runs thousands of cases).
    fn matches(pattern: &str, s: &str) -> bool {
        static COMPILED: LazyLock<Mutex<HashMap<String, (Regex, bool)>>> = LazyLock::new(Default::default);
        let mut compiled = COMPILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (re, counts_total) = compiled.entry(pattern.to_owned()).or_insert_with(|| {
            let (stripped, counts_total) = match pattern.find("(?=") {
                Some(at) => {
                    let end = at + pattern[at..].find("$)").map_or(0, |e| e + 2);
                    (format!("{}{}", &pattern[..at], &pattern[end..]), true)
                }
                None => (pattern.to_owned(), false),
            };
            (Regex::new(&stripped).unwrap_or_else(|e| panic!("{stripped}: {e}")), counts_total)
        });
        let trimmed = s.trim().chars().count();
        re.is_match(s) && (!*counts_total || trimmed == 0 || (3..=254).contains(&trimmed))
    }

    /// Strings made of the characters the rules care about, with runs long enough to cross limits.
    fn text() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("\u{a0}".to_owned()),
            Just("\u{3000}".to_owned()),
            Just("\u{85}".to_owned()),
            Just("\u{0}".to_owned()),
            Just("\u{200b}".to_owned()),
            Just("\u{e0041}".to_owned()),
            Just("\u{1c}".to_owned()),
            Just("@".to_owned()),
            Just(".".to_owned()),
            Just("-".to_owned()),
            Just("+".to_owned()),
            Just("(".to_owned()),
            Just("<".to_owned()),
            Just(",".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("é".to_owned()),
            Just("😀".to_owned()),
            "[a-zA-Z0-9]{1,3}",
            "[0-9]{1,8}",
            "[0-9a-f]{8}",
            Just("urn:uuid:".to_owned()),
            "[a-z]{10,70}",
        ];
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
    }

    fn line(raw: &str) -> bool {
        AddressInput { address_line1: Some(raw.to_owned()), country: Some("US".into()), ..Default::default() }.parse().is_ok()
    }

    fn optional(field: &str, raw: &str) -> bool {
        let mut a = AddressInput { address_line1: Some("x".into()), country: Some("US".into()), ..Default::default() };
        match field {
            "postal_code" => a.postal_code = Some(raw.to_owned()),
            "phone" => a.phone = Some(raw.to_owned()),
            "email" => a.email = Some(raw.to_owned()),
            _ => a.city = Some(raw.to_owned()),
        }
        a.parse().is_ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn patterns_accept_exactly_what_the_parsers_accept(s in text()) {
            prop_assert_eq!(matches(&clean_text(100), &s), crate::DisplayName::parse(&s).is_ok(), "clean_text {:?}", s);
            prop_assert_eq!(matches(&clean_text(200), &s), line(&s), "line {:?}", s);
            prop_assert_eq!(matches(&optional_clean_text(100), &s), optional("city", &s), "city {:?}", s);
            prop_assert_eq!(matches(&email(), &s), EmailAddress::parse(&s).is_ok(), "email {:?}", s);
            prop_assert_eq!(matches(&optional_email(), &s), optional("email", &s), "optional email {:?}", s);
            prop_assert_eq!(matches(&optional_phone(), &s), optional("phone", &s), "phone {:?}", s);
            prop_assert_eq!(matches(&optional_postal_code(), &s), optional("postal_code", &s), "postal {:?}", s);
            prop_assert_eq!(matches(&country(), &s), CountryCode::parse(&s).is_ok(), "country {:?}", s);
            prop_assert_eq!(matches(&currency(), &s), crate::Currency::parse(&s).is_ok(), "currency {:?}", s);
            prop_assert_eq!(matches(&offer_id(), &s), OfferId::parse(&s).is_ok(), "offer {:?}", s);
            prop_assert_eq!(matches(&period(), &s), Period::parse(&s).is_ok(), "period {:?}", s);
            prop_assert_eq!(matches(&guid(), &s), TenantId::parse(&s).is_ok(), "guid {:?}", s);
            let contact = ContactInput { name: Some(s.clone()), email: Some("a@b.co".into()), phone: None };
            prop_assert_eq!(matches(&clean_text(100), &s), contact.parse().is_ok(), "contact name {:?}", s);
        }
    }

    #[test]
    fn patterns_take_the_edges_the_parsers_take() {
        for (pattern, s, ok) in [
            (clean_text(3), " abc ", true),
            (clean_text(3), "abcd", false),
            (clean_text(3), "a\tb", false),
            (clean_text(3), "a b", true),
            (clean_text(3), "a\u{200b}", false),
            (email(), &format!("{}@example.com", "a".repeat(64)), true),
            (email(), &format!("{}@example.com", "a".repeat(65)), false),
            (email(), &format!("a@{}.com", "b".repeat(250)), false),
            (country(), " it ", true),
            (country(), "XX", false),
            (period(), "1969-12", false),
            (period(), "2026-13", false),
            (currency(), "eur", true),
            (currency(), "EURO", false),
        ] {
            assert_eq!(matches(&pattern, s), ok, "{pattern} on {s:?}");
        }
        assert!(matches(&prefixed_id("ba"), "ba_0192c4a8e0a07b3e8f7a6e2d5c4b3a21"));
        assert!(crate::BillingAccountId::parse("ba_0192C4A8E0A07B3E8F7A6E2D5C4B3A21").is_ok());
    }
}
