-- The visible-set index condition (see protect_plans) is lossy: the
-- policy's per-row call stays a filter on the rows the index returns. One
-- reason: a text id column under a nondeterministic collation equates
-- texts that are different ids ('D1' = 'd1' ignoring case), and a row
-- whose id only equals a visible id under the collation must stay hidden.
-- Only builds with ICU have such collations; without ICU (the PostgreSQL
-- 18 build here) see protect_collation_1.out.
SELECT EXISTS (SELECT FROM pg_collation WHERE collname = 'und-x-icu') AS icu \gset
\if :icu
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity doc {
    relation reader @user
    permission read = reader
    permission write = reader
    permission delete = reader
    permission create = reader
}
$$) > 0 AS model;
CREATE COLLATION regress_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE ROLE regress_ci_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_ci_docs (id text COLLATE regress_ci PRIMARY KEY, n int);
INSERT INTO regress_ci_docs VALUES ('D1', 1), ('d2', 2), ('d3', 3);
INSERT INTO regress_ci_docs SELECT 'x' || i, i FROM generate_series(4, 20000) i;
VACUUM ANALYZE regress_ci_docs;
GRANT SELECT ON regress_ci_docs TO regress_ci_web;
SELECT rbac.protect('regress_ci_docs', 'doc', 'id');
-- eve reads doc:d1, doc:d2 and doc:D3: of the rows, only d2 is one of
-- them ('D1' and 'd3' equal a visible id only ignoring case).
SELECT rbac.write_tuples(ARRAY['doc:d1#reader@user:eve', 'doc:d2#reader@user:eve', 'doc:D3#reader@user:eve']);
SET ROLE regress_ci_web;
SELECT rbac.set_subject('user:eve', 'session');
SELECT count(*) AS eve_count FROM regress_ci_docs;
EXPLAIN (COSTS OFF) SELECT id FROM regress_ci_docs WHERE n < 100;
SELECT array_agg(id ORDER BY n) AS eve_ids FROM regress_ci_docs WHERE n < 100;
SELECT array_agg(id ORDER BY n) AS eve_ids_by_key FROM regress_ci_docs WHERE id IN ('d1', 'D2', 'd3');
RESET ROLE;
SELECT rbac.unprotect('regress_ci_docs');
DROP TABLE regress_ci_docs;
DROP COLLATION regress_ci;
DROP ROLE regress_ci_web;
\else
\echo 'no ICU in this build: no nondeterministic collation can exist'
\endif
