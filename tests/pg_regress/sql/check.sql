-- rbac.check on the seed scenario (Permify's Notion model and sample relationships).
BEGIN;

-- The two questions of the seed text.
SELECT rbac.check('user:alice', 'write', 'database:task_list') AS alice_writes_task_list;
SELECT rbac.check('user:charlie', 'write', 'page:product_spec') AS charlie_writes_product_spec;

-- Every permission of every seeded object for every user, as a table.
SELECT o.object, u.subject,
       string_agg(p.action, ',' ORDER BY p.action) FILTER (WHERE rbac.check(u.subject, p.action, o.object)) AS allowed
  FROM (SELECT DISTINCT entity_type || ':' || entity_id AS object, entity_type FROM rbac.tuples) o
  CROSS JOIN (SELECT DISTINCT 'user:' || subject_id AS subject FROM rbac.tuples WHERE subject_type = 'user') u
  JOIN (VALUES ('page', 'read'), ('page', 'write'), ('database', 'read'), ('database', 'write'),
               ('block', 'read'), ('block', 'write'), ('block', 'comment'), ('comment', 'read'), ('comment', 'write'),
               ('template', 'read'), ('template', 'write'), ('workspace', 'read'), ('workspace', 'write'),
               ('workspace', 'manage_workspace')) p(entity_type, action) ON p.entity_type = o.entity_type
 GROUP BY o.object, u.subject
 ORDER BY o.object, u.subject;

-- Relations can be checked directly, and so can subject sets.
SELECT rbac.check('user:bob', 'member', 'workspace:engineering_team') AS bob_is_member;
SELECT rbac.write_tuples(ARRAY['page:handbook#reader@workspace:engineering_team#member']) AS added;
SELECT rbac.check('workspace:engineering_team#member', 'read', 'page:handbook') AS members_read_handbook;
SELECT rbac.check('user:bob', 'read', 'page:handbook') AS bob_reads_handbook;
SELECT rbac.check('user:charlie', 'read', 'page:handbook') AS charlie_reads_handbook;
SELECT rbac.check('workspace:engineering_team#member', 'member', 'workspace:engineering_team') AS self_shortcut;

-- Unknown ids are simply false; unknown types and actions are errors naming them.
SELECT rbac.check('user:nobody', 'read', 'page:project_plan') AS nobody;
SELECT rbac.check('user:bob', 'read', 'page:does_not_exist') AS missing_page;
SELECT try($$SELECT rbac.check('user:bob', 'read', 'folder:x')$$);
SELECT try($$SELECT rbac.check('user:bob', 'fly', 'page:project_plan')$$);
SELECT try($$SELECT rbac.check('user', 'read', 'page:project_plan')$$);
SELECT try($$SELECT rbac.check('user:bob', 'read', 'page')$$);
SELECT rbac.check(NULL, 'read', 'page:project_plan') IS NULL AS null_in_null_out;

-- Contextual tuples count for one call only.
SELECT rbac.check('user:zoe', 'read', 'page:project_plan',
                  '{"tuples": ["page:project_plan#reader@user:zoe"]}') AS with_context,
       rbac.check('user:zoe', 'read', 'page:project_plan') AS without_context;
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": "nope"}')$$);
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"colour": 1}')$$);
-- The tuples and attributes arrays are read as text while their elements
-- are strings; anything else in them is named, and errors come in key
-- order (attributes before tuples), as for any context.
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": ["page:project_plan#reader@user:zoe", 7]}')$$);
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": ["page:project_plan#reader@user:zoe", ["x"]]}')$$);
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": ["nonsense"], "attributes": ["page:project_plan$x"]}')$$);
SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": [], "attributes": null, "data": {"tuples": ["page:project_plan#reader@user:zoe"]}}') AS data_is_not_tuples,
       rbac.check('user:zoe', 'read', 'page:project_plan', '{"data": {}, "tuples": ["page:x#reader@user:ann", "page:project_plan#reader@user:zoe"]}') AS second_tuple_counts;

-- check_many: one subject, many objects; many subjects, one object.
SELECT * FROM rbac.check_many('user:bob', 'read',
    ARRAY['page:project_plan', 'page:product_spec', 'database:customer_list', NULL, 'block:task_list_1']);
SELECT * FROM rbac.check_many(ARRAY['user:alice', 'user:bob', 'user:charlie', 'user:eve'], 'write', 'block:task_list_2');
-- A malformed element is refused with its position.
SELECT try($$SELECT * FROM rbac.check_many('user:bob', 'read', ARRAY['page:project_plan', NULL, 'page'])$$) AS bad_object;
SELECT try($$SELECT * FROM rbac.check_many(ARRAY['user:alice', 'alice'], 'write', 'block:task_list_2')$$) AS bad_subject;

ROLLBACK;

