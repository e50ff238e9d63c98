-- rbac.protect: row-level security on an application table from the model,
-- for each command type; rbac.unprotect; the per-row function's two
-- strategies give the same rows as rbac.lookup_resources.
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
    permission read = reader or owner or parent.read
    permission write = owner or parent.write
    permission delete = owner
    permission create = owner
}
$$) > 0 AS model;

CREATE ROLE regress_owner NOLOGIN IN ROLE rbac_admin;
CREATE ROLE regress_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE ROLE regress_intruder NOLOGIN IN ROLE rbac_reader;
CREATE SCHEMA regress_protect AUTHORIZATION regress_owner;
GRANT USAGE ON SCHEMA regress_protect TO regress_web, regress_intruder;
SET ROLE regress_owner;
CREATE TABLE regress_protect.docs (id int PRIMARY KEY, title text NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX ON regress_protect.docs (updated_at);
INSERT INTO regress_protect.docs
SELECT i, 'doc ' || i, timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, 3000) i;
CREATE VIEW regress_protect.docs_view AS SELECT id, title FROM regress_protect.docs;
GRANT SELECT, INSERT, UPDATE, DELETE ON regress_protect.docs TO regress_web, regress_intruder;
GRANT SELECT ON regress_protect.docs_view TO regress_web, regress_intruder;
RESET ROLE;

-- alice owns docs 1..10; bob reads 11..20 directly; the group eng (through
-- a nested group) reads doc 100, whose children are 101..3000 (a chain of
-- parents: 100 <- 101..109, and every doc above 109 under one of those).
SELECT rbac.write_tuples(array_agg('doc:' || i || '#owner@user:alice')) FROM generate_series(1, 10) i;
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:bob')) FROM generate_series(11, 20) i;
SELECT rbac.write_tuples(ARRAY['group:eng#member@group:core#member', 'group:core#member@user:carol',
                               'doc:100#reader@group:eng#member']);
SELECT rbac.write_tuples(array_agg('doc:' || i || '#parent@doc:' || CASE WHEN i < 110 THEN 100 ELSE 101 + i % 9 END))
  FROM generate_series(101, 3000) i;

-- Refused: not a table, no such column, unknown names, not the owner.
SET ROLE regress_owner;
SELECT try($$SELECT rbac.protect('regress_protect.docs_view', 'doc', 'id')$$);
SELECT try($$SELECT rbac.protect('regress_protect.docs', 'doc', 'nope')$$);
SELECT try($$SELECT rbac.protect('regress_protect.docs', 'page', 'id')$$);
SELECT try($$SELECT rbac.protect('regress_protect.docs', 'doc', 'id', select_action => 'peek')$$);
SELECT try($$SELECT rbac.protect('regress_protect.docs', NULL, 'id')$$);
SELECT try($$SELECT rbac.unprotect(NULL)$$);
SELECT try($$SELECT rbac.unprotect('regress_protect.docs')$$);
RESET ROLE;
SET ROLE regress_web;
SELECT try($$SELECT rbac.protect('regress_protect.docs', 'doc', 'id')$$);
RESET ROLE;

SET ROLE regress_owner;
SELECT rbac.protect('regress_protect.docs', 'doc', 'id', insert_action => NULL);
SELECT try($$SELECT rbac.protect('regress_protect.docs', 'doc', 'id')$$);
RESET ROLE;
SELECT table_name, command, action, entity_type, id_column, rls_enabled, rls_forced, policy
  FROM rbac.protected_tables ORDER BY command;
-- A policy comment that is not one of rbac.protect's records (a table's
-- owner may write any) is ignored by the view, not an error in it.
SET ROLE regress_owner;
CREATE POLICY junk ON regress_protect.docs FOR SELECT USING (false);
COMMENT ON POLICY junk ON regress_protect.docs IS 'rbac.protect {not json';
RESET ROLE;
SELECT count(*) AS protect_records FROM rbac.protected_tables;
SET ROLE regress_owner;
DROP POLICY junk ON regress_protect.docs;
RESET ROLE;
-- The owner is subject to them too (force, the default): no subject, no rows.
SET ROLE regress_owner;
SELECT count(*) AS owner_forced FROM regress_protect.docs;
RESET ROLE;

