-- Consistency tokens on the primary: rbac.consistency_token() after a
-- commit; "at_least" in the context of checks, lookups and explanations.
-- (The standby layer proves the wait on a lagging replica.)
SELECT rbac.write_tuples(ARRAY['doc:c1#owner@user:t1']);
SELECT rbac.consistency_token() AS tok \gset
SELECT :'tok' ~ '^[0-9A-F]+/[0-9A-F]+;[0-9]+:[0-9]+:[0-9,]*;[0-9]+$' AS token_shape,
       split_part(:'tok', ';', 3)::numeric = (SELECT system_identifier FROM pg_control_system()) AS names_this_cluster;
-- A later statement's snapshot covers the token: an ordinary read.
SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', :'tok')) AS check_with_token;
SELECT rbac.lookup_resources('user:t1', 'owner', 'doc', jsonb_build_object('at_least', :'tok')) AS lookup_with_token;
SELECT rbac.explain('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', :'tok'))->'result' AS explain_with_token;
SELECT allowed FROM rbac.check_many('user:t1', 'owner', ARRAY['doc:c1', 'doc:c2'], jsonb_build_object('at_least', :'tok'));
-- A token made by another cluster (another system identifier) is refused:
-- its positions and transaction ids mean nothing here. One made before
-- 0.21.0, which names no cluster, is taken as it is.
SELECT split_part(try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$,
                             split_part(:'tok', ';', 1) || ';' || split_part(:'tok', ';', 2) || ';1')), E'\n', 1) AS other_cluster;
SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', split_part(:'tok', ';', 1) || ';' || split_part(:'tok', ';', 2))) AS older_token;
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": "0/0;1:2:;"}')$$) AS empty_cluster;
-- A NULL token asks for nothing.
SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": null}') AS null_token;

-- Right after a WAL segment switch the insert position is past the new
-- segment's header, which a standby's replay never reaches until another
-- record comes: a token names the end of the last record instead.
SELECT pg_switch_wal() IS NOT NULL AS switched,
       pg_current_wal_insert_lsn() - split_part(rbac.consistency_token(), ';', 1)::pg_lsn AS header_left_out;
-- Taking a token asks the WAL writer to flush up to it, but never past the
-- pages that exist: right after a switch, up to the end of the closed
-- segment (whose padding pages are not initialised) made the WAL writer
-- PANIC, taking the server down, once it woke (wal_writer_delay) before any
-- other record came.
SELECT pg_switch_wal() IS NOT NULL AS switched_again;
SELECT rbac.consistency_token() IS NOT NULL AS token_after_switch;
SELECT pg_sleep(0.6) IS NOT NULL AS wal_writer_woke;
SELECT 'up' AS server;

-- Malformed tokens are refused, not misread: halves wider than 32 bits,
-- a running transaction listed twice.
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": "100000000/0;1:2:"}')$$) AS wide_lsn;
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": "0/0;100:103:101,101"}')$$) AS repeated_xid;
-- More running transactions than any snapshot has (at most 100,000).
SELECT left(try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$,
                       '0/0;1:200003:' || (SELECT string_agg(i::text, ',') FROM generate_series(2, 100002) i))), 40) AS too_many_xids;

-- Inside a transaction that has written, there is nothing committed to name.
BEGIN;
SELECT rbac.write_tuples(ARRAY['doc:c2#owner@user:t1']);
SELECT try($$SELECT rbac.consistency_token()$$);
ROLLBACK;

-- A token naming transactions this REPEATABLE READ snapshot has not seen
-- (here: five ids past its xmax, all completed for the token) cannot be
-- honoured in this transaction: 40001, retry in a new one.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1 AS snapshot_taken;
SELECT format('%s;%s:%s:', pg_current_wal_insert_lsn(), pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 5,
              pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 5) AS future \gset
SELECT split_part(try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$, :'future')), E'\n', 1) AS refused;
ROLLBACK;
-- Under READ COMMITTED the call reads in a new snapshot instead (isolation
-- consistency_fresh) — but not one that has not begun what the token names
-- as completed (here: five ids no transaction has yet): such a token is
-- from before a crash that lost asynchronous commits, or from a history
-- this server does not follow, and reading without them would not honour it.
SELECT split_part(try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$, :'future')), E'\n', 1) AS not_begun_refused;
-- The old token in REPEATABLE READ: covered, no error.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', :'tok')) AS repeatable_read_covered;
COMMIT;

-- Bad tokens.
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": "yesterday"}')$$);
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": 42}')$$);
SELECT try($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', '{"at_least": "0/1;9:5:"}')$$);
SHOW notion_rbac.consistency_timeout;
-- In a parallel plan no new snapshot can be taken: a token, or a wait for
-- one the statement's snapshot does not cover, is refused with what to do
-- (not PostgreSQL's internal error); a covered one is fine.
-- (debug_parallel_query; force_parallel_mode before PostgreSQL 16.)
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) AS parallel_plans;
SELECT try($$SELECT rbac.consistency_token()$$) AS token_in_parallel_plan;
SELECT try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$, :'future')) AS future_in_parallel_plan;
SELECT try(format($$SELECT rbac.check('user:t1', 'owner', 'doc:c1', jsonb_build_object('at_least', %L))$$, :'tok')) AS covered_in_parallel_plan;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'off', false) AS parallel_plans;
SELECT rbac.delete_tuples(ARRAY['doc:c1#owner@user:t1']);
