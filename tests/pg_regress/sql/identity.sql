-- The subject of a request, for row-level security policies:
-- rbac.set_subject (members of rbac_app) and rbac.current_subject().
CREATE ROLE regress_app NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE ROLE regress_user NOLOGIN IN ROLE rbac_reader;
CREATE SCHEMA regress_ident AUTHORIZATION regress_user;
SELECT rbac.current_subject() IS NULL AS none_yet;

SET ROLE regress_app;
-- The default scope is the transaction: it ends with it, so a pooled
-- connection hands the next transaction no subject.
BEGIN;
SELECT rbac.set_subject('user:alice');
SELECT rbac.current_subject();
COMMIT;
SELECT rbac.current_subject() IS NULL AS ended_with_the_transaction;
SELECT rbac.set_subject('team:eng#member'), rbac.current_subject() AS same_statement;
SELECT rbac.current_subject() IS NULL AS next_statement_has_none;
-- A NULL scope is refused (22004), not taken for either.
SELECT try($$SELECT rbac.set_subject('user:alice', NULL)$$) AS null_scope;
-- A rolled back transaction or savepoint takes its subject with it.
BEGIN;
SELECT rbac.set_subject('user:bob');
ROLLBACK;
SELECT rbac.current_subject() IS NULL AS rolled_back;
BEGIN;
SELECT rbac.set_subject('user:bob');
SAVEPOINT s1;
SELECT rbac.set_subject('user:carol');
ROLLBACK TO SAVEPOINT s1;
SELECT rbac.current_subject() AS after_rollback_to_savepoint;
SAVEPOINT s2;
SELECT rbac.set_subject('user:carol');
RELEASE SAVEPOINT s2;
SELECT rbac.current_subject() AS after_release;
COMMIT;
SELECT rbac.current_subject() IS NULL AS ended_again;
-- The session scope lasts until changed; a transaction-scoped subject
-- covers it for one transaction; a rolled back change reverts.
SELECT rbac.set_subject('user:dave', 'session');
SELECT rbac.current_subject() AS session_subject;
BEGIN;
SELECT rbac.set_subject('user:eve', 'session');
ROLLBACK;
SELECT rbac.current_subject() AS still_dave;
BEGIN;
SELECT rbac.set_subject('user:frank');
SELECT rbac.current_subject() AS for_this_transaction;
COMMIT;
SELECT rbac.current_subject() AS dave_again;
SELECT rbac.set_subject(NULL, 'session');
SELECT rbac.current_subject() IS NULL AS cleared;
-- Bad input.
SELECT try($$SELECT rbac.set_subject('not a subject')$$);
SELECT try($$SELECT rbac.set_subject('user:x', 'forever')$$);
RESET ROLE;

