//! Payment instruments: a processor's token and a display hint, added to a profile by whoever may
//! pay its invoices, or by a purchase that brings one (rule B3). The input types cannot hold a card
//! number, so none reaches the database.

use pb_domain::billing::BillingAction;
use pb_domain::{BillingProfileId, NewPaymentInstrument, PaymentInstrumentId};
use serde_json::json;

use crate::access::require_on_profile;
use crate::audit::{NewAudit, write_audit};
use crate::db::{Tx, args};
use crate::model::{BillingProfile, PaymentInstrument};
use crate::read::profile_in_tx;
use crate::{Result, Store, Ts, UserCtx};

/// Adds an instrument to `profile` in the caller's transaction, with its audit record; the caller
/// decided that this user may.
pub(crate) async fn insert_instrument(
    tx: &mut Tx,
    cx: &UserCtx,
    profile: &BillingProfile,
    new: &NewPaymentInstrument,
    now: Ts,
) -> Result<PaymentInstrument> {
    let pi = PaymentInstrument {
        id: PaymentInstrumentId::new(),
        billing_profile_id: profile.id,
        kind: new.kind,
        display_hint: new.display_hint.as_str().to_owned(),
        created_at: now.0,
    };
    tx.execute(
        "INSERT INTO payment_instruments (id, tenant_id, billing_profile_id, kind, processor_token, display_hint, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![pi.id, cx.tenant(), profile.id, new.kind.as_str(), new.token.as_str(), new.display_hint.as_str(), cx.user_id(), now],
    )
    .await?;
    let audit = NewAudit {
        tenant_id: Some(cx.tenant()),
        action: "payment_instrument.add",
        target_kind: "billing_profile",
        target_id: profile.id.to_string(),
        before: None,
        // The processor token is not copied into the audit trail.
        after: Some(json!({"payment_instrument_id": pi.id.to_string(), "kind": new.kind, "display_hint": pi.display_hint})),
    };
    write_audit(tx, cx.ctx(), now, audit).await?;
    Ok(pi)
}

impl Store {
    /// Adds a payment instrument to a profile (owner, contributor or invoice manager).
    pub async fn add_payment_instrument(
        &self,
        cx: &UserCtx,
        profile: BillingProfileId,
        new: &NewPaymentInstrument,
    ) -> Result<PaymentInstrument> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let p = profile_in_tx(&mut tx, cx.tenant(), profile).await?;
        require_on_profile(&mut tx, cx, &p, BillingAction::PayInvoices).await?;
        let pi = insert_instrument(&mut tx, cx, &p, new, now).await?;
        self.commit(tx, cx.ctx(), &pi).await?;
        Ok(pi)
    }
}
