//! Places the invoice on A4 pages as positioned text and rules, without touching the PDF writer.
//!
//! Keeping layout apart from drawing lets tests check page breaks and margins directly, and lets
//! the footer say "Page 1 of N" because every page is known before anything is drawn.

use pb_domain::Money;

use crate::metrics::FontMetrics;
use crate::money::{format_money, format_quantity};
use crate::{InvoiceDocument, LineDoc, Party, SectionDoc};

/// A4 in PDF points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
pub(crate) const LEFT: f32 = 50.0;
pub(crate) const RIGHT: f32 = PAGE_W - 50.0;
const CONTENT_W: f32 = RIGHT - LEFT;
const TOP: f32 = 50.0;
/// Content stops here; the footer lives below.
pub(crate) const BOTTOM: f32 = PAGE_H - 60.0;
const FOOTER_BASELINE: f32 = PAGE_H - 32.0;

const BODY: f32 = 10.0;
const SMALL: f32 = 8.0;
const TABLE: f32 = 9.0;
/// Below this the table would be unreadable; only absurd amounts get near it.
const MIN_TABLE: f32 = 5.0;
const GAP: f32 = 14.0;
const MIN_DESCRIPTION_W: f32 = 150.0;
/// Beyond this many lines a description is cut with an ellipsis, so one line item cannot eat a page.
const MAX_DESCRIPTION_LINES: usize = 4;
const ELLIPSIS: &str = "\u{2026}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Regular,
    Bold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ink {
    Text,
    Muted,
    Faint,
}

/// One drawing instruction; `y` grows downwards from the top of the page, as in krilla.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Text { x: f32, baseline: f32, size: f32, face: Face, ink: Ink, text: String },
    Rule { x: f32, y: f32, width: f32, thickness: f32, ink: Ink },
}

/// The metrics of the two faces the invoice uses.
pub(crate) struct Fonts {
    pub(crate) regular: FontMetrics,
    pub(crate) bold: FontMetrics,
}

impl Fonts {
    fn face(&self, face: Face) -> &FontMetrics {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }

    pub(crate) fn width(&self, face: Face, text: &str, size: f32) -> f32 {
        self.face(face).width(text, size)
    }

    /// Cuts `text` to fit `max_w`, ending in an ellipsis when anything was cut.
    pub(crate) fn ellipsize(&self, face: Face, text: &str, size: f32, max_w: f32) -> String {
        if self.width(face, text, size) <= max_w {
            return text.to_owned();
        }
        let budget = max_w - self.width(face, ELLIPSIS, size);
        let mut out = String::new();
        let mut used = 0.0;
        let mut buf = [0u8; 4];
        for c in text.chars() {
            let w = self.width(face, c.encode_utf8(&mut buf), size);
            if used + w > budget {
                break;
            }
            out.push(c);
            used += w;
        }
        let mut out = out.trim_end().to_owned();
        out.push_str(ELLIPSIS);
        out
    }

