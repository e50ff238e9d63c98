-- Privileges: PUBLIC gets nothing; rbac_reader checks; rbac_admin writes.
BEGIN;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user permission view = viewer }') > 0 AS written;
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a']) AS added;

CREATE ROLE regress_app NOLOGIN;
CREATE ROLE regress_reader NOLOGIN IN ROLE rbac_reader;
CREATE ROLE regress_admin NOLOGIN IN ROLE rbac_admin;

SET ROLE regress_app;
SELECT try($$SELECT rbac.check('user:a', 'view', 'doc:1')$$);
SELECT try($$SELECT count(*) FROM rbac.tuples$$);
RESET ROLE;

SET ROLE regress_reader;
SELECT rbac.check('user:a', 'view', 'doc:1') AS reader_checks;
SELECT * FROM rbac.lookup_resources('user:a', 'view', 'doc');
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#viewer@user:a'])$$);
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', '2', 'viewer', 'user', 'a', '')$$);
SELECT try($$SELECT rbac.write_schema('entity user {}')$$);
RESET ROLE;

SET ROLE regress_admin;
SELECT rbac.write_tuples(ARRAY['doc:2#viewer@user:b']) AS admin_writes;
INSERT INTO rbac.tuples VALUES ('doc', '3', 'viewer', 'user', 'c', '');
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', '4', 'nope', 'user', 'c', '')$$);
SELECT try($$INSERT INTO rbac.schema_relations VALUES ('doc', 'nope', 'user', '')$$);
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user relation editor @user permission view = viewer or editor }') > 0 AS admin_writes_schema;
SELECT created_by FROM rbac.schemas ORDER BY version DESC LIMIT 1;
RESET ROLE;

-- Row-level security with rbac.check: an application table filtered by permission.
CREATE TABLE public.docs (id text PRIMARY KEY, body text);
INSERT INTO public.docs VALUES ('1', 'one'), ('2', 'two'), ('3', 'three');
ALTER TABLE public.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_view ON public.docs FOR SELECT
    USING (rbac.check('user:' || current_setting('app.uid', true), 'view', 'doc:' || id));
GRANT SELECT ON public.docs TO regress_reader;
SET ROLE regress_reader;
SET app.uid = 'a';
SELECT id, body FROM public.docs ORDER BY id;
SET app.uid = 'b';
SELECT id, body FROM public.docs ORDER BY id;
RESET ROLE;
ROLLBACK;

-- Every table, type and user-facing function carries a description for
-- psql's \dt+, \dT+ and \df+ (internal _functions and type I/O excepted).
SELECT p.oid::regprocedure::text AS undocumented FROM pg_proc p
 WHERE p.pronamespace = 'rbac'::regnamespace AND p.proname NOT LIKE '\_%' AND p.proname NOT LIKE 'encrypted_token\_%'
   AND obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'rbac'::regnamespace AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT t.oid::regtype::text FROM pg_type t
 WHERE t.typnamespace = 'rbac'::regnamespace AND t.typtype = 'b' AND t.typcategory <> 'A'
   AND obj_description(t.oid, 'pg_type') IS NULL;
