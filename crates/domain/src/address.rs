//! Addresses and contacts. Inputs arrive as [`AddressInput`]/[`ContactInput`] (every field optional,
//! so a missing field is a 422 naming it rather than a 400) and are parsed once into [`Address`] and
//! [`Contact`], which can only hold valid values.

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::text::{TextError, clean_text};
use crate::validation::{ErrorCode, FieldErrors};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an email address such as name@example.com")]
pub struct InvalidEmail;

impl ErrorCode for InvalidEmail {
    fn code(&self) -> &'static str {
        "invalid_email"
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 chars.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let s = raw.trim();
        let (local, domain) = s.split_once('@').ok_or(InvalidEmail)?;
        let ok = !local.is_empty()
            && local.chars().count() <= 64
            && s.chars().count() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',');
        if !ok {
            return Err(InvalidEmail);
        }
        // Domains are case-insensitive; local parts are kept as typed.
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = InvalidEmail;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a phone number of 5 to 20 digits, optionally with +, spaces, dashes, dots and parentheses")]
pub struct InvalidPhone;

impl ErrorCode for InvalidPhone {
    fn code(&self) -> &'static str {
        "invalid_phone"
    }
}

/// A phone number as people write it: digits with `+ -.()` and spaces; 5–20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let s = raw.trim();
        let digits = s.chars().filter(char::is_ascii_digit).count();
        let allowed = s.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        let plus_ok = s.rfind('+').is_none_or(|i| i == 0);
        if !allowed || !plus_ok || !(5..=20).contains(&digits) {
            return Err(InvalidPhone);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhone;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

fn line(raw: &str) -> Result<String, TextError> {
    clean_text(raw, 200)
}

fn short(raw: &str) -> Result<String, TextError> {
    clean_text(raw, 100)
}

/// A postal address. `address_line1` and `country` are required; the rest is optional and valid when
/// present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
}

/// An address as submitted; see [`AddressInput::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_line3: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

fn optional<T, E: std::fmt::Display + ErrorCode>(
    errs: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<T> {
    match raw {
        Some(v) if !v.trim().is_empty() => errs.check(field, parse(v)),
        _ => None,
    }
}

impl AddressInput {
    pub fn parse(&self) -> Result<Address, FieldErrors> {
        let mut e = FieldErrors::new();
        let address_line1 = e.required("address_line1", self.address_line1.as_deref(), line);
        let address_line2 = optional(&mut e, "address_line2", self.address_line2.as_deref(), line);
        let address_line3 = optional(&mut e, "address_line3", self.address_line3.as_deref(), line);
        let city = optional(&mut e, "city", self.city.as_deref(), short);
        let region = optional(&mut e, "region", self.region.as_deref(), short);
        let postal_code = optional(&mut e, "postal_code", self.postal_code.as_deref(), |s| {
            let v = clean_text(s, 20)?;
            if v.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') { Ok(v) } else { Err(TextError::ControlCharacter) }
        });
        let country = e.required("country", self.country.as_deref(), CountryCode::parse);
        let company_name = optional(&mut e, "company_name", self.company_name.as_deref(), line);
        let email = optional(&mut e, "email", self.email.as_deref(), EmailAddress::parse);
        let phone = optional(&mut e, "phone", self.phone.as_deref(), PhoneNumber::parse);
        e.finish(|| {
            Some(Address {
                address_line1: address_line1?,
                address_line2,
                address_line3,
                city,
                region,
                postal_code,
                country: country?,
                company_name,
                email,
                phone,
            })
        })
    }
}

impl From<&Address> for AddressInput {
    fn from(a: &Address) -> Self {
        AddressInput {
            address_line1: Some(a.address_line1.clone()),
            address_line2: a.address_line2.clone(),
            address_line3: a.address_line3.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: Some(a.country.to_string()),
            company_name: a.company_name.clone(),
            email: a.email.as_ref().map(ToString::to_string),
            phone: a.phone.as_ref().map(|p| p.as_str().to_owned()),
        }
    }
}

/// A person to contact: name and email required, phone optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub name: String,
    pub email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl ContactInput {
    pub fn parse(&self) -> Result<Contact, FieldErrors> {
        let mut e = FieldErrors::new();
        let name = e.required("name", self.name.as_deref(), short);
        let email = e.required("email", self.email.as_deref(), EmailAddress::parse);
        let phone = optional(&mut e, "phone", self.phone.as_deref(), PhoneNumber::parse);
        e.finish(|| Some(Contact { name: name?, email: email?, phone }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(line1: Option<&str>, country: Option<&str>) -> AddressInput {
        AddressInput { address_line1: line1.map(str::to_owned), country: country.map(str::to_owned), ..Default::default() }
    }

    #[test]
    fn address_needs_line1_and_country() {
        let errs = input(None, None).parse().err().map(|e| e.0).unwrap_or_default();
        let fields: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(fields, vec![("address_line1", "required"), ("country", "required")]);
    }

    #[test]
    fn address_minimal_is_valid() {
        let a = input(Some(" 1 Main St "), Some("us")).parse();
        assert_eq!(a.as_ref().map(|a| a.address_line1.as_str()), Ok("1 Main St"));
        assert_eq!(a.map(|a| a.country), Ok(CountryCode::UNITED_STATES));
    }

    #[test]
    fn address_validates_optional_fields_when_present() {
        let mut i = input(Some("Via Roma 1"), Some("IT"));
        i.email = Some("not-an-email".into());
        i.phone = Some("12".into());
        i.postal_code = Some("<script>".into());
        let codes: Vec<String> = i.parse().err().map(|e| e.0.into_iter().map(|e| e.field).collect()).unwrap_or_default();
        assert_eq!(codes, vec!["postal_code", "email", "phone"]);
    }

    #[test]
    fn address_blank_optional_fields_are_absent() {
        let mut i = input(Some("x"), Some("DE"));
        i.city = Some("  ".into());
        assert_eq!(i.parse().map(|a| a.city), Ok(None));
    }

    #[test]
    fn address_rejects_bad_country() {
        let e = input(Some("x"), Some("XX")).parse().err().map(|e| e.0).unwrap_or_default();
        assert_eq!(e[0].code, "invalid_country");
    }

    #[test]
    fn address_rejects_unknown_fields_when_deserialized() {
        assert!(serde_json::from_str::<AddressInput>(r#"{"address_line1":"x","country":"US","zip":"1"}"#).is_err());
    }

    #[test]
    fn email_validation() {
        assert_eq!(EmailAddress::parse(" Pat@Example.COM ").map(|e| e.0), Ok("Pat@example.com".into()));
        for bad in ["", "a", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@.com", "a@b.com.", "a@b..com"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_validation() {
        assert!(PhoneNumber::parse("+1 (425) 555-0100").is_ok());
        for bad in ["", "1234", "abc12345", "12+345678", &"1".repeat(21)] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contact_requires_name_and_email() {
        let e = ContactInput::default().parse().err().map(|e| e.0.len());
        assert_eq!(e, Some(2));
        let c = ContactInput { name: Some("Pat".into()), email: Some("pat@contoso.com".into()), phone: None }.parse();
        assert!(c.is_ok());
    }
}
