-- notion_rbac 0.11.0 -> 0.12.0
--
-- The id checks of rbac.tuples and rbac.attributes accept exactly the ids
-- they accepted (1 to 128 of A-Z a-z 0-9 _ . + -, or *), with the length
-- tested on its own instead of by the pattern's bounded repetition {1,128},
-- which PostgreSQL's regular expressions expand into 128 states: about
-- 10 µs per id, 40% of a tuple's insert, against under 1 µs. Re-adding a
-- check reads every stored row once (under the table lock this update
-- takes anyway); the rows passed the old checks, so they pass the new ones.
-- rbac.read_tuples and rbac.read_attributes plan a statement with only the
-- filters given, so that a read by entity or by subject uses an index
-- (the one statement with every filter optional read the whole table).
-- The library's other changes need no SQL.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.12.0'" to load this file. \quit

ALTER TABLE rbac.tuples
    DROP CONSTRAINT tuples_entity_id_syntax,
    DROP CONSTRAINT tuples_subject_id_syntax,
    ADD CONSTRAINT tuples_entity_id_syntax CHECK (
        octet_length(entity_id) <= 128 AND entity_id ~ '^[A-Za-z0-9_.+-]+$' OR entity_id = '*'),
    ADD CONSTRAINT tuples_subject_id_syntax CHECK (
        octet_length(subject_id) <= 128 AND subject_id ~ '^[A-Za-z0-9_.+-]+$' OR subject_id = '*');

ALTER TABLE rbac.attributes
    DROP CONSTRAINT attributes_entity_id_syntax,
    ADD CONSTRAINT attributes_entity_id_syntax CHECK (
        octet_length(entity_id) <= 128 AND entity_id ~ '^[A-Za-z0-9_.+-]+$' OR entity_id = '*');

