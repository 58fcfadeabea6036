-- Keep in step with ../sqlite/0008_audit_acted_as.sql.
-- Rule A3: a global admin acts as owner of someone else's billing account inside the link flow; the
-- audit record says so ('global_admin_as_owner'), NULL when the actor held the role themselves.
ALTER TABLE audit_records ADD COLUMN acted_as TEXT;
