-- notion_rbac 0.5.0 -> 0.6.0
--
-- Row-level security from the model: rbac.protect / rbac.unprotect, the
-- policies' function rbac.permitted (text, bigint and uuid ids),
-- rbac.permitted_stats and the view rbac.protected_tables. Explanations:
-- rbac.explain, rbac.explain_text and rbac.expand. Consistency tokens:
-- rbac.consistency_token() (and "at_least" in request contexts; setting
-- notion_rbac.consistency_timeout). The read cache survives commits that
-- wrote none of the extension's tables: writers record themselves through
-- rbac._note_write (triggers on rbac.tuples, rbac.attributes, rbac.schemas;
-- setting notion_rbac.cache_across_commits). Lookup answers (visible sets
-- of rbac.permitted, results of rbac.lookup_resources) are kept beside the
-- read cache for later statements that see the same data
-- (notion_rbac.cache_lookup_ids; rbac.cache_stats gains three columns).
-- rbac.permitted has a planner support function (rbac.permitted_support):
-- selectivity, and for a subject who sees little an index condition on the
-- id column over rbac.permitted_ids / _bigint / _uuid.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.6.0'" to load this file. \quit

CREATE FUNCTION rbac.permitted_support(internal) RETURNS internal
STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'notion_rbac_permitted_support';
CREATE FUNCTION rbac.permitted(action text, entity_type text, id text) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_text';
CREATE FUNCTION rbac.permitted(action text, entity_type text, id bigint) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_int8';
CREATE FUNCTION rbac.permitted(action text, entity_type text, id uuid) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_uuid';
CREATE FUNCTION rbac."permitted_ids"(
	"action" TEXT,
	"entity_type" TEXT
) RETURNS TEXT[]
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'permitted_ids_wrapper';
CREATE FUNCTION rbac."permitted_ids_bigint"(
	"action" TEXT,
	"entity_type" TEXT
) RETURNS bigint[]
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'permitted_ids_bigint_wrapper';
CREATE FUNCTION rbac."permitted_ids_uuid"(
	"action" TEXT,
	"entity_type" TEXT
) RETURNS uuid[]
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'permitted_ids_uuid_wrapper';

