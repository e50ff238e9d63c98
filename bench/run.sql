-- Loads the generated dataset through COPY and times checks and lookups
-- through rbac.check / rbac.lookup_resources and through the plain-SQL
-- baseline, from one connection. Expects :datadir (a directory the server
-- can write) and :label.
\set ON_ERROR_STOP 1
\pset footer off

-- COPY rate: into rbac.tuples (schema validation + indexes) and, as a
-- baseline, into a plain table with the same indexes and no validation.
COPY bench.load TO :'tsv';
CREATE TABLE bench.plain (LIKE rbac.tuples INCLUDING INDEXES);
CREATE FUNCTION bench.copy_rate(target text, path text) RETURNS TABLE (rows bigint, seconds numeric, rows_per_s bigint)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; n bigint;
BEGIN
    t0 := clock_timestamp();
    EXECUTE format('COPY %s FROM %L', target, path);
    GET DIAGNOSTICS n = ROW_COUNT;
    seconds := round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2);
    rows := n;
    rows_per_s := round(n / greatest(extract(epoch FROM clock_timestamp() - t0), 1e-6));
    RETURN NEXT;
END $$;
CREATE TEMP TABLE copy_rates AS
SELECT 'plain table, same indexes' AS target, * FROM bench.copy_rate('bench.plain', :'tsv');
INSERT INTO copy_rates SELECT 'rbac.tuples (validated)', * FROM bench.copy_rate('rbac.tuples', :'tsv');
DROP TABLE bench.plain;
VACUUM ANALYZE rbac.tuples;
SELECT :'label' AS dataset, target, rows, seconds, rows_per_s FROM copy_rates ORDER BY target DESC;

-- The check mix: at each page depth 1..6, 50 pages, each with a user of the
-- root's group (allowed) and a user of another workspace (denied, after
-- exploring every path); plus blocks (depth + 1) and comments (depth + 2).
CREATE TABLE bench.queries AS
WITH picked AS (
    SELECT p.*, row_number() OVER (PARTITION BY depth ORDER BY (id * 2654435761::bigint) % 1000003, id) AS n
      FROM bench.pages p WHERE root_j > 0
), chosen AS (SELECT * FROM picked WHERE n <= 50)
SELECT row_number() OVER (ORDER BY kind, depth, id, who) AS qid, * FROM (
    SELECT 'page' AS kind, c.depth, c.id, who,
           'user:u' || (SELECT m.u FROM bench.memberships m, bench.params pr
                         WHERE m.g = (c.root_j % (pr.groups / 10)) * 10 + c.ws ORDER BY m.u OFFSET (c.id % 3) LIMIT 1) AS subject,
           'read' AS action, 'page:p' || c.id AS object
      FROM chosen c, (VALUES (1)) w(who)
    UNION ALL
    SELECT 'page', c.depth, c.id, 2,
           'user:u' || (SELECT m.u FROM bench.memberships m
                         WHERE m.ws = (c.ws + 1) % 10 AND m.u >= 30
                         ORDER BY (m.u * 7919 + c.id) % 10007 LIMIT 1),
           'read', 'page:p' || c.id
      FROM chosen c
) q
WHERE subject IS NOT NULL;
INSERT INTO bench.queries
SELECT (SELECT max(qid) FROM bench.queries) + row_number() OVER (ORDER BY qid), 'block', depth + 1, id, who, subject, action,
       'block:b' || (id * 5 + 2)
  FROM bench.queries WHERE kind = 'page' AND depth IN (2, 4, 6);
INSERT INTO bench.queries
SELECT (SELECT max(qid) FROM bench.queries) + row_number() OVER (ORDER BY qid), 'comment', depth + 2, id, who, subject, action,
       'comment:c' || id
  FROM bench.queries WHERE kind = 'page' AND depth IN (1, 3, 5);

