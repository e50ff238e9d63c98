-- Steady state: distinct checks of the mix, each in a transaction of its
-- own, while one connection commits to an unrelated table about 200 times
-- a second and another writes a tuple about once a second (scripts/bench.sh
-- runs both with pgbench). Timed twice in the same run: with the read
-- cache keyed by the whole snapshot (any commit starts it afresh; the key
-- before 0.6.0) and by the writes to rbac's tables a snapshot sees. Every
-- answer is compared with the answer computed before the run (the tuple
-- writer only touches a group none of the queries depends on).
\set ON_ERROR_STOP 1
\pset footer off
SET notion_rbac.cache_rows = 0;
CREATE TABLE bench.expected AS SELECT qid, rbac.check(subject, action, object) AS allowed FROM bench.queries;
RESET notion_rbac.cache_rows;
CREATE UNLOGGED TABLE bench.steady (mode text, round int, qid bigint, us float8, allowed boolean);
CREATE UNLOGGED TABLE bench.steady_cache (mode text, hits bigint, misses bigint, invalidations bigint, kept_answers bigint, kept_writes bigint);

-- write_every > 0: this session also writes write_rows tuples (to a group
-- no query depends on; added, then removed) after every write_every-th
-- check, committed and not timed — a busy model. One row has a footprint
-- (the cache drops what it touched); 17 have none (it starts afresh).
CREATE PROCEDURE bench.time_steady(mode text, rounds int, write_every int DEFAULT 0, write_rows int DEFAULT 1)
LANGUAGE plpgsql AS $$
DECLARE q record; t0 timestamptz; r boolean; n bigint := 0; rows text[];
BEGIN
    rows := ARRAY(SELECT format('group:steady_busy#member@user:w%s', k) FROM generate_series(1, write_rows) k);
    -- Each mode starts with an empty cache (a write of 17 tuples has no
    -- footprint): round 1 is every check's first ask.
    PERFORM rbac.write_tuples(ARRAY(SELECT format('group:steady_reset#member@user:r%s', k) FROM generate_series(1, 17) k));
    COMMIT;
    PERFORM rbac.delete_tuples(ARRAY(SELECT format('group:steady_reset#member@user:r%s', k) FROM generate_series(1, 17) k));
    COMMIT;
    PERFORM set_config('notion_rbac.cache_across_commits', CASE mode WHEN 'whole snapshot' THEN 'off' ELSE 'on' END, false);
    INSERT INTO bench.steady_cache SELECT mode || ' before', hits, misses, invalidations, kept_check_answers, kept_across_writes FROM rbac.cache_stats();
    COMMIT;
    FOR i IN 1..rounds LOOP
        FOR q IN SELECT * FROM bench.queries ORDER BY (qid * 2654435761 + i * 7919) % 1000003 LOOP
            t0 := clock_timestamp();
            r := rbac.check(q.subject, q.action, q.object);
            INSERT INTO bench.steady VALUES (mode, i, q.qid, extract(epoch FROM clock_timestamp() - t0) * 1e6, r);
            COMMIT;
            n := n + 1;
            IF write_every > 0 AND n % write_every = 0 THEN
                IF (n / write_every) % 2 = 1 THEN
                    PERFORM rbac.write_tuples(rows);
                ELSE
                    PERFORM rbac.delete_tuples(rows);
                END IF;
                COMMIT;
            END IF;
        END LOOP;
    END LOOP;
    INSERT INTO bench.steady_cache SELECT mode || ' after', hits, misses, invalidations, kept_check_answers, kept_across_writes FROM rbac.cache_stats();
    COMMIT;
END $$;

CALL bench.time_steady('whole snapshot', 3);
CALL bench.time_steady('writes to rbac tables', 3);
CALL bench.time_steady('writes key, + 1-tuple write / 20 checks', 3, 20, 1);
CALL bench.time_steady('writes key, + 17-tuple write / 20 checks', 3, 20, 17);

-- Each check is asked once a round: round 1 is its first ask (reads shared
-- with earlier checks come from the cache), rounds 2 and 3 ask it again
-- (answered from the results the first ask kept, while no write to the
-- tuples intervened).
SELECT :'label' AS dataset, s.mode AS cache_key,
       CASE WHEN GROUPING(s.round = 1) = 1 THEN 'all rounds' WHEN s.round = 1 THEN 'round 1 (first ask)'
            ELSE 'rounds 2-3 (asked again)' END AS checks_of,
       count(*) AS checks,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p50_us,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p95_us,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p99_us,
       round(100.0 * (a.hits - b.hits) / nullif((a.hits - b.hits) + (a.misses - b.misses), 0), 1) AS read_hit_rate_pct,
       a.kept_answers - b.kept_answers AS answered_without_read,
       a.invalidations - b.invalidations AS cache_restarts,
       a.kept_writes - b.kept_writes AS writes_met_by_dropping_their_footprint,
       count(*) FILTER (WHERE s.allowed IS DISTINCT FROM e.allowed) AS wrong_answers
  FROM bench.steady s JOIN bench.expected e USING (qid)
  JOIN bench.steady_cache b ON b.mode = s.mode || ' before'
  JOIN bench.steady_cache a ON a.mode = s.mode || ' after'
 GROUP BY GROUPING SETS ((s.mode, a.hits, b.hits, a.misses, b.misses, a.invalidations, b.invalidations, a.kept_answers, b.kept_answers, a.kept_writes, b.kept_writes),
                         (s.mode, a.hits, b.hits, a.misses, b.misses, a.invalidations, b.invalidations, a.kept_answers, b.kept_answers, a.kept_writes, b.kept_writes,
                          s.round = 1))
 ORDER BY s.mode, 3;
SELECT :'label' AS dataset, (SELECT count(*) FROM bench.noise) AS unrelated_commits_during_the_run,
       (SELECT count(*) FROM bench.steady) AS timed_checks;
