//! The link in force, every link with its span and author (rule C4), and the agreement records of an
//! account (rule M3).

use pb_domain::BillingAccountId;

use crate::db::args;
use crate::model::{AcceptanceRow, AgreementAcceptance, BillingLink, LINK_COLUMNS, LinkRow};
use crate::read::{current_link_in_tx, partner_in_tx};
use crate::{Result, Store, StoreError, Ts, UserCtx};

impl Store {
    /// The link in force and the version to send as `If-Match`.
    pub async fn current_link(&self, cx: &UserCtx) -> Result<(Option<BillingLink>, i64)> {
        let mut tx = self.db.begin().await?;
        let partner = partner_in_tx(&mut tx, cx.tenant(), false).await?.ok_or(StoreError::NotFound("partner account"))?;
        let link = current_link_in_tx(&mut tx, partner.id).await?;
        tx.commit().await?;
        Ok((link, partner.link_version))
    }

    /// Every link of the caller's partner account, oldest first (rule C4); with `at`, only the one in
    /// force at that instant (if any).
    pub async fn link_history(&self, cx: &UserCtx, at: Option<time::OffsetDateTime>) -> Result<Vec<BillingLink>> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<LinkRow> = match at {
            None => {
                let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE tenant_id = $1 ORDER BY linked_at, id");
                tx.fetch_all(sqlx::AssertSqlSafe(sql), args![cx.tenant()]).await?
            }
            Some(at) => {
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM billing_links WHERE tenant_id = $1 AND linked_at <= $2 \
                     AND (unlinked_at IS NULL OR unlinked_at > $2) ORDER BY linked_at DESC, id DESC LIMIT 1"
                );
                tx.fetch_all(sqlx::AssertSqlSafe(sql), args![cx.tenant(), Ts::from(at)]).await?
            }
        };
        tx.commit().await?;
        rows.into_iter().map(BillingLink::try_from).collect()
    }

    /// The acceptance records of an account (rule M3); visible to whoever may read the account.
    pub async fn agreement_acceptances(&self, cx: &UserCtx, account: BillingAccountId) -> Result<Vec<AgreementAcceptance>> {
        self.get_billing_account(cx, account).await?;
        let mut tx = self.db.begin().await?;
        let rows: Vec<AcceptanceRow> = tx
            .fetch_all(
                "SELECT id, billing_account_id, kind, agreement_version, accepted_by, accepted_at FROM agreement_acceptances \
                 WHERE tenant_id = $1 AND billing_account_id = $2 ORDER BY id",
                args![cx.tenant(), account],
            )
            .await?;
        tx.commit().await?;
        rows.into_iter().map(AgreementAcceptance::try_from).collect()
    }
}
