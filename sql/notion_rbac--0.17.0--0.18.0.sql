-- notion_rbac 0.17.0 -> 0.18.0
--
-- A faster cold check: rbac.tuples_by_entity_key, keyed by an 8-byte hash
-- of entity_type:entity_id, is keyed on by relation, subject relation,
-- subject type and id, so that the reads which went through text-keyed
-- descents — point probes for one tuple (the primary key) and the subject
-- sets of a large entity (tuples_subject_sets) — descend through the hash
-- as well (store/source.rs). tuples_subject_sets is no longer read and is
-- dropped. Rebuilding the index reads rbac.tuples once and blocks writes
-- to it meanwhile (about a second per million tuples). Until this script
-- has run, a 0.18.0 library reads small entities through the old index
-- and the rest as before.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.18.0'" to load this file. \quit

DROP INDEX rbac.tuples_by_entity_key;
CREATE INDEX tuples_by_entity_key ON rbac.tuples
    (pg_catalog.hashtextextended(entity_type OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) entity_id, 0),
     relation, subject_relation, subject_type, subject_id)
    INCLUDE (entity_type, entity_id);
DROP INDEX rbac.tuples_subject_sets;
