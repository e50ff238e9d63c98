-- Small entities are read whole through rbac.tuples_by_entity_key, an
-- index keyed by an 8-byte hash of entity_type:entity_id (no text
-- comparisons on the way down). Rows of other entities that share the
-- hash are skipped; without the index (a 0.9.0 library before ALTER
-- EXTENSION UPDATE) reads go through the primary key; an index recreated
-- with another key is refused rather than trusted.
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
}
$$) > 0 AS model;
SELECT rbac.write_tuples(ARRAY['doc:d1#reader@group:g#member', 'group:g#member@user:ann',
                               'doc:d2#parent@doc:d1', 'doc:d3#parent@doc:d2', 'doc:d3#owner@user:bob',
                               'doc:d3x#owner@user:cat', 'doc:d#owner@user:dan']) AS written;
SELECT pg_get_indexdef('rbac.tuples_by_entity_key'::regclass) AS definition;
-- Every read goes to the tables.
SET notion_rbac.cache_rows = 0;
CREATE TEMP TABLE asked AS
SELECT s AS subject, d AS object FROM unnest(ARRAY['user:ann', 'user:bob', 'user:cat', 'user:dan']) s,
       unnest(ARRAY['doc:d', 'doc:d1', 'doc:d2', 'doc:d3', 'doc:d3x']) d;
CREATE FUNCTION regress_answers() RETURNS TABLE (subject text, readable text)
LANGUAGE sql AS $$
    SELECT subject, string_agg(object, ' ' ORDER BY object) FILTER (WHERE rbac.check(subject, 'read', object))
      FROM asked GROUP BY subject ORDER BY subject
$$;
CREATE VIEW regress_scans AS
SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'rbac' AND indexrelname = 'tuples_by_entity_key';
-- (Statistics reach the view when a statement ends after this.)
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan AS s0 FROM regress_scans \gset
-- The same answers as the model says; the checks read through the index
-- (doc:d3 and doc:d3x, doc:d and doc:d1 share prefixes but not keys).
SELECT * FROM regress_answers();
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan - :s0 > 0 AS read_through_the_index FROM regress_scans;

-- Without the index, the same answers through the primary key.
BEGIN;
ALTER INDEX rbac.tuples_by_entity_key RENAME TO tuples_by_entity_key_gone;
SELECT * FROM regress_answers();
ROLLBACK;

-- Large entities (more than 16 tuples) are not read whole: a probe for one
-- tuple (a subject with many tuples of its own, not read whole either) and
-- a read of a relation's subject sets descend through the hash and the
-- index's further key columns (0.18.0 on). group:big has 40 plain members,
-- heavy among them, and one subject set (group:g#member, with ann).
SELECT rbac.write_tuples(array_agg(format('group:big#member@user:m%s', i))) AS members
  FROM generate_series(1, 39) i;
SELECT rbac.write_tuples(array_agg(format('group:h%s#member@user:heavy', i))) AS heavy_elsewhere
  FROM generate_series(1, 20) i;
SELECT rbac.write_tuples(ARRAY['group:big#member@user:heavy', 'group:big#member@group:g#member',
                               'doc:d5#reader@group:big#member', 'group:h1#member@user:light']) AS written;
CREATE FUNCTION regress_large() RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(s, ' ' ORDER BY s) FILTER (WHERE rbac.check('user:' || s, 'read', 'doc:d5'))
      FROM unnest(ARRAY['ann', 'heavy', 'light', 'm7', 'zed']) s
$$;
SELECT regress_large() AS large_entity_readers;
-- The index as 0.17.0 defined it (keyed by the hash alone), with the
-- partial index of subject sets it had: what a 0.18.0 library meets
-- before ALTER EXTENSION UPDATE. The same answers.
BEGIN;
DROP INDEX rbac.tuples_by_entity_key;
CREATE INDEX tuples_by_entity_key ON rbac.tuples
    (hashtextextended(entity_type || ':' || entity_id, 0))
    INCLUDE (entity_type, entity_id, relation, subject_type, subject_id, subject_relation);
CREATE INDEX tuples_subject_sets ON rbac.tuples (entity_type, entity_id, relation) WHERE subject_relation <> '';
SELECT regress_large() AS large_entity_readers_0_17;
SELECT * FROM regress_answers();
ROLLBACK;

-- An index that is not valid (a concurrent build under way or failed, a
-- concurrent drop) may lack rows: it is not read. Here it is marked not
-- ready, so the row written next never reaches it.
BEGIN;
UPDATE pg_index SET indisready = false, indisvalid = false WHERE indexrelid = 'rbac.tuples_by_entity_key'::regclass;
SELECT rbac.write_tuples(ARRAY['doc:d9#owner@user:eve']) AS written_past_the_index;
SELECT rbac.check('user:eve', 'read', 'doc:d9') AS eve_reads_d9;
SELECT * FROM regress_answers();
-- (Large entities through the primary key alone: 0.18.0 has no partial
-- index of subject sets.)
SELECT regress_large() AS large_entity_readers_not_valid;
ROLLBACK;

-- An index recreated with another key is refused, not trusted: reads
-- keyed by one hash through an index of another would miss rows.
BEGIN;
DROP INDEX rbac.tuples_by_entity_key;
CREATE INDEX tuples_by_entity_key ON rbac.tuples (hashtextextended(entity_id, 0))
    INCLUDE (entity_type, entity_id, relation, subject_type, subject_id, subject_relation);
SELECT rbac.check('user:bob', 'read', 'doc:d3');
ROLLBACK;
BEGIN;
DROP INDEX rbac.tuples_by_entity_key;
CREATE INDEX tuples_by_entity_key ON rbac.tuples (hashtextextended(entity_type || '/' || entity_id, 0))
    INCLUDE (entity_type, entity_id, relation, subject_type, subject_id, subject_relation);
SELECT rbac.check('user:bob', 'read', 'doc:d3');
ROLLBACK;
-- After the rollbacks, the extension's own index again.
SELECT * FROM regress_answers();
RESET notion_rbac.cache_rows;
DROP VIEW regress_scans;
DROP FUNCTION regress_answers();
DROP FUNCTION regress_large();
