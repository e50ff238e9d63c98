-- Lookup answers kept beside the read cache: a later statement whose
-- snapshot sees the same data reuses the visible set rbac.permitted
-- computed (or the result of rbac.lookup_resources) — after unrelated
-- commits too — and never after a write to the tuples, for another
-- subject, with a context, or with notion_rbac.cache_lookup_ids = 0.
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

CREATE ROLE regress_kept_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_kept_docs (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
INSERT INTO regress_kept_docs
SELECT i, timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, 3000) i;
GRANT SELECT ON regress_kept_docs TO regress_kept_web;
CREATE TABLE regress_kept_unrelated (x int);
GRANT INSERT ON regress_kept_unrelated TO regress_kept_web;
SELECT rbac.protect('regress_kept_docs', 'doc', 'id');
-- carol reads doc 100 (through a nested group) and its 2,900 descendants;
-- dan reads docs 1..5.
SELECT rbac.write_tuples(ARRAY['group:eng#member@group:core#member', 'group:core#member@user:carol',
                               'doc:100#reader@group:eng#member']);
SELECT rbac.write_tuples(array_agg('doc:' || i || '#parent@doc:' || (100 + (i - 101) / 10))) FROM generate_series(101, 3000) i;
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:dan')) FROM generate_series(1, 5) i;

SET ROLE regress_kept_web;
SELECT rbac.set_subject('user:carol', 'session');
SELECT count(*) AS carol_count FROM regress_kept_docs;
SELECT row_checks AS c0, lookups AS l0, lookups_reused AS r0 FROM rbac.permitted_stats() \gset
-- Commits that wrote no tuple: the next statements reuse the visible set.
INSERT INTO regress_kept_unrelated VALUES (1);
SELECT count(*) AS carol_count_again FROM regress_kept_docs;
SELECT array_agg(id) AS newest_three FROM (SELECT id FROM regress_kept_docs ORDER BY updated_at DESC LIMIT 3) t;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups, lookups_reused - :r0 AS reused FROM rbac.permitted_stats();
SELECT kept_lookup_ids >= 2901 AS kept FROM rbac.cache_stats();

-- Another subject has a visible set of its own.
SELECT rbac.set_subject('user:dan', 'session');
SELECT lookups_reused AS r0 FROM rbac.permitted_stats() \gset
SELECT array_agg(id ORDER BY id) AS dan_reads FROM regress_kept_docs;
SELECT lookups_reused - :r0 AS reused FROM rbac.permitted_stats();

-- Own writes in a transaction, then rolled back: each statement reads what
-- its snapshot sees.
SELECT rbac.set_subject('user:carol', 'session');
RESET ROLE;
BEGIN;
SELECT rbac.delete_tuples(ARRAY['doc:101#parent@doc:100']);
SET LOCAL ROLE regress_kept_web;
SELECT count(*) AS carol_after_own_revocation FROM regress_kept_docs;
ROLLBACK;
SET ROLE regress_kept_web;
SELECT count(*) AS carol_after_rollback FROM regress_kept_docs;

-- A committed revocation: the kept set is not used.
RESET ROLE;
SELECT rbac.delete_tuples(ARRAY['doc:102#parent@doc:100']);
SET ROLE regress_kept_web;
SELECT lookups_reused AS r0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS carol_after_revocation,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')) AS equals_lookup
  FROM regress_kept_docs;
SELECT lookups_reused - :r0 AS reused FROM rbac.permitted_stats();

-- rbac.lookup_resources keeps its answer too (not with a context): the
-- first call below finds the one the statement above made.
SELECT kept_lookup_hits AS h0 FROM rbac.cache_stats() \gset
SELECT count(*) AS first FROM rbac.lookup_resources('user:carol', 'read', 'doc');
SELECT count(*) AS second FROM rbac.lookup_resources('user:carol', 'read', 'doc');
SELECT kept_lookup_hits - :h0 AS hits FROM rbac.cache_stats();
-- Nor under other limits: the lookup runs again, and meets them.
SELECT kept_lookup_hits AS h0 FROM rbac.cache_stats() \gset
SET notion_rbac.max_depth = 3;
SELECT try($$SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc')$$) AS under_a_lower_limit;
SELECT try($$SELECT count(*) FROM regress_kept_docs$$) AS protected_under_a_lower_limit;
RESET notion_rbac.max_depth;
SELECT kept_lookup_hits - :h0 AS hits FROM rbac.cache_stats();
SELECT kept_lookup_hits AS h0 FROM rbac.cache_stats() \gset
SELECT count(*) AS with_context FROM rbac.lookup_resources('user:carol', 'read', 'doc',
    '{"tuples": ["doc:1#reader@user:carol"]}');
SELECT count(*) AS with_context FROM rbac.lookup_resources('user:carol', 'read', 'doc',
    '{"tuples": ["doc:1#reader@user:carol"]}');
SELECT kept_lookup_hits - :h0 AS hits FROM rbac.cache_stats();

-- Off: nothing is reused. (The setting is a superuser's: set it, then act
-- as the role again.)
RESET ROLE;
SET notion_rbac.cache_lookup_ids = 0;
SET ROLE regress_kept_web;
SELECT kept_lookup_hits AS h0 FROM rbac.cache_stats() \gset
SELECT lookups_reused AS r0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS off_lookup FROM rbac.lookup_resources('user:carol', 'read', 'doc');
SELECT count(*) AS off_count FROM regress_kept_docs;
SELECT kept_lookup_hits - :h0 AS hits FROM rbac.cache_stats();
SELECT lookups_reused - :r0 AS reused FROM rbac.permitted_stats();
RESET ROLE;
RESET notion_rbac.cache_lookup_ids;

SELECT rbac.unprotect('regress_kept_docs');
DROP TABLE regress_kept_docs, regress_kept_unrelated;
DROP ROLE regress_kept_web;
