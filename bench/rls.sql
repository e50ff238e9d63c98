-- Row-level security at scale: an application table bench.app (id, title,
-- updated_at, body) of 1,000,000 × :scale pages, mirrored in tuples
-- (page#workspace, page#parent in trees of 1,000 × :scale pages), queried
-- by a user who reads 10% of it (through three nested groups on the roots
-- of one tree in ten) and one who reads 0.1% (two nested groups, one tree).
-- The same four queries — (a) newest 50, (b) count, (c) the 20th page of 50
-- by keyset, (d) a point lookup — under rbac.protect, under a plain-SQL
-- policy (per row: the baseline's recursive-CTE check; set-based: the
-- baseline's recursive-CTE lookup in a sub-select), and with no RLS.
-- Each timing follows a committed write of 17 tuples (more than a write's
-- footprint describes), so every read cache and kept lookup starts cold;
-- rbac.protect is timed a second time after a one-tuple write elsewhere in
-- the graph ("after a write": the cached reads, check results and visible
-- sets that rest on none of it stay), and a third time after commits to an unrelated table
-- only ("warm": the reads and visible sets of earlier statements stay
-- valid, as in an application between its writes to the model).
-- Expects :scale and :label; runs in a database of its own.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
CREATE SCHEMA bench;
RESET client_min_messages;
\ir baseline.sql

CREATE TABLE bench.params AS
SELECT greatest(round(1000000 * :scale)::int, 10000) AS pages,
       greatest(round(1000 * :scale)::int, 10) AS tree_size;

-- The application's table: ids are the tuples' page ids.
CREATE TABLE bench.app (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    updated_at timestamptz NOT NULL,
    body text NOT NULL
);
INSERT INTO bench.app
SELECT i, 'Page ' || i,
       timestamptz '2026-01-01' + ((i * 2654435761) % 31536000) * interval '1 second',
       repeat(md5(i::text), 2)
  FROM bench.params, generate_series(0, pages - 1) i;
CREATE INDEX app_updated_at ON bench.app (updated_at);
VACUUM ANALYZE bench.app;

-- Tuples. Tree t holds pages t*S .. t*S+S-1 (S = tree_size), each page
-- k > 0 under t*S + (k-1)/4; tree t is in workspace t % 10.
CREATE TABLE bench.load (
    entity_type text COLLATE "C", entity_id text COLLATE "C", relation text COLLATE "C",
    subject_type text COLLATE "C", subject_id text COLLATE "C", subject_relation text COLLATE "C"
);
INSERT INTO bench.load
SELECT 'page', i::text, 'workspace', 'workspace', 'w' || ((i / tree_size) % 10), ''
  FROM bench.params, generate_series(0, pages - 1) i
UNION ALL
SELECT 'page', i::text, 'parent', 'page', ((i / tree_size) * tree_size + (i % tree_size - 1) / 4)::text, ''
  FROM bench.params, generate_series(0, pages - 1) i WHERE i % tree_size > 0
UNION ALL
-- the wide user: three nested groups, readers of every tenth tree
SELECT 'group', 'wide0', 'member', 'user', 'wide', ''
UNION ALL SELECT 'group', 'wide1', 'member', 'group', 'wide0', 'member'
UNION ALL SELECT 'group', 'wide2', 'member', 'group', 'wide1', 'member'
UNION ALL
SELECT 'page', (t * tree_size)::text, 'reader', 'group', 'wide2', 'member'
  FROM bench.params, generate_series(0, pages / tree_size - 1) t WHERE t % 10 = 0
UNION ALL
-- the narrow user: two nested groups, readers of tree 1
SELECT 'group', 'narrow0', 'member', 'user', 'narrow', ''
UNION ALL SELECT 'group', 'narrow1', 'member', 'group', 'narrow0', 'member'
UNION ALL SELECT 'page', (1 * tree_size)::text, 'reader', 'group', 'narrow1', 'member' FROM bench.params
UNION ALL
-- everyone else: 40 groups of 25 users, readers of the other trees; one
-- page in twenty with a direct reader; workspace members
SELECT 'group', 'g' || (u % 40), 'member', 'user', 'u' || u, '' FROM generate_series(0, 999) u
UNION ALL
SELECT 'page', (t * tree_size)::text, 'reader', 'group', 'g' || (t % 40), 'member'
  FROM bench.params, generate_series(0, pages / tree_size - 1) t WHERE t % 10 <> 0 AND t <> 1
UNION ALL
SELECT 'page', i::text, 'reader', 'user', 'u' || ((i::bigint * 7919) % 1000), ''
  FROM bench.params, generate_series(0, pages - 1) i WHERE i % 20 = 7
UNION ALL
SELECT 'workspace', 'w' || (u % 10), 'member', 'user', 'u' || u, '' FROM generate_series(0, 999) u;
\echo loading tuples
COPY bench.load TO :'tsv';
COPY rbac.tuples FROM :'tsv';
VACUUM ANALYZE rbac.tuples;
SELECT :'label' AS dataset, (SELECT count(*) FROM bench.app) AS app_rows, (SELECT count(*) FROM rbac.tuples) AS tuples,
       (SELECT count(*) FROM rbac.lookup_resources('user:wide', 'read', 'page')) AS wide_reads,
       (SELECT count(*) FROM rbac.lookup_resources('user:narrow', 'read', 'page')) AS narrow_reads;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_web') THEN
        CREATE ROLE bench_web NOLOGIN IN ROLE rbac_app, rbac_reader;
    END IF;
END $$;
GRANT USAGE ON SCHEMA bench TO bench_web;
GRANT SELECT ON bench.app TO bench_web;
GRANT SELECT ON rbac.tuples TO bench_web;
CREATE TABLE bench.bump (x int);
GRANT INSERT ON bench.bump TO bench_web;
-- A committed write to the tuples (inserted and deleted again). 17 rows in
-- a statement have no footprint: every cache starts afresh. One row is a
-- write elsewhere in the graph: caches drop what it touched (nothing the
-- queries read) and the kept lookups and check results resting on it.
CREATE FUNCTION bench.touch_tuples(n int DEFAULT 17) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    INSERT INTO rbac.tuples SELECT 'group', 'bench_touch', 'member', 'user', 'bench_touch' || i, '' FROM generate_series(1, n) i;
    DELETE FROM rbac.tuples WHERE entity_type = 'group' AND entity_id = 'bench_touch';
$$;
GRANT EXECUTE ON FUNCTION bench.touch_tuples(int) TO bench_web;
CREATE UNLOGGED TABLE bench.timings (mode text, who text, query text, ms float8, n bigint);
GRANT INSERT ON bench.timings TO bench_web;

-- One query, timed in the server after a committed write to the tuples
-- (cold caches) or, warm, to an unrelated table; statement_timeout bounds
-- the plain-SQL per-row policy. Under rbac.protect a first round, not
-- timed, lets this backend learn what the subject's lookup costs (as an
-- application's backend has long done when it runs its queries: see "How
-- the policies stay fast" in the README); each timed round still follows
-- its mode's commit (a write to the tuples: cold).
CREATE PROCEDURE bench.time_query(mode text, who text, query text, sql text, rounds int)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n bigint;
BEGIN
    IF mode LIKE 'rbac.protect%' THEN
        PERFORM bench.touch_tuples();
        COMMIT;
        BEGIN
            EXECUTE sql INTO n;
        EXCEPTION WHEN query_canceled THEN
            NULL;
        END;
        COMMIT;
    END IF;
    FOR i IN 1..rounds LOOP
        IF mode LIKE '%warm%' THEN
            INSERT INTO bench.bump VALUES (i);
        ELSIF mode LIKE '%after a write%' THEN
            PERFORM bench.touch_tuples(1);
        ELSE
            PERFORM bench.touch_tuples();
        END IF;
        COMMIT;
        t0 := clock_timestamp();
        BEGIN
            EXECUTE sql INTO n;
            INSERT INTO bench.timings VALUES (mode, who, query, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
        EXCEPTION WHEN query_canceled THEN
            INSERT INTO bench.timings VALUES (mode, who, query, 'infinity', NULL);
            EXIT;
        END;
        COMMIT;
        -- A query that took over a second has had its one round.
        EXIT WHEN clock_timestamp() - t0 > interval '1 second';
    END LOOP;
END $$;

-- Keyset pagination: the 20th page starts after the 950th newest visible
-- row (for a user who sees fewer than 1,000 rows, the last full page); the
-- key is found under each user's own visibility.
CREATE TABLE bench.keys (who text PRIMARY KEY, after timestamptz, point bigint);
INSERT INTO bench.keys
SELECT who, (SELECT updated_at FROM bench.app a
              WHERE a.id::text IN (SELECT rbac.lookup_resources('user:' || who, 'read', 'page'))
              ORDER BY updated_at DESC
              OFFSET least(949, (SELECT count(*) FROM rbac.lookup_resources('user:' || who, 'read', 'page')) - 51) LIMIT 1),
       (SELECT min(r::bigint) + 3 FROM rbac.lookup_resources('user:' || who, 'read', 'page') r)
  FROM unnest(ARRAY['wide', 'narrow']) who;
GRANT SELECT ON bench.keys TO bench_web;

CREATE FUNCTION bench.queries(who text) RETURNS TABLE (query text, sql text)
LANGUAGE sql STABLE AS $$
    SELECT v.query, v.sql FROM bench.keys k, LATERAL (VALUES
        ('(a) newest 50', 'SELECT count(*) FROM (SELECT id, title, updated_at FROM bench.app ORDER BY updated_at DESC LIMIT 50) t'),
        ('(b) count(*)', 'SELECT count(*) FROM bench.app'),
        ('(c) keyset page 20', format('SELECT count(*) FROM (SELECT id, title, updated_at FROM bench.app WHERE updated_at < %L ORDER BY updated_at DESC LIMIT 50) t', k.after)),
        ('(d) point lookup', format('SELECT count(*) FROM bench.app WHERE id = %s', k.point))) v(query, sql)
     WHERE k.who = queries.who
$$;

CREATE PROCEDURE bench.run_mode(mode text, rounds int)
LANGUAGE plpgsql AS $$
DECLARE q record;
BEGIN
    FOR q IN SELECT w.who, b.query, b.sql FROM unnest(ARRAY['wide', 'narrow']) w(who), bench.queries(w.who) b LOOP
        PERFORM rbac.set_subject('user:' || q.who, 'session');
        COMMIT;
        CALL bench.time_query(mode, q.who, q.query, q.sql, rounds);
    END LOOP;
END $$;

-- No RLS (the table's owner, before any policy).
CALL bench.run_mode('no RLS', 15);

-- rbac.protect.
SELECT rbac.protect('bench.app', 'page', 'id', delete_action => 'write', force => false);
\echo plans under rbac.protect (user wide)
SET ROLE bench_web;
SELECT rbac.set_subject('user:wide', 'session');
EXPLAIN (COSTS OFF) SELECT id, title, updated_at FROM bench.app ORDER BY updated_at DESC LIMIT 50;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bench.app;
EXPLAIN (COSTS OFF) SELECT * FROM bench.app WHERE id = 42;
\echo plans under rbac.protect (user narrow: the planner drives the primary key by the visible set)
SELECT rbac.set_subject('user:narrow', 'session');
EXPLAIN (COSTS OFF) SELECT id, title, updated_at FROM bench.app ORDER BY updated_at DESC LIMIT 50;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bench.app;
CALL bench.run_mode('rbac.protect', 15);
SELECT * FROM rbac.permitted_stats();
CALL bench.run_mode('rbac.protect, after a write', 15);
SELECT * FROM rbac.permitted_stats();
CALL bench.run_mode('rbac.protect, warm', 15);
SELECT * FROM rbac.permitted_stats();
RESET ROLE;
SELECT rbac.unprotect('bench.app');

-- Plain SQL, set-based: the baseline's recursive-CTE lookup, once per
-- statement (a hashed sub-plan).
ALTER TABLE bench.app ENABLE ROW LEVEL SECURITY;
CREATE POLICY plain_set ON bench.app FOR SELECT USING (
    id::text IN (SELECT bench.sql_lookup_pages(split_part(rbac.current_subject(), ':', 2))));
SET ROLE bench_web;
SET statement_timeout = '60s';
CALL bench.run_mode('plain SQL, set-based', 5);
RESET ROLE;
DROP POLICY plain_set ON bench.app;

-- Plain SQL, per row: the baseline's recursive-CTE check in the policy
-- (what `USING (check(...))` costs when the check is SQL); 15 rounds as
-- for rbac.protect where a round takes under a second (the point lookups),
-- else one, 60 s at most per query.
CREATE POLICY plain_row ON bench.app FOR SELECT USING (
    bench.sql_check(rbac.current_subject(), 'read', 'page:' || id));
SET ROLE bench_web;
CALL bench.run_mode('plain SQL, per row', 15);
RESET ROLE;
RESET statement_timeout;
DROP POLICY plain_row ON bench.app;
ALTER TABLE bench.app DISABLE ROW LEVEL SECURITY;

-- Figures: p50 / p95 in ms; ratios against rbac.protect at p50.
CREATE TEMP TABLE summary AS
SELECT mode, who, query, count(*) AS runs,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p95_ms,
       max(n) AS rows_counted
  FROM bench.timings GROUP BY mode, who, query;
SELECT :'label' AS dataset, s.who, s.query, s.rows_counted AS rows,
       s.p50_ms AS protect_p50, s.p95_ms AS protect_p95,
       a.p50_ms AS after_write_p50, a.p95_ms AS after_write_p95,
       w.p50_ms AS warm_p50, w.p95_ms AS warm_p95,
       n.p50_ms AS no_rls_p50,
       round(s.p50_ms / nullif(n.p50_ms, 0), 1) AS vs_no_rls,
       round(w.p50_ms / nullif(n.p50_ms, 0), 1) AS warm_vs_no_rls,
       ps.p50_ms AS plain_set_p50, round(ps.p50_ms / nullif(s.p50_ms, 0), 1) AS plain_set_ratio,
       CASE WHEN pr.p50_ms = 'infinity' THEN '> 60 s' ELSE pr.p50_ms::text END AS plain_row_ms,
       CASE WHEN pr.p50_ms = 'infinity' THEN '> ' || round(60000 / s.p50_ms) ELSE round(pr.p50_ms / nullif(s.p50_ms, 0), 1)::text END AS plain_row_ratio,
       s.rows_counted = ps.rows_counted AND w.rows_counted = s.rows_counted AND a.rows_counted = s.rows_counted AND (pr.rows_counted IS NULL OR pr.rows_counted = s.rows_counted) AS same_rows
  FROM summary s
  JOIN summary w ON w.mode = 'rbac.protect, warm' AND w.who = s.who AND w.query = s.query
  JOIN summary a ON a.mode = 'rbac.protect, after a write' AND a.who = s.who AND a.query = s.query
  JOIN summary n ON n.mode = 'no RLS' AND n.who = s.who AND n.query = s.query
  JOIN summary ps ON ps.mode = 'plain SQL, set-based' AND ps.who = s.who AND ps.query = s.query
  JOIN summary pr ON pr.mode = 'plain SQL, per row' AND pr.who = s.who AND pr.query = s.query
 WHERE s.mode = 'rbac.protect'
 ORDER BY s.who DESC, s.query;
