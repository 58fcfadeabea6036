//! The billing link: review, link or change (`If-Match`), the one-call create-new flow, history.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pb_app::{AppConfig, AppState, TenantUser};
use pb_domain::billing::AGREEMENT_VERSION;
use pb_domain::{BillingAccountId, BillingProfileId, FieldErrors, LinkEffect, LinkTarget};
use pb_store::{AccountChoice, LinkCommand, LinkOutcome, LinkReview, ProfileChoice, SetupCommand};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Problem;
use crate::etag::{etag, if_match, with_etag};
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::idempotency::{Answer, Idem};
use crate::problem::{ApiError, ApiResult};
use crate::routes::billing::{NewBillingAccountBody, parse_name};
use crate::views::{BillingAccountView, BillingProfileView, LinkView, ListView, warning_codes};

pub fn routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(review_link)).routes(routes!(put_link)).routes(routes!(setup_link)).routes(routes!(link_history))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    billing_account_id: Option<String>,
    billing_profile_id: Option<String>,
}

fn parse_pair(account: Option<&str>, profile: Option<&str>) -> ApiResult<(BillingAccountId, BillingProfileId)> {
    let mut e = FieldErrors::new();
    let a = match account {
        Some(v) => e.check("billing_account_id", BillingAccountId::parse(v)),
        None => {
            e.push("billing_account_id", "required", "is required");
            None
        }
    };
    let p = match profile {
        Some(v) => e.check("billing_profile_id", BillingProfileId::parse(v)),
        None => {
            e.push("billing_profile_id", "required", "is required");
            None
        }
    };
    Ok(e.finish(|| Some((a?, p?)))?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    /// The checkbox must be ticked (rule M1).
    pub required: bool,
    /// Accepted before for this account: the checkbox shows ticked and disabled (rule M1).
    pub already_accepted: bool,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BillingRef {
    pub billing_account_id: String,
    pub billing_profile_id: String,
}

/// What Finish would change, in words and ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectsView {
    /// False when this is the link already in force (rule C5).
    pub changes_link: bool,
    pub summary: String,
    /// Where purchases made after Finish are billed (rule C4).
    pub later_purchases_billed_to: BillingRef,
    /// Where earlier purchases and their invoices stay, when a link exists.
    pub earlier_purchases_stay_on: Option<BillingRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub billing_account: BillingAccountView,
    pub billing_profile: BillingProfileView,
    pub agreement: AgreementView,
    /// Italy's separate acknowledgement (rule M2).
    pub secondary_acknowledgement_required: bool,
    pub warnings: Vec<String>,
    pub current_link: Option<LinkView>,
    pub effects: EffectsView,
    /// Send this as `If-Match` on `PUT /billing-link`.
    pub etag: String,
}

impl From<LinkTarget> for BillingRef {
    fn from(t: LinkTarget) -> Self {
        BillingRef { billing_account_id: t.billing_account_id.to_string(), billing_profile_id: t.billing_profile_id.to_string() }
    }
}

/// The domain's answer to "what does Finish do" (rules C4, C5), in words.
fn effects_summary(r: &LinkReview) -> String {
    let (account, profile) = (&r.account.display_name, &r.profile.display_name);
    match r.effects.effect {
        LinkEffect::Unchanged => {
            format!("Billing profile {profile} of billing account {account} is already linked; Finish changes nothing.")
        }
        LinkEffect::FirstLink => format!(
            "Finish links billing account {account} and billing profile {profile} to the partner account; membership purchases from then on are billed to this profile."
        ),
        LinkEffect::Move { from } => format!(
            "Finish moves the link from billing profile {0} to billing profile {profile} of billing account {account}: purchases made after Finish are billed to the new profile; earlier purchases and their invoices stay on {0}.",
            from.billing_profile_id
        ),
    }
}

fn review_view(r: &LinkReview, s: &AppState) -> ReviewView {
    ReviewView {
        billing_account: BillingAccountView::new(&r.account, &[], r.mca_already_accepted, &s.config),
        billing_profile: BillingProfileView::new(&r.profile, &s.config),
        agreement: AgreementView { required: r.needs.mca_required, already_accepted: r.mca_already_accepted, version: AGREEMENT_VERSION },
        secondary_acknowledgement_required: r.needs.secondary_required,
        warnings: warning_codes(&r.warnings),
        current_link: r.current.as_ref().map(LinkView::from),
        effects: EffectsView {
            changes_link: r.effects.changes_link(),
            summary: effects_summary(r),
            later_purchases_billed_to: r.effects.target.into(),
            earlier_purchases_stay_on: r.effects.earlier_purchases_stay_on().map(BillingRef::from),
        },
        etag: etag(r.link_version),
    }
}

/// Review before Finish: the account and profile, whether the agreement is still to accept, Italy's
/// second acknowledgement, warnings, the current link and what Finish would change (rules N7, M1, M2).
#[utoipa::path(get, path = "/api/v1/billing-link/review", tag = "billing link", security(("bearer" = [])), params(ReviewParams),
    responses((status = 200, body = ReviewView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn review_link(State(s): State<AppState>, who: TenantUser, QueryParams(q): QueryParams<ReviewParams>) -> ApiResult<Response> {
    let (a, p) = parse_pair(q.billing_account_id.as_deref(), q.billing_profile_id.as_deref())?;
    let r = s.store.review_link(&who.cx, a, p).await?;
    Ok(with_etag(Json(review_view(&r, &s)), r.link_version))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutLinkBody {
    billing_account_id: Option<String>,
    billing_profile_id: Option<String>,
    #[serde(default)]
    accept_agreement: bool,
    #[serde(default)]
    accept_secondary_acknowledgement: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResult {
    #[serde(flatten)]
    pub link: LinkView,
    /// False when the request named the link already in force (rule C5).
    pub changed: bool,
    pub billing_account: BillingAccountView,
    pub billing_profile: BillingProfileView,
    pub previous_link: Option<LinkView>,
    pub message: String,
}

fn link_result(o: &LinkOutcome, config: &AppConfig) -> LinkResult {
    let message = if !o.changed() {
        "This billing account and profile are already linked; nothing changed.".to_owned()
    } else {
        format!(
            "Billing account {} and billing profile {} are linked to your partner account. The MCPP admin can go on with membership purchases.",
            o.account.display_name, o.profile.display_name
        )
    };
    LinkResult {
        link: LinkView::from(&o.link),
        changed: o.changed(),
        billing_account: BillingAccountView::new(&o.account, &o.account_profiles, true, config),
        billing_profile: BillingProfileView::new(&o.profile, config),
        previous_link: if o.changed() { o.previous.as_ref().map(LinkView::from) } else { None },
        message,
    }
}

/// Link or change the link. Needs the global admin role (rule A1), an active partner account (P2),
/// the agreement (M1, M2), and, once a link exists, `If-Match` with the current ETag (C6).
#[utoipa::path(put, path = "/api/v1/billing-link", tag = "billing link", security(("bearer" = [])), request_body = PutLinkBody,
    params(("If-Match" = Option<String>, Header, description = "ETag of GET /partner-account")),
    responses((status = 200, body = LinkResult), (status = 403, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem), (status = 428, body = Problem)))]
pub async fn put_link(
    State(s): State<AppState>,
    who: TenantUser,
    headers: HeaderMap,
    JsonBody(b): JsonBody<PutLinkBody>,
) -> ApiResult<Response> {
    let (a, p) = parse_pair(b.billing_account_id.as_deref(), b.billing_profile_id.as_deref())?;
    let cmd = LinkCommand {
        billing_account_id: a,
        billing_profile_id: p,
        accept_agreement: b.accept_agreement,
        accept_secondary_acknowledgement: b.accept_secondary_acknowledgement,
        if_match: if_match(&headers)?,
    };
    let o = s.store.link_billing(&who.cx, &cmd).await?;
    Ok(with_etag(Json(link_result(&o, &s.config)), o.link_version))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChoiceBody {
    id: Option<String>,
    new: Option<NewBillingAccountBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChoiceBody {
    id: Option<String>,
    new: Option<crate::routes::billing::NameBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    billing_account: Option<AccountChoiceBody>,
    billing_profile: Option<ProfileChoiceBody>,
    #[serde(default)]
    accept_agreement: bool,
    #[serde(default)]
    accept_secondary_acknowledgement: bool,
}

/// The whole create-new flow in one atomic call (rule N8): a new or existing account, a new or
/// existing profile, the agreement and the link — all committed together, or nothing.
#[utoipa::path(post, path = "/api/v1/billing-link/setup", tag = "billing link", security(("bearer" = [])), request_body = SetupBody,
    params(("If-Match" = Option<String>, Header, description = "ETag of GET /partner-account; required once a link exists")),
    responses((status = 200, body = LinkResult), (status = 403, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem), (status = 428, body = Problem)))]
pub async fn setup_link(
    State(s): State<AppState>,
    who: TenantUser,
    idem: Idem,
    headers: HeaderMap,
    JsonBody(b): JsonBody<SetupBody>,
) -> ApiResult<Response> {
    let account = match b.billing_account {
        Some(AccountChoiceBody { id: Some(id), new: None }) => AccountChoice::Existing(
            BillingAccountId::parse(&id).map_err(|e| ApiError::validation("billing_account.id", "invalid_id", &e.to_string()))?,
        ),
        Some(AccountChoiceBody { id: None, new: Some(new) }) => AccountChoice::New(new.parse("billing_account.new.")?),
        _ => return Err(ApiError::validation("billing_account", "required", "give exactly one of {\"id\": ...} or {\"new\": {...}}")),
    };
    let profile = match b.billing_profile {
        Some(ProfileChoiceBody { id: Some(id), new: None }) => ProfileChoice::Existing(
            BillingProfileId::parse(&id).map_err(|e| ApiError::validation("billing_profile.id", "invalid_id", &e.to_string()))?,
        ),
        Some(ProfileChoiceBody { id: None, new: Some(new) }) => {
            ProfileChoice::New(parse_name("billing_profile.new.display_name", new.display_name.as_deref())?)
        }
        _ => {
            return Err(ApiError::validation(
                "billing_profile",
                "required",
                "give exactly one of {\"id\": ...} or {\"new\": {\"display_name\": ...}}",
            ));
        }
    };
    let cmd = SetupCommand {
        account,
        profile,
        accept_agreement: b.accept_agreement,
        accept_secondary_acknowledgement: b.accept_secondary_acknowledgement,
        if_match: if_match(&headers)?,
    };
    let config = s.config.clone();
    let answer = Answer::new(StatusCode::OK, move |o: &LinkOutcome| link_result(o, &config)).with_etag(|o: &LinkOutcome| o.link_version);
    let o = s.store.setup_link(&who.cx.completing(answer.completion(&idem)), &cmd).await?;
    Ok(answer.respond(&o))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// RFC 3339 instant: answer which link was in force then.
    at: Option<String>,
}

/// Every link with its time span and who made it (rule C4); with `?at=`, the one in force then.
#[utoipa::path(get, path = "/api/v1/billing-link/history", tag = "billing link", security(("bearer" = [])), params(HistoryParams),
    responses((status = 200, body = ListView<LinkView>), (status = 422, body = Problem)))]
pub async fn link_history(
    State(s): State<AppState>,
    who: TenantUser,
    QueryParams(q): QueryParams<HistoryParams>,
) -> ApiResult<Json<ListView<LinkView>>> {
    let at = match q.at.as_deref() {
        Some(raw) => Some(
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::validation("at", "invalid_time", "must be an RFC 3339 time such as 2026-01-31T12:00:00Z"))?,
        ),
        None => None,
    };
    let links = s.store.link_history(&who.cx, at).await?;
    Ok(Json(ListView { items: links.iter().map(LinkView::from).collect(), next_cursor: None }))
}
