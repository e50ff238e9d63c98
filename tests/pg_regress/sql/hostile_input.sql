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
-- A rule body of 150,000 chained `in` (a left-deep tree the CEL parser
-- would recurse through, level by level, past the stack) is refused before
-- it is parsed, in a validation file as in a schema.
SELECT try($q$SELECT count(*) FROM rbac.validate(E'schema: |\n  entity user {}\n  rule r(a integer[]) {\n    1' || repeat(' in a', 150000) || E'\n  }\n')$q$);
SELECT try($q$SELECT rbac.write_schema(E'entity user {}\nrule r(a integer[]) {\n  1' || repeat(' in a', 150000) || E'\n}')$q$);
-- Every kind of JSON value in a context is read (numbers of any size,
-- strings, booleans, null, nesting), and a non-object context is refused.
SELECT rbac.check('user:u1', 'view', 'doc:d1', '{"data": {"n": [1.5, -2, 3e5, 12345678901234567890, 0.000001], "s": "x", "b": true, "z": null, "o": {"a": [[]]}}}') AS with_data;
SELECT try($$SELECT rbac.check('user:u1', 'view', 'doc:d1', '42')$$);
SELECT try($$SELECT rbac.check('user:u1', 'view', 'doc:d1', to_jsonb(repeat('2', 3000)))$$);
-- Work per call is bounded: contextual items, validation file size (54000).
SET notion_rbac.max_context_items = 2;
SELECT try($$SELECT rbac.check('user:u1', 'view', 'doc:d1', '{"tuples": ["doc:d5#viewer@user:u1", "doc:d6#viewer@user:u1", "doc:d7#viewer@user:u1"]}')$$);
RESET notion_rbac.max_context_items;
SET notion_rbac.max_validation_kb = 1;
SELECT try(format('SELECT * FROM rbac.validate(%L)', E'schema: "entity user {}"\n#' || repeat('x', 2000)));
RESET notion_rbac.max_validation_kb;
-- The bounds on memory are superusers' settings: a role that may only read
-- cannot raise them (42501) by SET, set_config or SET LOCAL, nor lower them;
-- an administrator may delegate one with GRANT SET ON PARAMETER.
CREATE ROLE regress_bounds_reader IN ROLE rbac_reader;
SET ROLE regress_bounds_reader;
SELECT try($$SET notion_rbac.max_validation_kb = 1048576$$);
SELECT try($$SELECT set_config('notion_rbac.max_context_items', '10000000', false)$$);
SELECT try($$SET LOCAL notion_rbac.max_fixpoint_size = 100000000$$);
SELECT try($$SET notion_rbac.cache_rows = 10000000$$);
SELECT try($$SET notion_rbac.cache_lookup_ids = 0$$);
SHOW notion_rbac.max_validation_kb;
RESET ROLE;
GRANT SET ON PARAMETER notion_rbac.cache_rows TO regress_bounds_reader;
SET ROLE regress_bounds_reader;
SET notion_rbac.cache_rows = 0;
SHOW notion_rbac.cache_rows;
RESET notion_rbac.cache_rows;
RESET ROLE;
REVOKE SET ON PARAMETER notion_rbac.cache_rows FROM regress_bounds_reader;
DROP ROLE regress_bounds_reader;
-- Work that grows with the product of its inputs is bounded by the memory
-- one statement may take (54000), and the statement frees what it built:
-- a rule mapping a 3,000-item context list over itself builds 9,000,000
-- strings. The same rule over a short list answers.
SELECT rbac.write_schema($$entity user {}
entity doc {
  relation viewer @user
  attribute tags string[]
  permission view = viewer or pairs(tags)
}
rule pairs(tags string[]) {
  context.data.xs.map(x, context.data.xs.map(y, x + y)).exists(l, l.exists(p, p in tags))
}$$) > 0 AS written;
SET statement_timeout = '60s';
SET notion_rbac.max_call_memory = '16MB';
SELECT try(format('SELECT rbac.check(%L, %L, %L, %L)', 'user:u2', 'view', 'doc:d1',
                  jsonb_build_object('data', jsonb_build_object('xs', (SELECT jsonb_agg('x' || i) FROM generate_series(1, 3000) i))))) AS product_refused;
SELECT rbac.check('user:u2', 'view', 'doc:d1', '{"data": {"xs": ["a", "b"]}}') AS small_product_answers;
SHOW notion_rbac.max_call_memory;
-- The message writes the limit as SHOW does, below a megabyte too.
SET notion_rbac.max_call_memory = '700kB';
SELECT try(format('SELECT rbac.check(%L, %L, %L, %L)', 'user:u2', 'view', 'doc:d1',
                  jsonb_build_object('data', jsonb_build_object('xs', (SELECT jsonb_agg('x' || i) FROM generate_series(1, 3000) i))))) AS product_refused_in_kb;
RESET notion_rbac.max_call_memory;
RESET statement_timeout;
-- 100,000 contextual attributes: a lookup stays linear in them (it took
-- minutes when each entity scanned the whole list).
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user attribute public boolean permission view = viewer or public }') > 0 AS written;
SET statement_timeout = '20s';
CREATE TEMP TABLE big_context AS
SELECT jsonb_build_object('attributes', (SELECT jsonb_agg(format('doc:p%s$public|boolean:%s', i, i % 2 = 0)) FROM generate_series(1, 100000) i)) AS ctx;
SELECT count(*) AS public_docs FROM rbac.lookup_resources('user:u9', 'view', 'doc', (SELECT ctx FROM big_context));
RESET statement_timeout;
-- The same call is cancelled by statement_timeout inside the extension's
-- own work (it reads no table), and promptly.
SET statement_timeout = '1ms';
SELECT clock_timestamp() AS started \gset
SELECT count(*) AS public_docs FROM rbac.lookup_resources('user:u9', 'view', 'doc', (SELECT ctx FROM big_context));
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '3 seconds' AS promptly;

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
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY['https://app.example.com/cb'], 'http://user:secret_PASSWORD_xyz@api.example.com')$$) AS refused;