-- A role outside rbac_app cannot act as someone else: not through the
-- function, not with SET or set_config (the subject is no setting, and the
-- prefix is reserved), not through a SECURITY DEFINER function of its own.
SET ROLE regress_user;
SELECT try($$SELECT rbac.set_subject('user:alice')$$);
SELECT try($$SET notion_rbac.subject = 'user:alice'$$);
SELECT try($$SELECT set_config('notion_rbac.subject', 'user:alice', false)$$);
CREATE FUNCTION regress_ident.sneak() RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ SELECT rbac.set_subject('user:alice') $$;
SELECT try($$SELECT regress_ident.sneak()$$);
SELECT rbac.current_subject() IS NULL AS still_nobody;
RESET ROLE;
-- Even a grant of EXECUTE added later does not open it: membership is checked.
GRANT EXECUTE ON FUNCTION rbac.set_subject(text, text) TO regress_user;
SET ROLE regress_user;
SELECT try($$SELECT rbac.set_subject('user:alice')$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rbac.set_subject(text, text) FROM regress_user;

-- Applications that log in per user: the login role's subject.
INSERT INTO rbac.login_subjects VALUES ('regress_user', 'user:grace');
SELECT try($$INSERT INTO rbac.login_subjects VALUES ('regress_nobody', 'not a subject')$$);
SET SESSION AUTHORIZATION regress_user;
SELECT rbac.current_subject() AS mapped_login;
RESET SESSION AUTHORIZATION;
SELECT rbac.current_subject() IS NULL AS not_for_other_logins;

-- A mapping is for the role that had the name when it was written: a role
-- created again under a dropped role's name, or renamed to a mapped name,
-- is someone else and gets no subject.
CREATE ROLE regress_login IN ROLE rbac_reader;
INSERT INTO rbac.login_subjects VALUES ('regress_login', 'user:kim');
SET SESSION AUTHORIZATION regress_login;
SELECT rbac.current_subject() AS mapped;
RESET SESSION AUTHORIZATION;
DROP ROLE regress_login;
CREATE ROLE regress_login IN ROLE rbac_reader;
SET SESSION AUTHORIZATION regress_login;
SELECT rbac.current_subject() IS NULL AS same_name_new_role_unmapped;
RESET SESSION AUTHORIZATION;
-- Written again, the mapping is for the role that has the name now.
UPDATE rbac.login_subjects SET subject = subject WHERE login_role = 'regress_login';
SET SESSION AUTHORIZATION regress_login;
SELECT rbac.current_subject() AS mapped_again;
RESET SESSION AUTHORIZATION;
-- Renamed, the role loses its mapping (the mapping names the old name),
-- and a role renamed to the old name does not take it over.
ALTER ROLE regress_login RENAME TO regress_login_renamed;
CREATE ROLE regress_login_other IN ROLE rbac_reader;
ALTER ROLE regress_login_other RENAME TO regress_login;
SET SESSION AUTHORIZATION regress_login_renamed;
SELECT rbac.current_subject() IS NULL AS renamed_role_unmapped;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_login;
SELECT rbac.current_subject() IS NULL AS renamed_to_the_name_unmapped;
RESET SESSION AUTHORIZATION;
-- The writer does not choose the role: role_oid is bound to the role that
-- has the name (none here, with a warning), whatever was given.
INSERT INTO rbac.login_subjects VALUES
    ('regress_no_such_role', 'user:lee', (SELECT oid FROM pg_roles WHERE rolname = 'regress_login'));
SELECT login_role, subject, role_oid IS NULL AS applies_to_no_one,
       role_oid = (SELECT oid FROM pg_roles WHERE rolname = login_role) AS bound_to_the_named_role
  FROM rbac.login_subjects WHERE login_role IN ('regress_login', 'regress_no_such_role') ORDER BY 1;
DELETE FROM rbac.login_subjects WHERE login_role IN ('regress_login', 'regress_no_such_role');
DROP ROLE regress_login, regress_login_renamed;

-- In a row-level security policy: the rows the request's subject may see;
-- with no subject, none (rbac.check is strict: NULL hides the row).
CREATE TABLE regress_ident.docs (id text PRIMARY KEY, title text);
INSERT INTO regress_ident.docs VALUES ('rls1', 'shared with alice'), ('rls2', 'private');
SELECT rbac.write_tuples(ARRAY['doc:rls1#viewer@user:alice']) AS added;
ALTER TABLE regress_ident.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_read ON regress_ident.docs FOR SELECT
    USING (rbac.check(rbac.current_subject(), 'view', 'doc:' || id));
GRANT USAGE ON SCHEMA regress_ident TO regress_app;
GRANT SELECT ON regress_ident.docs TO regress_app;
SET ROLE regress_app;
BEGIN;
SELECT rbac.set_subject('user:alice');
SELECT id, title FROM regress_ident.docs;
COMMIT;
SELECT count(*) AS without_a_subject FROM regress_ident.docs;
RESET ROLE;
SELECT rbac.delete_tuples(ARRAY['doc:rls1#viewer@user:alice']) AS deleted;

-- A session subject cleared with NULL means none set, in its transaction
-- as after commit: the login role's mapping applies again. A NULL for the
-- transaction is no subject at all, for that transaction.
INSERT INTO rbac.login_subjects VALUES ('regress_app', 'user:henry');
SET SESSION AUTHORIZATION regress_app;
SELECT rbac.set_subject('user:ivan', 'session');
SELECT rbac.current_subject() AS session_subject_first;
BEGIN;
SELECT rbac.set_subject(NULL, 'session');
SELECT rbac.current_subject() AS mapped_in_the_transaction;
COMMIT;
SELECT rbac.current_subject() AS mapped_after_commit;
BEGIN;
SELECT rbac.set_subject(NULL);
SELECT rbac.current_subject() IS NULL AS nobody_for_the_transaction;
COMMIT;
-- RESET ALL clears a session subject, as it resets what SET set, and a
-- rolled back savepoint takes that with it.
SELECT rbac.set_subject('user:ivan', 'session');
BEGIN;
SAVEPOINT s;
RESET ALL;
SELECT rbac.current_subject() AS mapped_after_reset_all;
ROLLBACK TO SAVEPOINT s;
SELECT rbac.current_subject() AS ivan_again;
COMMIT;
RESET ALL;
SELECT rbac.current_subject() AS mapped_after_reset_all_committed;
RESET SESSION AUTHORIZATION;
-- DISCARD ALL (what a session-mode pooler runs between clients) hands the
-- next client a connection that acts for no one.
SELECT rbac.set_subject('user:ivan', 'session');
SELECT rbac.current_subject() AS before_discard;
DISCARD ALL;
SELECT rbac.current_subject() IS NULL AS no_subject_after_discard;

DELETE FROM rbac.login_subjects;
DROP SCHEMA regress_ident CASCADE;
DROP ROLE regress_app;
DROP ROLE regress_user;