-- Times every query of the mix `rounds` times through one engine; round 1
-- only warms buffers, plans and (for the cached engines) the read cache.
-- Nothing is written while timing: a transaction that has written has a
-- transaction id, and the read cache would then (correctly) be per command.
--   'notion_rbac, no cache'   read cache off (notion_rbac.cache_rows = 0): every
--                          read goes to the indexes — the engine's own cost;
--   'notion_rbac, first ask'  the default read cache, starting empty, every
--                          query asked once, in shuffled order: only reads
--                          shared with earlier checks (workspaces, groups,
--                          pages above) come from the cache — a stream of
--                          distinct checks in a read-mostly steady state;
--   'notion_rbac, repeated'   the default read cache (exact: reused only while
--                          no transaction commits), the same checks asked
--                          again — repeated checks, RLS over the same rows;
--   'plain SQL'            bench/baseline.sql.
CREATE FUNCTION bench.time_checks(engine text, rounds int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE q record; t0 timestamptz; r boolean; us float8;
        qids bigint[] := '{}'; times float8[] := '{}'; answers boolean[] := '{}';
BEGIN
    PERFORM set_config('notion_rbac.cache_rows', CASE WHEN engine IN ('notion_rbac, first ask', 'notion_rbac, repeated') THEN '50000' ELSE '0' END, true);
    FOR i IN 1..rounds LOOP
        FOR q IN SELECT * FROM bench.queries ORDER BY CASE WHEN engine = 'notion_rbac, first ask' THEN (qid * 2654435761) % 1000003 ELSE qid END LOOP
            IF engine = 'plain SQL' THEN
                t0 := clock_timestamp();
                r := bench.sql_check(q.subject, q.action, q.object);
                us := extract(epoch FROM clock_timestamp() - t0) * 1e6;
            ELSE
                t0 := clock_timestamp();
                r := rbac.check(q.subject, q.action, q.object);
                us := extract(epoch FROM clock_timestamp() - t0) * 1e6;
            END IF;
            IF i > 1 OR engine = 'notion_rbac, first ask' THEN
                qids := qids || q.qid; times := times || us; answers := answers || r;
            END IF;
        END LOOP;
    END LOOP;
    INSERT INTO timings
    SELECT engine, x.qid, bq.kind, bq.depth, x.us, x.allowed
      FROM unnest(qids, times, answers) AS x(qid, us, allowed) JOIN bench.queries bq USING (qid);
END $$;

-- The same checks, read cache off, with small entities read through the
-- primary key instead of the hashed entity index (hidden by renaming it in
-- this transaction, as before 0.9.0): rounds alternate between the two,
-- so that both meet the same machine; the first pair only warms.
CREATE FUNCTION bench.time_entity_index(rounds int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE q record; t0 timestamptz; r boolean; us float8; hidden boolean;
        engines text[] := '{}'; qids bigint[] := '{}'; times float8[] := '{}'; answers boolean[] := '{}';
BEGIN
    PERFORM set_config('notion_rbac.cache_rows', '0', true);
    PERFORM set_config('client_min_messages', 'warning', true);
    FOR i IN 1..2 * rounds LOOP
        hidden := i % 2 = 0;
        EXECUTE CASE WHEN hidden THEN 'ALTER INDEX rbac.tuples_by_entity_key RENAME TO tuples_by_entity_key_hidden'
                     ELSE 'ALTER INDEX IF EXISTS rbac.tuples_by_entity_key_hidden RENAME TO tuples_by_entity_key' END;
        FOR q IN SELECT * FROM bench.queries ORDER BY qid LOOP
            t0 := clock_timestamp();
            r := rbac.check(q.subject, q.action, q.object);
            us := extract(epoch FROM clock_timestamp() - t0) * 1e6;
            IF i > 2 THEN
                engines := engines || CASE WHEN hidden THEN 'notion_rbac, no cache, primary key' ELSE 'notion_rbac, no cache, entity index' END;
                qids := qids || q.qid; times := times || us; answers := answers || r;
            END IF;
        END LOOP;
    END LOOP;
    ALTER INDEX rbac.tuples_by_entity_key_hidden RENAME TO tuples_by_entity_key;
    INSERT INTO timings
    SELECT x.engine, x.qid, bq.kind, bq.depth, x.us, x.allowed
      FROM unnest(engines, qids, times, answers) AS x(engine, qid, us, allowed) JOIN bench.queries bq USING (qid);
END $$;

CREATE TEMP TABLE timings (engine text, qid bigint, kind text, depth int, us float8, allowed boolean);
SELECT bench.time_checks('notion_rbac, no cache', 4);
SELECT bench.time_entity_index(4);
-- (each call ends by writing its timings: the commit starts the next one
-- with an empty cache)
SELECT bench.time_checks('notion_rbac, first ask', 1);
SELECT bench.time_checks('notion_rbac, repeated', 4);
SELECT bench.time_checks('plain SQL', 2);

-- Both engines must give the same answers.
SELECT :'label' AS dataset, count(*) AS queries,
       count(*) FILTER (WHERE a.allowed) AS allowed, count(*) FILTER (WHERE NOT a.allowed) AS denied,
       count(*) FILTER (WHERE a.allowed IS DISTINCT FROM b.allowed) AS disagreements
  FROM (SELECT DISTINCT qid, allowed FROM timings WHERE engine LIKE 'notion_rbac%') a
  JOIN (SELECT DISTINCT qid, allowed FROM timings WHERE engine = 'plain SQL') b USING (qid);

CREATE TEMP TABLE summary AS
SELECT engine, count(*) AS checks,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p50_us,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p95_us,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY us)::numeric, 1) AS p99_us,
       round(avg(us)::numeric, 1) AS mean_us,
       round(1e6 / avg(us)) AS checks_per_s
  FROM timings GROUP BY engine;
