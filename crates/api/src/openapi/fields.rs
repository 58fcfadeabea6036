//! Request fields as strict as their parsers. The bodies deserialize into `Option`s so that every
//! bad field is named at once (422 `validation_failed`); the derive macros therefore see only
//! optional, untyped strings. This table says what each field really takes, with the patterns of
//! `pb_domain::patterns` (tested against the parsers themselves), and is applied to the document.
//! `tests::every_rule_names_a_field_of_the_document` fails when a rule names a field that is gone.

use pb_domain::{BillingRole, BillingScopeKind, OfferKind, OutboxState, PartnerAccountState, patterns};
use serde_json::{Value, json};
use utoipa::openapi::OpenApi;

/// What a rule does to one property of a component schema.
enum Field {
    /// The property must be present, and its value must match.
    Required(Value),
    /// The property may be absent or null; a value must match.
    Optional(Value),
    /// The property may be absent, but not null; a value must match.
    Omittable(Value),
    /// Accepted by the parser only to be refused with a clear problem (rule N3); not offered.
    Refused,
}

fn text(max: usize) -> Value {
    json!({"type": "string", "pattern": patterns::clean_text(max),
        "description": format!("1 to {max} characters after trimming; no control or invisible formatting characters.")})
}

fn blank_or_text(max: usize) -> Value {
    json!({"type": "string", "pattern": patterns::optional_clean_text(max),
        "description": format!("Up to {max} characters after trimming, no control or invisible formatting characters; blank means none.")})
}

fn pattern(p: String) -> Value {
    json!({"type": "string", "pattern": p})
}

