-- Committed writes to the tuples and attributes record their footprint
-- (the entities and subjects their rows touched): a backend's read cache
-- then drops only what they touched and keeps every other read, instead
-- of starting afresh. Answers stay exact through every write path; what
-- has no footprint (TRUNCATE, schema changes, large statements, a
-- statement whose AFTER trigger did not run) still starts the cache afresh.
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
    attribute public boolean
    permission read = reader or owner or parent.read or is_public(public)
}
rule is_public(public boolean) {
    public == true
}
$$) > 0 AS model;
-- f1 <- f2 <- f3, f1 read by a group; an unrelated doc z.
SELECT rbac.write_tuples(ARRAY['doc:f1#reader@group:g#member', 'group:g#member@user:ann',
                               'doc:f2#parent@doc:f1', 'doc:f3#parent@doc:f2', 'doc:z#owner@user:zed']) AS written;
CREATE FUNCTION regress_stats() RETURNS TABLE (invalidations bigint, kept bigint, misses bigint, hits bigint, answers bigint)
LANGUAGE sql AS $$ SELECT invalidations, kept_across_writes, misses, hits, kept_check_answers FROM rbac.cache_stats() $$;

-- Warm: every read of these checks is cached.
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann, rbac.check('user:bob', 'read', 'doc:f3') AS bob;
SELECT invalidations AS i0, kept AS k0, misses AS m0, hits AS h0, answers AS a0 FROM regress_stats() \gset

-- A committed write elsewhere (doc:z): the cache keeps every read, and the
-- check results, which rest on none of what it touched: the checks are
-- answered from them, without a read of the tables or the cache.
SELECT rbac.write_tuples(ARRAY['doc:z#reader@user:yan']) AS elsewhere;
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann, rbac.check('user:bob', 'read', 'doc:f3') AS bob;
SELECT invalidations - :i0 AS invalidations, kept - :k0 AS kept_across_writes, misses - :m0 AS reads,
       hits - :h0 AS cache_reads, answers - :a0 AS answered_from_kept_results
  FROM regress_stats();
-- A write to something zed's check rests on drops its results (and only
-- its: ann's and bob's stay).
SELECT rbac.check('user:zed', 'read', 'doc:z') AS zed;
SELECT answers AS a1 FROM regress_stats() \gset
SELECT rbac.delete_tuples(ARRAY['doc:z#owner@user:zed']) AS revoked;
SELECT rbac.check('user:zed', 'read', 'doc:z') AS zed_after_revocation,
       rbac.check('user:ann', 'read', 'doc:f3') AS ann, rbac.check('user:bob', 'read', 'doc:f3') AS bob;
SELECT answers - :a1 AS answered_from_kept_results FROM regress_stats();

-- A grant on the chain: the touched entity is read again, the rest is not.
SELECT misses AS m2 FROM regress_stats() \gset
SELECT rbac.write_tuples(ARRAY['doc:f2#reader@user:bob']) AS granted;
SELECT rbac.check('user:bob', 'read', 'doc:f3') AS bob_after_grant;
SELECT invalidations - :i0 AS invalidations, kept - :k0 AS kept_across_writes, misses - :m2 AS reads
  FROM regress_stats();
-- Its revocation by DELETE.
DELETE FROM rbac.tuples WHERE entity_id = 'f2' AND relation = 'reader';
SELECT rbac.check('user:bob', 'read', 'doc:f3') AS bob_after_revocation;