SELECT :'label' AS dataset, * FROM summary ORDER BY engine DESC;
SELECT :'label' AS dataset, 'plain SQL / ' || r.engine AS ratio,
       round(s.p50_us / r.p50_us, 1) AS p50, round(s.p95_us / r.p95_us, 1) AS p95,
       round(s.p99_us / r.p99_us, 1) AS p99, round(s.mean_us / r.mean_us, 1) AS mean
  FROM summary r, summary s WHERE r.engine LIKE 'notion_rbac%' AND s.engine = 'plain SQL' ORDER BY r.engine;

-- What the hashed entity index saves, same checks, alternating rounds.
SELECT :'label' AS dataset, 'primary key / entity index' AS ratio,
       round(pk.p50_us / ei.p50_us, 2) AS p50, round(pk.p95_us / ei.p95_us, 2) AS p95,
       round(pk.p99_us / ei.p99_us, 2) AS p99, round(pk.mean_us / ei.mean_us, 2) AS mean
  FROM summary pk, summary ei
 WHERE pk.engine = 'notion_rbac, no cache, primary key' AND ei.engine = 'notion_rbac, no cache, entity index';

-- p50 per object kind and depth (hops from the object to the granting page).
SELECT :'label' AS dataset, kind, depth,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE engine = 'notion_rbac, no cache')::numeric, 1) AS no_cache_p50_us,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE engine = 'notion_rbac, first ask')::numeric, 1) AS first_ask_p50_us,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE engine = 'notion_rbac, repeated')::numeric, 1) AS repeated_p50_us,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us) FILTER (WHERE engine = 'plain SQL')::numeric, 1) AS plain_sql_p50_us
  FROM timings GROUP BY kind, depth ORDER BY kind DESC, depth;

-- Row-level security: an application table of 10,000 pages (all depths,
-- every workspace) behind a policy that calls rbac.check — or, for the
-- baseline, the plain-SQL check — read by a role the policy applies to.
-- One scan is one statement, one snapshot: with the cache on, the rows
-- share their workspace, group and ancestor reads even on the first scan.
CREATE TABLE bench.app_pages AS
SELECT 'p' || id AS id FROM bench.pages ORDER BY (id * 2654435761::bigint) % 1000003, id LIMIT 10000;
ALTER TABLE bench.app_pages ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_pages_read ON bench.app_pages FOR SELECT USING (
    CASE current_setting('bench.engine')
        WHEN 'plain SQL' THEN bench.sql_check('user:' || current_setting('bench.uid'), 'read', 'page:' || id)
        ELSE rbac.check('user:' || current_setting('bench.uid'), 'read', 'page:' || id)
    END);
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app') THEN
        CREATE ROLE bench_app NOLOGIN IN ROLE rbac_reader;
    END IF;
