//! The spend chart of a billing profile: one stacked bar per invoiced month, one colour per invoice
//! section. The figures are the issued invoices' own subtotals (rules B4, B5); this module only
//! turns them into pixels, in integers, for the template to draw as SVG.

use pb_documents::format_money;
use pb_domain::{Currency, InvoiceSectionId, Money};
use pb_store::Invoice;

use crate::commerce_views::{BarView, ChartRowView, LegendView, SegmentView, SpendChart, TickView};

/// At most this many months are drawn (the newest).
pub const MONTHS: usize = 12;

/// Distinguishable with the common colour-vision deficiencies (Okabe and Ito), then greys; more
/// sections than colours reuse them in order, and the legend and the table still tell them apart.
const PALETTE: [&str; 8] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#6b7b8c"];

const WIDTH: i64 = 720;
const LEFT: i64 = 112;
const RIGHT: i64 = 16;
const TOP: i64 = 16;
const PLOT_HEIGHT: i64 = 200;
const LEGEND_COLUMN: i64 = 200;
const LEGEND_ROW: i64 = 20;
const TICKS: i64 = 4;

const MONTH_NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Cuts a name for the legend; the table below the chart shows it whole.
fn short(name: &str, max: usize) -> String {
    if name.chars().count() <= max { name.to_owned() } else { format!("{}…", name.chars().take(max - 1).collect::<String>()) }
}

/// The smallest "round" axis top (1, 2 or 5 times a power of ten per tick) at or above `max`.
fn axis_top(max: i64, currency: Currency) -> i64 {
    if max <= 0 {
        return 10i64.saturating_pow(u32::from(currency.minor_units())).max(1) * TICKS;
    }
    let per_tick = (max + TICKS - 1) / TICKS;
    let mut magnitude: i64 = 1;
    while magnitude.saturating_mul(10) <= per_tick {
        magnitude = magnitude.saturating_mul(10);
    }
    let step = [1, 2, 5, 10].iter().map(|m| magnitude.saturating_mul(*m)).find(|s| *s >= per_tick).unwrap_or(per_tick);
    step.saturating_mul(TICKS)
}

/// The pixel row of an amount of `value` on an axis running from 0 to `top`.
fn y_of(value: i64, top: i64) -> i64 {
    let scaled = i128::from(value.max(0)) * i128::from(PLOT_HEIGHT) / i128::from(top.max(1));
    TOP + PLOT_HEIGHT - i64::try_from(scaled).unwrap_or(PLOT_HEIGHT).min(PLOT_HEIGHT)
}