-- A group membership (the subject side): ann leaves the group, cal joins
-- it, in one UPDATE — both the old and the new row count.
SELECT rbac.check('user:cal', 'read', 'doc:f3') AS cal_before;
UPDATE rbac.tuples SET subject_id = 'cal' WHERE entity_type = 'group' AND entity_id = 'g' AND subject_id = 'ann';
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann_after_update, rbac.check('user:cal', 'read', 'doc:f3') AS cal_after_update;
-- Reverse reads (lookups) too.
SELECT array_agg(r ORDER BY r) AS cal_reads FROM rbac.lookup_resources('user:cal', 'read', 'doc') r;
UPDATE rbac.tuples SET subject_id = 'ann' WHERE entity_type = 'group' AND entity_id = 'g' AND subject_id = 'cal';
SELECT array_agg(r ORDER BY r) AS cal_reads FROM rbac.lookup_resources('user:cal', 'read', 'doc') r;
SELECT array_agg(r ORDER BY r) AS ann_reads FROM rbac.lookup_resources('user:ann', 'read', 'doc') r;
-- A lookup's kept answer rests on what it read: a write elsewhere keeps it,
-- one on its path drops it.
-- (read is looked up through the attribute rule too, a read of every doc
-- with the attribute, which rests on every write: reader is not.)
SELECT array_agg(r ORDER BY r) AS ann_readers FROM rbac.lookup_resources('user:ann', 'reader', 'doc') r;
SELECT kept_lookup_hits AS l0 FROM rbac.cache_stats() \gset
SELECT rbac.write_tuples(ARRAY['doc:z#reader@user:lee']) AS elsewhere;
SELECT array_agg(r ORDER BY r) AS ann_readers FROM rbac.lookup_resources('user:ann', 'reader', 'doc') r;
SELECT array_agg(r ORDER BY r) AS ann_reads FROM rbac.lookup_resources('user:ann', 'read', 'doc') r;
SELECT kept_lookup_hits - :l0 AS kept_answers_used FROM rbac.cache_stats();
SELECT rbac.delete_tuples(ARRAY['doc:f1#reader@group:g#member']) AS revoked;
SELECT array_agg(r ORDER BY r) AS ann_readers_after_revocation FROM rbac.lookup_resources('user:ann', 'reader', 'doc') r;
SELECT kept_lookup_hits - :l0 AS kept_answers_used FROM rbac.cache_stats();
SELECT rbac.write_tuples(ARRAY['doc:f1#reader@group:g#member']) AS restored;

-- COPY, and a write in a subtransaction released and one rolled back.
SELECT rbac.check('user:dee', 'read', 'doc:f3') AS dee_before;
COPY rbac.tuples FROM STDIN;
doc	f3	owner	user	dee	
\.
SELECT rbac.check('user:dee', 'read', 'doc:f3') AS dee_after_copy;
BEGIN;
SAVEPOINT s;
SELECT rbac.write_tuples(ARRAY['doc:f1#owner@user:eve']);
RELEASE SAVEPOINT s;
SAVEPOINT t;
SELECT rbac.write_tuples(ARRAY['doc:f1#owner@user:fay']);
ROLLBACK TO SAVEPOINT t;
COMMIT;
SELECT rbac.check('user:eve', 'read', 'doc:f3') AS eve_released, rbac.check('user:fay', 'read', 'doc:f3') AS fay_rolled_back;

-- MERGE: a revocation and a grant in one statement.
SELECT rbac.check('user:eve', 'read', 'doc:f3') AS eve_before_merge, rbac.check('user:jo', 'read', 'doc:f3') AS jo_before_merge;
MERGE INTO rbac.tuples t
USING (VALUES ('doc', 'f1', 'owner', 'user', 'eve', ''), ('doc', 'f2', 'owner', 'user', 'jo', ''))
      AS v(entity_type, entity_id, relation, subject_type, subject_id, subject_relation)
   ON (t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation)
    = (v.entity_type, v.entity_id, v.relation, v.subject_type, v.subject_id, v.subject_relation)
 WHEN MATCHED THEN DELETE
 WHEN NOT MATCHED THEN INSERT VALUES (v.entity_type, v.entity_id, v.relation, v.subject_type, v.subject_id, v.subject_relation);
SELECT rbac.check('user:eve', 'read', 'doc:f3') AS eve_after_merge, rbac.check('user:jo', 'read', 'doc:f3') AS jo_after_merge;

-- Attributes: a write to one entity's attribute is its footprint.
SELECT rbac.check('user:gus', 'read', 'doc:f3') AS gus_before;
SELECT rbac.write_attributes(ARRAY['doc:f1$public|boolean:true']) AS made_public;
SELECT rbac.check('user:gus', 'read', 'doc:f3') AS gus_public;
UPDATE rbac.attributes SET value = 'false' WHERE entity_id = 'f1';
SELECT rbac.check('user:gus', 'read', 'doc:f3') AS gus_private;
SELECT invalidations - :i0 AS invalidations FROM regress_stats();

