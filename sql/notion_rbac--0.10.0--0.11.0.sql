-- notion_rbac 0.10.0 -> 0.11.0
--
-- rbac.purge_audit_log keeps entries not yet delivered to an enabled
-- Notion audit database (and every entry after them), with a notice.
-- rbac.verify_audit_log and rbac.purge_audit_log chain entries of
-- transactions that stayed open longer than a day (the worker's chainer
-- looks back a day only; such an entry was reported unchained for good):
-- rbac._audit_chain_pending takes p_all.
-- rbac.protected_tables and rbac.unprotect read rbac.protect's records
-- through rbac._protect_info, which ignores a policy comment that is not
-- one (a malformed comment on someone's own policy no longer breaks the
-- view for everyone). The library's other changes need no SQL.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.11.0'" to load this file. \quit

DROP FUNCTION rbac._audit_chain_pending(integer);
CREATE FUNCTION rbac._audit_chain_pending(p_limit integer DEFAULT 10000, p_all boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_seq bigint;
    v_hash bytea;
    v_n bigint := 0;
    e rbac.audit_log;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 0;
    END IF;
    LOCK TABLE rbac.audit_chain IN EXCLUSIVE MODE;
    SELECT c.seq, c.hash INTO v_seq, v_hash FROM rbac.audit_chain c ORDER BY c.seq DESC LIMIT 1;
    v_seq := coalesce(v_seq, 0);
    v_hash := coalesce(v_hash, decode(repeat('00', 32), 'hex'));
    -- Entries still unchained sit near the end: look back a day from the
    -- newest chained one, or (p_all) at every entry.
    FOR e IN SELECT l.* FROM rbac.audit_log l
              WHERE (p_all OR l.logged_at > coalesce((SELECT max(x.logged_at) FROM rbac.audit_chain c
                                                        JOIN rbac.audit_log x ON x.id = c.entry_id), '-infinity') - interval '1 day')
                AND NOT EXISTS (SELECT FROM rbac.audit_chain c WHERE c.entry_id = l.id)
              ORDER BY l.logged_at, l.id LIMIT p_limit LOOP
        v_seq := v_seq + 1;
        INSERT INTO rbac.audit_chain (seq, entry_id, prev_hash, hash)
        VALUES (v_seq, e.id, v_hash, sha256(v_hash || convert_to(rbac._audit_text(e), 'UTF8')));
        v_hash := sha256(v_hash || convert_to(rbac._audit_text(e), 'UTF8'));
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;
REVOKE ALL ON FUNCTION rbac._audit_chain_pending(integer, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rbac.verify_audit_log()
RETURNS TABLE (status text, seq bigint, entry_id uuid, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    v_prev_seq bigint;
    v_prev_hash bytea;
    v_count bigint := 0;
    v_bad bigint := 0;
    v_zero bytea := decode(repeat('00', 32), 'hex');
BEGIN
    PERFORM rbac._audit_chain_pending(NULL, true);
    FOR c IN SELECT ch.seq, ch.entry_id, ch.prev_hash, ch.hash, l AS entry, l.id IS NOT NULL AS present
               FROM rbac.audit_chain ch LEFT JOIN rbac.audit_log l ON l.id = ch.entry_id
              ORDER BY ch.seq LOOP
        v_count := v_count + 1;
        IF v_prev_seq IS NULL THEN
            -- The start: genesis, or the anchor a purge recorded in the chain.
            IF NOT (c.seq = 1 AND c.prev_hash = v_zero)
               AND NOT EXISTS (SELECT FROM rbac.audit_log p
                                WHERE p.action = 'audit_purged'
                                  AND (p.metadata ->> 'through_seq')::bigint = c.seq - 1
                                  AND p.metadata ->> 'anchor_hash' = encode(c.prev_hash, 'hex')) THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := format('the chain starts at %s without a purge that ends at %s: earlier entries were removed', c.seq, c.seq - 1);
                RETURN NEXT;
            END IF;
        ELSE
            IF c.seq <> v_prev_seq + 1 THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := format('chain positions %s to %s are missing', v_prev_seq + 1, c.seq - 1);
                RETURN NEXT;
            ELSIF c.prev_hash <> v_prev_hash THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := 'does not follow the previous entry (chain rows altered or reordered)';
                RETURN NEXT;
            END IF;
        END IF;
        IF NOT c.present THEN
            v_bad := v_bad + 1;
            status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
            detail := 'the entry was deleted';
            RETURN NEXT;
        ELSIF c.hash <> sha256(c.prev_hash || convert_to(rbac._audit_text(c.entry), 'UTF8')) THEN
            v_bad := v_bad + 1;
            status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
            detail := 'the entry was altered after it was chained';
            RETURN NEXT;
        END IF;
        v_prev_seq := c.seq;
        v_prev_hash := c.hash;
    END LOOP;
    FOR c IN SELECT l.id FROM rbac.audit_log l
              WHERE NOT EXISTS (SELECT FROM rbac.audit_chain ch WHERE ch.entry_id = l.id)
                AND l.logged_at < clock_timestamp() - interval '1 minute'
              ORDER BY l.logged_at, l.id LIMIT 100 LOOP
        v_bad := v_bad + 1;
        status := 'unchained'; seq := NULL; entry_id := c.id;
        detail := 'older than a minute and not chained (is the background worker running?)';
        RETURN NEXT;
    END LOOP;
    IF v_bad = 0 THEN
        status := 'ok'; seq := v_prev_seq; entry_id := NULL;
        detail := format('%s entries verified', v_count);
        RETURN NEXT;
    END IF;
END
$$;

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
    PERFORM rbac._audit_chain_pending(NULL, true);
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
