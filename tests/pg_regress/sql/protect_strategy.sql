-- How rbac.permitted chooses between per-row checks and one lookup, from
-- what the executing plan says: a statement that passes every row of a
-- big table through the policy (a count, a sort of all rows) looks the
-- subject up at its first row once this backend knows what the lookup
-- costs; a top-N that needs few rows, or a limit the plan does not state,
-- checks row by row first. Either way the rows are those of
-- lookup_resources.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity doc {
    relation reader @user
    relation parent @doc
    permission read = reader or parent.read
    permission write = reader
    permission delete = reader
    permission create = reader
}
$$) > 0 AS model;

CREATE ROLE regress_strategy_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_strategy_docs (id int PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO regress_strategy_docs
SELECT i, 'Doc ' || i, timestamptz '2026-01-01' + ((i * 7919) % 50000) * interval '1 minute' FROM generate_series(1, 50000) i;
CREATE INDEX ON regress_strategy_docs (updated_at);
ANALYZE regress_strategy_docs;
GRANT SELECT ON regress_strategy_docs TO regress_strategy_web;
SELECT rbac.protect('regress_strategy_docs', 'doc', 'id');
-- carol reads doc 1 and, through parents, docs 2..2000 (4% of the table).
SELECT rbac.write_tuples(ARRAY['doc:1#reader@user:carol']);
SELECT rbac.write_tuples(array_agg('doc:' || i || '#parent@doc:' || (i / 2))) FROM generate_series(2, 2000) i;
-- dan reads docs 30001..30005.
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:dan')) FROM generate_series(30001, 30005) i;
-- A committed write to the tuples, so that no statement reuses an earlier
-- one's visible set.
-- (17 tuples: a write without a footprint; a smaller one elsewhere would
-- leave kept answers and results in place, see write_footprints.sql.)
CREATE FUNCTION regress_strategy_touch() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT rbac.write_tuples(ARRAY(SELECT format('doc:60000#reader@user:nobody%s', i) FROM generate_series(1, 17) i));
    SELECT rbac.delete_tuples(ARRAY(SELECT format('doc:60000#reader@user:nobody%s', i) FROM generate_series(1, 17) i));
$$;
GRANT EXECUTE ON FUNCTION regress_strategy_touch() TO regress_strategy_web;

SET ROLE regress_strategy_web;
SELECT rbac.set_subject('user:carol', 'session');
-- The first count learns what carol's lookup costs.
SELECT count(*) AS carol_count FROM regress_strategy_docs;
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
-- A count passes all 50,000 rows through the policy: one lookup, no check.
SELECT count(*) AS carol_count,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup
  FROM regress_strategy_docs;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();

-- A sort of every row under a limit reads them all: a lookup too.
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT array_agg(id) AS first_titles FROM (SELECT id FROM regress_strategy_docs ORDER BY title, id LIMIT 3) t;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();

-- The newest 3 by the index on updated_at: about 75 rows reach the policy,
-- checked one by one.
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT array_agg(id) AS newest FROM (SELECT id FROM regress_strategy_docs ORDER BY updated_at DESC LIMIT 3) t;
SELECT row_checks - :c0 > 0 AS checked_rows FROM rbac.permitted_stats();
RESET ROLE;
SELECT array_agg(id) AS newest_by_lookup FROM (
    SELECT id FROM regress_strategy_docs WHERE id::text IN (SELECT rbac.lookup_resources('user:carol', 'read', 'doc'))
     ORDER BY updated_at DESC LIMIT 3) t;
SET ROLE regress_strategy_web;

-- A point query passes one row through the policy: one check, no lookup.
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS doc_5, (SELECT count(*) FROM regress_strategy_docs WHERE id = 4000) AS doc_4000
  FROM regress_strategy_docs WHERE id = 5;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();
-- So for dan, who reads 5 of the 50,000 rows (a point query is one row
-- however few rows the subject sees).
SELECT rbac.set_subject('user:dan', 'session');
SELECT count(*) AS dan_count FROM regress_strategy_docs;
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS dan_doc_30003 FROM regress_strategy_docs WHERE id = 30003;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();
SELECT rbac.set_subject('user:carol', 'session');

-- A limit the plan does not state (a parameter): rows are checked first.
SELECT regress_strategy_touch();
PREPARE newest(int) AS SELECT array_agg(id) AS newest FROM (SELECT id FROM regress_strategy_docs ORDER BY updated_at DESC LIMIT $1) t;
SET plan_cache_mode = force_generic_plan;
SELECT row_checks AS c0 FROM rbac.permitted_stats() \gset
EXECUTE newest(3);
SELECT row_checks - :c0 > 0 AS checked_rows FROM rbac.permitted_stats();
RESET plan_cache_mode;
DEALLOCATE newest;

-- EXPLAIN without ANALYZE runs nothing; EXPLAIN ANALYZE of a count
-- (output not shown) looks up at once like the count itself.
SELECT regress_strategy_touch();
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
\o /dev/null
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_strategy_docs;
\o
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();
\o /dev/null
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM regress_strategy_docs;
\o
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();

RESET ROLE;
SELECT rbac.unprotect('regress_strategy_docs');
DROP TABLE regress_strategy_docs;
DROP FUNCTION regress_strategy_touch();
DROP ROLE regress_strategy_web;
DELETE FROM rbac.tuples;
