//! Amounts as a reader expects them on an invoice.

use pb_domain::Money;

/// Formats an amount in major units with the currency's minor digits and comma thousands
/// separators: `1,234.56 USD`, `-0.05 USD`, `1,235 JPY`, `1,234.567 KWD`.
///
/// Unlike `Display for Money`, which keeps to plain digits for logs and APIs, this is for
/// people reading a printed document. The minus sign leads; the code trails, as in `Display`.
pub fn format_money(m: Money) -> String {
    let units = u32::from(m.currency.minor_units());
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    // unsigned_abs, because i64::MIN has no positive i64.
    let abs = m.amount_minor.unsigned_abs();
    if units == 0 {
        return format!("{sign}{} {}", group_thousands(abs), m.currency);
    }
    let div = 10u64.saturating_pow(units);
    format!("{sign}{}.{:0width$} {}", group_thousands(abs / div), abs % div, m.currency, width = units as usize)
}

/// Formats a signed count with the same separators as [`format_money`], for quantities.
pub(crate) fn format_quantity(quantity: i64) -> String {
    let sign = if quantity < 0 { "-" } else { "" };
    format!("{sign}{}", group_thousands(quantity.unsigned_abs()))
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_domain::Currency;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).expect("known currency")
    }

    #[test]
    fn two_decimal_currencies_show_cents_and_thousands() {
        assert_eq!(format_money(Money::new(123_456, cur("USD"))), "1,234.56 USD");
        assert_eq!(format_money(Money::new(0, cur("USD"))), "0.00 USD");
        assert_eq!(format_money(Money::new(5, cur("EUR"))), "0.05 EUR");
        assert_eq!(format_money(Money::new(99_999, cur("EUR"))), "999.99 EUR");
        assert_eq!(format_money(Money::new(100_000, cur("EUR"))), "1,000.00 EUR");
        assert_eq!(format_money(Money::new(123_456_789_012, cur("USD"))), "1,234,567,890.12 USD");
    }

    #[test]
    fn zero_decimal_currencies_have_no_point() {
        assert_eq!(format_money(Money::new(1_235, cur("JPY"))), "1,235 JPY");
        assert_eq!(format_money(Money::new(0, cur("JPY"))), "0 JPY");
        assert_eq!(format_money(Money::new(999, cur("KRW"))), "999 KRW");
        assert_eq!(format_money(Money::new(-1_000_000, cur("JPY"))), "-1,000,000 JPY");
    }

    #[test]
    fn three_decimal_currencies_show_three_digits() {
        assert_eq!(format_money(Money::new(1_234_567, cur("KWD"))), "1,234.567 KWD");
        assert_eq!(format_money(Money::new(7, cur("BHD"))), "0.007 BHD");
        assert_eq!(format_money(Money::new(-1_000, cur("KWD"))), "-1.000 KWD");
    }

    #[test]
    fn negative_amounts_lead_with_a_minus() {
        assert_eq!(format_money(Money::new(-5, cur("USD"))), "-0.05 USD");
        assert_eq!(format_money(Money::new(-123_456, cur("USD"))), "-1,234.56 USD");
    }

    #[test]
    fn extreme_amounts_do_not_overflow() {
        assert_eq!(format_money(Money::new(i64::MIN, cur("USD"))), "-92,233,720,368,547,758.08 USD");
        assert_eq!(format_money(Money::new(i64::MAX, cur("JPY"))), "9,223,372,036,854,775,807 JPY");
    }

    #[test]
    fn quantities_group_like_money() {
        assert_eq!(format_quantity(0), "0");
        assert_eq!(format_quantity(999), "999");
        assert_eq!(format_quantity(1_000), "1,000");
        assert_eq!(format_quantity(-12_345), "-12,345");
    }
}
