-- Subjects are read through rbac.tuples_by_subject_key (0.19.0), an index
-- keyed by an 8-byte hash of subject_type:subject_id and then by entity
-- type and relation: a lookup's reverse reads that cannot read on along
-- tuples_by_subject (the next subject's rows are far from the last), and
-- a subject read whole for one entity type during a check. Rows of other
-- subjects that share the hash are skipped by the reader (ids cannot be
-- chosen to collide here, so that filter is not exercised). Without the
-- index (a 0.19.0 library before ALTER EXTENSION UPDATE), or with one
-- that is not valid, reads go through tuples_by_subject; an index
-- recreated with another key is refused rather than trusted.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity doc {
    relation reader @user @group#member
    relation parent @doc
    permission read = reader or parent.read
}
$$) > 0 AS model;
-- doc:r has children a, b, c, d, e, each with three children of its own;
-- between their rows in subject order (subject doc:a, doc:a0, doc:b, …)
-- sit 30 tuples of an unreachable doc:a0, doc:b0, …: more than a walk
-- reads past, so the lookup's second height is read section by section.
-- group:big has 20 members (not read whole); ann is one of them.
SELECT rbac.write_tuples(ARRAY['doc:r#reader@group:team#member', 'group:team#member@user:ann']) AS written;
SELECT rbac.write_tuples(array_agg(format('doc:%s#parent@doc:r', c))) AS children
  FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) c;
SELECT rbac.write_tuples(array_agg(format('doc:%s%s#parent@doc:%s', c, i, c))) AS grandchildren
  FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) c, generate_series(1, 3) i;
SELECT rbac.write_tuples(array_agg(format('doc:far%s_%s#parent@doc:%s0', c, i, c))) AS between
  FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) c, generate_series(1, 30) i;
SELECT rbac.write_tuples(array_agg(format('group:big#member@user:m%s', i))) AS members
  FROM generate_series(1, 19) i;
SELECT rbac.write_tuples(ARRAY['group:big#member@user:ann', 'doc:x#reader@group:big#member']) AS written;
SELECT pg_get_indexdef('rbac.tuples_by_subject_key'::regclass) AS definition;
-- Every read goes to the tables.
SET notion_rbac.cache_rows = 0;
CREATE FUNCTION regress_answers() RETURNS TABLE (who text, reads text, checked boolean)
LANGUAGE sql AS $$
    SELECT s, string_agg(id, ' ' ORDER BY id),
           bool_and(rbac.check('user:' || s, 'read', 'doc:' || id))
      FROM unnest(ARRAY['ann', 'm7', 'zed']) s
      LEFT JOIN LATERAL rbac.lookup_resources('user:' || s, 'read', 'doc') id ON true
     GROUP BY s ORDER BY s
$$;
CREATE VIEW regress_scans AS
SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'rbac' AND indexrelname = 'tuples_by_subject_key';
-- ann reads r, its 5 children and 15 grandchildren, and x; m7 reads x;
-- every id a lookup returns checks true.
SELECT * FROM regress_answers();
-- The lookup alone reads sections through the index: at least c, d and e
-- (after two reads that could not read on, the walk stops searching in
-- subject order, and reads the next height's sections through it too).
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan AS s0 FROM regress_scans \gset
SELECT count(*) AS ann_reads FROM rbac.lookup_resources('user:ann', 'read', 'doc');
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan - :s0 >= 3 AS sections_through_the_index FROM regress_scans;
-- A check reads ann whole for groups (a probe into group:big, too large to
-- read whole, names her): through the index.
SELECT idx_scan AS s1 FROM regress_scans \gset
SELECT rbac.check('user:ann', 'read', 'doc:x') AS ann_reads_x;
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan - :s1 > 0 AS subject_read_through_the_index FROM regress_scans;

-- Without the index, the same answers through tuples_by_subject.
BEGIN;
ALTER INDEX rbac.tuples_by_subject_key RENAME TO tuples_by_subject_key_gone;
SELECT * FROM regress_answers();
ROLLBACK;

-- An index that is not valid may lack rows: it is not read. Here it is
-- marked not ready, so the rows written next never reach it: children of
-- doc:c and doc:e (sections the walk reads alone), and ann in group:late,
-- too large to read whole (her check of doc:y reads her groups whole).
BEGIN;
UPDATE pg_index SET indisready = false, indisvalid = false WHERE indexrelid = 'rbac.tuples_by_subject_key'::regclass;
SELECT rbac.write_tuples(ARRAY['doc:c9#parent@doc:c', 'doc:e9#parent@doc:e', 'group:late#member@user:ann',
                               'doc:y#reader@group:late#member']) AS written_past_the_index;
SELECT rbac.write_tuples(array_agg(format('group:late#member@user:m%s', i))) AS late_members
  FROM generate_series(1, 19) i;
SELECT * FROM regress_answers();
SELECT rbac.check('user:ann', 'read', 'doc:y') AS ann_reads_y;
ROLLBACK;

-- An index recreated with another key is refused, not trusted.
BEGIN;
DROP INDEX rbac.tuples_by_subject_key;
CREATE INDEX tuples_by_subject_key ON rbac.tuples (hashtextextended(subject_type || '/' || subject_id, 0), entity_type, relation)
    INCLUDE (subject_relation, entity_id, subject_type, subject_id);
SELECT count(*) FROM rbac.lookup_resources('user:ann', 'read', 'doc');
ROLLBACK;
BEGIN;
DROP INDEX rbac.tuples_by_subject_key;
CREATE INDEX tuples_by_subject_key ON rbac.tuples (hashtextextended(entity_type || ':' || entity_id, 0), entity_type, relation)
    INCLUDE (subject_relation, entity_id, subject_type, subject_id);
SELECT count(*) FROM rbac.lookup_resources('user:ann', 'read', 'doc');
ROLLBACK;
-- After the rollbacks, the extension's own index again.
SELECT * FROM regress_answers();
RESET notion_rbac.cache_rows;
DROP VIEW regress_scans;
DROP FUNCTION regress_answers();
