-- Directory and partner roles become rows that queries join (rule A1 has one source: these rows,
-- refreshed from the token's wids when a user is seen). Keep in step with ../postgres/0004_role_rows.sql.

CREATE TABLE user_directory_roles (
    user_id    TEXT NOT NULL REFERENCES users(id),
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    role       TEXT NOT NULL CHECK (role IN ('global_admin')),
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_directory_roles_tenant ON user_directory_roles (tenant_id, role);

CREATE TABLE user_partner_roles (
    user_id    TEXT NOT NULL REFERENCES users(id),
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    role       TEXT NOT NULL CHECK (role IN ('mcpp_admin', 'account_admin')),
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_partner_roles_tenant ON user_partner_roles (tenant_id, role);

-- The old columns held space-separated names.
INSERT INTO user_directory_roles (user_id, tenant_id, role)
    SELECT id, tenant_id, 'global_admin' FROM users WHERE instr(' ' || directory_roles || ' ', ' global_admin ') > 0;
INSERT INTO user_partner_roles (user_id, tenant_id, role)
    SELECT id, tenant_id, 'mcpp_admin' FROM users WHERE instr(' ' || partner_roles || ' ', ' mcpp_admin ') > 0;
INSERT INTO user_partner_roles (user_id, tenant_id, role)
    SELECT id, tenant_id, 'account_admin' FROM users WHERE instr(' ' || partner_roles || ' ', ' account_admin ') > 0;

ALTER TABLE users DROP COLUMN directory_roles;
ALTER TABLE users DROP COLUMN partner_roles;
