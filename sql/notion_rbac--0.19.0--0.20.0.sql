-- notion_rbac 0.19.0 -> 0.20.0
--
-- Privileges on the extension's objects are the extension's own: every
-- privilege on its schema, tables, sequences, functions and types held by a
-- role other than the owner and the extension's roles (rbac_admin,
-- rbac_reader, rbac_oauth, rbac_worker, rbac_app) is revoked, with a NOTICE
-- naming each. Such privileges came from the installing role's default
-- privileges (ALTER DEFAULT PRIVILEGES ... GRANT ... TO someone), which
-- apply to what an extension script creates, or from the ACL of a schema
-- rbac made before the install; TRIGGER on a table that SECURITY DEFINER
-- functions write would run anyone's function as the owner. Grant the
-- extension's roles instead. (The library also checks, since 0.20.0, that
-- the role running rbac.decrypt_token is a member of rbac_worker.)
--
-- rbac.protect refuses a table with a permissive policy for any command,
-- also one it leaves open; rbac.unprotect of a parent takes off the
-- protection of a table protected before it was attached below it.
--
-- rbac.authorize refuses a subject text that is more than one subject;
-- administrators may change nothing of an outbox entry but queue it again
-- after it failed.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.20.0'" to load this file. \quit

-- rbac.protect refuses a table with a permissive policy for any command:
-- for a command it leaves open (insert_action is NULL by default) its own
-- permissive policy of true would void the table's restriction. Its hint
-- for a table below that is protected already names the table asked for.
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
    t regclass;
    targets regclass[];
