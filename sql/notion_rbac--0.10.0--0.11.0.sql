-- notion_rbac 0.10.0 -> 0.11.0
--
-- rbac.purge_audit_log keeps entries not yet delivered to an enabled
-- Notion audit database (and every entry after them), with a notice.
-- rbac.protected_tables and rbac.unprotect read rbac.protect's records
-- through rbac._protect_info, which ignores a policy comment that is not
-- one (a malformed comment on someone's own policy no longer breaks the
-- view for everyone). The library's other changes need no SQL.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.11.0'" to load this file. \quit

CREATE OR REPLACE FUNCTION rbac.purge_audit_log(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
-- The append-only triggers do not fire in this function (superuser-only
-- setting, held for the function's duration).
SET session_replication_role TO replica
AS $$
DECLARE
    v_through bigint;
    v_undelivered bigint;
    v_anchor bytea;
    v_ids uuid[];
BEGIN
    PERFORM rbac._audit_chain_pending();
    LOCK TABLE rbac.audit_chain IN EXCLUSIVE MODE;
    SELECT coalesce(min(ch.seq) - 1, max(ch.seq) - 1) INTO v_through
      FROM rbac.audit_chain ch JOIN rbac.audit_log l ON l.id = ch.entry_id
     WHERE l.logged_at >= p_before;
    IF v_through IS NULL THEN
        SELECT max(ch.seq) - 1 INTO v_through FROM rbac.audit_chain ch;
    END IF;
    v_through := least(v_through, (SELECT max(ch.seq) - 1 FROM rbac.audit_chain ch));
    SELECT min(ch.seq) INTO v_undelivered
      FROM rbac.audit_chain ch
      JOIN rbac.audit_outbox o ON o.entry_id = ch.entry_id AND o.status IN ('queued', 'sending')
      JOIN rbac.audit_delivery d ON d.bot_id = o.bot_id AND d.enabled
     WHERE ch.seq <= v_through;
    IF v_undelivered IS NOT NULL THEN
        RAISE NOTICE 'audit entries not yet delivered to Notion are kept, with every entry after them'
            USING HINT = 'rbac.audit_delivery_status shows the backlog; purge again once it is sent';
        v_through := v_undelivered - 1;
    END IF;
    IF v_through IS NULL OR v_through < (SELECT min(ch.seq) FROM rbac.audit_chain ch) THEN
        RETURN 0;
    END IF;
    SELECT ch.hash INTO v_anchor FROM rbac.audit_chain ch WHERE ch.seq = v_through;
    SELECT array_agg(ch.entry_id) INTO v_ids FROM rbac.audit_chain ch WHERE ch.seq <= v_through;
    DELETE FROM rbac.audit_chain ch WHERE ch.seq <= v_through;
    DELETE FROM rbac.audit_outbox o WHERE o.entry_id = ANY (v_ids);
    DELETE FROM rbac.audit_log l WHERE l.id = ANY (v_ids);
    PERFORM rbac._audit('audit_purged', 'success', 'audit_log', NULL, NULL,
                        jsonb_build_object('before', p_before, 'entries', cardinality(v_ids),
                                           'through_seq', v_through, 'anchor_hash', encode(v_anchor, 'hex')));
    RETURN cardinality(v_ids);
END
$$;

CREATE FUNCTION rbac._protect_info(description text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF description IS NULL OR description NOT LIKE 'rbac.protect {%' THEN
        RETURN NULL;
    END IF;
    RETURN substr(description, 14)::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION rbac._protect_info(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._protect_info(text) TO rbac_admin;

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

CREATE OR REPLACE VIEW rbac.protected_tables AS
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
  CROSS JOIN LATERAL (SELECT rbac._protect_info(d.description)) AS i(info)
 WHERE info IS NOT NULL;
