//! The notifications page and the bell in-process (rules N1, T1, T2): reading marks nothing read;
//! "Mark read" and "Mark all read" do, behind the CSRF token, for the user's own notifications only;
//! the bell lists the newest five. On SQLite and PostgreSQL.

use axum::http::{StatusCode, header};
use pb_domain::PartnerAccountState;
use pb_store::testing::user_ctx;
use pb_store::{Ctx, Store, UserCtx, both_backends};

use super::commerce::{form, link_new, linked_tenant};
use super::{Page, Web, main_text, value_after};

const PROMPT: &str = "Link a billing account and profile";
const LINKED: &str = "Billing account and profile linked";

/// The inside of `<main>`, markup kept (the bell above it has forms and links of its own).
fn main_html(html: &str) -> &str {
    html.split("<main").nth(1).and_then(|m| m.split("</main>").next()).unwrap_or_default()
}

/// The bell's dropdown, markup kept.
fn bell_html(html: &str) -> &str {
    html.split("data-testid=\"bell\"").nth(1).and_then(|m| m.split("</details>").next()).unwrap_or_default()
}

/// The number on the bell's badge, if it shows one.
fn badge(html: &str) -> Option<String> {
    html.split("data-testid=\"unread\">").nth(1).and_then(|r| r.split('<').next()).map(str::to_owned)
}

fn location(p: &Page) -> &str {
    p.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn unread(w: &Web, cx: &UserCtx) -> i64 {
    w.store.unread_notifications(cx).await.unwrap()
}

/// An operator suspends and reactivates the unlinked partner account `times` times: each return
/// to Active prompts its global admins to link again (rule T1).
async fn prompt_again(w: &Web, tenant: pb_domain::TenantId, times: usize) {
    let op = Ctx::operator("test-operator", None);
    for _ in 0..times {
        w.store.set_partner_state(&op, tenant, PartnerAccountState::Suspended).await.unwrap();
        w.store.set_partner_state(&op, tenant, PartnerAccountState::Active).await.unwrap();
    }
}

async fn rule_n1_opening_the_notifications_page_twice_marks_nothing_read(store: Store) {
    let w = super::web(store, None).await;
    // Rule T1: making the partner account active prompts its global admins to link.
    let t = w.app.tenant("Contoso", "US", "active").await;
    let ga = user_ctx(&w.store, t.tenant_id(), &format!("ga@{}", t.domain)).await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    for _ in 0..2 {
        let p = w.send("GET", "/notifications", Some(&session), None).await;
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(badge(&p.html).as_deref(), Some("1"), "the badge still counts it");
        let main = main_html(&p.html);
        assert!(main.contains(PROMPT), "{}", main_text(&p.html));
        assert!(main.contains("<span class=\"pill new\">Unread</span>"), "an unread one is marked in words");
        // Rule N1: the prompt's action opens the billing profile page.
        assert!(main.contains("<a class=\"button\" href=\"/account/billing-profile\">Open"), "{main}");
        assert!(main.contains("action=\"/notifications/read-all\""));
    }
    // Following the action reads too.
    let p = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(badge(&p.html).as_deref(), Some("1"));
    assert_eq!(unread(&w, &ga).await, 1, "reading changed nothing");
    let items = w.store.list_notifications(&ga, None, None).await.unwrap().items;
    assert!(items.iter().all(|n| n.read_at.is_none()));
}

async fn rule_t2_mark_read_marks_one_and_refuses_a_forged_token_and_another_users_notification(store: Store) {
    let w = super::web(store, None).await;
    // The link prompt (rule T1), then the link, announced to global and MCPP admins (rule T2).
    let (t, ga, _) = linked_tenant(&w, "US").await;
    let mcpp = user_ctx(&w.store, t.tenant_id(), &format!("mcpp@{}", t.domain)).await;
    assert_eq!((unread(&w, &ga).await, unread(&w, &mcpp).await), (2, 1));
    let mine = w.store.list_notifications(&ga, None, None).await.unwrap().items;
    let theirs = w.store.list_notifications(&mcpp, None, None).await.unwrap().items.remove(0);
    assert_eq!(theirs.title, LINKED);
    let (linked, prompt) = (&mine[0], &mine[1]);
    assert_eq!((linked.title.as_str(), prompt.title.as_str()), (LINKED, PROMPT), "newest first");

    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let page = w.send("GET", "/notifications", Some(&session), None).await;
    let csrf = value_after(&page.html, "name=\"csrf\" value=\"");
    let main = main_html(&page.html);
    assert!(main.contains(&format!("action=\"/notifications/{}/read\"", prompt.id)));
    assert!(main.contains(&format!("name=\"next\" value=\"/notifications#{}\"", prompt.id)), "back to the item");
    let mark = |id: &str, csrf: &str, next: &str| {
        let path = format!("/notifications/{id}/read");
        let body = form(&[("csrf", csrf), ("next", next)]);
        let session = session.clone();
        let w = &w;
        async move { w.send("POST", &path, Some(&session), Some(body)).await }
    };

    let forged = mark(&prompt.id, "forged", "/notifications").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(unread(&w, &ga).await, 2, "a forged token marks nothing");
    for id in [theirs.id.as_str(), "nt_00000000000000000000000000000000"] {
        let r = mark(id, &csrf, "/notifications").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert!(main_text(&r.html).contains("No such notification"), "{}", main_text(&r.html));
    }
    assert_eq!(unread(&w, &mcpp).await, 1, "another user's notification stays unread");

    let r = mark(&prompt.id, &csrf, "/account/billing-profile").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account/billing-profile", "back to where the user was");
    let items = w.store.list_notifications(&ga, None, None).await.unwrap().items;
    assert!(items[1].read_at.is_some() && items[0].read_at.is_none(), "only that one is read");
    let p = w.send("GET", "/notifications", Some(&session), None).await;
    assert_eq!(badge(&p.html).as_deref(), Some("1"));
    assert!(!main_html(&p.html).contains(&format!("action=\"/notifications/{}/read\"", prompt.id)), "no Mark read on a read one");
    // Marking it again changes nothing; a `next` off this site goes to the notifications page.
    for next in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
        let r = mark(&prompt.id, &csrf, next).await;
        assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/notifications"), "{next}");
    }
    assert_eq!(unread(&w, &ga).await, 1);
}