BEGIN
    IF tbl IS NULL OR entity_type IS NULL OR id_column IS NULL THEN
        RAISE EXCEPTION 'rbac.protect: the table, entity type and id column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- A partition or an inheritance child read by name is filtered by its
    -- own policies only, and rows read through its parent by the parent's
    -- only: the table and every table below it are protected alike (and
    -- unprotected alike). A table below another is protected through the
    -- top one.
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = tbl) THEN
        RAISE EXCEPTION 'rbac.protect: % is a partition or inheritance child of %', tbl,
                        (SELECT i.inhparent::regclass FROM pg_inherits i WHERE i.inhrelid = tbl ORDER BY i.inhseqno LIMIT 1)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Protect the table at the top: rbac.protect protects every partition and child below it too.';
    END IF;
    targets := ARRAY[tbl] || rbac._tables_below(tbl);
    FOREACH t IN ARRAY targets LOOP
        SELECT c.relkind, c.relrowsecurity, c.relforcerowsecurity, pg_has_role(c.relowner, 'USAGE') AS owns
          INTO rel FROM pg_class c WHERE c.oid = t;
        IF rel.relkind NOT IN ('r', 'p') THEN
            RAISE EXCEPTION 'rbac.protect: % is not a table', t USING ERRCODE = 'wrong_object_type';
        END IF;
        IF NOT rel.owns THEN
            RAISE EXCEPTION 'rbac.protect: must be the owner of table %', t
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Policies and row-level security are changed by the table''s owner.';
        END IF;
        IF EXISTS (SELECT 1 FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
                    WHERE p.polrelid = t AND d.description LIKE 'rbac.protect {%') THEN
            RAISE EXCEPTION 'rbac.protect: % is already protected', t
                USING ERRCODE = 'duplicate_object', HINT = 'Call rbac.unprotect(' || quote_literal(tbl::text) || ') first to change how.';
        END IF;
        -- PostgreSQL lets a row through when any permissive policy for its
        -- command does: one the table has already would void these, and a
        -- command left open (no action) gets a permissive policy of true,
        -- which would void the table's own restriction of it.
        SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) INTO others
          FROM pg_policy p
         WHERE p.polrelid = t AND p.polpermissive;
        IF others IS NOT NULL THEN
            RAISE EXCEPTION 'rbac.protect: table % has permissive policies (%): PostgreSQL lets a row through when any permissive policy does', t, others
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Drop them, or create them again AS RESTRICTIVE (they then narrow what rbac.protect allows, also for the commands it leaves open).';
        END IF;
        SELECT a.atttypid::regtype AS type INTO col
          FROM pg_attribute a WHERE a.attrelid = t AND a.attname = id_column AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'rbac.protect: table % has no column %', t, id_column USING ERRCODE = 'undefined_column';
        END IF;
        -- Ids are compared in their text form: exactly the id a tuple names
        -- (page:42, page:3f2e…). Text, integer and uuid columns are passed as
        -- they are (rbac.permitted has a form for each, and compares without
        -- making text of every row); other types are cast to text — only types
        -- whose text form no setting changes: a date's follows the reader's
        -- DateStyle, so a reader could pick which tuples a row matches.
        IF NOT rbac._stable_id_type(col.type) THEN
            RAISE EXCEPTION 'rbac.protect: column % of % is of type %, whose text form depends on session settings or is not an id',
                            quote_ident(id_column), t, col.type
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
            IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = 'rbac_' || cmd.command) THEN
                RAISE EXCEPTION 'rbac.protect: table % already has a policy named %', t, 'rbac_' || cmd.command
                    USING ERRCODE = 'duplicate_object';
            END IF;
        END LOOP;
        enabled := NOT rel.relrowsecurity;
        forced := force AND NOT rel.relforcerowsecurity;
        FOR cmd IN
            SELECT * FROM (VALUES ('select', select_action), ('insert', insert_action),
                                  ('update', update_action), ('delete', delete_action)) v(command, action)
        LOOP
            EXECUTE format('CREATE POLICY %I ON %s FOR %s TO PUBLIC %s', 'rbac_' || cmd.command, t, upper(cmd.command),
                CASE
                    WHEN cmd.action IS NULL AND cmd.command = 'insert' THEN 'WITH CHECK (true)'
                    WHEN cmd.action IS NULL THEN 'USING (true)'
                    WHEN cmd.command = 'insert' THEN format('WITH CHECK (rbac.permitted(%L, %L, %s))', cmd.action, entity_type, id_expr)
                    WHEN cmd.command = 'update' THEN format('USING (rbac.permitted(%1$L, %2$L, %3$s)) WITH CHECK (rbac.permitted(%1$L, %2$L, %3$s))', cmd.action, entity_type, id_expr)
                    ELSE format('USING (rbac.permitted(%L, %L, %s))', cmd.action, entity_type, id_expr)
                END);
            EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', 'rbac_' || cmd.command, t,
                'rbac.protect ' || jsonb_build_object('entity_type', entity_type, 'id_column', id_column,
                    'action', cmd.action, 'enabled_rls', enabled, 'forced_rls', forced)::text);
        END LOOP;
        IF enabled THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        END IF;
        IF forced THEN
            EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        END IF;
    END LOOP;
END
$$;

