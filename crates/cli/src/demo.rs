//! `serve --demo`: seeds demo tenants idempotently (a restart finds them and adds nothing).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use pb_domain::{
    AddressInput, ContactInput, Currency, DirectoryRole, DisplayName, EmailAddress, LegalProfileInput, Money, OfferId, OfferKind,
    PartnerAccountState, PartnerRole,
};
use pb_store::{Ctx, NewUser, PutOffer, PutPartnerAccount, Store, StoreError, Tenant};

pub struct DemoUser {
    pub email: String,
    pub role: &'static str,
}

pub struct DemoTenant {
    pub tenant: Tenant,
    pub users: Vec<DemoUser>,
}

/// Local part of the email, display name, directory roles, partner roles, what to print.
type UserSpec = (&'static str, &'static str, &'static [DirectoryRole], &'static [PartnerRole], &'static str);

struct Spec {
    name: &'static str,
    domain: &'static str,
    partner_id: &'static str,
    state: PartnerAccountState,
    company: &'static str,
    address: (&'static str, &'static str, &'static str, &'static str, &'static str),
    users: &'static [UserSpec],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "Contoso",
        domain: "contoso.onmicrosoft.com",
        partner_id: "4812345",
        state: PartnerAccountState::Active,
        company: "Contoso Ltd",
        address: ("1 Microsoft Way", "Redmond", "WA", "98052", "US"),
        users: &[
            ("admin", "Adele Vance", &[DirectoryRole::GlobalAdmin], &[], "global admin"),
            ("mcpp", "Megan Bowen", &[], &[PartnerRole::McppAdmin], "MCPP admin"),
            ("accounts", "Alex Wilber", &[], &[PartnerRole::AccountAdmin], "account admin"),
            ("user", "Diego Siciliani", &[], &[], "plain user"),
        ],
    },
    Spec {
        name: "Fabrikam",
        domain: "fabrikam.onmicrosoft.com",
        partner_id: "5923456",
        state: PartnerAccountState::Active,
        company: "Fabrikam S.r.l.",
        address: ("Via Roma 1", "Milano", "MI", "20121", "IT"),
        users: &[
            ("admin", "Giulia Rossi", &[DirectoryRole::GlobalAdmin], &[], "global admin"),
            ("mcpp", "Marco Bianchi", &[], &[PartnerRole::McppAdmin], "MCPP admin"),
        ],
    },
    Spec {
        name: "Northwind",
        domain: "northwind.onmicrosoft.com",
        partner_id: "6034567",
        state: PartnerAccountState::PendingVerification,
        company: "Northwind Traders",
        address: ("200 Pine St", "Seattle", "WA", "98101", "US"),
        users: &[("admin", "Nestor Wilke", &[DirectoryRole::GlobalAdmin], &[], "global admin")],
    },
];

/// Id, name, kind, term in months, one per partner, prices in minor units (USD, EUR, GBP).
type OfferSpec = (&'static str, &'static str, OfferKind, i64, bool, [i64; 3]);

/// A catalog like a partner program's: the Action Pack, Solutions Partner designations, and a
/// legacy benefits package still sold to partners who had one.
const OFFERS: &[OfferSpec] = &[
    ("action-pack", "Partner Launch Benefits (Action Pack)", OfferKind::ActionPack, 12, true, [47_500, 44_000, 38_000]),
    ("sp-infrastructure", "Solutions Partner for Infrastructure (Azure)", OfferKind::Designation, 12, false, [125_000, 115_000, 99_000]),
    ("sp-security", "Solutions Partner for Security", OfferKind::Designation, 12, false, [125_000, 115_000, 99_000]),
    ("sp-modern-work", "Solutions Partner for Modern Work", OfferKind::Designation, 12, false, [110_000, 101_000, 87_000]),
    ("legacy-gold-benefits", "Legacy Gold competency benefits package", OfferKind::BenefitsPackage, 12, false, [190_000, 175_000, 150_000]),
];

/// Seeds the catalog once: offers already there (perhaps changed by an operator) are left alone.
async fn seed_offers(store: &Store, ctx: &Ctx) -> Result<()> {
    let existing = store.list_offers(false).await?;
    for (id, name, kind, term_months, one_per_partner, [usd, eur, gbp]) in OFFERS {
        let id = OfferId::parse(id)?;
        if existing.iter().any(|o| o.id == id) {
            continue;
        }
        let prices = vec![Money::new(*usd, Currency::USD), Money::new(*eur, Currency::EUR), Money::new(*gbp, Currency::parse("GBP")?)];
        let put = PutOffer {
            name: DisplayName::parse(name)?,
            kind: *kind,
            term_months: *term_months,
            one_per_partner: *one_per_partner,
            active: true,
            prices,
        };
        store.put_offer(ctx, &id, &put).await.context("demo offer")?;
    }
    Ok(())
}

pub async fn seed(store: &Store) -> Result<Vec<DemoTenant>> {
    let ctx = Ctx::system();
    seed_offers(store, &ctx).await?;
    let mut out = Vec::new();
    for spec in SPECS {
        let tenant = match store.find_tenant(spec.domain).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => store.create_tenant(&ctx, &DisplayName::parse(spec.name)?, spec.domain).await?,
            Err(e) => return Err(e.into()),
        };
        let mut users = Vec::new();
        for (local, name, dir, partner, role) in spec.users {
            let email = format!("{local}@{}", spec.domain);
            match store.find_user(tenant.id, &email).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    let new = NewUser {
                        email: EmailAddress::parse(&email)?,
                        display_name: DisplayName::parse(name)?,
                        directory_roles: dir.to_vec(),
                        partner_roles: partner.to_vec(),
                    };
                    store.create_user(&ctx, tenant.id, &new).await?;
                }
                Err(e) => return Err(e.into()),
            }
            users.push(DemoUser { email, role });
        }
        match store.get_partner_account(tenant.id).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                let (line1, city, region, postal, country) = spec.address;
                let lp = LegalProfileInput {
                    company_name: Some(spec.company.into()),
                    sold_to: Some(AddressInput {
                        address_line1: Some(line1.into()),
                        city: Some(city.into()),
                        region: Some(region.into()),
                        postal_code: Some(postal.into()),
                        country: Some(country.into()),
                        company_name: Some(spec.company.into()),
                        ..Default::default()
                    }),
                    primary_contact: Some(ContactInput {
                        name: Some(spec.users[0].1.into()),
                        email: Some(format!("admin@{}", spec.domain)),
                        phone: None,
                    }),
                }
                .parse()
                .map_err(|e| anyhow::anyhow!("demo legal profile: {e}"))?;
                let put = PutPartnerAccount {
                    partner_id: spec.partner_id.into(),
                    name: DisplayName::parse(spec.name)?,
                    state: spec.state,
                    legal_profile: lp,
                };
                store.put_partner_account(&ctx, tenant.id, &put).await.context("demo partner account")?;
            }
            Err(e) => return Err(e.into()),
        }
        out.push(DemoTenant { tenant, users });
    }
    Ok(out)
}

