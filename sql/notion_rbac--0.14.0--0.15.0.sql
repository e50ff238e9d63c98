-- notion_rbac 0.14.0 -> 0.15.0
--
-- An audit entry's server-log line is written by rbac._audit_log_line,
-- which hides the statement behind it and its context in the message
-- itself, instead of by RAISE LOG under function-level settings
-- (log_min_error_statement, log_error_verbosity), which PostgreSQL saves
-- and restores on every call. CREATE OR REPLACE drops those settings from
-- rbac._audit.
-- The library's other changes need no SQL.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.15.0'" to load this file. \quit

CREATE FUNCTION rbac._audit_log_line(line text) RETURNS void
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_audit_log_line_wrapper';
REVOKE ALL ON FUNCTION rbac._audit_log_line(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rbac._audit(p_action text, p_result text, p_resource_type text DEFAULT NULL,
                            p_resource_id text DEFAULT NULL, p_workspace_id text DEFAULT NULL,
                            p_metadata jsonb DEFAULT '{}', p_subject text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_subject text := coalesce(p_subject, rbac.current_subject());
    v_line jsonb;
BEGIN
    v_line := jsonb_build_object('audit', 'notion_rbac', 'at', clock_timestamp(), 'db_role', session_user::text,
                                 'subject', v_subject, 'workspace_id', p_workspace_id, 'action', p_action,
                                 'resource_type', p_resource_type, 'resource_id', p_resource_id,
                                 'result', p_result, 'metadata', coalesce(p_metadata, '{}'));
    IF coalesce(current_setting('notion_rbac.audit_server_log', true), 'on') = 'on' THEN
        PERFORM rbac._audit_log_line(v_line::text);
    END IF;
    IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' THEN
        IF coalesce(current_setting('notion_rbac.audit_server_log', true), 'on') <> 'on' THEN
            PERFORM rbac._audit_log_line(v_line::text);
        END IF;
        RETURN;
    END IF;
    INSERT INTO rbac.audit_log (subject, workspace_id, action, resource_type, resource_id, result, metadata)
    VALUES (v_subject, p_workspace_id, p_action, p_resource_type, p_resource_id, p_result, coalesce(p_metadata, '{}'));
END
$$;
