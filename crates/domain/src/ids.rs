//! Identifiers. Tenants and users carry Entra-shaped GUIDs (they arrive in tokens as `tid`/`oid`);
//! everything this service creates carries a type prefix and a UUIDv7, so an id says what it names
//! and sorts by creation time.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

impl ErrorCode for InvalidId {
    fn code(&self) -> &'static str {
        "invalid_id"
    }
}

macro_rules! guid_id {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, example = "0192c4a8-e0a0-7b3e-8f7a-6e2d5c4b3a21")]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(raw.trim()).map(Self).map_err(|_| InvalidId { kind: $kind })
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    };
}

macro_rules! prefixed_id {
    ($(#[$m:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, example = json!(concat!($prefix, "_0192c4a8e0a07b3e8f7a6e2d5c4b3a21")))]
        pub struct $name(Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let err = || InvalidId { kind: $kind };
                let rest = raw.trim().strip_prefix(concat!($prefix, "_")).ok_or_else(err)?;
                if rest.len() != 32 {
                    return Err(err());
                }
                Uuid::parse_str(rest).map(Self).map_err(|_| err())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    };
}

guid_id!(
    /// A directory (tenant); the token's `tid`.
    TenantId,
    "tenant"
);
guid_id!(
    /// A user of a tenant; the token's `oid`.
    UserId,
    "user"
);
prefixed_id!(PartnerAccountId, "pa", "partner account");
prefixed_id!(BillingAccountId, "ba", "billing account");
prefixed_id!(BillingProfileId, "bp", "billing profile");
prefixed_id!(InvoiceSectionId, "is", "invoice section");
prefixed_id!(PaymentInstrumentId, "pi", "payment instrument");
prefixed_id!(AgreementAcceptanceId, "agr", "agreement acceptance");
prefixed_id!(BillingLinkId, "bl", "billing link");
prefixed_id!(RoleAssignmentId, "ra", "role assignment");
prefixed_id!(AuditRecordId, "au", "audit record");
prefixed_id!(PurchaseId, "pu", "purchase");
prefixed_id!(InvoiceId, "in", "invoice");
prefixed_id!(InvoiceRunId, "ir", "invoice run");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_ids_round_trip() {
        let id = BillingAccountId::new();
        let s = id.to_string();
        assert!(s.starts_with("ba_"));
        assert_eq!(s.len(), 35);
        assert_eq!(BillingAccountId::parse(&s), Ok(id));
    }

    #[test]
    fn prefixed_ids_reject_wrong_prefix_and_junk() {
        let bp = BillingProfileId::new().to_string();
        assert!(BillingAccountId::parse(&bp).is_err());
        for bad in ["", "ba_", "ba_xyz", "ba_0192c4a8-e0a0-7b3e-8f7a-6e2d5c4b3a21", "0192c4a8e0a07b3e8f7a6e2d5c4b3a21"] {
            assert!(BillingAccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let a = BillingLinkId::new();
        let b = BillingLinkId::new();
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn guid_ids_accept_hyphenated_guids_only() {
        let t = TenantId::new();
        assert_eq!(TenantId::parse(&t.to_string()), Ok(t));
        assert!(TenantId::parse("contoso").is_err());
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
