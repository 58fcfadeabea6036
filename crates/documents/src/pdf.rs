//! Draws the laid-out pages with krilla.

use krilla::Document;
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use crate::layout::{self, Face, Fonts, Ink, Op, PAGE_H, PAGE_W};
use crate::metrics::FontMetrics;
use crate::{DocumentError, InvoiceDocument};

/// Renders the invoice as an A4 PDF with DejaVu Sans embedded (subset), so text is selectable
/// and extractable and the file looks the same wherever it is opened.
///
/// Long descriptions wrap (at most four lines, then an ellipsis); other long fields are cut with
/// an ellipsis. Sections flow onto as many pages as needed, repeating the section name and
/// column headings after a break; every page has a "Page i of N" footer.
///
/// # Errors
/// [`DocumentError::CurrencyMismatch`] if any amount is not in `doc.currency`;
/// [`DocumentError::Font`] or [`DocumentError::Pdf`] if the PDF cannot be produced.
pub fn invoice_pdf(doc: &InvoiceDocument) -> Result<Vec<u8>, DocumentError> {
    check_currencies(doc)?;
    let regular_bytes = dejavu::sans::regular();
    let bold_bytes = dejavu::sans::bold();
    let metrics = Fonts {
        regular: FontMetrics::parse(regular_bytes).ok_or(DocumentError::Font("DejaVu Sans"))?,
        bold: FontMetrics::parse(bold_bytes).ok_or(DocumentError::Font("DejaVu Sans Bold"))?,
    };
    let regular = Font::new(regular_bytes.into(), 0).ok_or(DocumentError::Font("DejaVu Sans"))?;
    let bold = Font::new(bold_bytes.into(), 0).ok_or(DocumentError::Font("DejaVu Sans Bold"))?;

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new().title(format!("Invoice {}", doc.number)).creator("partner-billing".to_owned()).language("en".to_owned()),
    );
    for ops in layout::layout(doc, &metrics) {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| DocumentError::Pdf("invalid page size".to_owned()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for op in ops {
            draw(&mut surface, op, &regular, &bold);
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| DocumentError::Pdf(e.to_string()))
}

fn draw(surface: &mut Surface<'_>, op: Op, regular: &Font, bold: &Font) {
    match op {
        Op::Text { x, baseline, size, face, ink, text } => {
            surface.set_fill(Some(fill(ink)));
            let font = match face {
                Face::Regular => regular.clone(),
                Face::Bold => bold.clone(),
            };
            surface.draw_text(Point::from_xy(x, baseline), font, size, &text, false, TextDirection::Auto);
        }
        Op::Rule { x, y, width, thickness, ink } => {
            // A rule is a thin filled rectangle: no stroke state to reset afterwards.
            let Some(rect) = Rect::from_xywh(x, y, width, thickness) else { return };
            let mut path = PathBuilder::new();
            path.push_rect(rect);
            if let Some(path) = path.finish() {
                surface.set_fill(Some(fill(ink)));
                surface.draw_path(&path);
            }
        }
    }
}

fn fill(ink: Ink) -> Fill {
    let lightness = match ink {
        Ink::Text => 0,
        Ink::Muted => 95,
        Ink::Faint => 190,
    };
    Fill { paint: luma::Color::new(lightness).into(), ..Fill::default() }
}

/// Every amount must be in the invoice's currency: a stray currency means the caller mixed up
/// data, and a printed invoice cannot be taken back.
fn check_currencies(doc: &InvoiceDocument) -> Result<(), DocumentError> {
    let expected = doc.currency;
    let mismatch = |field: String, found| DocumentError::CurrencyMismatch { field, expected, found };
    if doc.total.currency != expected {
        return Err(mismatch("the total".to_owned(), doc.total.currency));
    }
    for (s, section) in doc.sections.iter().enumerate() {
        if section.subtotal.currency != expected {
            return Err(mismatch(format!("the subtotal of section {}", s + 1), section.subtotal.currency));
        }
        for (l, line) in section.lines.iter().enumerate() {
            for (what, money) in [("unit price", line.unit_price), ("amount", line.amount)] {
                if money.currency != expected {
                    return Err(mismatch(format!("the {what} of line {} in section {}", l + 1, s + 1), money.currency));
                }
            }
        }
    }
    Ok(())
}