-- Recursion through exclusion (x = a not y, y = parent.x or b) over a
-- layered graph two nodes wide: searched depth first it doubled its work
-- every two levels (60 levels ran for minutes); settled, 1,000 levels take
-- milliseconds, through a validation file and through stored tuples alike.
CREATE TEMP TABLE layered AS
SELECT E'schema: |-\n  entity user {}\n  entity node {\n    relation parent @node\n    relation a @user\n    relation b @user\n'
    || E'    permission x = a not y\n    permission y = parent.x or b\n  }\nrelationships:\n'
    || string_agg(format(E'  - "node:n%s_%s#parent@node:n%s_%s"\n', i, j, i - 1, k)
                  || CASE WHEN k = 0 THEN format(E'  - "node:n%s_%s#a@user:u"\n', i, j) ELSE '' END, '')
    || E'scenarios:\n  - name: "deep"\n    checks:\n      - entity: "node:n1000_0"\n        subject: "user:u"\n        assertions:\n          x: false\n'
    || E'      - entity: "node:n999_1"\n        subject: "user:u"\n        assertions:\n          x: true\n' AS file
  FROM generate_series(1, 1000) i, generate_series(0, 1) j, generate_series(0, 1) k;
SET statement_timeout = '20s';
SELECT query, expected, actual, passed FROM rbac.validate((SELECT file FROM layered));
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user attribute public boolean permission view = viewer or public } entity node { relation parent @node relation a @user relation b @user permission x = a not y permission y = parent.x or b }') > 0 AS written;
SELECT rbac.write_tuples(array_agg(t)) AS added FROM (
  SELECT format('node:n%s_%s#parent@node:n%s_%s', i, j, i - 1, k) AS t
    FROM generate_series(1, 1000) i, generate_series(0, 1) j, generate_series(0, 1) k
  UNION ALL
  SELECT format('node:n%s_%s#a@user:u', i, j) FROM generate_series(1, 1000) i, generate_series(0, 1) j) s;
SELECT rbac.check('user:u', 'x', 'node:n1000_0') AS even, rbac.check('user:u', 'x', 'node:n999_1') AS odd;
SELECT count(*) AS odd_levels FROM rbac.lookup_resources('user:u', 'x', 'node');
-- A cycle in the data through the exclusion leaves x neither true nor
-- false there: check and lookup fail alike (22000), naming the node.
-- (Here p and q are each other's parent: x(p) = not x(q), x(q) = not x(p).)
SELECT rbac.write_tuples(ARRAY['node:p#parent@node:q', 'node:q#parent@node:p', 'node:p#a@user:u', 'node:q#a@user:u', 'node:n5_0#parent@node:p']) AS added;
SELECT try($$SELECT rbac.check('user:u', 'x', 'node:p')$$);
SELECT try($$SELECT rbac.check('user:u', 'y', 'node:n5_0')$$);
-- A cycle through the exclusion that other data decides is no problem:
-- n2_0 below n1_0 below n2_0, but n1_1 decides y(n2_0).
SELECT rbac.write_tuples(ARRAY['node:n1_0#parent@node:n2_0']) AS added;
SELECT rbac.check('user:u', 'x', 'node:n2_0') AS decided, rbac.check('user:nobody', 'x', 'node:p') AS other_subject;
SELECT try($$SELECT count(*) FROM rbac.lookup_resources('user:u', 'x', 'node')$$);
RESET statement_timeout;

-- A ring of 10,000 folders, far longer than notion_rbac.max_depth, grants
-- nothing: check and lookups agree that it is false (the check used to
-- fail with 54001 while lookups returned no rows). A chain that does grant,
-- but only 150 levels down, is a depth error for the check and the lookup.
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user attribute public boolean permission view = viewer or public } entity node { relation parent @node relation a @user relation b @user permission x = a not y permission y = parent.x or b } entity folder { relation parent @folder relation viewer @user permission view = viewer or parent.view }') > 0 AS written;
SELECT rbac.write_tuples(array_agg(format('folder:r%s#parent@folder:r%s', i, (i + 1) % 10000))) AS added
  FROM generate_series(0, 9999) i;
SELECT rbac.check('user:u', 'view', 'folder:r0') AS ring_grants,
       (SELECT count(*) FROM rbac.lookup_resources('user:u', 'view', 'folder')) AS resources,
       (SELECT count(*) FROM rbac.lookup_subjects('folder:r0', 'view', 'user')) AS subjects;
SELECT rbac.write_tuples(array_agg(format('folder:c%s#parent@folder:c%s', i, i + 1)) || ARRAY['folder:c150#viewer@user:u']) AS added
  FROM generate_series(0, 149) i;
SELECT try($$SELECT rbac.check('user:u', 'view', 'folder:c0')$$);
SELECT try($$SELECT count(*) FROM rbac.lookup_resources('user:u', 'view', 'folder')$$);
SET notion_rbac.max_depth = 200;
SELECT rbac.check('user:u', 'view', 'folder:c0') AS deep_grant,
       (SELECT count(*) FROM rbac.lookup_resources('user:u', 'view', 'folder')) AS resources;
RESET notion_rbac.max_depth;
-- What settling may hold is bounded (54000 with a hint).
SET notion_rbac.max_fixpoint_size = 1000;
SELECT try($$SELECT rbac.check('user:nobody', 'view', 'folder:r0')$$);
RESET notion_rbac.max_fixpoint_size;

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
