//! What each route demands of its caller, and what each principal of the matrix should therefore
//! get. The billing decisions come from the domain's one permission table (rule A2); this file only
//! says which action on which scope each route is.

use pb_domain::billing::{BillingAction, role_permits};
use pb_domain::{BillingRole, BillingScopeKind};

/// The billing scopes of the matrix's world: one account, its profile, the profile's section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Account,
    Profile,
    Section,
}

/// What a route demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, without a token.
    Public,
    /// Platform operators only (rule A6).
    Operator,
    /// Any user of a tenant.
    AnyUser,
    /// Any signed-in caller, user or operator (the offer catalogue is no tenant's data).
    AnyCaller,
    /// The tenant's global admin (rule A1; the audit log).
    GlobalAdmin,
    /// MCPP admin or global admin (rule A5).
    Purchaser,
    /// Global admin or account admin (the legal profile).
    LegalEditor,
    /// Seeing the thing: any role anywhere in the account shows it, trimmed to what the role covers;
    /// global admins see all (rules A2, A3).
    See(Target),
    /// `action` by the roles on the scope and above (rule A2); global admins read (rule A3).
    Act(BillingAction, Target),
    /// A purchase billed to the world's section: those who may buy and the role holders see it;
    /// to anyone else it does not exist (404).
    Purchase,
    /// The id names nothing the caller may know of (a notification of someone else, an invoice not
    /// issued): 404 for every user.
    Absent,
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Nobody,
    Operator,
    /// The global admin of another tenant.
    OtherTenant,
    /// The tenant's global admin, holding no billing role.
    GlobalAdmin,
    /// A user holding one role on one scope of the world, nothing else.
    Role(BillingScopeKind, BillingRole),
}

/// What the call should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not 401, 403 or 404: the caller got past every access check.
    Allowed,
    Unauthenticated,
    Forbidden,
    NotFound,
}

impl Outcome {
    pub fn of(status: u16) -> Outcome {
        match status {
            401 => Outcome::Unauthenticated,
            403 => Outcome::Forbidden,
            404 => Outcome::NotFound,
            _ => Outcome::Allowed,
        }
    }
}

/// Whether a role held on `held` applies to `target` (a role applies to everything below its scope).
fn covers(held: BillingScopeKind, target: Target) -> bool {
    use BillingScopeKind::*;
    match held {
        BillingAccount => true,
        BillingProfile => target != Target::Account,
        InvoiceSection => target == Target::Section,
    }
}

fn allowed(yes: bool) -> Outcome {
    if yes { Outcome::Allowed } else { Outcome::Forbidden }
}

/// The expected outcome of `who` calling a route under `rule`; `names_world` says whether the call
/// names the world's ids (then another tenant gets 404).
pub fn expect(rule: Rule, who: Who, names_world: bool) -> Outcome {
    use Outcome::*;
    match (who, rule) {
        (_, Rule::Public) => Allowed,
        (Who::Nobody, _) => Unauthenticated,
        (Who::Operator, Rule::Operator | Rule::AnyCaller) => Allowed,
        (Who::Operator, _) | (_, Rule::Operator) => Forbidden,
        (_, Rule::Absent) => NotFound,
        (Who::OtherTenant, _) if names_world => NotFound,
        // In its own tenant the other global admin is a global admin like any.
        (Who::OtherTenant, r) => expect(r, Who::GlobalAdmin, false),
        (Who::GlobalAdmin, Rule::Act(action, _)) => allowed(action == BillingAction::Read),
        (Who::GlobalAdmin, _) => Allowed,
        (Who::Role(..), Rule::AnyUser | Rule::AnyCaller) => Allowed,
        (Who::Role(..), Rule::GlobalAdmin | Rule::Purchaser | Rule::LegalEditor) => Forbidden,
        // Every role of the matrix is somewhere in the world's account, so it sees the account, the
        // profile (trimmed to a section for a section role) and the purchase billed to the section.
        (Who::Role(..), Rule::See(_) | Rule::Purchase) => Allowed,
        (Who::Role(held, role), Rule::Act(action, target)) => allowed(covers(held, target) && role_permits(role, action)),
    }
}

/// Every principal of the matrix: each billing role at each scope where it exists, and the rest.
pub fn principals() -> Vec<Who> {
    let mut all = vec![Who::Nobody, Who::Operator, Who::OtherTenant, Who::GlobalAdmin];
    for scope in [BillingScopeKind::BillingAccount, BillingScopeKind::BillingProfile, BillingScopeKind::InvoiceSection] {
        for role in [
            BillingRole::Owner,
            BillingRole::Contributor,
            BillingRole::Reader,
            BillingRole::InvoiceManager,
            BillingRole::SubscriptionCreator,
        ] {
            if role.allowed_at(scope) {
                all.push(Who::Role(scope, role));
            }
        }
    }
    all
}

