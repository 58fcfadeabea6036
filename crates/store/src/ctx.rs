//! Who is acting: the context every use case takes, and that its audit record names.

use pb_domain::{TenantId, UserId, UserRoles};

use crate::idempotency::Completion;
use crate::model::User;

/// Who is acting, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A platform operator (rule A6).
    Operator { subject: String },
    /// A user of a tenant.
    User { user_id: UserId, global_admin: bool },
    /// The service itself (demo seeding, scheduled jobs).
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Operator { .. } => "operator",
            Actor::User { .. } => "user",
            Actor::System => "system",
        }
    }

    pub fn id(&self) -> String {
        match self {
            Actor::Operator { subject } => subject.clone(),
            Actor::User { user_id, .. } => user_id.to_string(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// The context of an operator's or the system's call: who does it and under which request id. A
/// tenant it acts on is named by the call itself (operators address tenants by id).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The claimed idempotency key whose response the use case stores with its work.
    pub completion: Option<Completion>,
}

impl Ctx {
    pub fn system() -> Self {
        Ctx { actor: Actor::System, request_id: None, completion: None }
    }

    pub fn operator(subject: impl Into<String>, request_id: Option<String>) -> Self {
        Ctx { actor: Actor::Operator { subject: subject.into() }, request_id, completion: None }
    }

    /// This context, answering an idempotent request through `c`.
    pub fn completing(mut self, c: Option<Completion>) -> Self {
        self.completion = c;
        self
    }
}

/// The context of a tenant user's call. The tenant travels with the user (the one they signed in
/// with, rule P3), so a use case can never be handed another tenant's id; the roles are the stored
/// ones (the single source of rule A1), read when the user was resolved.
#[derive(Debug, Clone)]
pub struct UserCtx {
    tenant: TenantId,
    user: UserId,
    roles: UserRoles,
    ctx: Ctx,
}

impl UserCtx {
    /// The context of `user` acting in their own tenant.
    pub fn new(user: &User, request_id: Option<String>) -> Self {
        let actor = Actor::User { user_id: user.id, global_admin: user.roles.is_global_admin() };
        UserCtx { tenant: user.tenant_id, user: user.id, roles: user.roles.clone(), ctx: Ctx { actor, request_id, completion: None } }
    }

    /// This context, answering an idempotent request through `c`.
    pub fn completing(mut self, c: Option<Completion>) -> Self {
        self.ctx.completion = c;
        self
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn user_id(&self) -> UserId {
        self.user
    }

    pub fn roles(&self) -> &UserRoles {
        &self.roles
    }

    /// Rule A1, as the stored roles say.
    pub fn is_global_admin(&self) -> bool {
        self.roles.is_global_admin()
    }

    /// The actor and request id, for the audit trail.
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub fn request_id(&self) -> Option<&str> {
        self.ctx.request_id.as_deref()
    }
}