-- Attributes, rules (CEL) and request data.
BEGIN;
-- (the seed's tuples would not fit this model: start from none; rolled back)
DELETE FROM rbac.tuples;
SELECT rbac.write_schema($$
entity user {}
entity account {
    relation owner @user
    attribute balance double
    attribute frozen boolean
    permission withdraw = owner and check_balance(balance) not frozen
}
rule check_balance(balance double) {
    balance >= context.data.amount
}
$$) > 0 AS written;
SELECT rbac.write_tuples(ARRAY['account:1#owner@user:ann', 'account:2#owner@user:ann']) AS added;
SELECT rbac.write_attributes(ARRAY['account:1$balance|double:4000', 'account:2$balance|double:100', 'account:2$frozen|boolean:true']) AS attrs;
SELECT rbac.check('user:ann', 'withdraw', 'account:1', '{"data": {"amount": 3000}}') AS enough,
       rbac.check('user:ann', 'withdraw', 'account:1', '{"data": {"amount": 5000}}') AS too_much,
       rbac.check('user:ann', 'withdraw', 'account:2', '{"data": {"amount": 50}}') AS frozen;
SELECT rbac.check('user:ann', 'frozen', 'account:2') AS attribute_checked_directly;
SELECT rbac.check('user:ann', 'withdraw', 'account:2', '{"data": {"amount": 50}, "attributes": ["account:2$frozen|boolean:false"]}') AS unfrozen_in_context;
-- A rule that reads a missing context key is an error, not false.
SELECT try($$SELECT rbac.check('user:ann', 'withdraw', 'account:1')$$);
ROLLBACK;

-- Cycles grant nothing by themselves and never loop.
BEGIN;
-- (the seed's tuples would not fit this model: start from none; rolled back)
DELETE FROM rbac.tuples;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity folder {
    relation parent @folder
    relation viewer @user @group#member
    permission view = viewer or parent.view
}
$$) > 0 AS written;
SELECT rbac.write_tuples(ARRAY[
    'group:a#member@group:b#member', 'group:b#member@group:a#member',
    'folder:x#parent@folder:y', 'folder:y#parent@folder:x', 'folder:x#viewer@group:a#member']) AS added;
SELECT rbac.check('user:u', 'view', 'folder:y') AS cycle_only;
SELECT rbac.write_tuples(ARRAY['group:b#member@user:u']) AS added;
SELECT rbac.check('user:u', 'view', 'folder:y') AS through_cycle;
SELECT rbac.check('user:u', 'member', 'group:a') AS member_of_a;
ROLLBACK;

-- The read cache (notion_rbac.cache_rows) is reused only by checks that see
-- the same data. Outside a transaction that has written, repeated checks
-- are answered from it (this one from the results the first one kept,
-- without a read at all: kept_checks.sql)...
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS bob_reads_plan;
-- (\gset: keeping the counters in a table would commit a write, which
-- rightly starts the cache afresh)
SELECT hits AS hits_before, misses AS misses_before FROM rbac.cache_stats() \gset
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS bob_reads_plan_again;
SELECT hits = :hits_before AND misses = :misses_before AS answered_without_reading, row_limit
  FROM rbac.cache_stats();
-- A commit that wrote none of the extension's tables leaves it as it was
-- (cache_across_commits.sql has the rest: writes to them start it afresh).
CREATE TEMP TABLE committed_write AS SELECT 1 AS x;
SELECT invalidations AS invalidations_before FROM rbac.cache_stats() \gset
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS bob_reads_plan_after_commit;
SELECT invalidations = :invalidations_before AS survives_unrelated_commit FROM rbac.cache_stats();
-- ...own writes are seen at once (the transaction now has an id, and the
-- key follows its command counter)...
BEGIN;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS before_revoke;
DELETE FROM rbac.tuples WHERE subject_type = 'user' AND subject_id = 'bob';
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS after_own_revoke;
-- ...and a rolled-back savepoint is never remembered.
SAVEPOINT s;
SELECT rbac.write_tuples(ARRAY['page:project_plan#reader@user:bob']) AS granted;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS after_rollback_to_savepoint;
ROLLBACK;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS after_rollback;
-- The cache is kept per user: a role that may call rbac.check but not
-- read the tables gets an error, never an answer cached for another role.
CREATE ROLE regress_cache_reader NOLOGIN IN ROLE rbac_reader;
CREATE ROLE regress_cache_nosee NOLOGIN;
GRANT USAGE ON SCHEMA rbac TO regress_cache_nosee;
GRANT EXECUTE ON FUNCTION rbac.check(text, text, text) TO regress_cache_nosee;
SET ROLE regress_cache_reader;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS reader_checks;
SELECT rbac.check('user:bob', 'read', 'page:project_plan') AS reader_checks_from_cache;
SET ROLE regress_cache_nosee;
SELECT try($$SELECT rbac.check('user:bob', 'read', 'page:project_plan')$$);
RESET ROLE;
DROP ROLE regress_cache_reader;
REVOKE ALL ON FUNCTION rbac.check(text, text, text) FROM regress_cache_nosee;
REVOKE ALL ON SCHEMA rbac FROM regress_cache_nosee;
DROP ROLE regress_cache_nosee;
-- Turning the cache off changes nothing but speed.
SET notion_rbac.cache_rows = 0;
SELECT rbac.check('user:alice', 'write', 'database:task_list') AS uncached_alice,
       rbac.check('user:charlie', 'write', 'page:product_spec') AS uncached_charlie;
SELECT rows, row_limit FROM rbac.cache_stats();
-- A read larger than the whole limit is not kept; answers stay the same.
SET notion_rbac.cache_rows = 1;
SELECT rbac.check('user:alice', 'write', 'database:task_list') AS tiny_cache_alice,
       rbac.check('user:charlie', 'write', 'page:product_spec') AS tiny_cache_charlie;
SELECT rows <= 1 AS within_limit FROM rbac.cache_stats();
RESET notion_rbac.cache_rows;
SELECT try($$SET notion_rbac.cache_rows = -1$$);