    /// Greedy word wrap; words wider than a line are broken anywhere (ids, URLs), and text beyond
    /// `max_lines` is folded into an ellipsized last line.
    pub(crate) fn wrap(&self, face: Face, text: &str, size: f32, max_w: f32, max_lines: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut buf = [0u8; 4];
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if self.width(face, &candidate, size) <= max_w {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut used = 0.0;
            for c in word.chars() {
                let w = self.width(face, c.encode_utf8(&mut buf), size);
                if used + w > max_w && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    used = 0.0;
                }
                line.push(c);
                used += w;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        if lines.len() > max_lines.max(1) {
            let rest = lines.split_off(max_lines.max(1) - 1).join(" ");
            lines.push(self.ellipsize(face, &rest, size, max_w));
        }
        lines
    }
}

/// Lays out the whole invoice; every returned page has at least its footer.
pub(crate) fn layout(doc: &InvoiceDocument, fonts: &Fonts) -> Vec<Vec<Op>> {
    let number = clean(&doc.number);
    let mut flow = Flow { fonts, number, done: Vec::new(), current: Vec::new(), y: TOP, fresh: true, table: None };
    flow.header(doc);
    let columns = Columns::fit(doc, fonts);
    for section in &doc.sections {
        flow.section(section, columns);
    }
    flow.total(doc.total);
    flow.finish(&clean(&doc.period))
}

/// Where the table's columns sit. Amount columns are as wide as their widest value, so money is
/// never cut; the description gets what is left.
#[derive(Debug, Clone, Copy)]
struct Columns {
    size: f32,
    description_w: f32,
    quantity_right: f32,
    unit_right: f32,
    amount_right: f32,
}

impl Columns {
    fn fit(doc: &InvoiceDocument, fonts: &Fonts) -> Self {
        let widest = |face: Face, heading: &str, values: &mut dyn Iterator<Item = String>| {
            values.map(|v| fonts.width(face, &v, TABLE)).fold(fonts.width(Face::Bold, heading, TABLE), f32::max)
        };
        let lines = || doc.sections.iter().flat_map(|s| s.lines.iter());
        let quantity_w = widest(Face::Regular, "Qty", &mut lines().map(|l| format_quantity(l.quantity)));
        let unit_w = widest(Face::Regular, "Unit price", &mut lines().map(|l| format_money(l.unit_price)));
        let amount_w = widest(Face::Regular, "Amount", &mut lines().map(|l| format_money(l.amount))).max(widest(
            Face::Bold,
            "Amount",
            &mut doc.sections.iter().map(|s| format_money(s.subtotal)),
        ));
        let fixed = quantity_w + unit_w + amount_w;
        let room = CONTENT_W - 3.0 * GAP - MIN_DESCRIPTION_W;
        // Widths scale with the font size, so shrinking the table by `room / fixed` makes it fit.
        let scale = if fixed <= room { 1.0 } else { (room / fixed).max(MIN_TABLE / TABLE) };
        let amount_right = RIGHT;
        let unit_right = amount_right - amount_w * scale - GAP;
        let quantity_right = unit_right - unit_w * scale - GAP;
        let description_w = (quantity_right - quantity_w * scale - GAP - LEFT).max(GAP);
        Self { size: TABLE * scale, description_w, quantity_right, unit_right, amount_right }
    }

    fn line_h(&self) -> f32 {
        self.size * 1.3
    }

    fn heading_h(&self) -> f32 {
        self.size * 1.6 + 4.0
    }

    fn subtotal_h(&self) -> f32 {
        self.size * 1.6 + 8.0
    }
}

/// A table row with its description already wrapped.
struct Row {
    description: Vec<String>,
    quantity: String,
    unit_price: String,
    amount: String,
}

impl Row {
    fn height(&self, columns: &Columns) -> f32 {
        self.description.len() as f32 * columns.line_h() + 4.0
    }
}

/// The table that continues onto the next page, so its headings can be repeated there.
struct OpenTable {
    section: String,
    columns: Columns,
}

struct Flow<'a> {
    fonts: &'a Fonts,
    number: String,
    done: Vec<Vec<Op>>,
    current: Vec<Op>,
    /// The top of the free space on the current page.
    y: f32,
    /// Nothing but running headers on this page yet, so breaking again would not help.
    fresh: bool,
    table: Option<OpenTable>,
}

