//! Prompting partners to link (rules N1, T1): the first prompt when an account becomes active with
//! nothing linked, and a reminder at most once per period while it stays that way.

use pb_domain::{PartnerAccountId, PartnerAccountState, ReminderPolicy, TenantId};

use crate::db::{Tx, args};
use crate::notify::{Announcement, Audience, announce};
use crate::{Result, Store, Ts};

/// Accounts examined per transaction of a reminder sweep.
const BATCH: i64 = 200;

const ACTIVE: &str = PartnerAccountState::Active.as_str();

fn link_prompt(reminder: bool) -> Announcement {
    let title = if reminder { "Reminder: link a billing account and profile" } else { "Link a billing account and profile" };
    Announcement {
        kind: "link_prompt",
        title: title.to_owned(),
        body: "Partner program purchases moved to the new commerce platform. To make membership purchases, link a billing \
               account and billing profile to your partner account: select Link billing profile, then Start."
            .to_owned(),
        action_url: Some("/account/billing-profile".to_owned()),
    }
}

/// Prompts the tenant's global admins to link and notes when, so that reminders count from here.
pub(crate) async fn prompt_in_tx(tx: &mut Tx, partner: PartnerAccountId, tenant: TenantId, now: Ts) -> Result<()> {
    tx.execute("UPDATE partner_accounts SET link_prompted_at = $2 WHERE id = $1", args![partner, now]).await?;
    announce(tx, tenant, now, Audience::GlobalAdmins, &link_prompt(false)).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Due {
    id: String,
    tenant_id: String,
}

/// A partner account in state `$1` (active), with no link in force, last prompted at or before `$2`
/// (or never). Used by the sweep's read and again by its compare-and-set.
const DUE: &str = "partner_accounts.state = $1 \
    AND (partner_accounts.link_prompted_at IS NULL OR partner_accounts.link_prompted_at <= $2) \
    AND NOT EXISTS (SELECT 1 FROM billing_links l WHERE l.partner_account_id = partner_accounts.id AND l.unlinked_at IS NULL)";

impl Store {
    /// Rule T1: reminds the global admins of every active, unlinked partner account last prompted at
    /// least `policy.every` ago. Each account is claimed by a compare-and-set on its prompt time in
    /// the transaction that queues the reminder, so nodes sweeping at once remind it once. Returns
    /// how many accounts were reminded.
    pub async fn remind_unlinked(&self, policy: &ReminderPolicy) -> Result<u64> {
        let mut after = String::new();
        let mut reminded = 0;
        loop {
            let now = self.now();
            let due = Ts::from(policy.due_before(now.0));
            let mut tx = self.db.begin().await?;
            let sql = format!("SELECT id, tenant_id FROM partner_accounts WHERE {DUE} AND id > $3 ORDER BY id LIMIT $4");
            let batch: Vec<Due> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![ACTIVE, due, after.as_str(), BATCH]).await?;
            tx.commit().await?;
            let Some(last) = batch.last() else { return Ok(reminded) };
            after = last.id.clone();
            let mut tx = self.db.begin_write().await?;
            for d in &batch {
                let sql = format!("UPDATE partner_accounts SET link_prompted_at = $3 WHERE id = $4 AND {DUE}");
                let claimed = tx.execute(sqlx::AssertSqlSafe(sql), args![ACTIVE, due, now, d.id.as_str()]).await?;
                if claimed == 1 {
                    let tenant: TenantId = d.tenant_id.parse().map_err(|e| crate::error::corrupt("partner_accounts.tenant_id", e))?;
                    announce(&mut tx, tenant, now, Audience::GlobalAdmins, &link_prompt(true)).await?;
                    reminded += 1;
                }
            }
            tx.commit().await?;
            if i64::try_from(batch.len()).unwrap_or(BATCH) < BATCH {
                return Ok(reminded);
            }
        }
    }
}
