-- The index scans a check opens are kept open for the next call of the
-- same transaction (store::scan_pool): a loop of checks, or the rows a
-- policy checks, do not open and close them every time. Kept scans must
-- never change an answer, the privileges a read needs, what DDL the
-- transaction may run, or what the transaction holds when it ends (a leak
-- would print a WARNING here).
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity doc {
    relation owner @user
    relation reader @user @group#member
    relation parent @doc
    attribute public boolean
    attribute tags string[]
    permission read = reader or owner or parent.read or public
    permission pairs_view = reader or pairs(tags)
}
rule pairs(tags string[]) {
    context.data.xs.map(x, context.data.xs.map(y, x + y)).exists(l, l.exists(p, p in tags))
}
$$) > 0 AS model;
SELECT rbac.write_tuples(ARRAY['doc:d1#reader@group:g#member', 'group:g#member@user:ann', 'doc:d3#owner@user:bob'])
       + (SELECT rbac.write_tuples(array_agg(format('doc:d%s#parent@doc:d%s', i, i - 1)))
            FROM generate_series(2, 12) i) AS written;
SELECT rbac.write_attributes(ARRAY['doc:d20$public|boolean:true']) AS attributes;
SET notion_rbac.cache_rows = 0;

CREATE FUNCTION regress_answers() RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(s || ':' || d, ' ' ORDER BY s, d) FILTER (WHERE rbac.check('user:' || s, 'read', 'doc:' || d))
      FROM unnest(ARRAY['ann', 'bob', 'cat']) s, unnest(ARRAY['d1', 'd3', 'd12', 'd20', 'd21']) d
$$;

-- Many calls in one transaction answer as calls in transactions of their
-- own.
SELECT regress_answers() AS own_transactions \gset
BEGIN;
SELECT regress_answers() = :'own_transactions' AS same, regress_answers() = :'own_transactions' AS again;
-- The transaction's own writes are seen by the kept scans.
SELECT rbac.write_tuples(ARRAY['doc:d21#owner@user:cat']) AS written;
SELECT rbac.check('user:cat', 'read', 'doc:d21') AS own_write_seen;
SELECT rbac.delete_tuples(ARRAY['doc:d21#owner@user:cat']) AS deleted;
SELECT rbac.check('user:cat', 'read', 'doc:d21') AS own_delete_seen;
COMMIT;

-- Kept scans do not grow their memory with the calls they serve.
BEGIN;
SELECT count(*) FILTER (WHERE rbac.check('user:' || s, 'read', 'doc:d' || (i % 22 + 1))) AS granted
  FROM generate_series(1, 300) i, unnest(ARRAY['ann', 'bob', 'cat']) s;
SELECT sum(total_bytes) AS b0, count(*) AS pools FROM pg_backend_memory_contexts WHERE name = 'notion_rbac scans' \gset
SELECT :pools AS pools;
SELECT count(*) FILTER (WHERE rbac.check('user:' || s, 'read', 'doc:d' || (i % 22 + 1))) AS granted
  FROM generate_series(1, 3000) i, unnest(ARRAY['ann', 'bob', 'cat']) s;
SELECT sum(total_bytes) - :b0 AS grown FROM pg_backend_memory_contexts WHERE name = 'notion_rbac scans';
COMMIT;
SELECT count(*) AS pools_after_commit FROM pg_backend_memory_contexts WHERE name = 'notion_rbac scans';

-- DDL on the extension's tables after checks in the same transaction: not
-- refused as "in use by active queries in this session".
BEGIN;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS before_ddl;
ALTER INDEX rbac.tuples_by_entity_key RENAME TO tuples_by_entity_key_hidden;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS through_primary_key;
ALTER INDEX rbac.tuples_by_entity_key_hidden RENAME TO tuples_by_entity_key;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS through_entity_key;
TRUNCATE rbac.attributes;
SELECT rbac.check('user:cat', 'read', 'doc:d20') AS attribute_truncated;
ROLLBACK;
SELECT rbac.check('user:cat', 'read', 'doc:d20') AS attribute_back;

-- A function that truncates, called by the same statement as checks.
CREATE FUNCTION regress_truncate_attributes() RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN TRUNCATE rbac.attributes; RETURN true; END $$;
BEGIN;
SELECT rbac.check('user:cat', 'read', 'doc:d20') AS before,
       regress_truncate_attributes() AS truncated,
       rbac.check('user:cat', 'read', 'doc:d20') AS after;
