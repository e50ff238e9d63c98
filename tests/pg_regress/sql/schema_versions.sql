-- Schema versions name one model for ever: numbered by the extension,
-- authored by the real role, and a compiled model is never one that did
-- not commit (issue: a version rolled back and written again with another
-- source kept answering from the first one).
CREATE ROLE regress_versions_admin NOLOGIN IN ROLE rbac_admin;
SET ROLE regress_versions_admin;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user permission view = viewer }') > 0 AS written;
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a']) AS added;
-- Explicit versions and forged authors or times are refused (428C9).
SELECT try($$INSERT INTO rbac.schemas (version, source) OVERRIDING SYSTEM VALUE VALUES (2147483647, 'entity user {} entity doc { relation viewer @user permission view = viewer }')$$);
SELECT try($$INSERT INTO rbac.schemas (source, created_by) VALUES ('entity user {} entity doc { relation viewer @user permission view = viewer }', 'someone_else')$$);
SELECT try($$INSERT INTO rbac.schemas (source, created_at) VALUES ('entity user {} entity doc { relation viewer @user permission view = viewer }', '2000-01-01')$$);
-- A direct INSERT without them is a new version, compiled and activated.
INSERT INTO rbac.schemas (source) VALUES ('entity user {} entity doc { relation viewer @user relation owner @user permission view = viewer or owner }');
SELECT created_by = CURRENT_USER AS real_author FROM rbac.schemas ORDER BY version DESC LIMIT 1;
SELECT relation FROM rbac.schema_relations ORDER BY 1;
-- Versions keep counting after that (write_schema still works).
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user relation owner @user permission view = viewer or owner }')
     > (SELECT max(version) FROM rbac.schemas) AS newer;

-- The same version number in a rolled-back transaction and then again with
-- another source: the backend must not answer from the rolled-back model.
BEGIN;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user permission view = viewer }') AS v \gset
SELECT rbac.check('user:a', 'view', 'doc:1') AS under_rolled_back_model;
ROLLBACK;
RESET ROLE;
SELECT setval('rbac.schemas_version_seq', :v - 1) > 0 AS sequence_reset;
SET ROLE regress_versions_admin;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user relation owner @user permission view = owner }') = :v AS same_version_number;
SELECT rbac.check('user:a', 'view', 'doc:1') AS under_committed_model;
RESET ROLE;

-- A superuser restoring a dump may bring explicit versions back, but never
-- one older than the active version.
SELECT try($$INSERT INTO rbac.schemas (version, source) OVERRIDING SYSTEM VALUE VALUES (0, 'entity user {}')$$);

-- A restore that brings an allowed combination the activation has already
-- derived skips it (no duplicate-key error, nothing changed).
WITH again AS (INSERT INTO rbac.schema_relations SELECT * FROM rbac.schema_relations RETURNING 1)
SELECT count(*) AS inserted_again FROM again;

-- No role but the extension takes the schema write lock: the lock table
-- grants nothing, and an advisory lock on the old key blocks nothing.
SET ROLE regress_versions_admin;
SELECT try($$LOCK TABLE rbac.schema_write_lock IN ACCESS SHARE MODE$$);
RESET ROLE;

-- A database that publishes the extension's tables for logical replication
-- (deletes included, as by default) still writes schemas: every activation
-- replaces the lock table's one row, which a published table may only do
-- with a replica identity.
SET client_min_messages = error;  -- (wal_level need not be logical here)
CREATE PUBLICATION regress_versions_pub FOR TABLES IN SCHEMA rbac;
RESET client_min_messages;
SET ROLE regress_versions_admin;
SELECT rbac.write_schema(rbac.schema() || ' entity published {}') > 0 AS written_while_published;
RESET ROLE;
SELECT count(*) AS lock_rows FROM rbac.schema_write_lock;
DROP PUBLICATION regress_versions_pub;
DROP ROLE regress_versions_admin;
