//! Membership offers, purchases and monthly invoices as rules (B1–B5, A5, M4): what an offer is, how
//! much a purchase may be for, which month a charge belongs to, how invoices are numbered and when
//! they are due.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

use crate::validation::ErrorCode;

/// An offer's id, chosen by the operator: 1–63 lowercase letters, digits and dashes, starting with a
/// letter or digit (`action-pack`, `solutions-partner-security`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "action-pack")]
pub struct OfferId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 63 lowercase letters, digits or dashes, starting with a letter or digit")]
pub struct InvalidOfferId;

impl ErrorCode for InvalidOfferId {
    fn code(&self) -> &'static str {
        "invalid_id"
    }
}

impl OfferId {
    pub fn parse(raw: &str) -> Result<Self, InvalidOfferId> {
        let raw = raw.trim();
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !raw.starts_with('-');
        if ok { Ok(OfferId(raw.to_owned())) } else { Err(InvalidOfferId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OfferId {
    type Error = InvalidOfferId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OfferId> for String {
    fn from(value: OfferId) -> Self {
        value.0
    }
}

impl std::fmt::Display for OfferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of membership an offer sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    ActionPack,
    Designation,
    BenefitsPackage,
}

impl OfferKind {
    pub const ALL: [OfferKind; 3] = [OfferKind::ActionPack, OfferKind::Designation, OfferKind::BenefitsPackage];

    pub fn as_str(&self) -> &'static str {
        match self {
            OfferKind::ActionPack => "action_pack",
            OfferKind::Designation => "designation",
            OfferKind::BenefitsPackage => "benefits_package",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// How many units one purchase may be for.
pub const MAX_QUANTITY: i64 = 1000;

/// Why a quantity is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("must be between 1 and {MAX_QUANTITY}")]
    OutOfRange,
    #[error("this offer is sold one per partner: the quantity must be 1")]
    OnePerPartner,
}

impl ErrorCode for QuantityError {
    fn code(&self) -> &'static str {
        match self {
            QuantityError::OutOfRange => "out_of_range",
            QuantityError::OnePerPartner => "one_per_partner",
        }
    }
}

/// A purchase's quantity: 1 to 1000, and exactly 1 for an offer sold one per partner (Action Pack).
pub fn check_quantity(quantity: i64, one_per_partner: bool) -> Result<i64, QuantityError> {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(QuantityError::OutOfRange);
    }
    if one_per_partner && quantity != 1 {
        return Err(QuantityError::OnePerPartner);
    }
    Ok(quantity)
}

/// The instant a membership bought at `at` for `term_months` ends (the same day of the month, or
/// the month's last day when it has fewer days).
pub fn term_end(at: OffsetDateTime, term_months: i64) -> OffsetDateTime {
    let months = i64::from(at.year()) * 12 + i64::from(at.month() as u8) - 1 + term_months;
    let year = i32::try_from(months.div_euclid(12)).unwrap_or(i32::MAX);
    let month = Month::try_from(u8::try_from(months.rem_euclid(12) + 1).unwrap_or(1)).unwrap_or(Month::January);
    let day = at.day().min(time::util::days_in_month(month, year));
    match Date::from_calendar_date(year, month, day) {
        Ok(d) => d.with_time(at.time()).assume_utc(),
        Err(_) => OffsetDateTime::new_utc(Date::MAX, Time::MIDNIGHT),
    }
}

/// Rule B1: a purchase made at `at` needs a billing link when it is on or after the cutover date.
pub fn needs_billing_link(at: OffsetDateTime, cutover: Date) -> bool {
    at >= cutover.midnight().assume_utc()
}

/// A calendar month in UTC, the period of a monthly invoice (rule B4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    month: Month,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a month written YYYY-MM, such as 2026-10")]
pub struct InvalidPeriod;

impl ErrorCode for InvalidPeriod {
    fn code(&self) -> &'static str {
        "invalid_period"
    }
}

impl Period {
    pub fn new(year: i32, month: Month) -> Self {
        Period { year, month }
    }

    /// Parses `YYYY-MM`.
    pub fn parse(raw: &str) -> Result<Self, InvalidPeriod> {
        let (y, m) = raw.trim().split_once('-').ok_or(InvalidPeriod)?;
        if y.len() != 4 || m.len() != 2 || !y.chars().chain(m.chars()).all(|c| c.is_ascii_digit()) {
            return Err(InvalidPeriod);
        }
        let year: i32 = y.parse().map_err(|_| InvalidPeriod)?;
        let month = Month::try_from(m.parse::<u8>().map_err(|_| InvalidPeriod)?).map_err(|_| InvalidPeriod)?;
        if year < 1970 {
            return Err(InvalidPeriod);
        }
        Ok(Period { year, month })
    }

    /// The month that `at` falls in.
    pub fn containing(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        Period { year: at.year(), month: at.month() }
    }

    /// The month before this one.
    pub fn previous(self) -> Self {
        match self.month {
            Month::January => Period { year: self.year - 1, month: Month::December },
            m => Period { year: self.year, month: m.previous() },
        }
    }

    pub fn next(self) -> Self {
        match self.month {
            Month::December => Period { year: self.year + 1, month: Month::January },
            m => Period { year: self.year, month: m.next() },
        }
    }

    /// The first instant of the month (inclusive).
    pub fn start(self) -> OffsetDateTime {
        match Date::from_calendar_date(self.year, self.month, 1) {
            Ok(d) => d.midnight().assume_utc(),
            Err(_) => OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// The first instant of the next month (exclusive): a charge at `t` is in the period when
    /// `start() <= t < end()`.
    pub fn end(self) -> OffsetDateTime {
        self.next().start()
    }

    pub fn contains(self, at: OffsetDateTime) -> bool {
        self.start() <= at && at < self.end()
    }

    /// Whether the month is over at `now`: only then may it be invoiced.
    pub fn has_ended(self, now: OffsetDateTime) -> bool {
        now >= self.end()
    }

    pub fn year(self) -> i32 {
        self.year
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month as u8)
    }
}

/// An invoice number: `PB-YYYY-NNNNNN`, one contiguous sequence per calendar year of issue.
pub fn invoice_number(year: i32, seq: i64) -> String {
    format!("PB-{year:04}-{seq:06}")
}

/// Invoices are due 30 days after issue.
pub fn due_date(issue: Date) -> Date {
    issue.saturating_add(time::Duration::days(30))
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    #[test]
    fn offer_ids_are_slugs() {
        assert!(OfferId::parse("action-pack").is_ok());
        assert!(OfferId::parse("sp-security-2024").is_ok());
        for bad in ["", "Action", "-x", "a b", "a_b", &"x".repeat(64)] {
            assert!(OfferId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rule_b1_the_cutover_starts_at_midnight_utc_of_its_date() {
        let cutover = date!(2024 - 02 - 01);
        assert!(!needs_billing_link(datetime!(2024-01-31 23:59:59.999999 UTC), cutover));
        assert!(needs_billing_link(datetime!(2024-02-01 0:00 UTC), cutover));
    }

    #[test]
    fn rule_b4_a_period_is_a_utc_month_half_open() {
        let p = Period::parse("2026-02").unwrap_or_else(|_| Period::new(1970, Month::January));
        assert_eq!(p.to_string(), "2026-02");
        assert_eq!(p.start(), datetime!(2026-02-01 0:00 UTC));
        assert_eq!(p.end(), datetime!(2026-03-01 0:00 UTC));
        assert!(p.contains(datetime!(2026-02-28 23:59:59.999999 UTC)));
        assert!(!p.contains(datetime!(2026-03-01 0:00 UTC)));
        assert_eq!(Period::containing(datetime!(2026-03-01 0:00 UTC)), p.next());
        assert_eq!(Period::parse("2026-01").map(Period::previous).map(|p| p.to_string()), Ok("2025-12".to_owned()));
        assert!(!p.has_ended(datetime!(2026-02-28 23:00 UTC)));
        assert!(p.has_ended(datetime!(2026-03-01 0:00 UTC)));
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00", "1969-12"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_and_one_per_partner() {
        assert_eq!(check_quantity(1, true), Ok(1));
        assert_eq!(check_quantity(2, true), Err(QuantityError::OnePerPartner));
        assert_eq!(check_quantity(1000, false), Ok(1000));
        assert_eq!(check_quantity(0, false), Err(QuantityError::OutOfRange));
        assert_eq!(check_quantity(1001, false), Err(QuantityError::OutOfRange));
    }

    #[test]
    fn terms_end_on_the_same_day_or_the_months_last() {
        assert_eq!(term_end(datetime!(2026-01-31 10:00 UTC), 1), datetime!(2026-02-28 10:00 UTC));
        assert_eq!(term_end(datetime!(2026-03-15 0:00 UTC), 12), datetime!(2027-03-15 0:00 UTC));
        assert_eq!(term_end(datetime!(2026-11-30 0:00 UTC), 3), datetime!(2027-02-28 0:00 UTC));
    }

    #[test]
    fn invoice_numbers_and_due_dates() {
        assert_eq!(invoice_number(2026, 42), "PB-2026-000042");
        assert_eq!(due_date(date!(2026 - 12 - 15)), date!(2027 - 01 - 14));
    }
}