async fn rule_t2_mark_all_read_clears_the_badge(store: Store) {
    let w = super::web(store, None).await;
    let (t, ga, _) = linked_tenant(&w, "US").await;
    let mcpp = user_ctx(&w.store, t.tenant_id(), &format!("mcpp@{}", t.domain)).await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert_eq!(badge(&p.html).as_deref(), Some("2"));
    let bell = bell_html(&p.html);
    assert!(bell.contains("action=\"/notifications/read-all\"") && bell.contains("name=\"next\" value=\"/membership\""), "{bell}");
    let csrf = value_after(&p.html, "name=\"csrf\" value=\"");

    let forged = w.send("POST", "/notifications/read-all", Some(&session), Some(form(&[("csrf", "forged")]))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(unread(&w, &ga).await, 2);

    let r = w.send("POST", "/notifications/read-all", Some(&session), Some(form(&[("csrf", &csrf), ("next", "/membership")]))).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/membership"));
    let p = w.send("GET", "/membership", Some(&session), None).await;
    assert_eq!(badge(&p.html), None, "the badge is gone");
    assert!(!p.html.contains("data-testid=\"bell-read-all\""), "nothing left to mark");
    assert_eq!(unread(&w, &ga).await, 0);
    assert_eq!(unread(&w, &mcpp).await, 1, "only the user's own");
    let p = w.send("GET", "/notifications", Some(&session), None).await;
    assert!(main_text(&p.html).contains("You have no unread notifications."));
    assert!(!main_html(&p.html).contains("/read\""), "no Mark read buttons left");
}

async fn rule_t1_t2_the_bell_lists_the_newest_notifications(store: Store) {
    let w = super::web(store, None).await;
    let t = w.app.tenant("Contoso", "US", "active").await;
    let ga = user_ctx(&w.store, t.tenant_id(), &format!("ga@{}", t.domain)).await;
    prompt_again(&w, t.tenant_id(), 5).await;
    link_new(&w, &ga).await;
    assert_eq!(unread(&w, &ga).await, 7, "six prompts and the link");

    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let p = w.send("GET", "/account/billing-profile", Some(&session), None).await;
    assert_eq!(badge(&p.html).as_deref(), Some("7"));
    assert!(p.html.contains("<summary class=\"bell\" aria-label=\"Notifications, 7 unread\">"));
    let bell = bell_html(&p.html);
    let items: Vec<&str> = bell.split("data-testid=\"bell-item\"").skip(1).collect();
    assert_eq!(items.len(), 5, "the newest five: {bell}");
    assert!(items[0].contains(&format!("<a href=\"/account/billing-profile\">{LINKED}</a>")), "newest first: {}", items[0]);
    assert!(items[1..].iter().all(|i| i.contains(PROMPT)));
    assert!(items.iter().all(|i| i.contains("Unread: ") && i.contains("<time ")), "unread marked, with the time");
    assert!(bell.contains("<a href=\"/notifications\">See all</a>") && bell.contains("data-testid=\"bell-read-all\""));
    assert_eq!(unread(&w, &ga).await, 7, "the bell reads only");

    // The MCPP admin hears of the link only (rule T2); a plain user of nothing.
    let mcpp = w.sign_in(&format!("mcpp@{}", t.domain)).await;
    let bell = w.send("GET", "/membership", Some(&mcpp), None).await.html;
    assert_eq!(bell_html(&bell).matches("data-testid=\"bell-item\"").count(), 1);
    assert!(bell_html(&bell).contains(LINKED));
    let plain = w.sign_in(&format!("plain@{}", t.domain)).await;
    let p = w.send("GET", "/membership", Some(&plain), None).await;
    assert!(bell_html(&p.html).contains("No notifications yet.") && badge(&p.html).is_none());
}

async fn notifications_page_pages_with_the_cursor_and_marks_read_back_on_the_same_page(store: Store) {
    let w = super::web(store, None).await;
    let t = w.app.tenant("Contoso", "US", "active").await;
    let ga = user_ctx(&w.store, t.tenant_id(), &format!("ga@{}", t.domain)).await;
    prompt_again(&w, t.tenant_id(), 21).await;
    let session = w.sign_in(&format!("ga@{}", t.domain)).await;
    let first = w.send("GET", "/notifications", Some(&session), None).await;
    assert_eq!(main_html(&first.html).matches("data-testid=\"notification\"").count(), 20);
    assert!(!main_text(&first.html).contains("Newest"));
    let older = value_after(&first.html, "<a href=\"/notifications?cursor=").replace("&amp;", "&");
    assert!(!older.is_empty(), "an Older link");
    let path = format!("/notifications?cursor={older}");
    let second = w.send("GET", &path, Some(&session), None).await;
    assert_eq!(second.status, StatusCode::OK);
    let main = main_html(&second.html);
    assert_eq!(main.matches("data-testid=\"notification\"").count(), 2, "22 in all");
    assert!(main.contains("<a href=\"/notifications\">Newest</a>") && !main.contains("id=\"older\""));
    // "Mark read" on the older page comes back to it.
    let oldest = w.store.list_notifications(&ga, None, Some(50)).await.unwrap().items.pop().unwrap();
    let next = format!("{path}#{}", oldest.id);
    assert!(main.contains(&format!("name=\"next\" value=\"{}\"", next.replace('&', "&amp;"))), "{main}");
    let csrf = value_after(&second.html, "name=\"csrf\" value=\"");
    let r = w
        .send("POST", &format!("/notifications/{}/read", oldest.id), Some(&session), Some(form(&[("csrf", &csrf), ("next", &next)])))
        .await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, next.as_str()));
    assert_eq!(unread(&w, &ga).await, 21);
}

both_backends!(
    rule_n1_opening_the_notifications_page_twice_marks_nothing_read,
    rule_t2_mark_read_marks_one_and_refuses_a_forged_token_and_another_users_notification,
    rule_t2_mark_all_read_clears_the_badge,
    rule_t1_t2_the_bell_lists_the_newest_notifications,
    notifications_page_pages_with_the_cursor_and_marks_read_back_on_the_same_page,
);