fn id(prefix: &str) -> Value {
    json!({"type": "string", "pattern": patterns::prefixed_id(prefix)})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A tenant's domain as `routes::operator` parses it: dotted DNS labels, 253 characters at most.
fn domain_name() -> Value {
    let label = "[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?";
    // The lookahead bounds the trimmed total; the labels are ASCII, so characters are bytes.
    let core = format!("(?={}{{1,253}}{}*$){label}(?:\\.{label})+", patterns::not_whitespace(), patterns::whitespace());
    pattern(patterns::trimmed(&core))
}

fn field_rules() -> Vec<(&'static str, &'static str, Field)> {
    use Field::*;
    let states: Vec<&str> = PartnerAccountState::ALL.iter().map(|s| s.as_str()).collect();
    let kinds: Vec<&str> = OfferKind::ALL.iter().map(|k| k.as_str()).collect();
    let roles: Vec<&str> = BillingRole::ALL.iter().map(|r| r.as_str()).collect();
    vec![
        ("NewBillingAccountBody", "display_name", Optional(text(pb_domain::DisplayName::MAX_CHARS))),
        ("NewBillingAccountBody", "sold_to", Refused),
        ("NewBillingAccountBody", "company_name", Refused),
        ("PatchBillingAccountBody", "display_name", Optional(text(pb_domain::DisplayName::MAX_CHARS))),
        ("PatchBillingAccountBody", "sold_to", Refused),
        ("PatchBillingAccountBody", "company_name", Refused),
        ("NameBody", "display_name", Required(text(pb_domain::DisplayName::MAX_CHARS))),
        ("ContactInput", "name", Required(text(100))),
        ("ContactInput", "email", Required(pattern(patterns::email()))),
        ("ContactInput", "phone", Optional(pattern(patterns::optional_phone()))),
        ("AddressInput", "address_line1", Required(text(200))),
        ("AddressInput", "address_line2", Optional(blank_or_text(200))),
        ("AddressInput", "address_line3", Optional(blank_or_text(200))),
        ("AddressInput", "city", Optional(blank_or_text(100))),
        ("AddressInput", "region", Optional(blank_or_text(100))),
        ("AddressInput", "postal_code", Optional(pattern(patterns::optional_postal_code()))),
        ("AddressInput", "country", Required(pattern(patterns::country()))),
        ("AddressInput", "company_name", Optional(blank_or_text(200))),
        ("AddressInput", "email", Optional(pattern(patterns::optional_email()))),
        ("AddressInput", "phone", Optional(pattern(patterns::optional_phone()))),
        ("LegalProfileInput", "company_name", Required(text(200))),
        ("LegalProfileInput", "sold_to", Required(reference("AddressInput"))),
        ("PaymentInstrumentInput", "kind", Required(one_of(&["card", "bank_transfer"]))),
        ("PaymentInstrumentInput", "token", Required(text(pb_domain::ProcessorToken::MAX_CHARS))),
        ("PaymentInstrumentInput", "display_hint", Required(text(pb_domain::DisplayHint::MAX_CHARS))),
        ("PutOfferBody", "name", Required(text(pb_domain::DisplayName::MAX_CHARS))),
        ("PutOfferBody", "kind", Required(one_of(&kinds))),
        ("PutOfferBody", "term_months", Required(json!({"type": "integer", "minimum": 1, "maximum": 120}))),
        ("PutOfferBody", "prices", Required(json!({"type": "array", "minItems": 1, "items": reference("MoneyView")}))),
        ("MoneyView", "amount_minor", Required(json!({"type": "integer", "format": "int64", "minimum": 0}))),
        ("MoneyView", "currency", Required(pattern(patterns::currency()))),
        ("PurchaseBody", "offer_id", Required(pattern(patterns::offer_id()))),
        ("PurchaseBody", "quantity", Required(json!({"type": "integer", "minimum": 1, "maximum": pb_domain::commerce::MAX_QUANTITY}))),
        ("PurchaseBody", "invoice_section_id", Optional(id("is"))),
        ("PurchaseBody", "payment_instrument_id", Optional(id("pi"))),
        ("PutLinkBody", "billing_account_id", Required(id("ba"))),
        ("PutLinkBody", "billing_profile_id", Required(id("bp"))),
        ("SetupBody", "billing_account", Required(reference("AccountChoiceBody"))),
        ("SetupBody", "billing_profile", Required(reference("ProfileChoiceBody"))),
        ("AccountChoiceBody", "id", Optional(id("ba"))),
        ("ProfileChoiceBody", "id", Optional(id("bp"))),
        ("CreateTenant", "name", Required(text(pb_domain::DisplayName::MAX_CHARS))),
        ("CreateTenant", "domain", Required(domain_name())),
        ("CreateUser", "email", Required(pattern(patterns::email()))),
        ("CreateUser", "display_name", Required(text(pb_domain::DisplayName::MAX_CHARS))),
        ("CreateUser", "directory_roles", Omittable(json!({"type": "array", "items": one_of(&["global_admin"])}))),
        ("CreateUser", "partner_roles", Omittable(json!({"type": "array", "items": one_of(&["mcpp_admin", "account_admin"])}))),
        ("PutPartnerAccountBody", "partner_id", Required(pattern(patterns::trimmed("[A-Za-z0-9\\-]{1,64}")))),
        ("PutPartnerAccountBody", "name", Required(text(pb_domain::DisplayName::MAX_CHARS))),
        ("PutPartnerAccountBody", "state", Required(one_of(&states))),
        ("PutPartnerAccountBody", "legal_profile", Required(reference("LegalProfileInput"))),
        ("PatchPartnerAccount", "state", Required(one_of(&states))),
        ("InvoiceRunBody", "period", Required(pattern(patterns::period()))),
        ("NewRoleAssignment", "user_id", Required(pattern(patterns::guid()))),
        ("NewRoleAssignment", "role", Required(one_of(&roles))),
    ]
}

/// Rules over a whole object: which fields go together.
fn object_rules() -> Vec<(&'static str, Value)> {
    let present = |field: &str, kind: &str| json!({"required": [field], "properties": {field: {"type": kind}}});
    vec![
        // Exactly one of an existing id or a new one.
        ("AccountChoiceBody", json!({"oneOf": [present("id", "string"), present("new", "object")]})),
        ("ProfileChoiceBody", json!({"oneOf": [present("id", "string"), present("new", "object")]})),
        // An existing instrument or a new one, never both.
        (
            "PurchaseBody",
            json!({"not": {"required": ["payment_instrument_id", "payment_instrument"],
                "properties": {"payment_instrument_id": {"type": "string"}, "payment_instrument": {"type": "object"}}}}),
        ),
    ]
}

/// Query parameters: `(path, name, schema, required)`.
fn query_rules() -> Vec<(&'static str, &'static str, Value, bool)> {
    let limit = json!({"type": "integer", "minimum": 1, "maximum": pb_store::MAX_PAGE_LIMIT,
        "description": "Page size, 1 to 200; 50 when absent."});
    let cursor = json!({"type": "string", "pattern": patterns::trimmed(&format!("[!-~]{{0,{}}}", crate::extract::MAX_CURSOR_CHARS)),
        "description": "The next_cursor of the page before."});
    let outbox: Vec<&str> = [OutboxState::Pending, OutboxState::Sent, OutboxState::Dead].iter().map(|s| s.as_str()).collect();
    // The lists paged by a cursor; invoice runs are paged by `limit` alone.
    let paged = [
        "/api/v1/audit-log",
        "/api/v1/billing-accounts",
        "/api/v1/billing-profiles/{id}/invoices",
        "/api/v1/notifications",
        "/api/v1/outbox",
        "/api/v1/purchases",
    ];
    let mut rules: Vec<_> =
        paged.iter().flat_map(|&p| [(p, "limit", limit.clone(), false), (p, "cursor", cursor.clone(), false)]).collect();
    rules.extend([
        ("/api/v1/invoice-runs", "limit", limit, false),
        ("/api/v1/outbox", "state", one_of(&outbox), false),
        ("/api/v1/purchases", "billing_profile_id", id("bp"), false),
        ("/api/v1/billing-link/review", "billing_account_id", id("ba"), true),
        ("/api/v1/billing-link/review", "billing_profile_id", id("bp"), true),
        ("/api/v1/billing-link/history", "at", json!({"type": "string", "format": "date-time"}), false),
    ]);
    rules
}

/// A change to the legal profile (`PUT /partner-account/legal-profile`): the fields of
/// `LegalProfileInput`, any of them, at least one given.
fn legal_profile_change(input: &Value) -> Value {
    let mut change = input.clone();
    // Each may be null here (meaning: unchanged), as the parser reads it.
    for field in ["company_name", "sold_to"] {
        if let Some(p) = change.pointer_mut(&format!("/properties/{field}")) {
            *p = nullable(p.clone());
        }
    }
    if let Some(o) = change.as_object_mut() {
        o.remove("required");
        o.insert("description".into(), "A change to the legal profile: at least one of its fields.".into());
        let present = |field: &str, kind: &str| json!({"required": [field], "properties": {field: {"type": kind}}});
        o.insert(
            "anyOf".into(),
            json!([present("company_name", "string"), present("sold_to", "object"), present("primary_contact", "object")]),
        );
    }
    change
}

/// A role assignment's body per scope: the roles rule A2 allows there.
fn role_bodies(schemas: &serde_json::Map<String, Value>) -> Vec<(&'static str, String, Value)> {
    let Some(base) = schemas.get("NewRoleAssignment") else { return Vec::new() };
    [
        ("billing-accounts", "NewBillingAccountRoleAssignment", BillingScopeKind::BillingAccount),
        ("billing-profiles", "NewBillingProfileRoleAssignment", BillingScopeKind::BillingProfile),
        ("invoice-sections", "NewInvoiceSectionRoleAssignment", BillingScopeKind::InvoiceSection),
    ]
    .into_iter()
    .map(|(path, name, scope)| {
        let roles: Vec<&str> = BillingRole::ALL.iter().filter(|r| r.allowed_at(scope)).map(|r| r.as_str()).collect();
        let mut body = base.clone();
        body["properties"]["role"] = one_of(&roles);
        (path, name.to_owned(), body)
    })
    .collect()
}

/// Applies the rules to the document; the names the rules use and did not find, for the test.
fn apply_json(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else {
        return vec!["/components/schemas".into()];
    };
    for (schema, field, rule) in field_rules() {
        let Some(obj) = schemas.get_mut(schema).and_then(Value::as_object_mut) else {
            missing.push(format!("{schema}.{field}"));
            continue;
        };
        let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) else {
            missing.push(format!("{schema}.{field}"));
            continue;
        };
        if props.get(field).is_none() {
            missing.push(format!("{schema}.{field}"));
            continue;
        }
        let required = match rule {
            Field::Refused => {
                props.remove(field);
                false
            }
            Field::Required(v) => {
                props.insert(field.into(), v);
                true
            }
            Field::Optional(v) => {
                props.insert(field.into(), nullable(v));
                false
            }
            Field::Omittable(v) => {
                props.insert(field.into(), v);
                false
            }
        };
        let list = obj.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.retain(|f| f != field);
            if required {
                list.push(field.into());
            }
        }
        if obj.get("required").and_then(Value::as_array).is_some_and(Vec::is_empty) {
            obj.remove("required");
        }
    }
    for (schema, extra) in object_rules() {
        match (schemas.get_mut(schema).and_then(Value::as_object_mut), extra.as_object()) {
            (Some(obj), Some(extra)) => obj.extend(extra.clone()),
            _ => missing.push(schema.into()),
        }
    }
    let role_bodies = role_bodies(schemas);
    for (_, name, body) in &role_bodies {
        schemas.insert(name.clone(), body.clone());
    }
    if let Some(input) = schemas.get("LegalProfileInput").cloned() {
        schemas.insert("LegalProfileChangeInput".into(), legal_profile_change(&input));
    }
    for (path, name, _) in &role_bodies {
        let pointer = format!("/paths/~1api~1v1~1{path}~1{{id}}~1role-assignments/post/requestBody/content/application~1json/schema");
        match doc.pointer_mut(&pointer) {
            Some(schema) => *schema = reference(name),
            None => missing.push(pointer),
        }
    }
    let body = "/paths/~1api~1v1~1partner-account~1legal-profile/put/requestBody/content/application~1json/schema";
    match doc.pointer_mut(body) {
        Some(schema) => *schema = reference("LegalProfileChangeInput"),
        None => missing.push(body.into()),
    }
    for (path, name, schema, required) in query_rules() {
        let pointer = format!("/paths/{}/get/parameters", path.replace('/', "~1"));
        let param = doc
            .pointer_mut(&pointer)
            .and_then(Value::as_array_mut)
            .and_then(|ps| ps.iter_mut().find(|p| p["name"] == name && p["in"] == "query"));
        match param {
            Some(p) => {
                p["schema"] = schema;
                p["required"] = required.into();
            }
            None => missing.push(format!("{path}?{name}")),
        }
    }
    missing
}