END $$;
GRANT USAGE ON SCHEMA bench TO bench_app;
GRANT SELECT ON bench.app_pages TO bench_app;
CREATE TABLE bench.bump (x int);
-- Two scans in one transaction: the first, then the same again.
CREATE FUNCTION bench.time_rls(uid text, engine text, cache_rows int)
RETURNS TABLE (visible bigint, first_scan_ms numeric, second_scan_ms numeric)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    PERFORM set_config('bench.uid', uid, true);
    PERFORM set_config('bench.engine', engine, true);
    PERFORM set_config('notion_rbac.cache_rows', cache_rows::text, true);
    PERFORM set_config('role', 'bench_app', true);
    t0 := clock_timestamp();
    SELECT count(*) INTO visible FROM bench.app_pages;
    first_scan_ms := round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
    t0 := clock_timestamp();
    PERFORM count(*) FROM bench.app_pages;
    second_scan_ms := round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
    RETURN NEXT;
END $$;
-- (each timing follows a committed write, so every read cache starts empty)
CREATE TEMP TABLE rls (uid text, engine text, visible bigint, first_scan_ms numeric, second_scan_ms numeric);
INSERT INTO bench.bump VALUES (1);
INSERT INTO rls SELECT 'u10', 'notion_rbac, no cache', * FROM bench.time_rls('u10', 'notion_rbac', 0);
INSERT INTO rls SELECT 'u10', 'notion_rbac, cache', * FROM bench.time_rls('u10', 'notion_rbac', 50000);
INSERT INTO rls SELECT 'u10', 'plain SQL', * FROM bench.time_rls('u10', 'plain SQL', 0);
INSERT INTO rls SELECT 'u30', 'notion_rbac, no cache', * FROM bench.time_rls('u30', 'notion_rbac', 0);
INSERT INTO rls SELECT 'u30', 'notion_rbac, cache', * FROM bench.time_rls('u30', 'notion_rbac', 50000);
INSERT INTO rls SELECT 'u30', 'plain SQL', * FROM bench.time_rls('u30', 'plain SQL', 0);
SELECT :'label' AS dataset, 'RLS over ' || (SELECT count(*) FROM bench.app_pages) || ' pages' AS scan, r.uid, r.engine, r.visible,
       r.first_scan_ms, r.second_scan_ms,
       round(p.first_scan_ms / nullif(r.first_scan_ms, 0), 1) AS plain_sql_ratio
  FROM rls r JOIN rls p ON p.uid = r.uid AND p.engine = 'plain SQL'
 ORDER BY r.uid, r.engine DESC;

-- Lookups and check_many are timed with the read cache off: their figures
-- are the engine's own cost, not repeated answers.
SET notion_rbac.cache_rows = 0;

-- lookup_resources for users who can read about 10% of the pages (the
-- admins of a workspace: one workspace in ten) and for an ordinary member.
CREATE FUNCTION bench.time_lookup(uid text, engine text, rounds int) RETURNS TABLE (ids bigint, ms numeric)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best float8 := 'infinity'; n bigint;
BEGIN
    FOR i IN 1..rounds LOOP
        t0 := clock_timestamp();
        IF engine = 'notion_rbac' THEN
            SELECT count(*) INTO n FROM rbac.lookup_resources('user:' || uid, 'read', 'page');
        ELSE
            SELECT count(*) INTO n FROM bench.sql_lookup_pages(uid);
        END IF;
        best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
    ids := n; ms := round(best::numeric, 2);
    RETURN NEXT;
END $$;
WITH u AS (
    SELECT 'u10' AS uid UNION ALL SELECT 'u11' UNION ALL SELECT 'u12'
    UNION ALL
    (SELECT 'u' || m.u FROM bench.memberships m WHERE m.u >= 30 AND m.u % 12 <> 5 AND m.u % 50 <> 7
      GROUP BY m.u ORDER BY m.u LIMIT 1)
)
SELECT :'label' AS dataset, u.uid,
       r.ids AS pages_readable, round(100.0 * r.ids / (SELECT count(*) FROM bench.pages), 1) AS pct_of_pages,
       r.ms AS notion_rbac_ms, s.ms AS plain_sql_ms, s.ids = r.ids AS same_count,
       round(s.ms / nullif(r.ms, 0), 1) AS ratio
  FROM u, LATERAL bench.time_lookup(u.uid, 'notion_rbac', 3) r, LATERAL bench.time_lookup(u.uid, 'plain SQL', 3) s;

