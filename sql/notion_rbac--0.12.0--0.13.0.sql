-- notion_rbac 0.12.0 -> 0.13.0
--
-- An audit entry's server-log line is the entry alone: rbac._audit logs
-- with log_min_error_statement and log_error_verbosity of its own, so the
-- statement behind the entry (which may hold rbac.oauth_configure's client
-- secret or an OAuth code) and its context are not printed after it.
-- Changes of the OAuth client, rbac.login_subjects and rbac.audit_delivery
-- are audited (one entry per statement with its row count).
-- The library's other changes need no SQL (five memory bounds became
-- superuser settings: notion_rbac.max_validation_kb, max_context_items,
-- max_fixpoint_size, cache_rows, cache_lookup_ids).

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.13.0'" to load this file. \quit

ALTER FUNCTION rbac._audit(text, text, text, text, text, jsonb, text)
    SET log_min_error_statement TO panic
    SET log_error_verbosity TO terse;

CREATE TRIGGER oauth_config_audit_insert AFTER INSERT ON rbac.oauth_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_configured');
CREATE TRIGGER oauth_config_audit_update AFTER UPDATE ON rbac.oauth_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_configured');
CREATE TRIGGER oauth_config_audit_delete AFTER DELETE ON rbac.oauth_config REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_config_deleted');
CREATE TRIGGER login_subjects_audit_insert AFTER INSERT ON rbac.login_subjects REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_changed');
CREATE TRIGGER login_subjects_audit_update AFTER UPDATE ON rbac.login_subjects REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_changed');
CREATE TRIGGER login_subjects_audit_delete AFTER DELETE ON rbac.login_subjects REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_deleted');
CREATE TRIGGER audit_delivery_audit_insert AFTER INSERT ON rbac.audit_delivery REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_changed');
CREATE TRIGGER audit_delivery_audit_update AFTER UPDATE ON rbac.audit_delivery REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_changed');
CREATE TRIGGER audit_delivery_audit_delete AFTER DELETE ON rbac.audit_delivery REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_deleted');
