//! The invoice as CSV, one row per charge, for spreadsheets and accounting imports.

use crate::InvoiceDocument;

/// The first row of [`invoice_csv`]; columns are fixed so imports can rely on them.
pub const CSV_HEADER: &str = "invoice_number,section,description,quantity,unit_price_minor,amount_minor,currency";

/// Renders one row per invoice line under [`CSV_HEADER`], each row ending in `\n`.
///
/// Amounts are integers in the currency's minor unit (cents for USD), so a spreadsheet cannot
/// round them; the `currency` column is the line amount's currency.
///
/// Fields follow RFC 4180: a field containing a comma, a double quote, CR or LF is wrapped in
/// double quotes, with inner quotes doubled.
///
/// Formula injection guard (OWASP "CSV injection"): a text field (invoice number, section,
/// description) that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
/// `'`, because spreadsheet programs would otherwise run it as a formula, and descriptions can
/// come from partners. The numeric columns are never prefixed, so negative amounts stay numbers.
/// A reader that wants the original text strips one leading `'` from those three columns.
pub fn invoice_csv(doc: &InvoiceDocument) -> String {
    let mut out = String::with_capacity(CSV_HEADER.len() + 1 + 96 * doc.sections.iter().map(|s| s.lines.len()).sum::<usize>());
    out.push_str(CSV_HEADER);
    out.push('\n');
    for section in &doc.sections {
        for line in &section.lines {
            let fields = [
                text_field(&doc.number),
                text_field(&section.name),
                text_field(&line.description),
                line.quantity.to_string(),
                line.unit_price.amount_minor.to_string(),
                line.amount.amount_minor.to_string(),
                text_field(line.amount.currency.as_str()),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
    }
    out
}

/// Applies the injection guard, then RFC 4180 quoting, to free text.
fn text_field(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{raw}") } else { raw.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(text_field("Seats"), "Seats");
        assert_eq!(text_field(""), "");
        assert_eq!(text_field("a - b"), "a - b");
    }

    #[test]
    fn rfc4180_quotes_commas_quotes_and_newlines() {
        assert_eq!(text_field("a,b"), "\"a,b\"");
        assert_eq!(text_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(text_field("cr\rhere"), "\"cr\rhere\"");
    }

    #[test]
    fn formula_starts_get_an_apostrophe() {
        assert_eq!(text_field("=SUM(A1:A2)"), "'=SUM(A1:A2)");
        assert_eq!(text_field("+1"), "'+1");
        assert_eq!(text_field("-1"), "'-1");
        assert_eq!(text_field("@cmd"), "'@cmd");
        assert_eq!(text_field("\tx"), "'\tx");
        // Guarded first, then quoted: the apostrophe sits inside the quotes.
        assert_eq!(text_field("\r=1"), "\"'\r=1\"");
        assert_eq!(text_field("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    }
}
