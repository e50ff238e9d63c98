-- Hostile input: ordinary bad input gets its proper SQLSTATE (never an
-- internal error), the caller's search_path cannot redirect what the
-- extension's functions execute, secrets never reach error messages.
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user permission view = viewer }') > 0 AS written;
SELECT rbac.write_tuples(ARRAY['doc:d1#viewer@user:u1']) AS added;

-- NULL arguments: NULL answers (or no rows) as a strict function would.
SELECT count(*) AS no_rows FROM rbac.lookup_resources('user:u1', 'view', NULL);
SELECT count(*) AS no_rows FROM rbac.lookup_resources(NULL, 'view', 'doc', NULL);
SELECT count(*) AS no_rows FROM rbac.lookup_subjects('doc:d1', 'view', NULL);
SELECT count(*) AS no_rows FROM rbac.lookup_subjects(NULL, NULL, 'user', '{}');
SELECT * FROM rbac.check_many(NULL::text, 'view', ARRAY['doc:d1']);
SELECT * FROM rbac.check_many('user:u1', NULL, ARRAY['doc:d1', NULL]);
SELECT count(*) AS no_rows FROM rbac.check_many('user:u1', 'view', NULL::text[]);
SELECT * FROM rbac.check_many(ARRAY['user:u1'], 'view', NULL);
SELECT rbac.check(NULL, 'view', 'doc:d1', '{}') IS NULL AS null_answer;
-- ... and 22004 where a value is required.
SELECT try($$SELECT rbac.oauth_callback(NULL, 'c')$$);
SELECT try($$SELECT * FROM rbac.oauth_start(NULL, NULL)$$);

-- A context nested deeper than JSON parsing allows is an ordinary error.
SELECT try(format('SELECT rbac.check(%L, %L, %L, %L::jsonb)', 'user:u1', 'view', 'doc:d1',
                  '{"data": ' || repeat('[', 200) || repeat(']', 200) || '}'));
-- Work per call is bounded: contextual items, validation file size (54000).
SET notion_rbac.max_context_items = 2;
SELECT try($$SELECT rbac.check('user:u1', 'view', 'doc:d1', '{"tuples": ["doc:d5#viewer@user:u1", "doc:d6#viewer@user:u1", "doc:d7#viewer@user:u1"]}')$$);
RESET notion_rbac.max_context_items;
SET notion_rbac.max_validation_kb = 1;
SELECT try(format('SELECT * FROM rbac.validate(%L)', E'schema: "entity user {}"\n#' || repeat('x', 2000)));
RESET notion_rbac.max_validation_kb;
-- 100,000 contextual attributes: a lookup stays linear in them (it took
-- minutes when each entity scanned the whole list).
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user attribute public boolean permission view = viewer or public }') > 0 AS written;
SET statement_timeout = '20s';
SELECT count(*) AS public_docs FROM rbac.lookup_resources('user:u9', 'view', 'doc',
    jsonb_build_object('attributes', (SELECT jsonb_agg(format('doc:p%s$public|boolean:%s', i, i % 2 = 0)) FROM generate_series(1, 100000) i)));
RESET statement_timeout;

-- Schema problems are compile errors (42P17) with line and column, not
-- storage errors later.
SELECT try($$SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user @user }')$$);
SELECT try(format('SELECT rbac.write_schema(%L)', 'entity user {} entity doc { relation ' || repeat('x', 1000000) || ' @user }'));

-- The caller's search_path: a trojan equality operator in a schema the
-- caller searches first is never used by the extension's functions.
CREATE SCHEMA regress_trojan;
CREATE TABLE regress_trojan.calls (n int);
CREATE FUNCTION regress_trojan.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO regress_trojan.calls VALUES (1); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION regress_trojan.eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO regress_trojan.calls VALUES (1); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR regress_trojan.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_trojan.eq);
CREATE OPERATOR regress_trojan.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = regress_trojan.eq);
SET search_path = regress_trojan, pg_catalog;
SELECT rbac.write_tuples(ARRAY['doc:d2#viewer@user:u2']) AS added;
SELECT rbac.delete_tuples(ARRAY['doc:d2#viewer@user:u2']) AS deleted;
SELECT rbac.check('user:u1', 'view', 'doc:d1') AS allowed;
SELECT count(*) AS found FROM rbac.lookup_resources('user:u1', 'view', 'doc');
SELECT rbac.write_schema(rbac.schema()) > 0 AS rewritten;
SELECT rbac.schema() IS NOT NULL AS has_schema;
RESET search_path;
SELECT count(*) AS trojan_calls FROM regress_trojan.calls;
DROP SCHEMA regress_trojan CASCADE;

-- The settings prefix is reserved: no one can invent notion_rbac.* settings.
SELECT try($$SET notion_rbac.invented = 'x'$$);

-- A refused Notion base URL never appears in the error (it may carry
-- credentials).
SELECT try($$SELECT rbac.oauth_configure('c', 's', 'https://app.example.com/cb', 'http://user:secret_PASSWORD_xyz@api.example.com')$$) AS refused;

-- A validation file whose evaluation is exponential (recursion through
-- exclusion over a layered graph two nodes wide, 60 levels) is cancelled
-- by statement_timeout promptly, although it reads no table at all.
CREATE TEMP TABLE layered AS
SELECT E'schema: |-\n  entity user {}\n  entity node {\n    relation parent @node\n    relation a @user\n    relation b @user\n'
    || E'    permission x = a not y\n    permission y = parent.x or b\n  }\nrelationships:\n'
    || string_agg(format(E'  - "node:n%s_%s#parent@node:n%s_%s"\n', i, j, i - 1, k)
                  || CASE WHEN k = 0 THEN format(E'  - "node:n%s_%s#a@user:u"\n', i, j) ELSE '' END, '')
    || E'scenarios:\n  - name: "deep"\n    checks:\n      - entity: "node:n60_0"\n        subject: "user:u"\n        assertions:\n          x: false\n' AS file
  FROM generate_series(1, 60) i, generate_series(0, 1) j, generate_series(0, 1) k;
SET statement_timeout = '300ms';
SELECT clock_timestamp() AS started \gset
SELECT count(*) FROM rbac.validate((SELECT file FROM layered));
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '3 seconds' AS promptly;

-- Installing trusts no role or schema someone else prepared: a role
-- another role holds ADMIN on, a role that can log in, a schema rbac that
-- exists already are refused with a hint (each in a fresh database).
CREATE ROLE regress_mallory NOLOGIN;
CREATE DATABASE regress_install;
GRANT rbac_worker TO regress_mallory WITH ADMIN OPTION;
\c regress_install
\set VERBOSITY terse
CREATE EXTENSION notion_rbac;
\c notion_rbac_regress
REVOKE ADMIN OPTION FOR rbac_worker FROM regress_mallory;
REVOKE rbac_worker FROM regress_mallory;
ALTER ROLE rbac_oauth LOGIN;
\c regress_install
\set VERBOSITY terse
CREATE EXTENSION notion_rbac;
ALTER ROLE rbac_oauth NOLOGIN;
CREATE SCHEMA rbac;
CREATE TABLE rbac.planted (x int);
CREATE EXTENSION notion_rbac;
DROP SCHEMA rbac CASCADE;
CREATE EXTENSION notion_rbac;
SELECT rbac.version() IS NOT NULL AS installed;
\c notion_rbac_regress
DROP DATABASE regress_install;
DROP ROLE regress_mallory;
