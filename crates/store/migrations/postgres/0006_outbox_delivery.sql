-- Delivering the outbox (rule T4) and reminding unlinked partners (rule T1).
-- Keep in step with ../sqlite/0006_outbox_delivery.sql.

-- pending: to send (or retry); sent: the SMTP server accepted it; dead: gave up after too many
-- tries, until an operator retries it. A dispatcher claims a due row for a lease (locked_by,
-- locked_until), so that several nodes never send one at once and a dead node's claims expire.
ALTER TABLE email_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead'));
ALTER TABLE email_outbox ADD COLUMN action_url TEXT;
ALTER TABLE email_outbox ADD COLUMN locked_by TEXT;
ALTER TABLE email_outbox ADD COLUMN locked_until TIMESTAMPTZ;
UPDATE email_outbox SET state = 'sent' WHERE sent_at IS NOT NULL;
DROP INDEX email_outbox_due;
CREATE INDEX email_outbox_claim ON email_outbox (state, next_attempt_at);

-- When the partner's global admins were last prompted to link (rule T1: again at most once a week).
ALTER TABLE partner_accounts ADD COLUMN link_prompted_at TIMESTAMPTZ;
UPDATE partner_accounts SET link_prompted_at = (
    SELECT MAX(n.created_at) FROM notifications n WHERE n.tenant_id = partner_accounts.tenant_id AND n.kind = 'link_prompt'
);
