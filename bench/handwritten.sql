-- The hand-written baseline the project was given (../shared/bench): its
-- own dataset (bench.t: 10 workspaces, users in nested groups with a few
-- cycles, pages nested up to depth 6) and bench.page_read(user, page), the
-- permission `read` of notion_bench.perm written by hand as one SQL
-- function with recursive CTEs — timed against rbac.check on the same
-- pairs, in the same run and session, as its README asks: one statement
-- over all pairs through each, five rounds of both; then each
-- check on its own (server-side time of every call) for the distribution:
-- the plain function is fast where a grant is near and slow where it has
-- to explore (a refusal), so its mean and its median differ tenfold.
-- The read cache is off for rbac.check: every read goes to the indexes (a
-- cold check), as the plain function always does.
--
-- Expects the dataset loaded (dataset.sql), notion_bench.perm written as
-- the schema, and :label. Fails if the two ever disagree.
\set ON_ERROR_STOP 1
\pset footer off

INSERT INTO rbac.tuples SELECT entity_type, entity_id, relation, subject_type, subject_id, subject_relation FROM bench.t;
VACUUM ANALYZE rbac.tuples;
SELECT :'label' AS dataset, (SELECT count(*) FROM rbac.tuples) AS tuples, (SELECT count(*) FROM bench.page) AS pages,
       (SELECT count(*) FROM bench.pairs) AS pairs;

SET notion_rbac.cache_rows = 0;

-- Every pair answered alike, or the run stops here.
DO $$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM bench.pairs WHERE rbac.check('user:' || u, 'read', 'page:' || p) IS DISTINCT FROM bench.page_read(u, p);
    IF n > 0 THEN
        RAISE EXCEPTION 'rbac.check and bench.page_read disagree on % of the pairs', n;
    END IF;
END $$;

CREATE TEMP TABLE statement_times (engine text, round int, ms float8, allowed bigint);
CREATE TEMP TABLE call_times (engine text, us float8);

-- One statement over all pairs through each engine, `rounds` rounds of
-- both; the first round only warms buffers and plans.
CREATE FUNCTION pg_temp.time_statements(rounds int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n bigint;
BEGIN
    FOR i IN 0..rounds LOOP
        t0 := clock_timestamp();
        SELECT count(*) FILTER (WHERE rbac.check('user:' || u, 'read', 'page:' || p)) INTO n FROM bench.pairs;
        IF i > 0 THEN
            INSERT INTO statement_times VALUES ('notion_rbac, no cache', i, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
        END IF;
        t0 := clock_timestamp();
        SELECT count(*) FILTER (WHERE bench.page_read(u, p)) INTO n FROM bench.pairs;
        IF i > 0 THEN
            INSERT INTO statement_times VALUES ('plain SQL (bench.page_read)', i, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
        END IF;
    END LOOP;
END $$;

-- Each pair on its own, timed around the call (PL/pgSQL's own share, the
-- same for both, included): every pair through one engine, then every
-- pair through the other, `rounds` times; the first round only warms.
-- (Alternating per pair would time each engine in the CPU caches the
-- other just filled: it slowed rbac.check by a third here.)
CREATE FUNCTION pg_temp.time_calls(rounds int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE q record; t0 timestamptz; r boolean; a float8[]; plain boolean;
BEGIN
    FOR i IN 0..rounds LOOP
        FOREACH plain IN ARRAY ARRAY[false, true] LOOP
            a := '{}';
            FOR q IN SELECT u, p FROM bench.pairs LOOP
                t0 := clock_timestamp();
                IF plain THEN
                    r := bench.page_read(q.u, q.p);
                ELSE
                    r := rbac.check('user:' || q.u, 'read', 'page:' || q.p);
                END IF;
                a := a || extract(epoch FROM clock_timestamp() - t0) * 1e6;
            END LOOP;
            IF i > 0 THEN
                INSERT INTO call_times SELECT CASE WHEN plain THEN 'plain SQL (bench.page_read)' ELSE 'notion_rbac, no cache' END, x FROM unnest(a) x;
            END IF;
        END LOOP;
    END LOOP;
END $$;

\o /dev/null
SELECT pg_temp.time_statements(5);
SELECT pg_temp.time_calls(2);
\o

\echo hand-written baseline: one statement over every pair (median of 5 rounds)
SELECT :'label' AS dataset, engine,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS statement_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) * 1000 / (SELECT count(*) FROM bench.pairs))::numeric, 1) AS us_per_check,
       min(allowed) AS allowed
  FROM statement_times GROUP BY engine ORDER BY engine;

\echo hand-written baseline: each check on its own (server-side, per call)
SELECT :'label' AS dataset, engine, count(*) AS checks,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p50_us,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p95_us,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p99_us
  FROM call_times GROUP BY engine ORDER BY engine;

\echo hand-written baseline: plain SQL / notion_rbac (no cache)
WITH s AS (SELECT engine, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM statement_times GROUP BY engine),
     c AS (SELECT engine, percentile_cont(0.5) WITHIN GROUP (ORDER BY us) AS p50 FROM call_times GROUP BY engine)
SELECT :'label' AS dataset,
       round(((SELECT ms FROM s WHERE engine LIKE 'plain%') / (SELECT ms FROM s WHERE engine LIKE 'notion%'))::numeric, 1) AS statement_ratio,
       round(((SELECT p50 FROM c WHERE engine LIKE 'plain%') / (SELECT p50 FROM c WHERE engine LIKE 'notion%'))::numeric, 1) AS p50_ratio;