-- rbac.unprotect of a table takes off the protection of a table below it
-- that was protected before it was attached (and only then refuses a table
-- as "not protected" when nothing below it is either); the owner is
-- checked only where there are policies to drop; a table below that is
-- also below another protected table keeps its policies; row-level
-- security that rbac.protect turned on is turned off again unless a
-- permissive policy is left (restrictive ones alone hide every row).
CREATE OR REPLACE FUNCTION rbac.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol record;
    enabled boolean;
    forced boolean;
    n int;
    total int;
    t regclass;
    targets regclass[];
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'rbac.unprotect: the table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = tbl) THEN
        RAISE EXCEPTION 'rbac.unprotect: % is a partition or inheritance child of %', tbl,
                        (SELECT i.inhparent::regclass FROM pg_inherits i WHERE i.inhrelid = tbl ORDER BY i.inhseqno LIMIT 1)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Unprotect the table at the top: a table below a protected one stays protected with it.';
    END IF;
    -- The table and every table below it, as rbac.protect protected them
    -- (a partition attached since, never protected, is passed over; one
    -- protected before it was attached is unprotected with the table,
    -- protected or not: nothing else could reach it). A table below that
    -- is also below another protected table keeps its policies: they are
    -- that table's too.
    targets := ARRAY[tbl] || rbac._tables_below(tbl);
    total := 0;
    FOREACH t IN ARRAY targets LOOP
        IF NOT EXISTS (SELECT FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
                        WHERE p.polrelid = t AND rbac._protect_info(d.description) IS NOT NULL) THEN
            CONTINUE;
        END IF;
        IF t <> tbl AND EXISTS (
                WITH RECURSIVE above(relid) AS (
                    SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = t
                    UNION
                    SELECT i.inhparent FROM pg_inherits i JOIN above a ON i.inhrelid = a.relid)
                SELECT FROM above a JOIN pg_policy p ON p.polrelid = a.relid
                  JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
                 WHERE a.relid <> ALL (targets) AND rbac._protect_info(d.description) IS NOT NULL) THEN
            RAISE NOTICE 'rbac.unprotect: % stays protected: it is also below a protected table outside %', t, tbl;
            CONTINUE;
        END IF;
        IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = t), 'USAGE') THEN
            RAISE EXCEPTION 'rbac.unprotect: must be the owner of table %', t USING ERRCODE = 'insufficient_privilege';
        END IF;
        enabled := false;
        forced := false;
        n := 0;
        FOR pol IN
            SELECT p.polname, rbac._protect_info(d.description) AS info
              FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
             WHERE p.polrelid = t AND rbac._protect_info(d.description) IS NOT NULL
        LOOP
            EXECUTE format('DROP POLICY %I ON %s', pol.polname, t);
            enabled := enabled OR coalesce((pol.info->>'enabled_rls')::boolean, false);
            forced := forced OR coalesce((pol.info->>'forced_rls')::boolean, false);
            n := n + 1;
        END LOOP;
        total := total + n;
        IF forced THEN
            EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', t);
        END IF;
        IF enabled THEN
            IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polpermissive) THEN
                -- A permissive policy was added since: turning RLS off
                -- would void it.
                RAISE NOTICE 'row-level security on % stays enabled: the table has other permissive policies', t;
            ELSE
                -- Restrictive policies alone would hide every row (they
                -- only narrow what a permissive one lets through): the
                -- table is as it was before rbac.protect turned RLS on.
                IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t) THEN
                    RAISE NOTICE 'row-level security on % is off again, as before rbac.protect: its restrictive policies alone would hide every row', t;
                END IF;
                EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
            END IF;
        END IF;
    END LOOP;
    IF total = 0 THEN
        RAISE EXCEPTION 'rbac.unprotect: % is not protected', tbl
            USING ERRCODE = 'undefined_object', HINT = 'rbac.protected_tables lists the protected tables.';
    END IF;
END
$$;

-- rbac.authorize refuses a subject whose text is more than one subject
-- (anything after a second "#", a relation or type that is not a name): a
-- denial records the text as given.
CREATE OR REPLACE FUNCTION rbac.authorize(p_subject text, p_action text, p_object text) RETURNS boolean
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_type text := split_part(p_object, ':', 1);
    v_id text := substr(p_object, length(split_part(p_object, ':', 1)) + 2);
    v_subject_id text := split_part(split_part(p_subject, '#', 1), ':', 2);
    v_workspace text;
    v_permission text;
    v_reason text;
