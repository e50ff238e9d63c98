-- notion_rbac 0.18.0 -> 0.19.0
--
-- Faster reverse reads: rbac.tuples_by_subject_key, keyed by an 8-byte
-- hash of subject_type:subject_id and then by entity type and relation,
-- serves the reads of one subject that cannot read on along
-- tuples_by_subject — a lookup's sparse heights (the pages under one
-- shared page), a subject read whole for one entity type during a check
-- (store/source.rs). Building the index reads rbac.tuples once and blocks
-- writes to it meanwhile (about a second per million tuples). Until this
-- script has run, a 0.19.0 library reads through tuples_by_subject as
-- 0.18.0 did.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.19.0'" to load this file. \quit

CREATE INDEX tuples_by_subject_key ON rbac.tuples
    (pg_catalog.hashtextextended(subject_type OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) subject_id, 0),
     entity_type, relation)
    INCLUDE (subject_relation, entity_id, subject_type, subject_id);
