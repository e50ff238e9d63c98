-- The read cache survives commits that wrote none of the extension's
-- tables (the writes a snapshot sees are its key), stays exact when they
-- do — through every write path — and falls back to keying by the whole
-- snapshot when a recording trigger is disabled.
CREATE TABLE regress_unrelated (x int);
SELECT rbac.write_tuples(ARRAY['doc:k1#owner@user:k', 'doc:k2#owner@user:k']);
SELECT rbac.check('user:k', 'owner', 'doc:k1') AS warm;
SELECT hits AS h0, invalidations AS i0, kept_across_writes AS k0 FROM rbac.cache_stats() \gset
INSERT INTO regress_unrelated VALUES (1);
INSERT INTO regress_unrelated VALUES (2);
SELECT rbac.check('user:k', 'owner', 'doc:k1') AS after_unrelated_commits;
SELECT rbac.check('user:j', 'owner', 'doc:k1') AS other_subject_after_unrelated_commits;
SELECT invalidations - :i0 AS invalidations, hits > :h0 AS answered_from_cache FROM rbac.cache_stats();
-- rbac.cache_basis() says so, with the registry of writers.
SELECT basis, reason, writers_held >= 0 AS registry, generation >= 0 AS generation, writers_left >= 0 AS writers_left
  FROM rbac.cache_basis();

-- A write to the tuples: the next check reads what it touched afresh and
-- sees it; the rest of the cache stays (write_footprints.sql).
SELECT rbac.delete_tuples(ARRAY['doc:k1#owner@user:k']);
SELECT rbac.check('user:k', 'owner', 'doc:k1') AS after_revocation;
SELECT invalidations - :i0 AS invalidations, kept_across_writes - :k0 AS kept_across_writes FROM rbac.cache_stats();

-- Every write path records itself: COPY, TRUNCATE, writes in a
-- subtransaction, writes with session_replication_role = replica.
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS before_copy;
COPY rbac.tuples FROM STDIN;
doc	k3	owner	user	k	
\.
SELECT rbac.check('user:k', 'owner', 'doc:k3') AS after_copy;
BEGIN;
SAVEPOINT s;
SELECT rbac.write_tuples(ARRAY['doc:k4#owner@user:k']);
RELEASE SAVEPOINT s;
COMMIT;
SELECT rbac.check('user:k', 'owner', 'doc:k4') AS after_subtransaction;
BEGIN;
SAVEPOINT s;
SELECT rbac.write_tuples(ARRAY['doc:k5#owner@user:k']);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT rbac.check('user:k', 'owner', 'doc:k5') AS rolled_back_subtransaction;
SET session_replication_role = replica;
SELECT rbac.delete_tuples(ARRAY['doc:k4#owner@user:k']);
RESET session_replication_role;
SELECT rbac.check('user:k', 'owner', 'doc:k4') AS after_replica_role_delete;
CREATE TEMP TABLE keep AS SELECT * FROM rbac.tuples;
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS before_truncate;
TRUNCATE rbac.tuples;
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS after_truncate;
INSERT INTO rbac.tuples SELECT * FROM keep;
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS restored;

-- A recording trigger disabled: writes would go unrecorded, so every
-- commit starts the cache afresh again until it is enabled.
ALTER TABLE rbac.tuples DISABLE TRIGGER tuples_note_write;
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT basis, reason FROM rbac.cache_basis();
SELECT invalidations AS i1 FROM rbac.cache_stats() \gset
INSERT INTO regress_unrelated VALUES (3);
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT invalidations - :i1 AS invalidations_while_disabled FROM rbac.cache_stats();
DELETE FROM rbac.tuples WHERE entity_id = 'k2';
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS unrecorded_delete_seen;
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_note_write;
INSERT INTO rbac.tuples VALUES ('doc', 'k2', 'owner', 'user', 'k', '');
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS enabled_again;
SELECT basis, reason FROM rbac.cache_basis();
SELECT invalidations AS i2 FROM rbac.cache_stats() \gset
INSERT INTO regress_unrelated VALUES (4);
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT invalidations - :i2 AS invalidations_when_enabled FROM rbac.cache_stats();

-- A recording table below a parent: writes through the parent fire none
-- of its statement triggers, so keys use the whole snapshot while it is
-- one (an inheritance child here; a partition alike). So does a recording
-- trigger redefined with other events (its name alone is not enough).
BEGIN;
CREATE TABLE regress_tuples_parent (entity_type text COLLATE "C", entity_id text COLLATE "C", relation text COLLATE "C",
    subject_type text COLLATE "C", subject_id text COLLATE "C", subject_relation text COLLATE "C");
ALTER TABLE rbac.tuples INHERIT regress_tuples_parent;
SELECT basis FROM rbac.cache_basis() AS child;
ROLLBACK;
BEGIN;
CREATE OR REPLACE TRIGGER tuples_note_write BEFORE INSERT ON rbac.tuples
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_note_write;
SELECT basis FROM rbac.cache_basis() AS insert_only;
ROLLBACK;
SELECT basis FROM rbac.cache_basis() AS restored;

-- Off (superusers only): keyed by the whole snapshot.
SET notion_rbac.cache_across_commits = off;
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT basis, reason FROM rbac.cache_basis();
SELECT invalidations AS i3 FROM rbac.cache_stats() \gset
INSERT INTO regress_unrelated VALUES (5);
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT invalidations - :i3 AS invalidations_when_off FROM rbac.cache_stats();
RESET notion_rbac.cache_across_commits;
CREATE ROLE regress_cache_user NOLOGIN;
SET ROLE regress_cache_user;
SELECT try($$SET notion_rbac.cache_across_commits = off$$);
RESET ROLE;
DROP ROLE regress_cache_user;
-- A statement on a recording table's triggers by a role that may not
-- change them (neither its owner nor holding TRIGGER) changes nothing and
-- is no writer: a no-op DROP TRIGGER IF EXISTS, a refused ALTER TABLE.
CREATE ROLE regress_cache_reader NOLOGIN IN ROLE rbac_reader;
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT invalidations AS i4 FROM rbac.cache_stats() \gset
SET ROLE regress_cache_reader;
DROP TRIGGER IF EXISTS regress_nope ON rbac.tuples;
SELECT try($$ALTER TABLE rbac.tuples DISABLE TRIGGER ALL$$);
RESET ROLE;
SELECT rbac.check('user:k', 'owner', 'doc:k2');
SELECT invalidations - :i4 AS invalidations_after_refused_ddl FROM rbac.cache_stats();
DROP ROLE regress_cache_reader;

-- A call answered from the cache still makes the privilege checks a read
-- would, once per transaction — and again after a privilege change on
-- the tables within it: the change invalidates their relcache entries,
-- which moves the epoch in the cache's key (the transaction writes no
-- tuple, so nothing else would).
CREATE ROLE regress_cache_reader NOLOGIN IN ROLE rbac_reader;
BEGIN;
SET LOCAL ROLE regress_cache_reader;
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS before_revoke;
SELECT rbac.check('user:k', 'owner', 'doc:k2') AS from_the_cache;
RESET ROLE;
REVOKE SELECT ON rbac.tuples FROM rbac_reader;
SET LOCAL ROLE regress_cache_reader;
SELECT try($$SELECT rbac.check('user:k', 'owner', 'doc:k2')$$) AS after_revoke;
ROLLBACK;
DROP ROLE regress_cache_reader;

DELETE FROM rbac.tuples WHERE entity_id IN ('k2', 'k3');
DROP TABLE regress_unrelated;
