//! The types and rules of partner-billing. Nothing here does I/O: the store, the API and the pages
//! parse into these types once and can then rely on them holding valid values.

pub mod address;
pub mod billing;
pub mod clock;
pub mod commerce;
pub mod country;
pub mod delivery;
pub mod ids;
pub mod instrument;
pub mod link;
pub mod money;
pub mod partner;
pub mod patterns;
pub mod roles;
pub mod text;
pub mod validation;

pub use address::{Address, AddressInput, Contact, ContactInput, EmailAddress, PhoneNumber};
pub use clock::{AdjustableClock, Clock, SystemClock, TestClock};
pub use commerce::{OfferId, OfferKind, Period};
pub use country::CountryCode;
pub use delivery::{AfterFailure, OutboxState, ReminderPolicy, RetryPolicy};
pub use ids::*;
pub use instrument::{DisplayHint, NewPaymentInstrument, PaymentInstrumentInput, PaymentInstrumentKind, ProcessorToken};
pub use link::{BillingWarning, LinkEffect, LinkEffects, LinkTarget};
pub use money::{Currency, Money, MoneyError};
pub use partner::{LegalProfile, LegalProfileChange, LegalProfileInput, PartnerAccountState};
pub use roles::{BillingRole, BillingScopeKind, DirectoryRole, GLOBAL_ADMIN_TEMPLATE_ID, PartnerRole, UserRoles};
pub use text::{DisplayName, TextError, display_name_from_claim, is_format_char};
pub use validation::{FieldError, FieldErrors};
