//! An issued invoice of the store as the document both faces render.

use pb_store::Invoice;

use crate::{InvoiceDocument, LineDoc, Party, SectionDoc};

/// The document of `inv`, issued by `seller`. The bill-to is the billing account's sold-to as it
/// was when the invoice was issued.
pub fn invoice_document(inv: &Invoice, seller: &Party) -> InvoiceDocument {
    let s = &inv.summary;
    let a = &s.bill_to;
    let mut lines: Vec<String> =
        [Some(&a.address_line1), a.address_line2.as_ref(), a.address_line3.as_ref()].into_iter().flatten().cloned().collect();
    let city: Vec<&str> = [a.postal_code.as_deref(), a.city.as_deref(), a.region.as_deref()].into_iter().flatten().collect();
    if !city.is_empty() {
        lines.push(city.join(" "));
    }
    lines.push(a.country.to_string());
    InvoiceDocument {
        number: s.number.clone(),
        period: s.period.to_string(),
        issue_date: s.issue_date,
        due_date: s.due_date,
        currency: s.total.currency,
        seller: seller.clone(),
        bill_to: Party { name: s.sold_to_company.clone(), lines },
        billing_account_id: s.billing_account_id.to_string(),
        billing_profile_id: s.billing_profile_id.to_string(),
        sections: inv
            .sections
            .iter()
            .map(|sec| SectionDoc {
                name: sec.name.clone(),
                subtotal: sec.subtotal,
                lines: sec
                    .lines
                    .iter()
                    .map(|l| LineDoc {
                        description: l.description.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                        amount: l.amount,
                    })
                    .collect(),
            })
            .collect(),
        total: s.total,
    }
}
