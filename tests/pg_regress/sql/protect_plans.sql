-- The planner support of rbac.permitted: for a subject whose last lookup
-- found few ids, the protected table's id index is driven by the visible
-- set (an index condition id = ANY (rbac.permitted_ids_…(…))), with the
-- policy kept as a filter; not for a subject who sees much. Rows are those
-- rbac.lookup_resources gives, whatever plan, subject or generic plan.
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
    permission read = reader or owner or parent.read
    permission write = owner or parent.write
    permission delete = owner
    permission create = owner
}
$$) > 0 AS model;

CREATE ROLE regress_plans_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_plans_docs (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL);
INSERT INTO regress_plans_docs
SELECT i, timestamptz '2026-01-01' + ((i * 7919) % 20000) * interval '1 minute' FROM generate_series(1, 20000) i;
CREATE INDEX ON regress_plans_docs (updated_at);
CREATE TABLE regress_plans_tags (id text PRIMARY KEY, note text);
INSERT INTO regress_plans_tags SELECT 't' || i, 'note ' || i FROM generate_series(1, 20000) i;
VACUUM ANALYZE regress_plans_docs, regress_plans_tags;
GRANT SELECT ON regress_plans_docs, regress_plans_tags TO regress_plans_web;
SELECT rbac.protect('regress_plans_docs', 'doc', 'id');
SELECT rbac.protect('regress_plans_tags', 'doc', 'id');
-- dan reads five docs (and the tags t1..t5); carol reads doc 100 and its
-- 2,900 descendants.
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:dan')) FROM generate_series(1, 5) i;
SELECT rbac.write_tuples(array_agg('doc:t' || i || '#reader@user:dan')) FROM generate_series(1, 5) i;
SELECT rbac.write_tuples(ARRAY['group:eng#member@user:carol', 'doc:100#reader@group:eng#member']);
SELECT rbac.write_tuples(array_agg('doc:' || i || '#parent@doc:' || (100 + (i - 101) / 10))) FROM generate_series(101, 3000) i;

SET ROLE regress_plans_web;
SELECT rbac.set_subject('user:dan', 'session');
-- A point query tries no lookup, even for a subject planning knows
-- nothing of: it checks its one row (the lookup could take the whole
-- 10 ms planning budget).
SELECT lookups AS l0, lookups_abandoned AS a0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS dan_point_first FROM regress_plans_docs WHERE id = 3;
SELECT lookups - :l0 AS planning_lookups, lookups_abandoned - :a0 AS abandoned FROM rbac.permitted_stats();
-- Planning knows nothing of dan yet: it tries his lookup (within 10 ms),
-- finds five ids, and drives the primary key by them.
SELECT lookups AS l0 FROM rbac.permitted_stats() \gset
EXPLAIN (COSTS OFF) SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 3;
SELECT lookups - :l0 AS planning_lookups FROM rbac.permitted_stats();
SELECT count(*) AS dan_count FROM regress_plans_docs;
EXPLAIN (COSTS OFF) SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 3;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_plans_docs;
SELECT array_agg(id ORDER BY id) AS dan_newest FROM (SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 3) t;
SELECT count(*) AS dan_count FROM regress_plans_docs;
-- A query that names its ids checks them (no lookup for a point query).
EXPLAIN (COSTS OFF) SELECT * FROM regress_plans_docs WHERE id = 3;
EXPLAIN (COSTS OFF) SELECT * FROM regress_plans_docs WHERE id IN (3, 4);
SELECT count(*) AS dan_point FROM regress_plans_docs WHERE id = 3;
SELECT count(*) AS dan_outside FROM regress_plans_docs WHERE id = 3000;
-- Text ids too.
SELECT count(*) AS dan_tags FROM regress_plans_tags;
EXPLAIN (COSTS OFF) SELECT id FROM regress_plans_tags WHERE note LIKE 'note%';
SELECT array_agg(id ORDER BY id) AS dan_tag_ids FROM regress_plans_tags WHERE note LIKE 'note%';

-- uuid and varchar ids too.
RESET ROLE;
CREATE TABLE regress_plans_notes (id uuid PRIMARY KEY, n int);
INSERT INTO regress_plans_notes
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, i FROM generate_series(1, 5000) i;
CREATE TABLE regress_plans_codes (id varchar(20) PRIMARY KEY, n int);
INSERT INTO regress_plans_codes SELECT 't' || i, i FROM generate_series(1, 5000) i;
VACUUM ANALYZE regress_plans_notes, regress_plans_codes;
GRANT SELECT ON regress_plans_notes, regress_plans_codes TO regress_plans_web;
SELECT rbac.protect('regress_plans_notes', 'doc', 'id');
SELECT rbac.protect('regress_plans_codes', 'doc', 'id');
SELECT rbac.write_tuples(ARRAY['doc:00000000-0000-4000-8000-000000000007#reader@user:dan',
                               'doc:00000000-0000-4000-8000-00000000000a#reader@user:dan']);