-- The plan: a point lookup stays an index scan with the policy as a filter.
SET ROLE regress_web;
EXPLAIN (COSTS OFF) SELECT * FROM regress_protect.docs WHERE id = 5;

-- SELECT: no subject, no rows.
SELECT count(*) AS without_subject FROM regress_protect.docs;
BEGIN;
SELECT rbac.set_subject('user:alice');
SELECT array_agg(id ORDER BY id) AS alice_reads FROM regress_protect.docs;
SELECT id, title FROM regress_protect.docs_view ORDER BY id LIMIT 3;
-- UPDATE needs write: alice's own docs only.
UPDATE regress_protect.docs SET title = title || ' (edited)' WHERE id IN (1, 2, 11);
SELECT id, title FROM regress_protect.docs WHERE id IN (1, 2, 11) ORDER BY id;
-- DELETE needs delete.
DELETE FROM regress_protect.docs WHERE id IN (3, 12);
SELECT count(*) AS alice_after_delete FROM regress_protect.docs;
-- INSERT is unrestricted here (insert_action NULL).
INSERT INTO regress_protect.docs VALUES (5001, 'new', now());
-- PostgreSQL applies the SELECT policy to the rows an INSERT returns: a
-- new object without tuples cannot be returned ...
SELECT try($$INSERT INTO regress_protect.docs VALUES (5002, 'returned', now()) RETURNING id$$) AS returning_refused;
-- ... unless its tuples are written first, in an earlier statement.
RESET ROLE;
SELECT rbac.write_tuples(ARRAY['doc:5002#owner@user:alice']) AS owner_first;
SET ROLE regress_web;
INSERT INTO regress_protect.docs VALUES (5002, 'returned', now()) RETURNING id, title;
DELETE FROM regress_protect.docs WHERE id = 5002;
RESET ROLE;
SELECT rbac.delete_tuples(ARRAY['doc:5002#owner@user:alice']) AS owner_removed;
SET ROLE regress_web;
COMMIT;
-- A pooled connection: the next transaction has no subject again.
SELECT count(*) AS next_transaction FROM regress_protect.docs;
BEGIN;
SELECT rbac.set_subject('user:bob');
SELECT array_agg(id ORDER BY id) AS bob_reads FROM regress_protect.docs;
SELECT try($$UPDATE regress_protect.docs SET title = 'x' WHERE id = 11$$) AS bob_updates_nothing;
SELECT title FROM regress_protect.docs WHERE id = 11;
-- Changing the subject inside a transaction changes the next statement.
SELECT rbac.set_subject('user:carol');
SELECT count(*) AS carol_reads FROM regress_protect.docs;
ROLLBACK;

-- Carol reads 2,901 docs through a nested group and a parent chain: the
-- count needs more than a millisecond of per-row checks, so the function
-- switches to one lookup; top-N and point queries stay per row. Every
-- shape returns exactly what rbac.lookup_resources says.
BEGIN;
SELECT rbac.set_subject('user:carol');
SELECT row_checks AS c0, lookups AS l0, lookups_reused AS r0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS carol_count,
       count(*) = (SELECT count(*) FROM rbac.lookup_resources('user:carol', 'read', 'doc') r(id)
                    WHERE r.id::int IN (SELECT id FROM regress_protect.docs)) AS equals_lookup
  FROM regress_protect.docs;
SELECT (SELECT array_agg(id ORDER BY id) FROM regress_protect.docs)
     = (SELECT array_agg(d.id ORDER BY d.id) FROM regress_protect.docs d
         WHERE EXISTS (SELECT 1 FROM rbac.lookup_resources('user:carol', 'read', 'doc') r(id) WHERE r.id = d.id::text))
       AS same_rows;