BEGIN
    -- What a denial records must be what it claims to be: a caller's text
    -- that is no subject, object or action is refused, never logged (nor
    -- delivered to a Notion audit database).
    -- (Ids as stored ids are: 1 to 128 of A-Z a-z 0-9 _ . + -, or *.)
    -- (The whole text is one subject: a type, an id and at most one
    -- relation, all names; the parser would ignore what follows a second
    -- "#", and a denial records the text as given.)
    IF NOT (rbac._is_subject(p_subject) AND octet_length(p_subject) <= 512
            AND p_subject ~ '^[A-Za-z_]{1,64}:[^#]+(#[A-Za-z_]{1,64})?$'
            AND (octet_length(v_subject_id) <= 128 AND v_subject_id ~ '^[A-Za-z0-9_.+-]+$' OR v_subject_id = '*')) THEN
        RAISE EXCEPTION 'rbac.authorize: invalid subject %', quote_literal(left(p_subject, 100))
            USING ERRCODE = 'invalid_text_representation', HINT = 'A subject is type:id or type:id#relation, as in user:alice.';
    END IF;
    IF NOT (rbac._is_subject(p_object) AND position('#' IN p_object) = 0 AND octet_length(p_object) <= 256
            AND (octet_length(v_id) <= 128 AND v_id ~ '^[A-Za-z0-9_.+-]+$' OR v_id = '*')) THEN
        RAISE EXCEPTION 'rbac.authorize: invalid object %', quote_literal(left(p_object, 100))
            USING ERRCODE = 'invalid_text_representation', HINT = 'An object is type:id, as in page:plan.';
    END IF;
    IF NOT (octet_length(p_action) <= 63 AND p_action ~ '^[a-z][a-z0-9_]*$') THEN
        RAISE EXCEPTION 'rbac.authorize: invalid action %', quote_literal(left(p_action, 100))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An action is a name of lower-case letters, digits and underscores (at most 63), as in app roles.';
    END IF;
    -- A denial is audited in the subject's name: only trusted roles may
    -- name any subject (42501 otherwise).
    PERFORM rbac._authorize_caller(p_subject);
    IF v_type = 'workspace' THEN
        v_workspace := v_id;
    ELSE
        SELECT t.subject_id INTO v_workspace FROM rbac.tuples t
         WHERE t.entity_type = v_type AND t.entity_id = v_id AND t.relation = 'workspace'
           AND t.subject_type = 'workspace' AND t.subject_relation = ''
         ORDER BY t.subject_id LIMIT 1;
    END IF;
    SELECT ap.permission INTO v_permission FROM rbac.action_permissions ap WHERE ap.action = p_action;
    v_permission := coalesce(v_permission, CASE p_action WHEN 'manage' THEN 'manage_workspace' ELSE p_action END);
    IF v_workspace IS NULL THEN
        v_reason := 'the object belongs to no workspace (no workspace relation)';
    ELSIF NOT EXISTS (SELECT FROM rbac.role_assignments ra JOIN rbac.app_role_actions a ON a.role = ra.role
                       WHERE ra.subject = p_subject AND ra.workspace_id = v_workspace AND a.action = p_action) THEN
        v_reason := 'no role of the subject in the workspace allows the action';
    ELSIF NOT rbac."check"(p_subject, v_permission, p_object) THEN
        v_reason := format('the relationship graph does not grant %s', v_permission);
    ELSE
        RETURN true;
    END IF;
    PERFORM rbac._audit(p_action || '_denied', 'denied', v_type, v_id, v_workspace,
                        jsonb_build_object('reason', v_reason, 'permission', v_permission), p_subject);
    RETURN false;
END
$$;

-- Administrators may only queue a failed delivery again, changing nothing
-- else (a queued entry held back would never reach Notion, unaudited).
CREATE OR REPLACE FUNCTION rbac._audit_outbox_requeue_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    -- Nothing else either: a queued entry held back (next_attempt_at in
    -- the far future) would never reach Notion, unaudited.
    IF current_setting('is_superuser') <> 'on'
       AND NOT (OLD.status = 'failed' AND NEW.status = 'queued' AND NEW.entry_id = OLD.entry_id AND NEW.bot_id = OLD.bot_id
                AND NEW.notion_page_id IS NOT DISTINCT FROM OLD.notion_page_id AND NEW.sent_at IS NOT DISTINCT FROM OLD.sent_at) THEN
        RAISE EXCEPTION 'rbac.audit_outbox: an entry''s delivery may only be queued again after it failed, not moved from % to %',
                        OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'UPDATE rbac.audit_outbox SET status = ''queued'', next_attempt_at = now() WHERE status = ''failed''';
    END IF;
    RETURN NEW;