/// The rule of each route of the OpenAPI document; `None` for a route this table does not know yet
/// (the matrix then fails and names it).
pub fn rule_of(method: &str, path: &str) -> Option<Rule> {
    use BillingAction::*;
    use Target::*;
    let p = path.trim_start_matches("/api/v1");
    Some(match (method, p) {
        ("GET", "/.well-known/jwks.json" | "/healthz" | "/readyz" | "/metrics") => Rule::Public,
        (_, p) if p.starts_with("/tenants") || p.starts_with("/outbox") || p.starts_with("/invoice-runs") => Rule::Operator,
        ("PUT", "/offers/{id}") | (_, "/test-clock") => Rule::Operator,
        ("GET", "/offers") => Rule::AnyCaller,
        // The link in force is on every user's GET /partner-account; its history is no more secret.
        ("GET", "/me" | "/partner-account" | "/billing-accounts" | "/notifications" | "/purchases" | "/billing-link/history") => {
            Rule::AnyUser
        }
        ("POST", "/billing-accounts" | "/notifications/read-all") => Rule::AnyUser,
        ("POST", "/notifications/{id}/read") => Rule::Absent,
        ("GET", "/invoices/{id}") => Rule::Absent,
        ("GET", "/audit-log") => Rule::GlobalAdmin,
        (_, p) if p.starts_with("/billing-link") => Rule::GlobalAdmin,
        ("POST", "/purchases") => Rule::Purchaser,
        ("GET", "/purchases/{id}") => Rule::Purchase,
        ("PUT", "/partner-account/legal-profile") => Rule::LegalEditor,
        ("GET", "/billing-accounts/{id}" | "/billing-accounts/{id}/billing-profiles") => Rule::See(Account),
        ("PATCH", "/billing-accounts/{id}") => Rule::Act(Manage, Account),
        ("POST", "/billing-accounts/{id}/billing-profiles") => Rule::Act(Manage, Account),
        ("GET", "/billing-accounts/{id}/role-assignments") => Rule::Act(Read, Account),
        ("POST", "/billing-accounts/{id}/role-assignments") => Rule::Act(ManageRoles, Account),
        ("GET", "/billing-profiles/{id}") => Rule::See(Profile),
        ("GET", "/billing-profiles/{id}/invoices") => Rule::Act(Read, Profile),
        ("POST", "/billing-profiles/{id}/invoice-sections") => Rule::Act(Manage, Profile),
        ("POST", "/billing-profiles/{id}/payment-instruments") => Rule::Act(PayInvoices, Profile),
        ("GET", "/billing-profiles/{id}/role-assignments") => Rule::Act(Read, Profile),
        ("POST", "/billing-profiles/{id}/role-assignments") => Rule::Act(ManageRoles, Profile),
        // Removing a section is managing its profile; renaming it, managing the section.
        ("DELETE", "/invoice-sections/{id}") => Rule::Act(Manage, Profile),
        ("PATCH", "/invoice-sections/{id}") => Rule::Act(Manage, Section),
        ("GET", "/invoice-sections/{id}/role-assignments") => Rule::Act(Read, Section),
        ("POST", "/invoice-sections/{id}/role-assignments") => Rule::Act(ManageRoles, Section),
        // The matrix revokes an assignment on the section: owners of it or above may.
        ("DELETE", "/role-assignments/{id}") => Rule::Act(ManageRoles, Section),
        _ => return None,
    })
}

#[test]
fn the_table_reads_as_rules_a2_a3_a6() {
    use BillingScopeKind::*;
    let r = |s, role| Who::Role(s, role);
    assert_eq!(expect(Rule::Act(BillingAction::Manage, Target::Account), Who::GlobalAdmin, true), Outcome::Forbidden);
    assert_eq!(expect(Rule::Act(BillingAction::Read, Target::Profile), Who::GlobalAdmin, true), Outcome::Allowed);
    assert_eq!(
        expect(Rule::Act(BillingAction::Manage, Target::Section), r(BillingAccount, BillingRole::Contributor), true),
        Outcome::Allowed
    );
    assert_eq!(expect(Rule::Act(BillingAction::Manage, Target::Account), r(BillingProfile, BillingRole::Owner), true), Outcome::Forbidden);
    assert_eq!(expect(Rule::GlobalAdmin, Who::Operator, false), Outcome::Forbidden);
    assert_eq!(expect(Rule::See(Target::Account), Who::OtherTenant, true), Outcome::NotFound);
    assert_eq!(principals().len(), 4 + 3 + 4 + 4);
}
