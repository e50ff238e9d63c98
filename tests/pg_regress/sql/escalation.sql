-- Escalation paths an untrusted role might try, each refused or detected:
-- search_path hijacking of the extension's functions, calling its internal
-- functions, writing tuples, roles, audit rows or requests directly,
-- acting as someone else, forging an audit entry.
BEGIN;
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema(rbac.notion_model()) > 0 AS model;
SELECT rbac.write_tuples(ARRAY['workspace:w1#member@user:ann', 'page:p1#workspace@workspace:w1']);
INSERT INTO rbac.role_assignments (subject, workspace_id, role) VALUES ('user:ann', 'w1', 'viewer');

-- An application role (checks, set_subject, Notion requests) with a schema
-- of its own first on its search_path, full of look-alikes.
CREATE ROLE regress_evil NOLOGIN IN ROLE rbac_reader, rbac_app;
CREATE SCHEMA evil AUTHORIZATION regress_evil;
SET SESSION AUTHORIZATION regress_evil;
SET search_path = evil, pg_catalog, rbac;
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT '\x00'::bytea $$;
CREATE FUNCTION evil.current_subject() RETURNS text LANGUAGE sql AS $$ SELECT 'user:root' $$;
CREATE FUNCTION evil."check"(text, text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION evil.split_part(text, text, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'workspace' $$;
CREATE FUNCTION evil.texteq_evil(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR evil.= (FUNCTION = evil.texteq_evil, LEFTARG = text, RIGHTARG = text);
-- The extension's functions do not see any of it.
SELECT rbac.authorize('user:ann', 'read', 'page:p1') AS ann_reads, rbac.authorize('user:bob', 'read', 'page:p1') AS bob_reads,
       rbac.authorize('user:ann', 'write', 'page:p1') AS ann_writes;
SELECT rbac.check('user:bob', 'read', 'page:p1') AS bob_checks;
SELECT rbac.current_subject() AS subject;
-- Internal functions are not callable.
SELECT public.try($$SELECT rbac._audit('forged', 'success')$$);
SELECT public.try($$SELECT rbac._audit_chain_pending()$$);
SELECT public.try($$SELECT rbac._lock_schema_writes()$$);
SELECT public.try($$SELECT rbac.decrypt_token(t, 'rbac.workspaces', 'access_token', 'b')
                      FROM (SELECT NULL::rbac.encrypted_token AS t OFFSET 0) s$$);
SELECT public.try($$SELECT rbac.purge_audit_log(now())$$);
SELECT public.try($$SELECT * FROM rbac.verify_audit_log()$$);
-- Tables are not writable directly.
SELECT public.try($$INSERT INTO rbac.tuples VALUES ('workspace', 'w1', 'admin', 'user', 'bob', '')$$);
SELECT public.try($$INSERT INTO rbac.role_assignments (subject, workspace_id, role) VALUES ('user:bob', 'w1', 'admin')$$);
SELECT public.try($$INSERT INTO rbac.app_role_actions (role, action) VALUES ('viewer', 'write')$$);
SELECT public.try($$INSERT INTO rbac.audit_log (action, result) VALUES ('forged', 'success')$$);
SELECT public.try($$UPDATE rbac.notion_requests SET status = 'queued'$$);
SELECT public.try($$INSERT INTO rbac.login_subjects VALUES ('regress_evil', 'user:root')$$);
-- Acting as someone else: set_subject is for rbac_app (which this role
-- is), but not by SET or set_config.
SELECT public.try($$SET notion_rbac.subject = 'user:root'$$);
SELECT public.try($$SELECT set_config('notion_rbac.subject', 'user:root', false)$$);
RESET SESSION AUTHORIZATION;
RESET search_path;

-- rbac.authorize audits a denial in the subject's name (and delivers it to
-- Notion audit databases), so a role that may check but is no application
-- server (not in rbac_app) authorizes only the subject it acts as.
CREATE ROLE regress_plain NOLOGIN IN ROLE rbac_reader;
CREATE SCHEMA plain AUTHORIZATION regress_plain;
INSERT INTO rbac.login_subjects VALUES ('regress_plain', 'user:ann');
SET SESSION AUTHORIZATION regress_plain;
SELECT public.try($$SELECT rbac.authorize('user:bob', 'read', 'page:p1')$$) AS as_bob;
SELECT rbac.authorize('user:ann', 'read', 'page:p1') AS as_itself, rbac.authorize('user:ann', 'write', 'page:p1') AS as_itself_denied;
-- Not through a SECURITY DEFINER function of its own either.
CREATE FUNCTION plain.sneak() RETURNS boolean LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT rbac.authorize('user:bob', 'read', 'page:p1') $$;
SELECT public.try($$SELECT plain.sneak()$$) AS through_a_definer_function;
RESET SESSION AUTHORIZATION;
-- A pooler (in rbac_app) may name anyone; the client it hands a lesser role
-- with SET ROLE is that role, acting as the subject the pooler set.
CREATE ROLE regress_pooler NOLOGIN IN ROLE rbac_reader, rbac_app;
GRANT regress_plain TO regress_pooler;
SET SESSION AUTHORIZATION regress_pooler;
SELECT rbac.authorize('user:bob', 'read', 'page:p1') AS pooler_as_bob;
SELECT rbac.set_subject('user:ann');
SET ROLE regress_plain;
SELECT public.try($$SELECT rbac.authorize('user:bob', 'read', 'page:p1')$$) AS client_as_bob;
SELECT rbac.authorize('user:ann', 'read', 'page:p1') AS client_as_the_set_subject;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT subject, action, db_role, metadata ->> 'reason' AS reason FROM rbac.audit_log
 WHERE db_role IN ('regress_plain', 'regress_pooler') ORDER BY db_role, subject, action;

-- A superuser who forges an entry (triggers disabled, hash made up) is
-- caught by verification.
SELECT status FROM rbac.verify_audit_log();
SET LOCAL session_replication_role = replica;
INSERT INTO rbac.audit_log (id, action, result) VALUES ('00000000-0000-4000-8000-000000000001', 'forged', 'success');
INSERT INTO rbac.audit_chain SELECT max(seq) + 1, '00000000-0000-4000-8000-000000000001',
       (SELECT hash FROM rbac.audit_chain ORDER BY seq DESC LIMIT 1), '\x0123' FROM rbac.audit_chain;
RESET session_replication_role;
SELECT status, detail FROM rbac.verify_audit_log() WHERE entry_id = '00000000-0000-4000-8000-000000000001';
ROLLBACK;
