-- notion_rbac 0.8.0 -> 0.9.0
--
-- A faster cold check: small entities are read whole through a new index
-- keyed by an 8-byte hash of entity_type:entity_id (store/index_scan.rs,
-- store/source.rs). Building it reads rbac.tuples once and blocks writes
-- to it meanwhile (about a second per million tuples). Until this script
-- has run, a 0.9.0 library reads through the primary key as before.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.9.0'" to load this file. \quit

CREATE INDEX tuples_by_entity_key ON rbac.tuples
    (pg_catalog.hashtextextended(entity_type OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) entity_id, 0))
    INCLUDE (entity_type, entity_id, relation, subject_type, subject_id, subject_relation);