END
$$;

-- Attribute values fit their type element by element, as
-- rbac.write_attributes writes them: an array of a declared type held
-- anything (an admin's INSERT of ['x', 1] into a string[]), and a double
-- anything numeric holds (1e400); every check reading such a value failed.
-- (A stored value that does not fit stops this update: correct it first.)
ALTER TABLE rbac.attributes DROP CONSTRAINT attributes_value_fits_type,
    ADD CONSTRAINT attributes_value_fits_type CHECK (
        CASE value_type
            WHEN 'boolean' THEN jsonb_typeof(value) = 'boolean'
            WHEN 'string'  THEN jsonb_typeof(value) = 'string'
            WHEN 'integer' THEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]+$'
                                AND value::numeric BETWEEN -2147483648 AND 2147483647
            -- (A double as a float8 reads it: finite.)
            WHEN 'double'  THEN jsonb_typeof(value) = 'number' AND abs(value::numeric) <= 1.7976931348623157e308
            -- Arrays element by element, as rbac.write_attributes writes
            -- them (an integer without a fraction or exponent, in range).
            WHEN 'boolean[]' THEN jsonb_typeof(value) = 'array' AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "boolean")')
            WHEN 'string[]'  THEN jsonb_typeof(value) = 'array' AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "string")')
            WHEN 'integer[]' THEN jsonb_typeof(value) = 'array' AND value::text ~ '^\[(-?[0-9]+(, -?[0-9]+)*)?\]$'
                                  AND NOT jsonb_path_exists(value, 'strict $[*] ? (@ < -2147483648 || @ > 2147483647)')
            WHEN 'double[]'  THEN jsonb_typeof(value) = 'array'
                                  AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "number" || @ < -1.7976931348623157e308 || @ > 1.7976931348623157e308)')
            ELSE false
        END);

-- Last, after every object of this version exists.
DO $sweep$
DECLARE
    g record;
BEGIN
    FOR g IN
        WITH objects (kind, name, acl, owner) AS (
            SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspacl, n.nspowner
              FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rbac'
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::pg_catalog.regclass::text, c.relacl, c.relowner
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'rbac'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            UNION ALL
            SELECT 'ROUTINE', p.oid::pg_catalog.regprocedure::text, p.proacl, p.proowner
              FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'rbac'::pg_catalog.regnamespace
            UNION ALL
            SELECT 'TYPE', t.oid::pg_catalog.regtype::text, t.typacl, t.typowner
              FROM pg_catalog.pg_type t
             WHERE t.typnamespace = 'rbac'::pg_catalog.regnamespace AND t.typacl IS NOT NULL
               -- array and row types take their element's or table's privileges
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
               AND (t.typrelid = 0 OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
        )
        SELECT DISTINCT o.kind, o.name, a.grantee::pg_catalog.regrole::text AS grantee
          FROM objects o, LATERAL pg_catalog.aclexplode(o.acl) a
         WHERE a.grantee <> 0 AND a.grantee <> o.owner
           AND a.grantee::pg_catalog.regrole::text NOT IN ('rbac_admin', 'rbac_reader', 'rbac_oauth', 'rbac_worker', 'rbac_app')
         ORDER BY 1, 2, 3
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s CASCADE', g.kind, g.name, g.grantee);
        RAISE NOTICE 'notion_rbac: revoked the privileges of % on % % (not one of the extension''s roles)', g.grantee, pg_catalog.lower(g.kind), g.name
            USING HINT = 'They came from default privileges (ALTER DEFAULT PRIVILEGES) or the schema''s ACL; grant rbac_reader, rbac_app or rbac_admin instead.';
    END LOOP;
END
$sweep$;