/// The chart of `invoices` (a profile's, all in `currency`), the newest [`MONTHS`] of them, oldest
/// first; `None` when there is no invoice yet.
pub fn spend_chart(invoices: &[Invoice], currency: Currency) -> Option<SpendChart> {
    let mut invoices: Vec<&Invoice> = invoices.iter().collect();
    invoices.sort_by_key(|i| i.summary.period);
    let skip = invoices.len().saturating_sub(MONTHS);
    let invoices = &invoices[skip..];
    if invoices.is_empty() {
        return None;
    }
    // Sections in the order they first appear; each named as on its newest invoice.
    let mut sections: Vec<(InvoiceSectionId, String)> = Vec::new();
    for inv in invoices {
        for s in &inv.sections {
            match sections.iter_mut().find(|(id, _)| *id == s.invoice_section_id) {
                Some(known) => known.1.clone_from(&s.name),
                None => sections.push((s.invoice_section_id, s.name.clone())),
            }
        }
    }
    let colour = |i: usize| PALETTE[i % PALETTE.len()];
    let max = invoices.iter().map(|i| i.summary.total.amount_minor).max().unwrap_or(0);
    let top = axis_top(max, currency);
    let money = |minor: i64| format_money(Money::new(minor, currency));
    let ticks = (0..=TICKS).map(|k| TickView { y: y_of(top / TICKS * k, top), label: money(top / TICKS * k) }).collect();
    let plot_width = WIDTH - LEFT - RIGHT;
    let count = i64::try_from(invoices.len()).unwrap_or(1).max(1);
    let slot = plot_width / count;
    let bar_width = (slot * 3 / 5).min(48);
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for (n, inv) in (0i64..).zip(invoices) {
        let start = inv.summary.period.start();
        let month = MONTH_NAMES.get(usize::from(u8::from(start.month())) - 1).copied().unwrap_or("");
        let x = LEFT + n * slot + (slot - bar_width) / 2;
        let mut below = 0i64;
        let mut segments = Vec::new();
        let mut amounts = Vec::new();
        for (i, (id, name)) in sections.iter().enumerate() {
            let amount = inv.sections.iter().find(|s| s.invoice_section_id == *id).map(|s| s.subtotal.amount_minor);
            amounts.push(amount.map(money).unwrap_or_else(|| "—".to_owned()));
            let Some(amount) = amount.filter(|a| *a > 0) else { continue };
            let above = below.saturating_add(amount);
            let (y, bottom) = (y_of(above, top), y_of(below, top));
            segments.push(SegmentView {
                y,
                height: bottom - y,
                colour: colour(i),
                title: format!("{name}, {month} {}: {}", start.year(), money(amount)),
            });
            below = above;
        }
        rows.push(ChartRowView { month: inv.summary.period.to_string(), amounts, total: money(inv.summary.total.amount_minor) });
        bars.push(BarView {
            x,
            width: bar_width,
            label_x: x + bar_width / 2,
            month: month.to_owned(),
            year: start.year().to_string(),
            segments,
        });
    }
    let per_row = ((WIDTH - LEFT) / LEGEND_COLUMN).max(1);
    let legend_top = TOP + PLOT_HEIGHT + 48;
    let legend: Vec<LegendView> = (0i64..)
        .zip(&sections)
        .map(|(i, (_, name))| LegendView {
            x: LEFT + (i % per_row) * LEGEND_COLUMN,
            y: legend_top + (i / per_row) * LEGEND_ROW,
            colour: colour(usize::try_from(i).unwrap_or(0)),
            name: short(name, 24),
        })
        .collect();
    let legend_rows = (i64::try_from(sections.len()).unwrap_or(0) + per_row - 1) / per_row;
    let first = invoices.first().map(|i| i.summary.period.to_string()).unwrap_or_default();
    let last = invoices.last().map(|i| i.summary.period.to_string()).unwrap_or_default();
    let span = if first == last { first } else { format!("{first} to {last}") };
    Some(SpendChart {
        width: WIDTH,
        height: legend_top + legend_rows * LEGEND_ROW,
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: TOP + PLOT_HEIGHT,
        label: format!(
            "Monthly spend by invoice section, {span}, in {currency}; highest month {}. The figures are in the table below the chart.",
            money(max)
        ),
        ticks,
        bars,
        legend,
        sections: sections.into_iter().map(|(_, n)| n).collect(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_domain::Period;

    #[test]
    fn axis_tops_are_round_and_cover_the_highest_month() {
        let usd = Currency::USD;
        assert_eq!(axis_top(0, usd), 400);
        assert_eq!(axis_top(1, usd), 4);
        assert_eq!(axis_top(47_500, usd), 80_000);
        assert_eq!(axis_top(125_000, usd), 200_000);
        assert_eq!(axis_top(297_500, usd), 400_000);
        assert_eq!(axis_top(400_000, usd), 400_000);
        for max in [3, 99, 12_345, 1_000_001, i64::MAX / 2] {
            assert!(axis_top(max, usd) >= max, "{max}");
        }
    }

    #[test]
    fn bars_stay_inside_the_plot() {
        assert_eq!(y_of(0, 100), TOP + PLOT_HEIGHT);
        assert_eq!(y_of(100, 100), TOP);
        assert_eq!(y_of(50, 100), TOP + PLOT_HEIGHT / 2);
        assert_eq!(y_of(-5, 100), TOP + PLOT_HEIGHT, "never below the axis");
        assert_eq!(y_of(i64::MAX, 1), TOP, "never above the plot");
    }

    fn invoice(period: Period, sections: &[(InvoiceSectionId, &str, i64)]) -> Invoice {
        let usd = |minor| Money::new(minor, Currency::USD);
        let total = sections.iter().map(|(_, _, m)| m).sum();
        let bill_to = pb_domain::AddressInput { address_line1: Some("1 Main St".into()), country: Some("US".into()), ..Default::default() };
        Invoice {
            summary: pb_store::InvoiceSummary {
                id: pb_domain::InvoiceId::new(),
                number: "PB-2026-000001".into(),
                billing_account_id: pb_domain::BillingAccountId::new(),
                billing_profile_id: pb_domain::BillingProfileId::new(),
                period,
                issued_at: period.end(),
                issue_date: period.end().date(),
                due_date: period.end().date(),
                bill_to: bill_to.parse().unwrap(),
                sold_to_company: "Contoso".into(),
                total: usd(total),
                line_count: 1,
            },
            sections: sections
                .iter()
                .map(|(id, name, minor)| pb_store::InvoiceSectionLines {
                    invoice_section_id: *id,
                    name: (*name).into(),
                    lines: Vec::new(),
                    subtotal: usd(*minor),
                })
                .collect(),
        }
    }

    #[test]
    fn rule_b5_the_newest_twelve_months_stack_their_sections_without_drift() {
        let (lab, prod) = (InvoiceSectionId::new(), InvoiceSectionId::new());
        let mut period = Period::new(2025, time::Month::January);
        let mut invoices = Vec::new();
        for n in 0..14 {
            let mut sections = vec![(prod, "Production", 33_333 + n)];
            if n % 2 == 0 {
                sections.push((lab, if n == 12 { "Lab (renamed)" } else { "Lab" }, 12_345));
            }
            invoices.push(invoice(period, &sections));
            period = period.next();
        }
        invoices.reverse();
        let Some(chart) = spend_chart(&invoices, Currency::USD) else { panic!("a chart") };
        assert_eq!(chart.bars.len(), MONTHS, "only the newest twelve months");
        assert_eq!(chart.rows.first().map(|r| r.month.as_str()), Some("2025-03"), "oldest first");
        assert_eq!(chart.sections, vec!["Production".to_owned(), "Lab (renamed)".to_owned()], "named as on the newest invoice");
        for bar in &chart.bars {
            let mut bottom = TOP + PLOT_HEIGHT;
            for s in &bar.segments {
                assert_eq!(s.y + s.height, bottom, "each piece sits on the one below");
                bottom = s.y;
            }
            assert!(bottom >= TOP);
        }
        assert_ne!(chart.legend[0].colour, chart.legend[1].colour);
        assert!(chart.label.contains("2025-03 to 2026-02") && chart.label.contains("USD"), "{}", chart.label);
        assert_eq!(spend_chart(&[], Currency::USD).map(|c| c.bars.len()), None);
    }

    #[test]
    fn long_names_are_cut_on_characters() {
        assert_eq!(short("Lab", 24), "Lab");
        assert_eq!(short("ééééé", 3), "éé…");
    }
}
