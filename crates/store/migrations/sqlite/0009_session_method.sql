-- Keep in step with ../postgres/0009_session_method.sql.
-- How a web session was signed in: 'demo' (the one-click page of serve --demo) or 'oidc'. A server
-- running without --demo refuses demo sessions, so one made while it ran with it does not live on.
ALTER TABLE web_sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'demo';