-- rbac.cache_stats shows the lookup answers kept beside the read cache
-- (notion_rbac.cache_lookup_ids).
DROP FUNCTION rbac.cache_stats();
CREATE FUNCTION rbac.cache_stats() RETURNS TABLE (
	"rows" bigint,
	"row_limit" bigint,
	"hits" bigint,
	"misses" bigint,
	"invalidations" bigint,
	"evictions" bigint,
	"kept_lookup_ids" bigint,
	"kept_lookup_hits" bigint,
	"kept_lookup_misses" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_stats_wrapper';
REVOKE ALL ON FUNCTION rbac.cache_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.cache_stats() TO rbac_reader;
COMMENT ON FUNCTION rbac.cache_stats() IS 'This backend''s read cache: rows, limit, hits, misses, invalidations, evictions; ids of lookup answers kept beside it, statements that found one kept and that did not';

CREATE FUNCTION rbac."permitted_stats"() RETURNS TABLE (
	"row_checks" bigint,
	"lookups" bigint,
	"lookups_abandoned" bigint,
	"lookup_probes" bigint,
	"lookups_reused" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'permitted_stats_wrapper';

CREATE FUNCTION rbac."explain"(
	"subject" TEXT,
	"action" TEXT,
	"object" TEXT,
	"context" jsonb DEFAULT NULL,
	"max_nodes" INT DEFAULT 200
) RETURNS jsonb
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'explain_wrapper';

CREATE FUNCTION rbac."explain_text"(
	"subject" TEXT,
	"action" TEXT,
	"object" TEXT,
	"context" jsonb DEFAULT NULL,
	"max_nodes" INT DEFAULT 200
) RETURNS TEXT
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'explain_text_wrapper';

CREATE FUNCTION rbac."expand"(
	"object" TEXT,
	"action" TEXT,
	"context" jsonb DEFAULT NULL,
	"max_nodes" INT DEFAULT 1000
) RETURNS jsonb
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'expand_wrapper';

CREATE FUNCTION rbac."consistency_token"() RETURNS TEXT
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'consistency_token_wrapper';

CREATE FUNCTION rbac."_note_write"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'note_write_wrapper';

-- Writers of the extension's tables record themselves (store/writes.rs):
-- the read cache is then keyed by the writes a snapshot sees, and commits
-- elsewhere leave it alone. Statement triggers fire in every replication
-- role (ENABLE ALWAYS: also with session_replication_role = replica); row
-- triggers fire where statement triggers do not, in logical replication
-- apply (ENABLE REPLICA). If any of them is disabled, the cache falls back
-- to keying by the whole snapshot.
CREATE FUNCTION rbac._note_write_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rbac._note_write();
    RETURN NULL;
END
$$;
CREATE FUNCTION rbac._note_write_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rbac._note_write();
    RETURN coalesce(NEW, OLD);
END
$$;
CREATE TRIGGER tuples_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.tuples
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_note_write;
CREATE TRIGGER tuples_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.tuples
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.tuples ENABLE REPLICA TRIGGER tuples_note_write_replica;
CREATE TRIGGER attributes_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.attributes
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.attributes ENABLE ALWAYS TRIGGER attributes_note_write;
CREATE TRIGGER attributes_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.attributes
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.attributes ENABLE REPLICA TRIGGER attributes_note_write_replica;
CREATE TRIGGER schemas_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.schemas
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.schemas ENABLE ALWAYS TRIGGER schemas_note_write;
CREATE TRIGGER schemas_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.schemas
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.schemas ENABLE REPLICA TRIGGER schemas_note_write_replica;

CREATE FUNCTION rbac.protect(
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
    -- making text of every row); other types are cast to text.
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
COMMENT ON FUNCTION rbac.protect(regclass, text, name, text, text, text, text, boolean) IS
'Enables row-level security on a table: SELECT needs select_action (read), UPDATE update_action (write), DELETE delete_action (delete), INSERT insert_action (NULL: any row) on entity_type:<id_column> for rbac.current_subject(); a NULL action leaves that command unrestricted. force (default) applies the policies to the table''s owner too, and so to views the owner created.';

CREATE FUNCTION rbac.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol record;
    enabled boolean := false;
    forced boolean := false;
    n int := 0;
BEGIN
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'rbac.unprotect: must be the owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR pol IN
        SELECT p.polname, substr(d.description, 14)::jsonb AS info
          FROM pg_policy p JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass
         WHERE p.polrelid = tbl AND d.description LIKE 'rbac.protect {%'
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
COMMENT ON FUNCTION rbac.unprotect(regclass) IS
'Removes the policies rbac.protect created on a table, and row-level security if rbac.protect enabled it (and no other policy remains).';

CREATE VIEW rbac.protected_tables AS
SELECT p.polrelid::regclass AS table_name,
       upper(substr(p.polname, 6)) AS command,
       info->>'action' AS action,
       info->>'entity_type' AS entity_type,
       (info->>'id_column')::name AS id_column,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       coalesce(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) AS policy
  FROM pg_policy p
  JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_policy'::regclass AND d.objsubid = 0
  JOIN pg_class c ON c.oid = p.polrelid
  CROSS JOIN LATERAL (SELECT substr(d.description, 14)::jsonb) AS i(info)
 WHERE d.description LIKE 'rbac.protect {%';
COMMENT ON VIEW rbac.protected_tables IS
'Tables protected by rbac.protect: one row per command, with the action it needs and the policy expression.';

REVOKE ALL ON ALL TABLES IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rbac FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.permitted(text, text, text), rbac.permitted(text, text, bigint), rbac.permitted(text, text, uuid),
    rbac.permitted_ids(text, text), rbac.permitted_ids_bigint(text, text), rbac.permitted_ids_uuid(text, text),
    rbac.permitted_stats() TO rbac_reader;
GRANT EXECUTE ON FUNCTION rbac.explain(text, text, text, jsonb, integer), rbac.explain_text(text, text, text, jsonb, integer),
    rbac.expand(text, text, jsonb, integer), rbac.consistency_token() TO rbac_reader;
GRANT EXECUTE ON FUNCTION rbac.protect(regclass, text, name, text, text, text, text, boolean), rbac.unprotect(regclass)
    TO rbac_admin;
GRANT SELECT ON rbac.protected_tables TO rbac_admin;
COMMENT ON FUNCTION rbac.permitted(text, text, text) IS 'Does rbac.current_subject() have the action on entity_type:id? The function of rbac.protect''s policies (per-row checks, or one lookup once that is cheaper)';
COMMENT ON FUNCTION rbac.permitted(text, text, bigint) IS 'rbac.permitted for integer ids (compared with the tuples'' ids in their text form)';
COMMENT ON FUNCTION rbac.permitted(text, text, uuid) IS 'rbac.permitted for uuid ids (compared with the tuples'' ids in their lower-case hyphenated form)';
COMMENT ON FUNCTION rbac.permitted_ids(text, text) IS 'Every id of entity_type on which rbac.current_subject() has the action, in the statement''s snapshot (the array of the index condition the planner may add for rbac.permitted)';
COMMENT ON FUNCTION rbac.permitted_ids_bigint(text, text) IS 'rbac.permitted_ids for bigint id columns';
COMMENT ON FUNCTION rbac.permitted_ids_uuid(text, text) IS 'rbac.permitted_ids for uuid id columns';
COMMENT ON FUNCTION rbac.permitted_support(internal) IS 'Planner support of rbac.permitted: selectivity, and an index condition on the id column for a subject who sees little';
COMMENT ON FUNCTION rbac.permitted_stats() IS 'What rbac.permitted did in this backend: rows answered by their own check, lookups finished and given up, rows answered from a lookup, statements that reused a visible set kept from an earlier one';
COMMENT ON FUNCTION rbac.explain(text, text, text, jsonb, integer) IS 'Why a check is true (one granting path: tuples, walks, attributes, rules) or false (each branch tried and why it failed), as jsonb, at most max_nodes nodes';
COMMENT ON FUNCTION rbac.explain_text(text, text, text, jsonb, integer) IS 'rbac.explain as indented lines for psql';
COMMENT ON FUNCTION rbac.expand(text, text, jsonb, integer) IS 'The userset tree of a permission on an object (union, intersection, exclusion, walks, subjects), as Permify''s expand';
COMMENT ON FUNCTION rbac.consistency_token() IS 'A token naming everything committed so far (call it after COMMIT); pass it as "at_least" in the context of a check, lookup or explanation, here or on a standby';