-- Reading tuples with optional filters, for people and programs alike.
-- Only the filters given become conditions, in a statement planned for the
-- call, so that a read by entity or by subject descends the matching index:
-- one statement with every filter optional ("$1 IS NULL OR …") was planned
-- once for any arguments and read the whole table (0.2 s for one page's
-- tuples among a million). The arguments are bound, never spliced in.
-- (PL/pgSQL refuses a parameter and a result column of the same name, so
-- the statement is built by an internal function and the public one, whose
-- argument names callers use, returns its rows.)
CREATE FUNCTION rbac._read_tuples(text, text, text, text, text, text)
RETURNS TABLE (r_tuple text, r_entity_type text, r_entity_id text, r_relation text,
               r_subject_type text, r_subject_id text, r_subject_relation text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    conditions text[] := '{}';
BEGIN
    IF $1 IS NOT NULL THEN conditions := array_append(conditions, 't.entity_type = $1'); END IF;
    IF $2 IS NOT NULL THEN conditions := array_append(conditions, 't.entity_id = $2'); END IF;
    IF $3 IS NOT NULL THEN conditions := array_append(conditions, 't.relation = $3'); END IF;
    IF $4 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_type = $4'); END IF;
    IF $5 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_id = $5'); END IF;
    IF $6 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_relation = $6'); END IF;
    RETURN QUERY EXECUTE
        'SELECT t.entity_type || '':'' || t.entity_id || ''#'' || t.relation || ''@'' || t.subject_type || '':'' || t.subject_id'
        '       || CASE WHEN t.subject_relation = '''' THEN '''' ELSE ''#'' || t.subject_relation END,'
        '       t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation'
        '  FROM rbac.tuples t'
        || CASE WHEN cardinality(conditions) > 0 THEN ' WHERE ' || array_to_string(conditions, ' AND ') ELSE '' END
        || ' ORDER BY t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation'
        -- "..." names the empty subject relation (a plain subject).
        USING $1, $2, $3, $4, $5, CASE WHEN $6 = '...' THEN '' ELSE $6 END;
END
$fn$;
REVOKE ALL ON FUNCTION rbac._read_tuples(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._read_tuples(text, text, text, text, text, text) TO rbac_reader;
CREATE OR REPLACE FUNCTION rbac.read_tuples(
    entity_type      text DEFAULT NULL,
    entity_id        text DEFAULT NULL,
    relation         text DEFAULT NULL,
    subject_type     text DEFAULT NULL,
    subject_id       text DEFAULT NULL,
    subject_relation text DEFAULT NULL)
RETURNS TABLE (tuple text, entity_type text, entity_id text, relation text,
               subject_type text, subject_id text, subject_relation text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT * FROM rbac._read_tuples($1, $2, $3, $4, $5, $6)
$fn$;

-- Attribute values with optional filters (planned per call, as read_tuples).
CREATE FUNCTION rbac._read_attributes(text, text, text)
RETURNS TABLE (r_entity_type text, r_entity_id text, r_attribute text, r_value_type text, r_value jsonb)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    conditions text[] := '{}';
BEGIN
    IF $1 IS NOT NULL THEN conditions := array_append(conditions, 'a.entity_type = $1'); END IF;
    IF $2 IS NOT NULL THEN conditions := array_append(conditions, 'a.entity_id = $2'); END IF;
    IF $3 IS NOT NULL THEN conditions := array_append(conditions, 'a.attribute = $3'); END IF;
    RETURN QUERY EXECUTE
        'SELECT a.entity_type, a.entity_id, a.attribute, a.value_type, a.value FROM rbac.attributes a'
        || CASE WHEN cardinality(conditions) > 0 THEN ' WHERE ' || array_to_string(conditions, ' AND ') ELSE '' END
        || ' ORDER BY a.entity_type, a.entity_id, a.attribute'
        USING $1, $2, $3;
END
$fn$;
REVOKE ALL ON FUNCTION rbac._read_attributes(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._read_attributes(text, text, text) TO rbac_reader;
CREATE OR REPLACE FUNCTION rbac.read_attributes(
    entity_type text DEFAULT NULL,
    entity_id   text DEFAULT NULL,
    attribute   text DEFAULT NULL)
RETURNS TABLE (entity_type text, entity_id text, attribute text, value_type text, value jsonb)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT * FROM rbac._read_attributes($1, $2, $3)
$fn$;

-- rbac.protect refuses an id column whose text form a session setting
-- changes (date, timestamp, float, interval, money, bytea, …): the policy
-- cast it to text in the reader's session, so a reader could choose which
-- tuples a row matches (a DateStyle of German made 2024-01-02 read as
-- 02.01.2024). Protections already made on such a column are named below:
-- move the id to a text column and protect that instead.
-- Whether values of `typ` have one text form whatever the session's
-- settings (so that a policy's id means one tuple's id for every reader):
-- text types, integers, numeric, uuid and enums, and domains over them.
-- Not dates, times, floats, money, bytea and the like, whose text form
-- follows DateStyle, TimeZone, extra_float_digits, lc_monetary or
-- bytea_output.
CREATE FUNCTION rbac._stable_id_type(typ regtype) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    SELECT p.oid, p.typtype, p.typbasetype INTO t FROM pg_type p WHERE p.oid = typ;
    WHILE t.typtype = 'd' LOOP
        SELECT p.oid, p.typtype, p.typbasetype INTO t FROM pg_type p WHERE p.oid = t.typbasetype;
    END LOOP;
    RETURN t.typtype = 'e'
        OR t.oid IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype, 'name'::regtype,
                     'smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype, 'uuid'::regtype);
END
$$;
REVOKE ALL ON FUNCTION rbac._stable_id_type(regtype) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._stable_id_type(regtype) TO rbac_admin;

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

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT p.polrelid::regclass AS tbl, i.id_column, a.atttypid::regtype AS type
          FROM pg_policy p
          JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass AND d.objsubid = 0
          CROSS JOIN LATERAL (SELECT rbac._protect_info(d.description) ->> 'id_column' AS id_column) i
          JOIN pg_attribute a ON a.attrelid = p.polrelid AND a.attname = i.id_column AND NOT a.attisdropped
         WHERE NOT rbac._stable_id_type(a.atttypid::regtype)
         ORDER BY 1, 2
    LOOP
        RAISE WARNING 'rbac.protect: table % is protected by its column %, of type %, whose text form depends on session settings',
                      r.tbl, quote_ident(r.id_column), r.type
            USING HINT = 'A reader who changes the setting changes which tuples a row matches: move the id to a text column, '
                         'then call rbac.unprotect and rbac.protect on it.';
    END LOOP;
END
$$;

-- rbac.authorize refuses a subject, object or action that is not one
-- (22P02 / 22023) instead of recording a denial of it: any rbac_reader
-- could write entries of its choosing, of any length, into the audit log
-- and a workspace's Notion audit database.
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
    IF NOT (rbac._is_subject(p_subject) AND octet_length(p_subject) <= 512
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

-- rbac.unprotect(NULL) is 22004, as a NULL argument of rbac.protect is.
CREATE OR REPLACE FUNCTION rbac.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol record;
    enabled boolean := false;
    forced boolean := false;
    n int := 0;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'rbac.unprotect: the table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'rbac.unprotect: must be the owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR pol IN
        SELECT p.polname, rbac._protect_info(d.description) AS info
          FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
         WHERE p.polrelid = tbl AND rbac._protect_info(d.description) IS NOT NULL
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', pol.polname, tbl);
        enabled := enabled OR coalesce((pol.info->>'enabled_rls')::boolean, false);
        forced := forced OR coalesce((pol.info->>'forced_rls')::boolean, false);
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'rbac.unprotect: % is not protected', tbl
            USING ERRCODE = 'undefined_object', HINT = 'rbac.protected_tables lists the protected tables.';
    END IF;
    IF forced THEN
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', tbl);
    END IF;
    IF enabled THEN
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl) THEN
            -- Other policies were added since: turning RLS off would void them.
            RAISE NOTICE 'row-level security on % stays enabled: the table has other policies', tbl;
        ELSE
            EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', tbl);
        END IF;
    END IF;
END
$$;