-- Without a footprint the cache starts afresh, and answers stay exact:
-- a statement of more than 16 rows,
SELECT invalidations AS i1 FROM regress_stats() \gset
SELECT rbac.write_tuples(array_agg(format('doc:m%s#owner@user:hal', i))) AS many FROM generate_series(1, 17) i;
SELECT rbac.check('user:hal', 'read', 'doc:m17') AS hal;
SELECT invalidations - :i1 AS invalidations FROM regress_stats();
-- 16 rows still have one.
SELECT rbac.write_tuples(array_agg(format('doc:n%s#owner@user:hal', i))) AS sixteen FROM generate_series(1, 16) i;
SELECT rbac.check('user:hal', 'read', 'doc:n16') AS hal;
SELECT invalidations - :i1 AS invalidations FROM regress_stats();
-- a statement whose AFTER trigger is disabled (it stays open),
ALTER TABLE rbac.tuples DISABLE TRIGGER tuples_noted_delete;
DELETE FROM rbac.tuples WHERE entity_id = 'f3' AND subject_id = 'dee';
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_noted_delete;
SELECT rbac.check('user:dee', 'read', 'doc:f3') AS dee_unrecorded_rows;
SELECT invalidations - :i1 AS invalidations FROM regress_stats();
-- and writes with session_replication_role = replica (the row triggers
-- of replication apply record no rows).
SELECT invalidations AS i2 FROM regress_stats() \gset
SET session_replication_role = replica;
SELECT rbac.write_tuples(ARRAY['doc:f3#owner@user:ida']) AS replica_role;
RESET session_replication_role;
SELECT rbac.check('user:ida', 'read', 'doc:f3') AS ida;
SELECT invalidations - :i2 AS invalidations FROM regress_stats();
-- TRUNCATE.
CREATE TEMP TABLE keep AS SELECT * FROM rbac.tuples;
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann_before_truncate;
TRUNCATE rbac.tuples;
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann_after_truncate;
SELECT invalidations - :i2 AS invalidations FROM regress_stats();
INSERT INTO rbac.tuples SELECT * FROM keep;

-- Rows beyond any footprint (more than 16 in a statement) start the reads
-- afresh but keep the compiled schema: the next check does not read
-- rbac.schemas. A schema write does start it afresh, and the new model
-- answers at once.
CREATE VIEW regress_schema_reads AS
SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'rbac' AND indexrelname = 'schemas_pkey';
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann;
SELECT rbac.write_tuples(array_agg(format('doc:q%s#owner@user:hal', i))) AS many FROM generate_series(1, 17) i;
SELECT invalidations AS i3 FROM regress_stats() \gset
-- (Statistics reach the view when a statement ends after this.)
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan AS s0 FROM regress_schema_reads \gset
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann_after_many, rbac.check('user:hal', 'read', 'doc:q17') AS hal;
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan - :s0 AS schema_reads, (SELECT invalidations - :i3 FROM regress_stats()) AS invalidations
  FROM regress_schema_reads;
SELECT rbac.write_schema(replace(rbac.schema(), 'read = reader or owner or parent.read or is_public(public)',
                                 'read = owner')) > 0 AS owners_only;
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan AS s1 FROM regress_schema_reads \gset
SELECT rbac.check('user:ann', 'read', 'doc:f3') AS ann_under_new_model, rbac.check('user:hal', 'read', 'doc:q17') AS hal;
SELECT pg_stat_force_next_flush() \gset
SELECT idx_scan - :s1 > 0 AS schema_read_again FROM regress_schema_reads;
DROP VIEW regress_schema_reads;

-- The footprint functions are the triggers' own.
CREATE ROLE regress_footprint_user NOLOGIN IN ROLE rbac_reader;
SET ROLE regress_footprint_user;
SELECT try($$SELECT rbac._note_rows(ARRAY['doc:f1'], true)$$);
SELECT try($$SELECT rbac._note_write_begin()$$);
RESET ROLE;
DROP ROLE regress_footprint_user;

DROP FUNCTION regress_stats();
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
