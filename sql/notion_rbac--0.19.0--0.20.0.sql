-- notion_rbac 0.19.0 -> 0.20.0
--
-- Privileges on the extension's objects are the extension's own: every
-- privilege on its schema, tables, sequences, functions and types held by a
-- role other than the owner and the extension's roles (rbac_admin,
-- rbac_reader, rbac_oauth, rbac_worker, rbac_app) is revoked, with a NOTICE
-- naming each. Such privileges came from the installing role's default
-- privileges (ALTER DEFAULT PRIVILEGES ... GRANT ... TO someone), which
-- apply to what an extension script creates, or from the ACL of a schema
-- rbac made before the install; TRIGGER on a table that SECURITY DEFINER
-- functions write would run anyone's function as the owner. Grant the
-- extension's roles instead. (The library also checks, since 0.20.0, that
-- the role running rbac.decrypt_token is a member of rbac_worker.)

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.20.0'" to load this file. \quit

DO $sweep$
DECLARE
    g record;
BEGIN
    FOR g IN
        WITH objects (kind, name, acl, owner) AS (
            SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspacl, n.nspowner
              FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rbac'
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::pg_catalog.regclass::text, c.relacl, c.relowner
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'rbac'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            UNION ALL
            SELECT 'ROUTINE', p.oid::pg_catalog.regprocedure::text, p.proacl, p.proowner
              FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'rbac'::pg_catalog.regnamespace
            UNION ALL
            SELECT 'TYPE', t.oid::pg_catalog.regtype::text, t.typacl, t.typowner
              FROM pg_catalog.pg_type t
             WHERE t.typnamespace = 'rbac'::pg_catalog.regnamespace AND t.typacl IS NOT NULL
               -- array and row types take their element's or table's privileges
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
               AND (t.typrelid = 0 OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
        )
        SELECT DISTINCT o.kind, o.name, a.grantee::pg_catalog.regrole::text AS grantee
          FROM objects o, LATERAL pg_catalog.aclexplode(o.acl) a
         WHERE a.grantee <> 0 AND a.grantee <> o.owner
           AND a.grantee::pg_catalog.regrole::text NOT IN ('rbac_admin', 'rbac_reader', 'rbac_oauth', 'rbac_worker', 'rbac_app')
         ORDER BY 1, 2, 3
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s CASCADE', g.kind, g.name, g.grantee);
        RAISE NOTICE 'notion_rbac: revoked the privileges of % on % % (not one of the extension''s roles)', g.grantee, pg_catalog.lower(g.kind), g.name
            USING HINT = 'They came from default privileges (ALTER DEFAULT PRIVILEGES) or the schema''s ACL; grant rbac_reader, rbac_app or rbac_admin instead.';
    END LOOP;
END
$sweep$;
