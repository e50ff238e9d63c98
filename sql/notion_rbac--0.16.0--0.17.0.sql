-- notion_rbac 0.16.0 -> 0.17.0
--
-- rbac.protect covers a partitioned or inheritance parent's whole tree
-- (a partition read by name is filtered by its own policies only, and rows
-- read through the parent by the parent's only), refuses a table below
-- another, and rbac.unprotect undoes the tree alike (rbac._tables_below).
-- rbac.protected_tables gains widened_by (permissive policies added after
-- rbac.protect, which PostgreSQL ORs with its policy for a command) and
-- unprotected_below (partitions and children attached since).
-- The library's other changes need no SQL: rbac.permitted checks row by
-- row where a rule holds on missing attributes (a lookup cannot list those
-- entities); the subject is refused in parallel workers; read-cache keys
-- carry the backend's epoch of invalidations, recording triggers are
-- verified by events and function, and privilege checks are taken again
-- after role changes.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.17.0'" to load this file. \quit

-- The partitions and inheritance children below a table, at every level
-- (empty for none), in OID order.
CREATE FUNCTION rbac._tables_below(tbl regclass) RETURNS regclass[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE below(relid) AS (
        SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = tbl
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN below b ON i.inhparent = b.relid
    )
    SELECT coalesce(array_agg(relid::regclass ORDER BY relid), '{}') FROM below
$$;
REVOKE ALL ON FUNCTION rbac._tables_below(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._tables_below(regclass) TO rbac_admin;

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
                USING ERRCODE = 'duplicate_object', HINT = 'Call rbac.unprotect(' || quote_literal(t::text) || ') first to change how.';
        END IF;
        -- PostgreSQL lets a row through when any permissive policy for its
        -- command does: one the table has already would void these.
        SELECT string_agg(quote_ident(p.polname), ', ' ORDER BY p.polname) INTO others
          FROM pg_policy p
         WHERE p.polrelid = t AND p.polpermissive
           AND (p.polcmd = '*' OR (p.polcmd = 'r' AND select_action IS NOT NULL) OR (p.polcmd = 'a' AND insert_action IS NOT NULL)
                OR (p.polcmd = 'w' AND update_action IS NOT NULL) OR (p.polcmd = 'd' AND delete_action IS NOT NULL));
        IF others IS NOT NULL THEN
            RAISE EXCEPTION 'rbac.protect: table % has permissive policies (%) that would let rows through', t, others
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Drop them, or create them again AS RESTRICTIVE (they then narrow what rbac.protect allows).';
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
COMMENT ON FUNCTION rbac.protect(regclass, text, name, text, text, text, text, boolean) IS
'Enables row-level security on a table: SELECT needs select_action (read), UPDATE update_action (write), DELETE delete_action (delete), INSERT insert_action (NULL: any row) on entity_type:<id_column> for rbac.current_subject(); a NULL action leaves that command unrestricted. force (default) applies the policies to the table''s owner too, and so to views the owner created.';

CREATE OR REPLACE FUNCTION rbac.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol record;
    enabled boolean;
    forced boolean;
    n int;
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
    -- (a partition attached since, never protected, is passed over).
    targets := ARRAY[tbl] || rbac._tables_below(tbl);
    FOREACH t IN ARRAY targets LOOP
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
        IF n = 0 AND t = tbl THEN
            RAISE EXCEPTION 'rbac.unprotect: % is not protected', tbl
                USING ERRCODE = 'undefined_object', HINT = 'rbac.protected_tables lists the protected tables.';
        END IF;
        IF forced THEN
            EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', t);
        END IF;
        IF enabled THEN
            IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t) THEN
                -- Other policies were added since: turning RLS off would void them.
                RAISE NOTICE 'row-level security on % stays enabled: the table has other policies', t;
            ELSE
                EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', t);
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION rbac.unprotect(regclass) IS
'Removes the policies rbac.protect created on a table, and row-level security if rbac.protect enabled it (and no other policy remains).';

CREATE OR REPLACE VIEW rbac.protected_tables AS
SELECT p.polrelid::regclass AS table_name,
       upper(substr(p.polname, 6)) AS command,
       info->>'action' AS action,
       info->>'entity_type' AS entity_type,
       (info->>'id_column')::name AS id_column,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       coalesce(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) AS policy,
       -- Permissive policies for this command that rbac.protect did not
       -- create (added after it): PostgreSQL ORs them with this one, so a
       -- row either admits is visible whatever the model says. (0.17.0)
       (SELECT array_agg(o.polname ORDER BY o.polname) FROM pg_policy o
         WHERE o.polrelid = p.polrelid AND o.oid <> p.oid AND o.polpermissive
           AND o.polcmd IN (p.polcmd, '*')
           AND NOT EXISTS (SELECT FROM pg_description od
                            WHERE od.objoid = o.oid AND od.classoid = 'pg_policy'::regclass AND od.objsubid = 0
                              AND rbac._protect_info(od.description) IS NOT NULL)) AS widened_by,
       -- Partitions and inheritance children below the table that have no
       -- policy of rbac.protect for this command (attached or created since
       -- it ran): read by name, their rows are not filtered. (0.17.0)
       (SELECT array_agg(b.relid ORDER BY b.relid::oid) FROM unnest(rbac._tables_below(p.polrelid)) AS b(relid)
         WHERE NOT EXISTS (SELECT FROM pg_policy o JOIN pg_description od
                                   ON od.objoid = o.oid AND od.classoid = 'pg_policy'::regclass AND od.objsubid = 0
                            WHERE o.polrelid = b.relid AND o.polcmd = p.polcmd
                              AND rbac._protect_info(od.description) IS NOT NULL)) AS unprotected_below
  FROM pg_policy p
  JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass AND d.objsubid = 0
  JOIN pg_class c ON c.oid = p.polrelid
  CROSS JOIN LATERAL (SELECT rbac._protect_info(d.description)) AS i(info)
 WHERE info IS NOT NULL;
COMMENT ON VIEW rbac.protected_tables IS
'Tables protected by rbac.protect: one row per command, with the action it needs, the policy expression, the permissive policies added since that widen it, and partitions or children below it left unprotected.';
