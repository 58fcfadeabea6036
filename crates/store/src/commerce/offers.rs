//! The offer catalog: operators put offers with one price per currency; tenant users see the
//! active ones.

use std::collections::HashMap;

use pb_domain::{Currency, DisplayName, Money, OfferId, OfferKind};
use serde_json::json;

use crate::audit::{NewAudit, write_audit};
use crate::db::{Arg, Tx, args, placeholders};
use crate::error::corrupt;
use crate::{Ctx, Result, Store, StoreError, Ts};

/// A membership offer with its price in each currency it is sold in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: OfferId,
    pub name: String,
    pub kind: OfferKind,
    pub term_months: i64,
    /// At most one within its term per partner (Action Pack).
    pub one_per_partner: bool,
    pub active: bool,
    pub prices: Vec<Money>,
    pub created_at: time::OffsetDateTime,
    pub updated_at: time::OffsetDateTime,
}

impl Offer {
    /// The price in `currency`, if the offer is sold in it.
    pub fn price_in(&self, currency: Currency) -> Option<Money> {
        self.prices.iter().copied().find(|p| p.currency == currency)
    }
}

/// What an operator puts for an offer.
#[derive(Debug, Clone)]
pub struct PutOffer {
    pub name: DisplayName,
    pub kind: OfferKind,
    pub term_months: i64,
    pub one_per_partner: bool,
    pub active: bool,
    /// One per currency.
    pub prices: Vec<Money>,
}

#[derive(sqlx::FromRow)]
struct OfferRow {
    id: String,
    name: String,
    kind: String,
    term_months: i64,
    one_per_partner: bool,
    active: bool,
    created_at: Ts,
    updated_at: Ts,
}

#[derive(sqlx::FromRow)]
struct PriceRow {
    offer_id: String,
    currency: String,
    amount_minor: i64,
}

const OFFER_COLUMNS: &str = "id, name, kind, term_months, one_per_partner, active, created_at, updated_at";

/// Offers with their prices: two queries whatever the count.
async fn complete(tx: &mut Tx, rows: Vec<OfferRow>) -> Result<Vec<Offer>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Arg> = rows.iter().map(|r| Arg::from(&r.id)).collect();
    let sql = format!(
        "SELECT offer_id, currency, amount_minor FROM offer_prices WHERE offer_id IN ({}) ORDER BY offer_id, currency",
        placeholders(1, ids.len())
    );
    let prices: Vec<PriceRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), ids).await?;
    let mut by_offer: HashMap<String, Vec<Money>> = HashMap::new();
    for p in prices {
        let currency = Currency::parse(&p.currency).map_err(|e| corrupt("price currency", e))?;
        by_offer.entry(p.offer_id).or_default().push(Money::new(p.amount_minor, currency));
    }
    rows.into_iter()
        .map(|r| {
            Ok(Offer {
                prices: by_offer.remove(&r.id).unwrap_or_default(),
                id: OfferId::parse(&r.id).map_err(|e| corrupt("offer id", e))?,
                kind: OfferKind::parse(&r.kind).ok_or_else(|| corrupt("offer kind", &r.kind))?,
                name: r.name,
                term_months: r.term_months,
                one_per_partner: r.one_per_partner,
                active: r.active,
                created_at: r.created_at.0,
                updated_at: r.updated_at.0,
            })
        })
        .collect()
}

pub(crate) async fn offer_in_tx(tx: &mut Tx, id: &OfferId) -> Result<Option<Offer>> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1");
    let rows: Vec<OfferRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![id.as_str()]).await?;
    Ok(complete(tx, rows).await?.pop())
}

impl Store {
    /// Creates or replaces an offer (operators). Returns whether it was created.
    pub async fn put_offer(&self, ctx: &Ctx, id: &OfferId, put: &PutOffer) -> Result<(Offer, bool)> {
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = put.prices.iter().find(|p| !seen.insert(p.currency)) {
            return Err(StoreError::field("prices", "duplicate_currency", format!("{} is priced twice", dup.currency)));
        }
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let fields = args![id.as_str(), put.name.as_str(), put.kind.as_str(), put.term_months, put.one_per_partner, put.active, now];
        // Insert-or-nothing first: two PUTs of a new id at once make one offer, and the second
        // replaces it (a read-then-insert let both insert, and one failed on the key).
        let created = tx
            .execute(
                "INSERT INTO offers (id, name, kind, term_months, one_per_partner, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
                fields.clone(),
            )
            .await?
            == 1;
        let lock = format!("SELECT id FROM offers WHERE id = $1{}", tx.for_update());
        tx.scalar_optional::<String>(sqlx::AssertSqlSafe(lock), args![id.as_str()]).await?;
        let before = if created { None } else { offer_in_tx(&mut tx, id).await? };
        if before.is_some() {
            tx.execute(
                "UPDATE offers SET name = $2, kind = $3, term_months = $4, one_per_partner = $5, active = $6, updated_at = $7 WHERE id = $1",
                fields,
            )
            .await?;
            tx.execute("DELETE FROM offer_prices WHERE offer_id = $1", args![id.as_str()]).await?;
        }
        for p in &put.prices {
            tx.execute(
                "INSERT INTO offer_prices (offer_id, currency, amount_minor) VALUES ($1, $2, $3)",
                args![id.as_str(), p.currency.as_str(), p.amount_minor],
            )
            .await?;
        }
        let after = offer_in_tx(&mut tx, id).await?.ok_or(StoreError::NotFound("offer"))?;
        let snapshot = |o: &Offer| {
            json!({"name": o.name, "kind": o.kind, "term_months": o.term_months, "one_per_partner": o.one_per_partner,
                   "active": o.active, "prices": o.prices.iter().map(|p| json!({"amount_minor": p.amount_minor, "currency": p.currency})).collect::<Vec<_>>()})
        };
        let audit = NewAudit {
            tenant_id: None,
            action: if before.is_some() { "offer.replace" } else { "offer.create" },
            target_kind: "offer",
            target_id: id.to_string(),
            before: before.as_ref().map(snapshot),
            after: Some(snapshot(&after)),
        };
        write_audit(&mut tx, ctx, now, audit).await?;
        let created = before.is_none();
        self.commit(tx, ctx, &after).await?;
        Ok((after, created))
    }

    /// The catalog: every offer, or only the active ones (what tenant users see).
    pub async fn list_offers(&self, active_only: bool) -> Result<Vec<Offer>> {
        let mut tx = self.db.begin().await?;
        let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE active OR NOT $1 ORDER BY kind, name, id");
        let rows: Vec<OfferRow> = tx.fetch_all(sqlx::AssertSqlSafe(sql), args![active_only]).await?;
        let offers = complete(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(offers)
    }
}