-- check_many: one call for 1,000 pages vs 1,000 single calls, same answers.
CREATE FUNCTION bench.time_many(uid text) RETURNS TABLE (objects int, allowed_many bigint, allowed_single bigint, many_ms numeric, single_ms numeric, ratio numeric)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; pages text[]; n_many bigint; n_single bigint := 0; ms_many float8; ms_single float8;
BEGIN
    SELECT array_agg('page:p' || id ORDER BY id) INTO pages FROM (SELECT id FROM bench.pages ORDER BY id LIMIT 1000) p;
    t0 := clock_timestamp();
    SELECT count(*) FILTER (WHERE allowed) INTO n_many FROM rbac.check_many('user:' || uid, 'read', pages);
    ms_many := extract(epoch FROM clock_timestamp() - t0) * 1000;
    t0 := clock_timestamp();
    FOR i IN 1..array_length(pages, 1) LOOP
        IF rbac.check('user:' || uid, 'read', pages[i]) THEN n_single := n_single + 1; END IF;
    END LOOP;
    ms_single := extract(epoch FROM clock_timestamp() - t0) * 1000;
    objects := array_length(pages, 1); allowed_many := n_many; allowed_single := n_single;
    many_ms := round(ms_many::numeric, 2); single_ms := round(ms_single::numeric, 2);
    ratio := round((ms_single / nullif(ms_many, 0))::numeric, 1);
    RETURN NEXT;
END $$;
SELECT :'label' AS dataset, 'u30' AS uid, * FROM bench.time_many('u30');

-- Application roles: rbac.authorize (the subject's role in the object's
-- workspace, then the graph's permission; a denial writes an audit entry)
-- against rbac.check on the same page queries, interleaved, read cache off.
-- Every user of the mix is a viewer in its own workspace: the allowed
-- queries pass the role and reach the graph; the other-workspace users are
-- denied by the role (and audited).
INSERT INTO rbac.role_assignments (subject, workspace_id, role)
SELECT DISTINCT subject, 'w' || (substr(subject, 7)::int % 10), 'viewer' FROM bench.queries WHERE kind = 'page'
ON CONFLICT DO NOTHING;
CREATE FUNCTION bench.time_authorize(rounds int)
RETURNS TABLE (fn text, calls bigint, allowed bigint, p50_us numeric, p95_us numeric, mean_us numeric)
LANGUAGE plpgsql AS $$
DECLARE q record; t0 timestamptz; a boolean; c boolean;
        ta float8[] := '{}'; tc float8[] := '{}'; aa boolean[] := '{}'; ac boolean[] := '{}';
BEGIN
    PERFORM set_config('notion_rbac.cache_rows', '0', true);
    PERFORM set_config('notion_rbac.audit_server_log', 'off', true);
    FOR i IN 1..rounds LOOP
        FOR q IN SELECT * FROM bench.queries WHERE kind = 'page' ORDER BY qid LOOP
            t0 := clock_timestamp();
            c := rbac.check(q.subject, q.action, q.object);
            IF i > 1 THEN tc := tc || extract(epoch FROM clock_timestamp() - t0) * 1e6; ac := ac || c; END IF;
            t0 := clock_timestamp();
            a := rbac.authorize(q.subject, q.action, q.object);
            IF i > 1 THEN ta := ta || extract(epoch FROM clock_timestamp() - t0) * 1e6; aa := aa || a; END IF;
        END LOOP;
    END LOOP;
    RETURN QUERY
    SELECT x.fn, count(*), count(*) FILTER (WHERE x.ok),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.us)::numeric, 1),
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x.us)::numeric, 1),
           round(avg(x.us)::numeric, 1)
      FROM (SELECT 'rbac.check' AS fn, u.us, u.ok FROM unnest(tc, ac) AS u(us, ok)
            UNION ALL SELECT 'rbac.authorize', u.us, u.ok FROM unnest(ta, aa) AS u(us, ok)) x
     GROUP BY x.fn ORDER BY x.fn DESC;
END $$;
SELECT :'label' AS dataset, * FROM bench.time_authorize(3);
