//! The public face of pb-documents: CSV rows, and PDFs checked with poppler's tools when present.
//!
//! `pdftotext` and `pdfinfo` come from Debian's `poppler-utils`. Where they are missing the tests
//! that need them print a loud notice and pass, since not every CI machine has them.
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a value must be there")]

use std::path::PathBuf;
use std::process::Command;

use pb_documents::{CSV_HEADER, Currency, DocumentError, InvoiceDocument, LineDoc, Money, Party, SectionDoc, invoice_csv, invoice_pdf};
use time::macros::date;

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn line(description: &str, quantity: i64, unit_minor: i64) -> LineDoc {
    LineDoc { description: description.to_owned(), quantity, unit_price: usd(unit_minor), amount: usd(quantity * unit_minor) }
}

fn section(name: &str, lines: Vec<LineDoc>) -> SectionDoc {
    let subtotal = usd(lines.iter().map(|l| l.amount.amount_minor).sum());
    SectionDoc { name: name.to_owned(), lines, subtotal }
}

fn invoice(sections: Vec<SectionDoc>) -> InvoiceDocument {
    let total = usd(sections.iter().map(|s| s.subtotal.amount_minor).sum());
    InvoiceDocument {
        number: "PB-2026-000042".to_owned(),
        period: "2026-10".to_owned(),
        issue_date: date!(2026 - 11 - 01),
        due_date: date!(2026 - 12 - 01),
        currency: Currency::USD,
        seller: Party {
            name: "Partner Billing Platform B.V.".to_owned(),
            lines: vec!["Keizersgracht 1".to_owned(), "1015 CJ Amsterdam".to_owned()],
        },
        bill_to: Party {
            name: "Contoso Ltd".to_owned(),
            lines: vec!["Accounts Payable".to_owned(), "2 High Street".to_owned(), "London EC1A 1BB".to_owned()],
        },
        billing_account_id: "ba_01J9Z3K6V8".to_owned(),
        billing_profile_id: "bp_01J9Z3M2QX".to_owned(),
        sections,
        total,
    }
}

fn sample() -> InvoiceDocument {
    invoice(vec![
        section("Seats", vec![line("Business Premium seat", 12, 2_200), line("Frontline worker seat", 40, 825)]),
        section(
            "Azure consumption",
            vec![line("Virtual machines, D4s v5, West Europe", 720, 192), line("Blob storage (hot), per GB", 1_024, 2)],
        ),
    ])
}

/// Writes a generated file where it can be looked at after the run.
fn keep(name: &str, bytes: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs a poppler tool, or returns `None` after a loud notice if it is not installed.
fn poppler(tool: &str, args: &[&str]) -> Option<String> {
    match Command::new(tool).args(args).output() {
        Ok(out) => {
            assert!(out.status.success(), "{tool} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => {
            eprintln!("!!!! SKIPPED: `{tool}` is not available ({e}); install Debian's poppler-utils to run this check !!!!");
            None
        }
    }
}

/// krilla writes page objects outside object streams, so `/Type/Page` (not `/Pages`) can be
/// counted in the raw bytes when `pdfinfo` is missing.
fn count_page_objects(pdf: &[u8]) -> usize {
    let mut count = 0;
    for (i, _) in pdf.windows(5).enumerate().filter(|(_, w)| *w == b"/Type") {
        let rest = &pdf[i + 5..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        if rest.starts_with(b"/Page") && !rest.starts_with(b"/Pages") {
            count += 1;
        }
    }
    count
}

#[test]
fn csv_has_the_fixed_header_and_one_row_per_line() {
    let csv = invoice_csv(&sample());
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "invoice_number,section,description,quantity,unit_price_minor,amount_minor,currency");
    assert_eq!(rows[0], CSV_HEADER);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[1], "PB-2026-000042,Seats,Business Premium seat,12,2200,26400,USD");
    assert_eq!(rows[3], "PB-2026-000042,Azure consumption,\"Virtual machines, D4s v5, West Europe\",720,192,138240,USD");
    assert!(csv.ends_with("USD\n"));
    assert!(!csv.contains('\r'));
}

#[test]
fn csv_quotes_and_defuses_formulas_but_keeps_negative_numbers() {
    let doc = invoice(vec![section(
        "=cmd|' /C calc'!A0",
        vec![
            LineDoc { description: "Credit, \"goodwill\"".to_owned(), quantity: -1, unit_price: usd(500), amount: usd(-500) },
            line("@SUM(1+1)", 1, 1),
            line("-2+3", 1, 1),
            line("+44 support line", 1, 1),
            line("\tindented", 1, 1),
            line("two\nlines", 1, 1),
        ],
    )]);
    let csv = invoice_csv(&doc);
    let rows: Vec<&str> = csv.split_terminator('\n').collect();
    assert_eq!(rows[1], "PB-2026-000042,'=cmd|' /C calc'!A0,\"Credit, \"\"goodwill\"\"\",-1,500,-500,USD");
    assert_eq!(rows[2], "PB-2026-000042,'=cmd|' /C calc'!A0,'@SUM(1+1),1,1,1,USD");
    assert_eq!(rows[3], "PB-2026-000042,'=cmd|' /C calc'!A0,'-2+3,1,1,1,USD");
    assert_eq!(rows[4], "PB-2026-000042,'=cmd|' /C calc'!A0,'+44 support line,1,1,1,USD");
    assert_eq!(rows[5], "PB-2026-000042,'=cmd|' /C calc'!A0,'\tindented,1,1,1,USD");
    // The quoted newline belongs to the field: the row goes on past it.
    assert_eq!(rows[6], "PB-2026-000042,'=cmd|' /C calc'!A0,\"two");
    assert_eq!(rows[7], "lines\",1,1,1,USD");
}

#[test]
fn csv_of_an_invoice_without_lines_is_just_the_header() {
    assert_eq!(invoice_csv(&invoice(vec![])), format!("{CSV_HEADER}\n"));
}

#[test]
fn pdf_is_a_pdf() {
    let pdf = invoice_pdf(&sample()).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(5).rev().take(64).any(|w| w == b"%%EOF"));
}

