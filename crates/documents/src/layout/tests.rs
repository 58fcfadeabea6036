use pb_domain::Currency;
use time::macros::date;

use super::*;
use crate::{InvoiceDocument, LineDoc, Party, SectionDoc};

fn fonts() -> Fonts {
    Fonts {
        regular: FontMetrics::parse(dejavu::sans::regular()).expect("regular parses"),
        bold: FontMetrics::parse(dejavu::sans::bold()).expect("bold parses"),
    }
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn doc(sections: Vec<SectionDoc>) -> InvoiceDocument {
    InvoiceDocument {
        number: "PB-2026-000042".to_owned(),
        period: "2026-10".to_owned(),
        issue_date: date!(2026 - 11 - 01),
        due_date: date!(2026 - 12 - 01),
        currency: Currency::USD,
        seller: Party { name: "Platform Inc.".to_owned(), lines: vec!["1 Main St".to_owned(), "Springfield".to_owned()] },
        bill_to: Party { name: "Contoso Ltd".to_owned(), lines: vec!["2 High St".to_owned()] },
        billing_account_id: "ba_1".to_owned(),
        billing_profile_id: "bp_1".to_owned(),
        sections,
        total: usd(0),
    }
}

fn section(name: &str, count: usize, description: &str) -> SectionDoc {
    let lines = (0..count)
        .map(|i| LineDoc { description: format!("{description} {i}"), quantity: 3, unit_price: usd(1_000), amount: usd(3_000) })
        .collect();
    SectionDoc { name: name.to_owned(), lines, subtotal: usd(3_000 * count as i64) }
}

fn texts(page: &[Op]) -> Vec<&str> {
    page.iter()
        .filter_map(|op| match op {
            Op::Text { text, .. } => Some(text.as_str()),
            Op::Rule { .. } => None,
        })
        .collect()
}

#[test]
fn every_text_stays_inside_the_margins() {
    let f = fonts();
    let long = "A description that goes on and on about seats, storage and support ".repeat(12);
    let mut huge = section("Huge amounts", 3, "Big");
    for line in &mut huge.lines {
        line.unit_price = usd(i64::MAX);
        line.amount = usd(i64::MIN);
        line.quantity = i64::MIN;
    }
    let pages = layout(&doc(vec![section("Seats", 120, &long), huge]), &f);
    assert!(pages.len() > 1);
    for page in &pages {
        for op in page {
            if let Op::Text { x, baseline, size, face, text, .. } = op {
                let right = x + f.width(*face, text, *size);
                assert!(*x >= LEFT - 0.01 && right <= RIGHT + 0.01, "{text:?} spans {x}..{right}");
                assert!(*baseline <= PAGE_H - 20.0 && *baseline > 0.0, "{text:?} at {baseline}");
                if !text.starts_with("Page ") && !text.starts_with("Invoice PB") {
                    assert!(*baseline <= BOTTOM, "{text:?} at {baseline} runs into the footer");
                }
            }
        }
    }
}

#[test]
fn many_lines_flow_onto_pages_with_repeated_headings_and_page_numbers() {
    let pages = layout(&doc(vec![section("Seats", 300, "Seat")]), &fonts());
    let count = pages.len();
    assert!(count > 1, "300 lines should not fit one page");
    for (i, page) in pages.iter().enumerate() {
        let texts = texts(page);
        assert!(texts.contains(&"Description"), "page {} lacks column headings", i + 1);
        assert!(texts.contains(&format!("Page {} of {count}", i + 1).as_str()));
        if i > 0 {
            assert!(texts.contains(&"Seats (continued)"), "page {} lacks the section heading", i + 1);
        }
    }
    // Every line appears exactly once, in order.
    let seats: Vec<&str> = pages.iter().flat_map(|p| texts(p)).filter(|t| t.starts_with("Seat ")).collect();
    let expected: Vec<String> = (0..300).map(|i| format!("Seat {i}")).collect();
    assert_eq!(seats, expected);
}

#[test]
fn a_section_heading_is_never_left_alone_at_a_page_bottom() {
    // Enough single sections that some heading lands near a page end.
    let sections = (0..40).map(|i| section(&format!("Section {i}"), 2, "Line")).collect();
    let pages = layout(&doc(sections), &fonts());
    for page in &pages {
        let texts = texts(page);
        if let Some(last_heading) = texts.iter().rposition(|t| t.starts_with("Section ")) {
            assert!(texts[last_heading..].iter().any(|t| t.starts_with("Line ")), "heading without rows: {texts:?}");
        }
    }
}

#[test]
fn long_descriptions_wrap_then_end_in_an_ellipsis() {
    let f = fonts();
    let text = "word ".repeat(200);
    let lines = f.wrap(Face::Regular, &text, 9.0, 200.0, 4);
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| f.width(Face::Regular, l, 9.0) <= 200.0));
    assert!(lines[3].ends_with(ELLIPSIS));
    assert!(!lines[0].ends_with(ELLIPSIS));
}

#[test]
fn unbroken_words_are_split_to_fit() {
    let f = fonts();
    let lines = f.wrap(Face::Regular, &"x".repeat(300), 9.0, 100.0, 10);
    assert!(lines.len() > 1);
    assert!(lines.iter().all(|l| f.width(Face::Regular, l, 9.0) <= 100.0));
}

#[test]
fn short_text_is_left_alone() {
    let f = fonts();
    assert_eq!(f.wrap(Face::Regular, "Seats", 9.0, 100.0, 4), vec!["Seats"]);
    assert_eq!(f.wrap(Face::Regular, "", 9.0, 100.0, 4), vec![""]);
    assert_eq!(f.ellipsize(Face::Bold, "Contoso", 10.0, 200.0), "Contoso");
    let cut = f.ellipsize(Face::Bold, &"Contoso ".repeat(40), 10.0, 200.0);
    assert!(cut.ends_with(ELLIPSIS) && f.width(Face::Bold, &cut, 10.0) <= 200.0);
}

#[test]
fn control_characters_become_spaces() {
    assert_eq!(clean("\tTwo\nlines\r"), "Two lines");
}
