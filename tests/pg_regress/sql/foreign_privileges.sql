-- What the installing role's default privileges, or the ACL of a schema
-- rbac made beforehand, would give other roles on the extension's objects
-- is taken back by the install: TRIGGER on rbac.audit_log (written by
-- SECURITY DEFINER functions) would run anyone's function as the owner,
-- CREATE on the schema would let anyone add operators its functions
-- resolve, EXECUTE on rbac.decrypt_token would open every token. Only the
-- extension's own grants remain.
CREATE ROLE regress_default_grantee NOLOGIN;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO regress_default_grantee;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO regress_default_grantee;
ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO regress_default_grantee;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TYPES TO regress_default_grantee;
DROP EXTENSION notion_rbac CASCADE;
-- (This database's schema rbac was made before the extension: it stays.)
GRANT ALL ON SCHEMA rbac TO regress_default_grantee WITH GRANT OPTION;
SET client_min_messages = warning;
CREATE EXTENSION notion_rbac;
RESET client_min_messages;
-- Every privilege left on the extension's objects is the owner's or one of
-- the extension's roles' (types keep PUBLIC's USAGE, as every type has).
SELECT count(*) AS foreign_grants
  FROM (SELECT nspacl AS acl, nspowner AS owner FROM pg_namespace WHERE nspname = 'rbac'
        UNION ALL SELECT relacl, relowner FROM pg_class WHERE relnamespace = 'rbac'::regnamespace
        UNION ALL SELECT proacl, proowner FROM pg_proc WHERE pronamespace = 'rbac'::regnamespace
        UNION ALL SELECT typacl, typowner FROM pg_type WHERE typnamespace = 'rbac'::regnamespace) o,
       LATERAL aclexplode(o.acl) a
 WHERE a.grantee NOT IN (0, o.owner)
   AND a.grantee::regrole::text NOT IN ('rbac_admin', 'rbac_reader', 'rbac_oauth', 'rbac_worker', 'rbac_app');
SELECT has_schema_privilege('regress_default_grantee', 'rbac', 'CREATE') AS schema_create,
       has_schema_privilege('regress_default_grantee', 'rbac', 'USAGE') AS schema_usage,
       has_table_privilege('regress_default_grantee', 'rbac.audit_log', 'TRIGGER') AS audit_trigger,
       has_table_privilege('regress_default_grantee', 'rbac.tuples', 'INSERT') AS tuples_insert,
       has_function_privilege('regress_default_grantee', 'rbac.decrypt_token(rbac.encrypted_token, text, text, text)', 'EXECUTE') AS decrypt,
       has_sequence_privilege('regress_default_grantee', 'rbac.schemas_version_seq', 'UPDATE') AS sequence_update;
-- The extension's own grants are in place.
SELECT has_table_privilege('rbac_reader', 'rbac.tuples', 'SELECT') AS reader_reads_tuples,
       has_function_privilege('rbac_worker', 'rbac.decrypt_token(rbac.encrypted_token, text, text, text)', 'EXECUTE') AS worker_decrypts,
       has_schema_privilege('rbac_reader', 'rbac', 'USAGE') AS reader_usage;
-- A later grant of rbac.decrypt_token to anyone else still opens no token:
-- the function checks that the caller is a member of rbac_worker.
CREATE TABLE regress_foreign_tok AS SELECT rbac.encrypt_token('secret-1', 'rbac.workspaces', 'access_token', 'bot-1') AS tok;
GRANT SELECT ON regress_foreign_tok TO regress_default_grantee;
GRANT USAGE ON SCHEMA rbac TO regress_default_grantee;
GRANT EXECUTE ON FUNCTION rbac.decrypt_token(rbac.encrypted_token, text, text, text) TO regress_default_grantee;
SET ROLE regress_default_grantee;
SELECT try($$SELECT rbac.decrypt_token(tok, 'rbac.workspaces', 'access_token', 'bot-1') FROM regress_foreign_tok$$);
RESET ROLE;
SELECT rbac.decrypt_token(tok, 'rbac.workspaces', 'access_token', 'bot-1') AS superuser_decrypts FROM regress_foreign_tok;
DROP TABLE regress_foreign_tok;

-- Back to a plain install (as reinstall left it).
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM regress_default_grantee;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM regress_default_grantee;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON FUNCTIONS FROM regress_default_grantee;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TYPES FROM regress_default_grantee;
DROP EXTENSION notion_rbac CASCADE;
REVOKE ALL ON SCHEMA rbac FROM regress_default_grantee;
DROP ROLE regress_default_grantee;
CREATE EXTENSION notion_rbac;
INSERT INTO rbac.schemas (source) VALUES ('entity user {} entity doc { relation viewer @user permission view = viewer }') RETURNING version;
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:alice']) AS added;
