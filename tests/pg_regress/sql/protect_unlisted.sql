-- A rule that holds on missing attributes grants entities no lookup can
-- list (lookups find entities through stored data, as Permify's). Under
-- rbac.protect such a permission is checked row by row in every plan — a
-- count, a point query, an index condition — so the rows are exactly those
-- rbac.check grants; its ids cannot be listed (0A000). Also: the subject
-- cannot be read in a parallel worker.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity note {
    relation owner @user
    attribute level integer
    permission read = low(level) or owner
    permission write = owner
    permission delete = owner
}
rule low(level integer) {
    level < 5
}
$$) > 0 AS model;

CREATE ROLE regress_unlisted_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_notes (id bigint PRIMARY KEY, body text NOT NULL);
INSERT INTO regress_notes SELECT i, 'n' || i FROM generate_series(1, 2000) i;
ANALYZE regress_notes;
GRANT SELECT ON regress_notes TO regress_unlisted_web;
SELECT rbac.protect('regress_notes', 'note', 'id');
-- Notes 1..20 have level 9 (not low), 21..40 level 1; the rest none (0:
-- low, so readable by everyone).
SELECT rbac.write_attributes(array_agg('note:' || i || '$level|integer:9')) FROM generate_series(1, 20) i;
SELECT rbac.write_attributes(array_agg('note:' || i || '$level|integer:1')) FROM generate_series(21, 40) i;
SELECT count(*) AS granted_by_check FROM generate_series(1, 2000) i WHERE rbac.check('user:zed', 'read', 'note:' || i);
SELECT count(*) AS listed_by_lookup FROM rbac.lookup_resources('user:zed', 'read', 'note');

SET ROLE regress_unlisted_web;
BEGIN;
SELECT rbac.set_subject('user:zed');
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS point_query FROM regress_notes WHERE id = 500;
SELECT count(*) AS all_rows FROM regress_notes;
SELECT count(*) AS point_query_again FROM regress_notes WHERE id = 500;
SELECT count(*) AS filtered FROM regress_notes WHERE body LIKE 'n5%';
SELECT array_agg(id ORDER BY id) AS around_the_stored_levels FROM regress_notes WHERE id BETWEEN 18 AND 23;
-- Every row was checked; no lookup was made or reused.
SELECT row_checks - :c0 > 2000 AS checked_every_row, lookups - :l0 AS lookups FROM rbac.permitted_stats();
-- The planner is never offered the visible set as an index condition.
EXPLAIN (COSTS OFF) SELECT id FROM regress_notes WHERE body LIKE 'n5%';
SELECT try($$SELECT rbac.permitted_ids_bigint('read', 'note')$$) AS ids_refused;
COMMIT;
RESET ROLE;

-- The same permission without the rule's zero case is listed: the
-- lookup serves it again.
SELECT rbac.write_schema($$
entity user {}
entity note {
    relation owner @user
    attribute level integer
    permission read = high(level) or owner
    permission write = owner
    permission delete = owner
}
rule high(level integer) {
    level > 5
}
$$) > 0 AS model_again;
SET ROLE regress_unlisted_web;
BEGIN;
SELECT rbac.set_subject('user:zed');
SELECT count(*) AS all_rows FROM regress_notes;
SELECT count(*) AS same_as_lookup FROM rbac.lookup_resources('user:zed', 'read', 'note');
SELECT cardinality(rbac.permitted_ids_bigint('read', 'note')) AS ids_listed;
COMMIT;

-- The subject is backend memory that parallel workers do not get: a
-- function marked PARALLEL SAFE that reads the table is refused in one,
-- not answered for no one (or for the login role's mapping).
BEGIN;
SELECT rbac.set_subject('user:zed');
CREATE FUNCTION pg_temp.visible_notes() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
    AS 'SELECT count(*) FROM public.regress_notes';
SELECT pg_temp.visible_notes() AS in_the_leader;
-- (debug_parallel_query from PostgreSQL 16 on, force_parallel_mode before.)
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true) AS parallel;
SELECT try($$SELECT pg_temp.visible_notes()$$) AS in_a_worker;
DROP FUNCTION pg_temp.visible_notes();
COMMIT;
RESET ROLE;

SELECT rbac.unprotect('regress_notes');
DROP TABLE regress_notes;
DROP ROLE regress_unlisted_web;
DELETE FROM rbac.attributes;