/// `null` allowed besides the value (an absent or null field means the same to the parsers).
fn nullable(mut v: Value) -> Value {
    match v.get("type").cloned() {
        Some(Value::String(t)) => {
            v["type"] = json!([t, "null"]);
            v
        }
        _ => json!({"oneOf": [v, {"type": "null"}]}),
    }
}

/// The document as served: the derived one with the field rules applied. The rules use keywords
/// utoipa's model has no place for (`oneOf` and `not` beside properties), so the result is JSON.
pub fn apply(openapi: &OpenApi) -> Value {
    let mut doc = match serde_json::to_value(openapi) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            return Value::Null;
        }
    };
    let missing = apply_json(&mut doc);
    if !missing.is_empty() {
        tracing::error!(?missing, "OpenAPI field rules name fields the document does not have");
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_names_a_field_of_the_document() {
        let (_, mut doc) = crate::api_routes(false);
        // Applied once already by api_routes; applying again must find every name still there
        // (Refused fields excepted: they are gone after the first pass).
        let missing: Vec<String> = super::apply_json(&mut doc)
            .into_iter()
            .filter(|m| !["NewBillingAccountBody.sold_to", "NewBillingAccountBody.company_name"].contains(&m.as_str()))
            .filter(|m| !["PatchBillingAccountBody.sold_to", "PatchBillingAccountBody.company_name"].contains(&m.as_str()))
            .collect();
        assert!(missing.is_empty(), "rules name what the document lacks: {missing:?}");
    }
}
