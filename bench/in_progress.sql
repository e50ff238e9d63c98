-- Checks with transactions in progress elsewhere (scripts/bench.sh): the
-- mix's checks timed with the read cache off (cold) and on (asked again)
-- while :open other sessions sit idle in transaction, each holding a
-- transaction id, so that every snapshot lists them as running. A check's
-- cost must not grow with them (the read cache's key once copied and
-- sorted every running transaction id on every call). Run with :open 0
-- first, then with :open 50 and :last true, which prints both and their
-- ratio, and checks that every answer was the same.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS bench.in_progress (open int, xids int, engine text, qid bigint, us float8, allowed boolean);
RESET client_min_messages;
CREATE TEMP TABLE timings (engine text, qid bigint, kind text, depth int, us float8, allowed boolean);
\o /dev/null
SELECT bench.time_checks('notion_rbac, no cache', 4);
SELECT bench.time_checks('notion_rbac, repeated', 4);
\o
INSERT INTO bench.in_progress
SELECT :open, (SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot())), engine, qid, us, allowed FROM timings;
\if :last
SELECT :'label' AS dataset, engine, open AS sessions_idle_in_transaction, max(xids) AS running_xids_in_snapshot,
       count(*) AS checks,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY us) AS p50_us,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY us) AS p95_us,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY us) AS p99_us,
       round(avg(us)::numeric, 1) AS mean_us
  FROM bench.in_progress GROUP BY engine, open ORDER BY engine, open;
SELECT :'label' AS dataset, b.engine,
       round((b.p50 / nullif(a.p50, 0))::numeric, 2) AS p50_ratio_50_open_to_none,
       round((b.mean / nullif(a.mean, 0))::numeric, 2) AS mean_ratio_50_open_to_none,
       (SELECT count(*) FROM bench.in_progress x JOIN bench.in_progress y USING (engine, qid)
         WHERE x.engine = b.engine AND x.open = 0 AND y.open > 0 AND x.allowed IS DISTINCT FROM y.allowed) AS disagreements
  FROM (SELECT engine, percentile_cont(0.5) WITHIN GROUP (ORDER BY us) AS p50, avg(us) AS mean
          FROM bench.in_progress WHERE open = 0 GROUP BY engine) a
  JOIN (SELECT engine, percentile_cont(0.5) WITHIN GROUP (ORDER BY us) AS p50, avg(us) AS mean
          FROM bench.in_progress WHERE open > 0 GROUP BY engine) b USING (engine)
 ORDER BY b.engine;
DROP TABLE bench.in_progress;
\endif