pub fn print_instructions(seeded: &[DemoTenant], listen: &SocketAddr, db: &super::DbArgs) {
    let mut s = String::new();
    s.push_str(&format!("\npartner-billing demo is up at http://{listen}\n\nDemo tenants and users:\n"));
    for t in seeded {
        s.push_str(&format!("  {} ({}, id {})\n", t.tenant.name, t.tenant.domain, t.tenant.id));
        for u in &t.users {
            s.push_str(&format!("    {:<40} {}\n", u.email, u.role));
        }
    }
    let data = db.data_dir.display();
    s.push_str(&format!(
        "\nGet a token for a demo user and call the API:\n  TOKEN=$(partner-billing token --data-dir {data} --tenant contoso.onmicrosoft.com --user admin@contoso.onmicrosoft.com)\n  curl -H \"Authorization: Bearer $TOKEN\" http://{listen}/api/v1/me\n\nOperator token: partner-billing operator-token --data-dir {data}\nAPI docs: http://{listen}/docs\n\n"
    ));
    println!("{s}");
}

#[cfg(test)]
mod tests {
    use pb_domain::PartnerAccountState;
    use pb_store::testing::audit_trail;
    use pb_store::{Store, both_backends};

    async fn demo_seeding_is_idempotent(s: Store) {
        let first = super::seed(&s).await.unwrap();
        let count = |s: Store| async move {
            let tenants = s.list_tenants().await.unwrap_or_default();
            let mut users = 0;
            let mut audits = 0;
            for t in &tenants {
                users += s.list_users(t.id).await.map(|u| u.len()).unwrap_or_default();
                audits += audit_trail(&s, t.id).await.len();
            }
            (tenants.len(), users, audits)
        };
        let before = count(s.clone()).await;
        let second = super::seed(&s).await.unwrap();
        assert_eq!(before, count(s.clone()).await, "a second run adds nothing");
        assert_eq!(before.0, 3);
        assert_eq!(before.1, 7);
        let offers = s.list_offers(true).await.unwrap();
        assert_eq!(offers.len(), 5, "the demo catalog, seeded once");
        for o in &offers {
            for c in ["USD", "EUR"] {
                assert!(o.prices.iter().any(|p| p.currency.as_str() == c), "{} is priced in {c}", o.id);
            }
        }
        let ids = |v: &[super::DemoTenant]| v.iter().map(|t| t.tenant.id).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&second));
        let contoso = s.find_tenant("contoso.onmicrosoft.com").await.unwrap();
        let pa = s.get_partner_account(contoso.id).await.unwrap();
        assert_eq!(pa.state, PartnerAccountState::Active);
        assert_eq!(pa.legal_profile.sold_to.country.as_str(), "US");
        let admin = s.find_user(contoso.id, "admin@contoso.onmicrosoft.com").await.unwrap();
        assert!(admin.is_global_admin());
        let fabrikam = s.find_tenant("fabrikam.onmicrosoft.com").await.unwrap();
        let pa = s.get_partner_account(fabrikam.id).await.unwrap();
        assert_eq!((pa.state, pa.legal_profile.sold_to.country.as_str()), (PartnerAccountState::Active, "IT"));
        let northwind = s.find_tenant("northwind.onmicrosoft.com").await.unwrap();
        assert_eq!(s.get_partner_account(northwind.id).await.map(|p| p.state).ok(), Some(PartnerAccountState::PendingVerification));
    }

    both_backends!(demo_seeding_is_idempotent);
}