-- (its own, or one kept from an earlier statement that saw the same data)
SELECT lookups > :l0 OR lookups_reused > :r0 AS count_used_a_lookup FROM rbac.permitted_stats();
-- Later statements that see the same data reuse the count's visible set.
SELECT row_checks AS c0, lookups AS l0, lookups_reused AS r0 FROM rbac.permitted_stats() \gset
SELECT array_agg(id) AS newest_five FROM (SELECT id FROM regress_protect.docs ORDER BY updated_at DESC LIMIT 5) t;
SELECT id FROM regress_protect.docs WHERE id = 150;
SELECT row_checks - :c0 AS rows_checked, lookups - :l0 AS lookups, lookups_reused - :r0 AS reused FROM rbac.permitted_stats();
-- Without kept lookups, top-N and point queries check their rows (a
-- superuser's setting: set it, then act as the role again).
RESET ROLE;
SET LOCAL notion_rbac.cache_lookup_ids = 0;
SET ROLE regress_web;
SELECT row_checks AS c0, lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT array_agg(id) AS newest_five FROM (SELECT id FROM regress_protect.docs ORDER BY updated_at DESC LIMIT 5) t;
SELECT id FROM regress_protect.docs WHERE id = 150;
SELECT row_checks - :c0 BETWEEN 6 AND 10 AS a_few_rows_checked, lookups - :l0 AS lookups FROM rbac.permitted_stats();
RESET ROLE;
RESET notion_rbac.cache_lookup_ids;
SET ROLE regress_web;
SELECT count(*) AS outside FROM regress_protect.docs WHERE id = 5;
-- A revocation in the same transaction is seen by the next statement.
RESET ROLE;
SELECT rbac.delete_tuples(ARRAY['doc:100#reader@group:eng#member']);
SET ROLE regress_web;
SELECT count(*) AS after_revocation FROM regress_protect.docs;
ROLLBACK;
RESET ROLE;

-- An intruder (rbac_reader, not rbac_app) cannot act as someone else:
-- not with the function, SET, set_config, a SECURITY DEFINER function of
-- its own, or a function named like the policy's in its search path; a
-- view its owner created is subject to the policies too (force, the
-- default: views run with their owner's rights, and an owner not forced
-- would bypass row-level security).
SET ROLE regress_intruder;
SELECT try($$SELECT rbac.set_subject('user:alice')$$);
SELECT try($$SET notion_rbac.subject = 'user:alice'$$);
SELECT try($$SELECT set_config('notion_rbac.subject', 'user:alice', false)$$);
CREATE FUNCTION pg_temp.permitted(text, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION pg_temp.current_subject() RETURNS text LANGUAGE sql AS $$SELECT 'user:alice'$$;
SET search_path = pg_temp, public;
SELECT count(*) AS intruder_sees FROM regress_protect.docs;
SELECT count(*) AS intruder_view FROM regress_protect.docs_view;
SELECT try($$SELECT rbac.unprotect('regress_protect.docs')$$);
DROP FUNCTION pg_temp.permitted(text, text, text), pg_temp.current_subject();
RESET search_path;
RESET ROLE;
SET ROLE regress_owner;
CREATE FUNCTION regress_protect.as_alice() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    PERFORM rbac.set_subject('user:alice');
    RETURN (SELECT count(*) FROM regress_protect.docs);
END $$;
GRANT EXECUTE ON FUNCTION regress_protect.as_alice() TO regress_intruder;
RESET ROLE;
SET ROLE regress_intruder;
SELECT try($$SELECT regress_protect.as_alice()$$) AS definer_without_rbac_app;
RESET ROLE;

-- Login roles mapped to subjects: no set_subject needed.
CREATE ROLE regress_login_alice LOGIN IN ROLE rbac_reader;
GRANT USAGE ON SCHEMA regress_protect TO regress_login_alice;
GRANT SELECT ON regress_protect.docs TO regress_login_alice;
INSERT INTO rbac.login_subjects VALUES ('regress_login_alice', 'user:alice');
SET SESSION AUTHORIZATION regress_login_alice;
SELECT rbac.current_subject(), count(*) AS mapped_login_reads FROM regress_protect.docs;
RESET SESSION AUTHORIZATION;

-- INSERT as configured: re-protect so that inserting needs create on the
-- new row (alice owns doc 6000 before it exists in the table).
SET ROLE regress_owner;
SELECT rbac.unprotect('regress_protect.docs');
SELECT rbac.protect('regress_protect.docs', 'doc', 'id', insert_action => 'create', force => false);
RESET ROLE;
SELECT rbac.write_tuples(ARRAY['doc:6000#owner@user:alice']);
SET ROLE regress_web;
BEGIN;
SELECT rbac.set_subject('user:alice');
INSERT INTO regress_protect.docs VALUES (6000, 'allowed', now());
SELECT try($$INSERT INTO regress_protect.docs VALUES (6001, 'refused', now())$$);
-- UPDATE's WITH CHECK: moving a row to an id alice cannot write is refused.
SELECT try($$UPDATE regress_protect.docs SET id = 6002 WHERE id = 6000$$);
COMMIT;
RESET ROLE;
-- Not forced: the owner (and its views) bypass the policies.
SET ROLE regress_owner;
SELECT count(*) AS owner_not_forced FROM regress_protect.docs;
SELECT count(*) AS view_not_forced FROM regress_protect.docs_view;
SELECT rbac.unprotect('regress_protect.docs');
SELECT count(*) AS owner_unprotected FROM regress_protect.docs;
RESET ROLE;
-- unprotect removed exactly what protect created.
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'regress_protect.docs'::regclass) AS policies
  FROM pg_class WHERE oid = 'regress_protect.docs'::regclass;
SELECT count(*) AS protected FROM rbac.protected_tables;

-- A table whose RLS was already on keeps it (and its own policy) after
-- unprotect. (A restrictive one: a permissive one would let rows through,
-- and is refused; see below.)
SET ROLE regress_owner;
ALTER TABLE regress_protect.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_policy ON regress_protect.docs AS RESTRICTIVE FOR SELECT USING (id < 3);
SELECT rbac.protect('regress_protect.docs', 'doc', 'id');
SELECT rbac.unprotect('regress_protect.docs');
SELECT relrowsecurity, (SELECT array_agg(polname) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c WHERE oid = 'regress_protect.docs'::regclass;
RESET ROLE;

-- uuid and text ids: compared with the tuples' ids in their text form,
-- by the per-row checks and by the lookup's probes alike.
SET ROLE regress_owner;
CREATE TABLE regress_protect.notes (id uuid PRIMARY KEY, body text);
INSERT INTO regress_protect.notes
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'note ' || i FROM generate_series(1, 3000) i;
CREATE TABLE regress_protect.tags (id text PRIMARY KEY);
INSERT INTO regress_protect.tags SELECT 't' || i FROM generate_series(1, 3000) i;
INSERT INTO regress_protect.tags VALUES ('T1');
GRANT SELECT ON regress_protect.notes, regress_protect.tags TO regress_web;
SELECT rbac.protect('regress_protect.notes', 'doc', 'id'), rbac.protect('regress_protect.tags', 'doc', 'id');
RESET ROLE;
SELECT policy FROM rbac.protected_tables WHERE command = 'SELECT' ORDER BY 1;
SELECT rbac.write_tuples(array_agg('doc:00000000-0000-4000-8000-' || lpad(i::text, 12, '0') || '#owner@user:alice'))
  FROM generate_series(1, 3000, 7) i;
SELECT rbac.write_tuples(array_agg('doc:t' || i || '#owner@user:alice')) FROM generate_series(1, 3000, 7) i;
-- An upper-case uuid in a tuple is another id: it never matches a uuid column.
SELECT rbac.write_tuples(ARRAY['doc:00000000-0000-4000-8000-00000000000A#owner@user:alice']);
SET ROLE regress_web;
BEGIN;
SELECT rbac.set_subject('user:alice');
SELECT lookups AS l0 FROM rbac.permitted_stats() \gset
SELECT count(*) AS alice_notes FROM regress_protect.notes;
SELECT count(*) AS alice_tags FROM regress_protect.tags;
SELECT lookups - :l0 > 0 AS counts_used_lookups FROM rbac.permitted_stats();
SELECT id FROM regress_protect.notes WHERE id = '00000000-0000-4000-8000-000000000008';
SELECT id FROM regress_protect.tags WHERE id IN ('t8', 'T1', 't9') ORDER BY id;
COMMIT;
RESET ROLE;

-- An id column is one whose text form no setting changes: a date's
-- follows the reader's DateStyle (2024-01-02 or 02.01.2024), so a reader
-- could choose which tuples a row matches. Text, integer, numeric, uuid
-- and enum columns, and domains over them, are accepted.
CREATE TYPE regress_protect.kind AS ENUM ('alpha', 'beta');
CREATE DOMAIN regress_protect.code AS text CHECK (VALUE <> '');
CREATE DOMAIN regress_protect.code2 AS regress_protect.code;
CREATE DOMAIN regress_protect.day AS date;
CREATE TABLE regress_protect.typed (d date, ts timestamptz, f float8, b bytea, n numeric, e regress_protect.kind,
                                    c regress_protect.code2, dd regress_protect.day, ch char(4), v varchar(10));
SELECT col, try(format('SELECT rbac.protect(%L, %L, %L); SELECT rbac.unprotect(%L)',
                       'regress_protect.typed', 'doc', col, 'regress_protect.typed')) AS protect
  FROM unnest(ARRAY['d', 'ts', 'f', 'b', 'n', 'e', 'c', 'dd', 'ch', 'v']) col;

-- A permissive policy the table has already would let every row through
-- (PostgreSQL ORs permissive policies): refused (55000), for the commands
-- rbac.protect restricts; a restrictive one narrows further and is kept.
-- Also for a command it leaves open: its permissive policy of true would
-- void the table's own (here: INSERT of ids under 10 only, and the
-- default leaves INSERT open).
CREATE TABLE regress_protect.legacy (id int PRIMARY KEY);
ALTER TABLE regress_protect.legacy ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON regress_protect.legacy FOR SELECT USING (true);
SELECT try($$SELECT rbac.protect('regress_protect.legacy', 'doc', 'id')$$) AS permissive_select;
SELECT try($$SELECT rbac.protect('regress_protect.legacy', 'doc', 'id', select_action => NULL)$$) AS select_left_open;
DROP POLICY everyone ON regress_protect.legacy;
CREATE POLICY small_inserts ON regress_protect.legacy FOR INSERT WITH CHECK (id < 10);
SELECT try($$SELECT rbac.protect('regress_protect.legacy', 'doc', 'id')$$) AS insert_left_open;
SELECT count(*) AS not_protected FROM pg_policy WHERE polrelid = 'regress_protect.legacy'::regclass;
DROP POLICY small_inserts ON regress_protect.legacy;
CREATE POLICY everything ON regress_protect.legacy USING (true);
SELECT try($$SELECT rbac.protect('regress_protect.legacy', 'doc', 'id', select_action => NULL)$$) AS permissive_all;
DROP POLICY everything ON regress_protect.legacy;
CREATE POLICY low_ids ON regress_protect.legacy AS RESTRICTIVE USING (id < 100);
SELECT try($$SELECT rbac.protect('regress_protect.legacy', 'doc', 'id')$$) AS restrictive_kept;
SELECT polname, polpermissive FROM pg_policy WHERE polrelid = 'regress_protect.legacy'::regclass ORDER BY polname;
-- A permissive policy added afterwards widens the protection: the view
-- names it for the commands it covers (ALL: every one).
CREATE POLICY open_select ON regress_protect.legacy FOR SELECT USING (id > 5);
CREATE POLICY open_all ON regress_protect.legacy USING (true);
CREATE POLICY narrow_delete ON regress_protect.legacy AS RESTRICTIVE FOR DELETE USING (id > 1);
SELECT command, widened_by FROM rbac.protected_tables WHERE table_name = 'regress_protect.legacy'::regclass ORDER BY command;
DROP POLICY open_select ON regress_protect.legacy;
DROP POLICY open_all ON regress_protect.legacy;
SELECT count(*) AS still_widened FROM rbac.protected_tables WHERE widened_by IS NOT NULL;

-- A table whose RLS rbac.protect turned on is as it was after unprotect,
-- also with a restrictive policy of its own left: alone, that would hide
-- every row.
CREATE TABLE regress_protect.plain (id int PRIMARY KEY);
CREATE POLICY narrow ON regress_protect.plain AS RESTRICTIVE USING (id < 100);
SELECT rbac.protect('regress_protect.plain', 'doc', 'id');
SELECT relrowsecurity AS rls_on FROM pg_class WHERE oid = 'regress_protect.plain'::regclass;
SELECT rbac.unprotect('regress_protect.plain');
SELECT relrowsecurity AS rls_on, (SELECT array_agg(polname) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c WHERE oid = 'regress_protect.plain'::regclass;

DROP SCHEMA regress_protect CASCADE;
DELETE FROM rbac.login_subjects WHERE login_role = 'regress_login_alice';
DROP ROLE regress_login_alice, regress_owner, regress_web, regress_intruder;