#[test]
fn pdf_text_can_be_extracted() {
    let path = keep("invoice-sample.pdf", &invoice_pdf(&sample()).unwrap());
    let Some(text) = poppler("pdftotext", &["-layout", path.to_str().unwrap(), "-"]) else { return };
    for expected in [
        "Invoice",
        "PB-2026-000042",
        "2026-10",
        "2026-11-01",
        "2026-12-01",
        "Partner Billing Platform B.V.",
        "Contoso Ltd",
        "London EC1A 1BB",
        "ba_01J9Z3K6V8",
        "bp_01J9Z3M2QX",
        "Azure consumption",
        "Virtual machines, D4s v5, West Europe",
        "1,382.40 USD",
        "1,402.88 USD",
        "1,996.88 USD",
        "Page 1 of 1",
    ] {
        assert!(text.contains(expected), "{expected:?} not in extracted text:\n{text}");
    }
}

#[test]
fn three_hundred_lines_make_several_pages() {
    let lines = (1..=300).map(|i| line(&format!("Usage line {i}"), i, 199)).collect();
    let pdf = invoice_pdf(&invoice(vec![section("Metered usage", lines)])).unwrap();
    let path = keep("invoice-300-lines.pdf", &pdf);
    let pages = match poppler("pdfinfo", &[path.to_str().unwrap()]) {
        Some(info) => info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse::<usize>().unwrap(),
        None => count_page_objects(&pdf),
    };
    assert!(pages > 1, "300 lines on {pages} page(s)");
    assert_eq!(count_page_objects(&pdf), pages, "the byte count and pdfinfo disagree");
    let Some(text) = poppler("pdftotext", &["-layout", path.to_str().unwrap(), "-"]) else { return };
    assert!(text.contains("Usage line 300"));
    assert!(text.contains(&format!("Page {pages} of {pages}")));
    assert!(text.contains("Metered usage (continued)"));
}

#[test]
fn pdf_refuses_amounts_in_another_currency() {
    let mut doc = sample();
    doc.sections[1].lines[0].amount = Money::new(1, Currency::EUR);
    let err = invoice_pdf(&doc).unwrap_err();
    assert!(matches!(err, DocumentError::CurrencyMismatch { expected: Currency::USD, found: Currency::EUR, .. }), "{err}");
    assert_eq!(err.to_string(), "the amount of line 1 in section 2 is in EUR, but the invoice is in USD");
}

#[test]
fn pdf_copes_with_awkward_text() {
    let long = "Extremely long description that a partner typed without thinking about paper sizes ".repeat(20);
    let mut doc = invoice(vec![section(
        "Sonstiges – Zuschläge € / 日本",
        vec![line(&long, 1, 100), line("Tab\there\nand newline", 2, 50), line(&"x".repeat(500), 1, 1)],
    )]);
    doc.bill_to.lines.push("A very long address line ".repeat(10));
    let path = keep("invoice-awkward.pdf", &invoice_pdf(&doc).unwrap());
    let Some(text) = poppler("pdftotext", &[path.to_str().unwrap(), "-"]) else { return };
    assert!(text.contains("Zuschläge €"));
    assert!(text.contains('\u{2026}'), "cut text should end in an ellipsis");
}
