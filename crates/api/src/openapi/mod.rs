//! The OpenAPI document: what the derive macros make of the handlers, then made to tell the whole
//! truth. Every operation declares the errors the shared layers and the extractors can answer
//! (as `application/problem+json`), request fields carry the patterns and ranges their parsers
//! enforce (`fields`), and POSTs document `Idempotency-Key` with the syntax the layer checks.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::Type;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

mod fields;

pub use fields::apply as constrain_fields;

/// The security scheme every tenant and operator operation uses.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// `Idempotency-Key`'s syntax, as [`crate::idempotency`] checks it: 1–255 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = (&String, &'static str, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ]
        .into_iter()
        .filter_map(move |(m, op)| op.map(|op| (path, m, op)))
    })
}

/// Documents `Idempotency-Key` on every POST, where the idempotency layer honours it.
pub fn idempotency_header(openapi: &mut OpenApi) {
    for (_, method, op) in operations(openapi) {
        if method != "post" {
            continue;
        }
        let p = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some("Repeat a POST safely: the same key and body return the first response; keys last 24 hours."))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(IDEMPOTENCY_KEY_PATTERN))))
            .build();
        op.parameters.get_or_insert_with(Vec::new).push(RefOr::T(p));
    }
}

/// The error statuses an operation can answer besides those its handler declares, with why.
fn layer_statuses(path: &str, method: &str, op: &Operation) -> Vec<(u16, &'static str)> {
    let mut out = Vec::new();
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |kind: ParameterIn| params.iter().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == kind));
    let body = op.request_body.is_some();
    if body || has(ParameterIn::Query) || method == "post" {
        out.push((
            400,
            "The request is malformed: unreadable or mistyped JSON, an unknown field, a bad query parameter or Idempotency-Key.",
        ));
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        out.push((401, "No valid bearer token."));
        out.push((403, "The caller may not do this: an operator on tenant data, a tenant user on operator routes, or a missing role."));
    }
    if has(ParameterIn::Path) || has(ParameterIn::Query) || body {
        out.push((404, "A resource the request names does not exist in the caller's tenant (an id of another tenant is 404 too)."));
    }
    if body {
        out.push((422, "`validation_failed`: fields the request names are invalid, each in `errors`."));
    }
    if method == "post" {
        out.push((409, "`idempotency_key_in_use`: a request with this Idempotency-Key is still running; retry after Retry-After."));
        out.push((422, "`idempotency_key_reused`: this Idempotency-Key was used with a different request."));
    }
    out.push((408, "The request took longer than 30 seconds."));
    if body {
        out.push((413, "The request body is larger than 1 MiB."));
    }
    // Health checks and metrics are neither rate limited nor answered from the database.
    let service = !matches!(path, "/healthz" | "/readyz" | "/metrics");
    if service {
        out.push((429, "Too many requests from this client or principal; retry after Retry-After."));
    }
    out.push((500, "Something went wrong on our side; the body names no cause, the log has it under the request id."));
    if service {
        out.push((503, UNAVAILABLE));
    }
    out
}

const UNAVAILABLE: &str = "`database_unavailable`: the database is restarting or failing over; retry after Retry-After (seconds). \
    Nothing was changed by this attempt unless a retry with the same Idempotency-Key replays a success.";

/// Every error an operation can answer is declared, each as `application/problem+json`.
pub fn problem_responses(openapi: &mut OpenApi) {
    let problem = || ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build();
    for (path, method, op) in operations(openapi) {
        for (status, why) in layer_statuses(path, method, op) {
            let mut response = ResponseBuilder::new().description(why);
            if status == 503 {
                let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
                response = response
                    .header("Retry-After", HeaderBuilder::new().schema(Some(seconds)).description(Some("Seconds to wait.")).build());
            }
            op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(response.build()));
        }
        for (status, response) in op.responses.responses.iter_mut() {
            if status.as_str() < "400" {
                continue;
            }
            if let RefOr::T(r) = response {
                // Health checks answer 503 with their own JSON body; everything else is a problem.
                if path == "/readyz" {
                    continue;
                }
                r.content.clear();
                r.content.insert(pb_app::PROBLEM_JSON.to_owned(), RefOr::T(problem()));
            }
        }
    }
}