ROLLBACK;

-- Privileges are those of the current user, whatever an earlier call of
-- the transaction kept.
CREATE ROLE regress_kept_reader NOLOGIN IN ROLE rbac_reader;
-- (regress_kept_nobody may call rbac.check, but not read the tables.)
CREATE ROLE regress_kept_nobody NOLOGIN;
GRANT USAGE ON SCHEMA rbac TO regress_kept_nobody;
GRANT EXECUTE ON FUNCTION rbac.check(text, text, text) TO regress_kept_nobody;
BEGIN;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS as_superuser;
SET LOCAL ROLE regress_kept_nobody;
SELECT try($$SELECT rbac.check('user:ann', 'read', 'doc:d12')$$) AS as_nobody;
RESET ROLE;
SET LOCAL ROLE regress_kept_reader;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS as_reader;
RESET ROLE;
REVOKE rbac_reader FROM regress_kept_reader;
SET LOCAL ROLE regress_kept_reader;
SELECT try($$SELECT rbac.check('user:ann', 'read', 'doc:d12')$$) AS revoked;
RESET ROLE;
ROLLBACK;
-- The same without a utility statement in between: a security definer
-- function of a role that may not read the tables.
CREATE FUNCTION regress_check_as_nobody() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT try($q$SELECT rbac.check('user:ann', 'read', 'doc:d12')$q$) $$;
ALTER FUNCTION regress_check_as_nobody() OWNER TO regress_kept_nobody;
GRANT EXECUTE ON FUNCTION public.try(text) TO regress_kept_nobody;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS superuser,
       regress_check_as_nobody() AS definer,
       rbac.check('user:ann', 'read', 'doc:d12') AS superuser_again;

-- Errors inside checks, caught in the same transaction (a savepoint, a
-- PL/pgSQL exception block): the calls after them answer, and the
-- transaction commits without a leak.
BEGIN;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS before_error;
SAVEPOINT s;
SET LOCAL notion_rbac.max_depth = 5;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS too_deep;
ROLLBACK TO SAVEPOINT s;
SELECT rbac.check('user:ann', 'read', 'doc:d12') AS after_error;
SELECT count(*) FILTER (WHERE r LIKE '54001%') AS too_deep, count(*) FILTER (WHERE r = 'true') AS granted
  FROM (SELECT CASE WHEN i % 2 = 0 THEN try($$SELECT set_config('notion_rbac.max_depth', '5', true), rbac.check('user:ann', 'read', 'doc:d12')$$)
                    ELSE rbac.check('user:ann', 'read', 'doc:d' || (i % 12 + 1))::text END AS r
          FROM generate_series(1, 40) i) t;
SELECT current_setting('notion_rbac.max_depth') AS depth_restored;
SELECT regress_answers() = :'own_transactions' AS same_answers;
COMMIT;

-- A check refused half way (max_call_memory, raised while its scans are
-- out), caught: the scans it had are released whole, not kept.
BEGIN;
SELECT rbac.check('user:ann', 'pairs_view', 'doc:d2', '{"data": {"xs": ["a"]}}') AS before_refusal;
SELECT try(format($$SELECT set_config('notion_rbac.max_call_memory', '16MB', true), rbac.check(%L, %L, %L, %L)$$,
                  'user:ann', 'pairs_view', 'doc:d2',
                  jsonb_build_object('data', jsonb_build_object('xs', (SELECT jsonb_agg('x' || i) FROM generate_series(1, 3000) i)))))
       LIKE '54000%' AS refused;
SELECT rbac.check('user:ann', 'pairs_view', 'doc:d2', '{"data": {"xs": ["a"]}}') AS after_refusal,
       rbac.check('user:ann', 'pairs_view', 'doc:d1', '{"data": {"xs": ["a"]}}') AS granted;
SELECT regress_answers() = :'own_transactions' AS same_answers;
COMMIT;

RESET notion_rbac.cache_rows;
DROP FUNCTION regress_answers();
DROP FUNCTION regress_truncate_attributes();
DROP FUNCTION regress_check_as_nobody();
REVOKE EXECUTE ON FUNCTION public.try(text) FROM regress_kept_nobody;
REVOKE EXECUTE ON FUNCTION rbac.check(text, text, text) FROM regress_kept_nobody;
REVOKE USAGE ON SCHEMA rbac FROM regress_kept_nobody;
DROP ROLE regress_kept_reader;
DROP ROLE regress_kept_nobody;
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
