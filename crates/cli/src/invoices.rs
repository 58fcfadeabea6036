//! `partner-billing invoices run --period YYYY-MM`: the same invoice run as the operator API and the
//! month close inside serve, with a progress bar on a terminal and plain lines otherwise.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use pb_domain::Period;
use pb_store::{Ctx, RunProgress, Store};

enum Progress {
    Bar(ProgressBar),
    Lines { total: u64, done: u64, created: u64 },
}

impl RunProgress for Progress {
    fn started(&mut self, profiles: u64) {
        match self {
            Progress::Bar(b) => b.set_length(profiles),
            Progress::Lines { total, .. } => {
                *total = profiles;
                println!("{profiles} billing profiles have charges in the period");
            }
        }
    }

    fn advanced(&mut self, profiles: u64, made: u64) {
        match self {
            Progress::Bar(b) => b.inc(profiles),
            Progress::Lines { total, done, created } => {
                *done += profiles;
                *created += made;
                println!("{done}/{total} profiles done, {created} invoices issued");
            }
        }
    }
}

pub async fn run(store: &Store, period: Period) -> Result<()> {
    let mut progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} profiles, {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(format!("invoicing {period}"));
        Progress::Bar(bar)
    } else {
        Progress::Lines { total: 0, done: 0, created: 0 }
    };
    let summary = store.run_invoices(&Ctx::operator("cli", None), period, &mut progress).await.context("invoice run failed")?;
    if let Progress::Bar(b) = &progress {
        b.finish_and_clear();
    }
    println!(
        "period {}: {} profiles with charges, {} invoices issued now, {} issued before, {} charges",
        summary.period, summary.profiles, summary.invoices_created, summary.invoices_already_issued, summary.charges
    );
    Ok(())
}
