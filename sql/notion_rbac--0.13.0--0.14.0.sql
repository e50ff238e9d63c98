-- notion_rbac 0.13.0 -> 0.14.0
--
-- Every change an administrator can make to roles is audited: UPDATEs of
-- rbac.role_assignments and rbac.app_role_actions and DELETEs from
-- rbac.action_permissions were not. Administrators may only re-queue a
-- failed audit delivery (an entry marked sent by hand would be purged
-- undelivered). rbac.protect refuses a table whose existing permissive
-- policies would let rows through its own.
-- The library's other changes need no SQL: notion_rbac.max_call_memory,
-- notion_request paths limited to what a URL parser sends unchanged, and
-- requests authorized again when the worker takes them.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.14.0'" to load this file. \quit

CREATE TRIGGER role_assignments_audit_update AFTER UPDATE ON rbac.role_assignments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_assigned');
CREATE TRIGGER app_role_actions_audit_update AFTER UPDATE ON rbac.app_role_actions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER action_permissions_audit_delete AFTER DELETE ON rbac.action_permissions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');

CREATE FUNCTION rbac._audit_outbox_requeue_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (OLD.status = 'failed' AND NEW.status = 'queued')
       AND current_setting('is_superuser') <> 'on' THEN
        RAISE EXCEPTION 'rbac.audit_outbox: an entry''s delivery may only be queued again after it failed, not moved from % to %',
                        OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'UPDATE rbac.audit_outbox SET status = ''queued'', next_attempt_at = now() WHERE status = ''failed''';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_outbox_requeue_only BEFORE UPDATE ON rbac.audit_outbox
    FOR EACH ROW EXECUTE FUNCTION rbac._audit_outbox_requeue_only();
REVOKE ALL ON FUNCTION rbac._audit_outbox_requeue_only() FROM PUBLIC;

CREATE OR REPLACE FUNCTION rbac.protect(
    tbl regclass,
    entity_type text,
    id_column name,
    select_action text DEFAULT 'read',
    update_action text DEFAULT 'write',
    delete_action text DEFAULT 'delete',
    insert_action text DEFAULT NULL,
    force boolean DEFAULT true
) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel record;
    col record;
    id_expr text;
    cmd record;
    enabled boolean;
    forced boolean;
    others text;