SET ROLE regress_plans_web;
EXPLAIN (COSTS OFF) SELECT n FROM regress_plans_notes WHERE n > 0;
SELECT array_agg(n ORDER BY n) AS dan_notes FROM regress_plans_notes WHERE n > 0;
EXPLAIN (COSTS OFF) SELECT n FROM regress_plans_codes WHERE n > 0;
SELECT array_agg(n ORDER BY n) AS dan_codes FROM regress_plans_codes WHERE n > 0;

-- A grant committed after planning knowledge was gained: the array is
-- the statement's visible set, so the new row is there.
RESET ROLE;
SELECT rbac.write_tuples(ARRAY['doc:6#reader@user:dan']);
SET ROLE regress_plans_web;
SELECT array_agg(id ORDER BY id) AS dan_after_grant FROM regress_plans_docs;

-- carol sees 2,901 docs of 20,000 (more than the 1,000 a table of this
-- size allows): her scans are not driven by the visible set.
SELECT rbac.set_subject('user:carol', 'session');
SELECT count(*) AS carol_count,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup
  FROM regress_plans_docs;
EXPLAIN (COSTS OFF) SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 3;
-- A query that passes every row through the policy (a count, a whole
-- listing: one table, no condition of its own, no LIMIT) needs her whole
-- visible set whatever its plan. From PostgreSQL 17 on, where a scan by an
-- array of keys reads on between near keys, the set is offered there
-- whatever its size, and the planner weighs it at its real size: her
-- 2,901 ids drive the primary key. Not for a query with a LIMIT or a
-- condition of its own (it may need a few rows only), nor before 17, nor
-- for text ids (the scan would sort the whole array in the column's
-- collation).
RESET ROLE;
-- The ids function a plan's index condition calls (NULL: none).
CREATE FUNCTION regress_plan_ids_function(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line LIKE '%rbac.permitted_ids%(%' THEN
            RETURN substring(line FROM 'rbac\.(permitted_ids[a-z_]*)\(');
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE FUNCTION regress_plan_uses_ids(q text) RETURNS boolean LANGUAGE sql
    RETURN regress_plan_ids_function(q) IS NOT NULL;
SET ROLE regress_plans_web;
SELECT regress_plan_uses_ids('SELECT count(*) FROM regress_plans_docs')
       = (current_setting('server_version_num')::int >= 170000) AS count_by_ids_from_17,
       regress_plan_uses_ids('SELECT id FROM regress_plans_docs') = (current_setting('server_version_num')::int >= 170000) AS listing_by_ids_from_17,
       regress_plan_uses_ids('SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 3') AS top_n_by_ids,
       regress_plan_uses_ids($q$SELECT count(*) FROM regress_plans_docs WHERE updated_at > '2026-01-10'$q$) AS filtered_by_ids,
       regress_plan_uses_ids('SELECT count(*) FROM regress_plans_docs d JOIN regress_plans_tags t ON t.id = ''t'' || d.id') AS join_by_ids,
       regress_plan_uses_ids('SELECT count(*) FROM regress_plans_tags') AS text_ids_by_ids;
-- Where an index-only scan reads the set (a count, a listing of ids), the
-- array is rbac.permitted_ids_bigint_at_scan, which the planner does not
-- evaluate (estimating an array id by id costs about 7 ms of planning per
-- 100,000 ids), and whether it pays is the library's to decide; where rows
-- are fetched from the table (a listing with other columns), the planner
-- weighs the stable function's array at its real size.
SELECT coalesce(regress_plan_ids_function('SELECT count(*) FROM regress_plans_docs'), 'none')
       = CASE WHEN current_setting('server_version_num')::int >= 170000 THEN 'permitted_ids_bigint_at_scan' ELSE 'none' END
           AS count_array_at_scan_from_17,
       coalesce(regress_plan_ids_function('SELECT id FROM regress_plans_docs'), 'none')
       = CASE WHEN current_setting('server_version_num')::int >= 170000 THEN 'permitted_ids_bigint_at_scan' ELSE 'none' END
           AS id_listing_array_at_scan_from_17,
       regress_plan_ids_function('SELECT id, updated_at FROM regress_plans_docs')
           IS DISTINCT FROM 'permitted_ids_bigint_at_scan' AS row_listing_array_estimated;
SELECT count(*) AS carol_ids_listed,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup
  FROM (SELECT id FROM regress_plans_docs) t;
-- A table the visibility map does not cover yet (loaded and analysed, not
-- vacuumed): an index-only scan would also fetch each of her 2,901 rows
-- from the table, more than passing its 20,000 rows through the policy; once
-- vacuumed, the array pays.
RESET ROLE;
CREATE TABLE regress_plans_fresh (id bigint PRIMARY KEY);
INSERT INTO regress_plans_fresh SELECT generate_series(1, 20000);
ANALYZE regress_plans_fresh;
GRANT SELECT ON regress_plans_fresh TO regress_plans_web;
SELECT rbac.protect('regress_plans_fresh', 'doc', 'id');
SET ROLE regress_plans_web;
SELECT regress_plan_ids_function('SELECT count(*) FROM regress_plans_fresh') IS NULL AS unvacuumed_no_array,
       (SELECT count(*) FROM regress_plans_fresh) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup;
RESET ROLE;
VACUUM regress_plans_fresh;
SET ROLE regress_plans_web;
SELECT coalesce(regress_plan_ids_function('SELECT count(*) FROM regress_plans_fresh'), 'none')
       = CASE WHEN current_setting('server_version_num')::int >= 170000 THEN 'permitted_ids_bigint_at_scan' ELSE 'none' END
           AS vacuumed_array_at_scan_from_17;
RESET ROLE;
DROP TABLE regress_plans_fresh;
SET ROLE regress_plans_web;

-- bob reads 15,000 of the 20,000 docs: an array that large costs more
-- than passing every row through the policy, so none is offered; the
-- rows are the same.
RESET ROLE;
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:bob')) AS bob_docs FROM generate_series(5001, 20000) i;
SET ROLE regress_plans_web;
SELECT rbac.set_subject('user:bob', 'session');
SELECT count(*) AS bob_count,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:bob', 'read', 'doc')) AS equals_lookup
  FROM regress_plans_docs;
SELECT regress_plan_ids_function('SELECT count(*) FROM regress_plans_docs') IS NULL AS bob_count_no_array;
SELECT count(*) AS bob_count_again FROM regress_plans_docs;
SELECT rbac.set_subject('user:carol', 'session');

-- uuid ids too: uma reads 1,100 of the 5,000 notes (more than the 1,000
-- a table of this size allows).
RESET ROLE;
SELECT rbac.write_tuples(array_agg(format('doc:%s#reader@user:uma', id))) AS uma_notes
  FROM (SELECT id FROM regress_plans_notes ORDER BY n LIMIT 1100) t;
SET ROLE regress_plans_web;
SELECT rbac.set_subject('user:uma', 'session');
SELECT count(*) AS uma_count FROM regress_plans_notes;
SELECT regress_plan_uses_ids('SELECT count(*) FROM regress_plans_notes')
       = (current_setting('server_version_num')::int >= 170000) AS uuid_count_by_ids_from_17;
SELECT coalesce(regress_plan_ids_function('SELECT count(*) FROM regress_plans_notes'), 'none')
       = CASE WHEN current_setting('server_version_num')::int >= 170000 THEN 'permitted_ids_uuid_at_scan' ELSE 'none' END
           AS uuid_count_array_at_scan_from_17;
SELECT count(*) AS uma_count_again,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:uma', 'read', 'doc')) AS equals_lookup
  FROM regress_plans_notes;
SELECT rbac.set_subject('user:carol', 'session');
SELECT count(*) AS carol_count_again,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup
  FROM regress_plans_docs;

-- A generic plan made for dan, executed for carol, and back: exact.
SELECT rbac.set_subject('user:dan', 'session');
SET plan_cache_mode = force_generic_plan;
PREPARE newest AS SELECT count(*) FROM (SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 5000) t;
EXPLAIN (COSTS OFF) EXECUTE newest;
EXECUTE newest;
SELECT rbac.set_subject('user:carol', 'session');
EXECUTE newest;
SELECT rbac.set_subject(NULL, 'session');
EXECUTE newest;
DEALLOCATE newest;
RESET plan_cache_mode;

-- A cursor whose scan the array drives keeps the array of its start, but
-- each row it returns still passes the policy for the current subject:
-- fetched after rbac.set_subject, dan's cursor returns none of his other
-- docs to carol (who reads doc 100 and its descendants).
SELECT rbac.set_subject('user:dan', 'session');
BEGIN;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT regress_plan_uses_ids('DECLARE dan_docs CURSOR FOR SELECT id FROM regress_plans_docs WHERE updated_at IS NOT NULL') AS cursor_by_ids;
DECLARE dan_docs CURSOR FOR SELECT id FROM regress_plans_docs WHERE updated_at IS NOT NULL;
FETCH 1 FROM dan_docs;
SELECT rbac.set_subject('user:carol', 'session');
FETCH ALL FROM dan_docs;
COMMIT;

-- A TRUNCATE of the tuples by a function the statement calls (the
-- owner's, in a transaction that already has an xid): the rows after it
-- are answered from the emptied table, not from the visible set read
-- before it (TRUNCATE is not MVCC-safe).
RESET ROLE;
CREATE FUNCTION regress_truncate_at(id bigint, at bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF id = at THEN
        TRUNCATE rbac.tuples;
    END IF;
    RETURN id;
END $$;
GRANT EXECUTE ON FUNCTION regress_truncate_at(bigint, bigint) TO regress_plans_web;
SET ROLE regress_plans_web;
SELECT rbac.set_subject('user:dan', 'session');
BEGIN;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT pg_current_xact_id() IS NOT NULL AS has_xid;
SELECT regress_plan_uses_ids('SELECT regress_truncate_at(id, 1) FROM regress_plans_docs WHERE updated_at IS NOT NULL') AS truncating_by_ids;
SELECT array_agg(regress_truncate_at(id, 1)) AS dan_rows_around_truncate FROM regress_plans_docs WHERE updated_at IS NOT NULL;
ROLLBACK;

-- The arrays themselves, for the current subject only.
SELECT rbac.set_subject('user:dan', 'session');
SELECT rbac.permitted_ids_bigint('read', 'doc') AS dan_ids;
-- Only an integer's canonical text is a bigint id: doc:007, doc:-0 and
-- doc:+8 are not rows 7, 0 and 8 (doc:0 and doc:-9 are 0 and -9).
RESET ROLE;
SELECT rbac.write_tuples(ARRAY['doc:007#reader@user:dan', 'doc:-0#reader@user:dan', 'doc:+8#reader@user:dan',
                               'doc:0#reader@user:dan', 'doc:-9#reader@user:dan']);
SET ROLE regress_plans_web;
SELECT rbac.permitted_ids_bigint('read', 'doc') AS dan_canonical_ids;
SELECT count(*) AS dan_rows_7_8 FROM regress_plans_docs WHERE id IN (7, 8);
-- Driven by the array, rows 7 and 8 stay hidden.
SELECT regress_plan_uses_ids('SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 50') AS newest_by_ids,
       (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM regress_plans_docs ORDER BY updated_at DESC LIMIT 50) t) AS dan_newest_rows;
SELECT rbac.permitted_ids('read', 'doc') @> ARRAY['t1', '1'] AS text_form;
SELECT rbac.permitted_ids('read', 'nope');
-- The volatile twins answer as the stable functions do: the same ids, the
-- same errors, NULL for NULL (strict).
SELECT rbac.permitted_ids_bigint_at_scan('read', 'doc') = rbac.permitted_ids_bigint('read', 'doc') AS at_scan_same_ids,
       rbac.permitted_ids_uuid_at_scan('read', 'doc') = rbac.permitted_ids_uuid('read', 'doc') AS at_scan_same_uuids,
       rbac.permitted_ids_bigint_at_scan(NULL, 'doc') IS NULL AS at_scan_strict;
SELECT try($$SELECT rbac.permitted_ids_bigint_at_scan('read', 'nope')$$) AS at_scan_unknown_type,
       try($$SELECT rbac.permitted_ids_uuid_at_scan('nothing', 'doc')$$) AS at_scan_unknown_action;
SELECT rbac.set_subject(NULL, 'session');
SELECT cardinality(rbac.permitted_ids('read', 'doc')) AS nobody,
       cardinality(rbac.permitted_ids_bigint_at_scan('read', 'doc')) AS nobody_at_scan;
RESET ROLE;

SELECT rbac.unprotect('regress_plans_docs');
SELECT rbac.unprotect('regress_plans_tags');
SELECT rbac.unprotect('regress_plans_notes');
SELECT rbac.unprotect('regress_plans_codes');
DROP TABLE regress_plans_docs, regress_plans_tags, regress_plans_notes, regress_plans_codes;
DROP FUNCTION regress_plan_uses_ids(text), regress_plan_ids_function(text), regress_truncate_at(bigint, bigint);
DROP ROLE regress_plans_web;