impl Flow<'_> {
    fn text(&mut self, x: f32, baseline: f32, size: f32, face: Face, ink: Ink, text: String) {
        self.current.push(Op::Text { x, baseline, size, face, ink, text });
    }

    fn text_right(&mut self, right: f32, baseline: f32, size: f32, face: Face, ink: Ink, text: String) {
        let x = right - self.fonts.width(face, &text, size);
        self.text(x, baseline, size, face, ink, text);
    }

    fn rule(&mut self, x: f32, y: f32, width: f32, thickness: f32, ink: Ink) {
        self.current.push(Op::Rule { x, y, width, thickness, ink });
    }

    /// Starts a new page unless `height` still fits on this one.
    fn room(&mut self, height: f32) {
        if self.y + height > BOTTOM && !self.fresh {
            self.break_page();
        }
        self.fresh = false;
    }

    fn break_page(&mut self) {
        self.done.push(std::mem::take(&mut self.current));
        self.y = TOP;
        let running = self.fonts.ellipsize(Face::Regular, &format!("Invoice {} (continued)", self.number), SMALL, CONTENT_W);
        self.text(LEFT, self.y + SMALL, SMALL, Face::Regular, Ink::Muted, running);
        self.y += 22.0;
        if let Some(table) = self.table.take() {
            self.section_heading(&format!("{} (continued)", table.section));
            self.column_headings(table.columns);
            self.table = Some(table);
        }
        self.fresh = true;
    }

    fn header(&mut self, doc: &InvoiceDocument) {
        self.text(LEFT, TOP + 20.0, 24.0, Face::Bold, Ink::Text, "Invoice".to_owned());
        let meta = [
            ("Invoice number", self.number.clone()),
            ("Period", clean(&doc.period)),
            ("Issue date", doc.issue_date.to_string()),
            ("Due date", doc.due_date.to_string()),
        ];
        let label_x = LEFT + CONTENT_W * 0.5 + 15.0;
        let value_w = RIGHT - label_x - 90.0;
        let mut baseline = TOP + BODY;
        for (label, value) in meta {
            self.text(label_x, baseline, BODY, Face::Regular, Ink::Muted, label.to_owned());
            let value = self.fonts.ellipsize(Face::Bold, &value, BODY, value_w);
            self.text_right(RIGHT, baseline, BODY, Face::Bold, Ink::Text, value);
            baseline += BODY * 1.5;
        }
        self.y = baseline + 16.0;
        self.parties(&doc.seller, &doc.bill_to);
        self.y += 12.0;
        for (label, value) in [("Billing account", &doc.billing_account_id), ("Billing profile", &doc.billing_profile_id)] {
            self.room(BODY * 1.5);
            let value = self.fonts.ellipsize(Face::Regular, &clean(value), BODY, CONTENT_W - 100.0);
            self.text(LEFT, self.y + BODY, BODY, Face::Regular, Ink::Muted, label.to_owned());
            self.text(LEFT + 100.0, self.y + BODY, BODY, Face::Regular, Ink::Text, value);
            self.y += BODY * 1.5;
        }
        self.y += 18.0;
    }

    /// Seller and bill-to side by side, row by row, so a very long address still breaks cleanly.
    fn parties(&mut self, seller: &Party, bill_to: &Party) {
        let column_w = (CONTENT_W - 30.0) / 2.0;
        let x = [LEFT, LEFT + column_w + 30.0];
        let rows = |label: &str, party: &Party| {
            let mut rows = vec![(Face::Regular, Ink::Muted, SMALL, label.to_owned()), (Face::Bold, Ink::Text, BODY, clean(&party.name))];
            rows.extend(party.lines.iter().map(|l| (Face::Regular, Ink::Text, BODY, clean(l))));
            rows
        };
        let columns = [rows("From", seller), rows("Bill to", bill_to)];
        let count = columns.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..count {
            self.room(BODY * 1.45);
            for (column, x) in columns.iter().zip(x) {
                if let Some((face, ink, size, text)) = column.get(i) {
                    let text = self.fonts.ellipsize(*face, text, *size, column_w);
                    self.text(x, self.y + BODY, *size, *face, *ink, text);
                }
            }
            self.y += BODY * 1.45;
        }
    }

    fn section_heading(&mut self, name: &str) {
        let name = self.fonts.ellipsize(Face::Bold, name, 12.0, CONTENT_W);
        self.text(LEFT, self.y + 12.0, 12.0, Face::Bold, Ink::Text, name);
        self.y += 20.0;
    }

    fn column_headings(&mut self, c: Columns) {
        let baseline = self.y + c.size;
        self.text(LEFT, baseline, c.size, Face::Bold, Ink::Muted, "Description".to_owned());
        self.text_right(c.quantity_right, baseline, c.size, Face::Bold, Ink::Muted, "Qty".to_owned());
        self.text_right(c.unit_right, baseline, c.size, Face::Bold, Ink::Muted, "Unit price".to_owned());
        self.text_right(c.amount_right, baseline, c.size, Face::Bold, Ink::Muted, "Amount".to_owned());
        self.y += c.heading_h();
        self.rule(LEFT, self.y - 3.0, CONTENT_W, 0.6, Ink::Muted);
        self.y += 2.0;
    }

    fn section(&mut self, section: &SectionDoc, c: Columns) {
        let name = clean(&section.name);
        let rows: Vec<Row> = section.lines.iter().map(|l| self.row(l, c)).collect();
        // Keep the heading with the column headings and the first row (or the subtotal).
        let first = rows.first().map_or(c.subtotal_h(), |r| r.height(&c));
        self.room(20.0 + c.heading_h() + 2.0 + first);
        self.section_heading(&name);
        self.column_headings(c);
        self.table = Some(OpenTable { section: name, columns: c });
        for row in rows {
            let height = row.height(&c);
            self.room(height);
            let baseline = self.y + c.size;
            self.text_right(c.quantity_right, baseline, c.size, Face::Regular, Ink::Text, row.quantity);
            self.text_right(c.unit_right, baseline, c.size, Face::Regular, Ink::Text, row.unit_price);
            self.text_right(c.amount_right, baseline, c.size, Face::Regular, Ink::Text, row.amount);
            for (i, line) in row.description.into_iter().enumerate() {
                self.text(LEFT, baseline + i as f32 * c.line_h(), c.size, Face::Regular, Ink::Text, line);
            }
            self.y += height;
            self.rule(LEFT, self.y - 2.0, CONTENT_W, 0.3, Ink::Faint);
        }
        self.room(c.subtotal_h());
        let subtotal_x = c.quantity_right - GAP;
        self.rule(subtotal_x, self.y + 1.0, RIGHT - subtotal_x, 0.6, Ink::Text);
        let baseline = self.y + 4.0 + c.size;
        self.text_right(c.unit_right, baseline, c.size, Face::Bold, Ink::Text, "Subtotal".to_owned());
        self.text_right(c.amount_right, baseline, c.size, Face::Bold, Ink::Text, format_money(section.subtotal));
        self.y += c.subtotal_h();
        self.table = None;
        self.y += 14.0;
    }

    fn row(&self, line: &LineDoc, c: Columns) -> Row {
        Row {
            description: self.fonts.wrap(Face::Regular, &clean(&line.description), c.size, c.description_w, MAX_DESCRIPTION_LINES),
            quantity: format_quantity(line.quantity),
            unit_price: format_money(line.unit_price),
            amount: format_money(line.amount),
        }
    }

    fn total(&mut self, total: Money) {
        self.room(36.0);
        self.rule(LEFT, self.y, CONTENT_W, 1.2, Ink::Text);
        let baseline = self.y + 8.0 + 13.0;
        let amount = format_money(total);
        let amount_w = self.fonts.width(Face::Bold, &amount, 13.0);
        let size = if amount_w > CONTENT_W - 80.0 { 13.0 * (CONTENT_W - 80.0) / amount_w } else { 13.0 };
        self.text(LEFT, baseline, 13.0, Face::Bold, Ink::Text, "Total".to_owned());
        self.text_right(RIGHT, baseline, size, Face::Bold, Ink::Text, amount);
        self.y = baseline + 10.0;
    }

    /// Closes the last page and stamps every page's footer now that the page count is known.
    fn finish(mut self, period: &str) -> Vec<Vec<Op>> {
        self.done.push(std::mem::take(&mut self.current));
        let count = self.done.len();
        let left = self.fonts.ellipsize(Face::Regular, &format!("Invoice {} \u{b7} {period}", self.number), SMALL, CONTENT_W * 0.6);
        for (i, page) in self.done.iter_mut().enumerate() {
            let label = format!("Page {} of {count}", i + 1);
            let x = RIGHT - self.fonts.width(Face::Regular, &label, SMALL);
            page.push(Op::Rule { x: LEFT, y: FOOTER_BASELINE - 12.0, width: CONTENT_W, thickness: 0.3, ink: Ink::Faint });
            page.push(Op::Text {
                x: LEFT,
                baseline: FOOTER_BASELINE,
                size: SMALL,
                face: Face::Regular,
                ink: Ink::Muted,
                text: left.clone(),
            });
            page.push(Op::Text { x, baseline: FOOTER_BASELINE, size: SMALL, face: Face::Regular, ink: Ink::Muted, text: label });
        }
        self.done
    }
}

/// Control characters (newlines, tabs) in data would draw as missing-glyph boxes; a space keeps
/// the words apart instead.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests;