BEGIN
    IF tbl IS NULL OR entity_type IS NULL OR id_column IS NULL THEN
        RAISE EXCEPTION 'rbac.protect: the table, entity type and id column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind, c.relrowsecurity, c.relforcerowsecurity, pg_has_role(c.relowner, 'USAGE') AS owns
      INTO rel FROM pg_class c WHERE c.oid = tbl;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'rbac.protect: % is not a table', tbl USING ERRCODE = 'wrong_object_type';
    END IF;
    IF NOT rel.owns THEN
        RAISE EXCEPTION 'rbac.protect: must be the owner of table %', tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Policies and row-level security are changed by the table''s owner.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
                WHERE p.polrelid = tbl AND d.description LIKE 'rbac.protect {%') THEN
        RAISE EXCEPTION 'rbac.protect: % is already protected', tbl
            USING ERRCODE = 'duplicate_object', HINT = 'Call rbac.unprotect(' || quote_literal(tbl::text) || ') first to change how.';
    END IF;
    -- PostgreSQL lets a row through when any permissive policy for its
    -- command does: one the table has already would void these.
    SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) INTO others
      FROM pg_policy p
     WHERE p.polrelid = tbl AND p.polpermissive
       AND (p.polcmd = '*' OR (p.polcmd = 'r' AND select_action IS NOT NULL) OR (p.polcmd = 'a' AND insert_action IS NOT NULL)
            OR (p.polcmd = 'w' AND update_action IS NOT NULL) OR (p.polcmd = 'd' AND delete_action IS NOT NULL));
    IF others IS NOT NULL THEN
        RAISE EXCEPTION 'rbac.protect: table % has permissive policies (%) that would let rows through', tbl, others
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Drop them, or create them again AS RESTRICTIVE (they then narrow what rbac.protect allows).';
    END IF;
    SELECT a.atttypid::regtype AS type INTO col
      FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = id_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rbac.protect: table % has no column %', tbl, id_column USING ERRCODE = 'undefined_column';
    END IF;
    -- Ids are compared in their text form: exactly the id a tuple names
    -- (page:42, page:3f2e…). Text, integer and uuid columns are passed as
    -- they are (rbac.permitted has a form for each, and compares without
    -- making text of every row); other types are cast to text — only types
    -- whose text form no setting changes: a date's follows the reader's
    -- DateStyle, so a reader could pick which tuples a row matches.
    IF NOT rbac._stable_id_type(col.type) THEN
        RAISE EXCEPTION 'rbac.protect: column % of % is of type %, whose text form depends on session settings or is not an id',
                        quote_ident(id_column), tbl, col.type
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Protect a column of type text, varchar, char, name, smallint, integer, bigint, numeric or uuid '
                         '(or an enum, or a domain over one) that holds the id as the tuples name it.';
    END IF;
    id_expr := CASE WHEN col.type IN ('text'::regtype, 'character varying'::regtype, 'smallint'::regtype,
                                      'integer'::regtype, 'bigint'::regtype, 'uuid'::regtype)
                    THEN quote_ident(id_column) ELSE format('(%I)::text', id_column) END;
    FOR cmd IN
        SELECT * FROM (VALUES ('select', select_action), ('insert', insert_action),
                              ('update', update_action), ('delete', delete_action)) v(command, action)
    LOOP
        IF cmd.action IS NOT NULL THEN
            -- Unknown entity types and actions are refused now, not at the
            -- first query (the probe's subject and id need not exist).
            BEGIN
                PERFORM rbac.check('user:_', cmd.action, entity_type || ':_');
            EXCEPTION WHEN undefined_object OR invalid_text_representation THEN
                RAISE EXCEPTION 'rbac.protect: % action %: %', upper(cmd.command), quote_literal(cmd.action), SQLERRM
                    USING ERRCODE = 'undefined_object', HINT = 'Name a permission, relation, attribute or rule of the entity in the active schema.';
            END;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'rbac_' || cmd.command) THEN
            RAISE EXCEPTION 'rbac.protect: table % already has a policy named %', tbl, 'rbac_' || cmd.command
                USING ERRCODE = 'duplicate_object';
        END IF;
    END LOOP;
    enabled := NOT rel.relrowsecurity;
    forced := force AND NOT rel.relforcerowsecurity;
    FOR cmd IN
        SELECT * FROM (VALUES ('select', select_action), ('insert', insert_action),
                              ('update', update_action), ('delete', delete_action)) v(command, action)
    LOOP
        EXECUTE format('CREATE POLICY %I ON %s FOR %s TO PUBLIC %s', 'rbac_' || cmd.command, tbl, upper(cmd.command),
            CASE
                WHEN cmd.action IS NULL AND cmd.command = 'insert' THEN 'WITH CHECK (true)'
                WHEN cmd.action IS NULL THEN 'USING (true)'
                WHEN cmd.command = 'insert' THEN format('WITH CHECK (rbac.permitted(%L, %L, %s))', cmd.action, entity_type, id_expr)
                WHEN cmd.command = 'update' THEN format('USING (rbac.permitted(%1$L, %2$L, %3$s)) WITH CHECK (rbac.permitted(%1$L, %2$L, %3$s))', cmd.action, entity_type, id_expr)
                ELSE format('USING (rbac.permitted(%L, %L, %s))', cmd.action, entity_type, id_expr)
            END);
        EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', 'rbac_' || cmd.command, tbl,
            'rbac.protect ' || jsonb_build_object('entity_type', entity_type, 'id_column', id_column,
                'action', cmd.action, 'enabled_rls', enabled, 'forced_rls', forced)::text);
    END LOOP;
    IF enabled THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    END IF;
    IF forced THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;
END
$$;
