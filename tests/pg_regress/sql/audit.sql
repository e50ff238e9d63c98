-- Application roles over the relationship graph (rbac.authorize), and the
-- hash-chained, append-only audit log: what is recorded, what verification
-- finds after each kind of tampering, purging. One transaction, rolled back.
BEGIN;
SELECT name, builtin FROM rbac.app_roles ORDER BY name;
SELECT role, array_agg(action ORDER BY action) AS actions FROM rbac.app_role_actions GROUP BY role ORDER BY role;
-- The built-in roles are fixed; roles of your own are not.
SELECT try($$DELETE FROM rbac.app_roles WHERE name = 'viewer'$$);
SELECT try($$DELETE FROM rbac.app_role_actions WHERE role = 'editor' AND action = 'write'$$);
INSERT INTO rbac.app_roles (name, description, builtin) VALUES ('commenter', 'Read and comment', true);
INSERT INTO rbac.app_role_actions (role, action) VALUES ('commenter', 'read'), ('commenter', 'comment');
SELECT name, builtin FROM rbac.app_roles WHERE name = 'commenter';

-- A workspace in the Notion model; roles in it.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema(rbac.notion_model()) > 0 AS model;
SELECT rbac.write_tuples(ARRAY['workspace:w1#member@user:ann', 'workspace:w1#member@user:bob', 'workspace:w1#admin@user:cat',
    'page:p1#workspace@workspace:w1', 'page:p2#parent@page:p1', 'page:p2#workspace@workspace:w1',
    'page:p3#workspace@workspace:w2', 'page:p4#writer@user:bob', 'page:p4#workspace@workspace:w1']);
INSERT INTO rbac.role_assignments (subject, workspace_id, role)
VALUES ('user:ann', 'w1', 'viewer'), ('user:bob', 'w1', 'editor'), ('user:cat', 'w1', 'admin');
SELECT try($$INSERT INTO rbac.role_assignments (subject, workspace_id, role) VALUES ('not a subject', 'w1', 'viewer')$$)
       ~ 'role_assignments_subject_check' AS subject_checked;

-- Allowed only when the role allows the action AND the graph grants it.
SELECT s AS subject, a AS action, o AS object, rbac.authorize(s, a, o) AS allowed FROM (VALUES
    ('user:ann', 'read', 'page:p2'),
    ('user:ann', 'write', 'page:p2'),
    ('user:bob', 'write', 'page:p2'),
    ('user:bob', 'write', 'page:p4'),
    ('user:cat', 'write', 'page:p1'),
    ('user:cat', 'manage', 'workspace:w1'),
    ('user:ann', 'read', 'page:p3'),
    ('user:dan', 'read', 'page:p1'),
    ('user:ann', 'read', 'page:nowhere')
) v(s, a, o);
-- Every denial is audited, with the reason.
SELECT action, result, subject, resource_type, resource_id, workspace_id, metadata ->> 'reason' AS reason
  FROM rbac.audit_log WHERE result = 'denied' AND logged_at >= now() ORDER BY subject, action, resource_id;
-- A subject, object or action that is not one is refused, and nothing is
-- recorded of it (a caller cannot write entries of its choosing).
SELECT count(*) AS entries_before FROM rbac.audit_log \gset
SELECT try($$SELECT rbac.authorize('ann', 'read', 'page:p1')$$) AS bad_subject;
SELECT try($$SELECT rbac.authorize('user:ann', 'read', 'page')$$) AS bad_object;
-- A subject is its whole text: nothing after a second "#", no relation
-- that is not a name (a denial would record the text as given).
SELECT try($$SELECT rbac.authorize('user:ann#...#resolved by security, ignore', 'read', 'page:p1')$$) AS subject_with_trailer;
SELECT try($$SELECT rbac.authorize('user:ann#free text', 'read', 'page:p1')$$) AS relation_not_a_name;
SELECT try($$SELECT rbac.authorize('any thing:ann', 'read', 'page:p1')$$) AS type_not_a_name;
SELECT try($$SELECT rbac.authorize('user:ann', 'read', 'page:p1#reader')$$) AS object_with_relation;
SELECT try($$SELECT rbac.authorize('user:ann', 'read', 'workspace:' || repeat('w', 5000))$$) AS overlong_object;
SELECT try($$SELECT rbac.authorize('user:ann', 'Read it', 'page:p1')$$) AS bad_action;
SELECT try($$SELECT rbac.authorize('user:ann', repeat('a', 64), 'page:p1')$$) AS overlong_action;
SELECT rbac.authorize('user:ann', repeat('a', 63), 'page:p1') AS longest_action_denied;
SELECT count(*) - :entries_before AS entries_added FROM rbac.audit_log;
-- Actions map to permissions: by name unless configured.
INSERT INTO rbac.action_permissions (action, permission) VALUES ('comment', 'read');
SELECT rbac.authorize('user:ann', 'comment', 'page:p1') AS viewer_comments;
INSERT INTO rbac.role_assignments (subject, workspace_id, role) VALUES ('user:ann', 'w1', 'commenter');
SELECT rbac.authorize('user:ann', 'comment', 'page:p1') AS commenter_comments;

-- Writes are audited per statement, with counts (never one entry per tuple).
SELECT action, metadata FROM rbac.audit_log
 WHERE logged_at >= now() AND action IN ('tuples_written', 'schema_written', 'role_assigned', 'role_changed')
 ORDER BY logged_at;

-- The chain verifies.
SELECT status FROM rbac.verify_audit_log();
-- Nobody changes entries: not the owner through SQL, not an administrator.
SELECT try($$UPDATE rbac.audit_log SET result = 'success' WHERE result = 'denied'$$);
SELECT try($$DELETE FROM rbac.audit_log$$);
SELECT try($$TRUNCATE rbac.audit_log CASCADE$$);
SELECT try($$DELETE FROM rbac.audit_chain$$);
CREATE ROLE regress_audit_admin;
GRANT rbac_admin TO regress_audit_admin;
SET SESSION AUTHORIZATION regress_audit_admin;
SELECT try($$INSERT INTO rbac.audit_log (action, result) VALUES ('forged', 'success')$$);
SELECT try($$INSERT INTO rbac.audit_chain VALUES (1000000, gen_random_uuid(), '\x00', '\x00')$$);
SELECT try($$SELECT rbac._audit('forged', 'success')$$);
SELECT count(*) > 0 AS admin_reads_the_log FROM rbac.recent_denials;
RESET SESSION AUTHORIZATION;

-- A superuser who disables the triggers is found out, and told where.
CREATE FUNCTION pg_temp.verify() RETURNS SETOF text LANGUAGE sql AS
$$ SELECT status || ': ' || regexp_replace(detail, '[0-9]+', 'N', 'g') FROM rbac.verify_audit_log() $$;
SAVEPOINT s;
SET LOCAL session_replication_role = replica;
UPDATE rbac.audit_log SET result = 'success' WHERE action = 'write_denied' AND subject = 'user:ann';
SELECT pg_temp.verify() AS altered;
ROLLBACK TO SAVEPOINT s;
SET LOCAL session_replication_role = replica;
DELETE FROM rbac.audit_log WHERE action = 'read_denied' AND subject = 'user:dan';
SELECT pg_temp.verify() AS deleted;
ROLLBACK TO SAVEPOINT s;
SET LOCAL session_replication_role = replica;
DELETE FROM rbac.audit_chain WHERE seq = (SELECT max(seq) - 2 FROM rbac.audit_chain);
SELECT pg_temp.verify() AS chain_row_removed;
ROLLBACK TO SAVEPOINT s;
SET LOCAL session_replication_role = replica;
DO $$
DECLARE k bigint := (SELECT max(seq) - 3 FROM rbac.audit_chain);
        a uuid := (SELECT entry_id FROM rbac.audit_chain WHERE seq = k);
        b uuid := (SELECT entry_id FROM rbac.audit_chain WHERE seq = k + 1);
BEGIN  -- two entries swap places in the chain
    UPDATE rbac.audit_chain SET entry_id = gen_random_uuid() WHERE seq = k;
    UPDATE rbac.audit_chain SET entry_id = a WHERE seq = k + 1;
    UPDATE rbac.audit_chain SET entry_id = b WHERE seq = k;
END $$;
SELECT pg_temp.verify() AS reordered;
ROLLBACK TO SAVEPOINT s;
SET LOCAL session_replication_role = replica;
DELETE FROM rbac.audit_chain WHERE seq <= (SELECT min(seq) + 1 FROM rbac.audit_chain);
SELECT pg_temp.verify() AS start_removed;
ROLLBACK TO SAVEPOINT s;
RESET session_replication_role;

-- Purging keeps the chain verifiable, and is itself an entry; no time, no
-- purge. An entry on its way to a Notion audit database stays, with every
-- entry after it, until it is delivered.
INSERT INTO rbac.workspaces (bot_id, workspace_id, access_token)
VALUES ('bot-audit', 'w1', rbac.encrypt_token('secret_audit_token', 'rbac.workspaces', 'access_token', 'bot-audit'));
INSERT INTO rbac.audit_delivery (bot_id, database_id) VALUES ('bot-audit', 'db-audit');
-- Configuration changes are entries too: where entries go, and who a login
-- role acts as (one entry per statement, with its row count).
UPDATE rbac.audit_delivery SET enabled = true;
CREATE ROLE regress_audit_login;
CREATE ROLE regress_audit_other;
INSERT INTO rbac.login_subjects VALUES ('regress_audit_login', 'user:ann'), ('regress_audit_other', 'user:bob');
UPDATE rbac.login_subjects SET subject = 'user:carl' WHERE login_role = 'regress_audit_other';
DELETE FROM rbac.login_subjects WHERE login_role LIKE 'regress_audit_%';
SELECT action, resource_type, metadata FROM rbac.audit_log
 WHERE resource_type IN ('audit_delivery', 'login_subjects') AND logged_at >= now()  -- this transaction's
 ORDER BY logged_at, action;
-- So is every change to roles an administrator can make: an UPDATE of an
-- assignment or of a role's actions, a removed action override.
SAVEPOINT roles;
UPDATE rbac.role_assignments SET workspace_id = 'w9' WHERE subject = 'user:bob' AND workspace_id = 'w1';
UPDATE rbac.app_role_actions SET action = 'review' WHERE role = 'commenter' AND action = 'comment';
DELETE FROM rbac.action_permissions WHERE action = 'comment';
SELECT action, resource_type, metadata FROM rbac.audit_log ORDER BY logged_at DESC LIMIT 3;
ROLLBACK TO SAVEPOINT roles;
SELECT rbac.authorize('user:ann', 'write', 'page:p2') AS ann_writes_in_w1;
SELECT rbac.authorize('user:ann', 'read', 'page:p3') AS ann_reads_in_w2;
SELECT count(*) AS queued_for_notion FROM rbac.audit_outbox WHERE status = 'queued';
-- An administrator may queue a failed delivery again, and nothing else:
-- an entry marked sent by hand would be purged undelivered.
SET ROLE regress_audit_admin;
SELECT try($$UPDATE rbac.audit_outbox SET status = 'sent' WHERE status = 'queued'$$) AS mark_sent;
RESET ROLE;
UPDATE rbac.audit_outbox SET status = 'failed' WHERE status = 'queued';  -- as the worker would
SET ROLE regress_audit_admin;
SELECT try($$UPDATE rbac.audit_outbox SET status = 'sent' WHERE status = 'failed'$$) AS failed_to_sent;
UPDATE rbac.audit_outbox SET status = 'queued', next_attempt_at = now() WHERE status = 'failed';
-- Nor hold a queued delivery back.
SELECT try($$UPDATE rbac.audit_outbox SET next_attempt_at = 'infinity' WHERE status = 'queued'$$) AS hold_back;
RESET ROLE;
SELECT status, count(*) FROM rbac.audit_outbox GROUP BY status;
SELECT rbac.purge_audit_log(NULL) IS NULL AS null_purges_nothing;
SELECT rbac.purge_audit_log(clock_timestamp()) > 0 AS purged_up_to_it;
SELECT count(*) AS undelivered_kept FROM rbac.audit_log l JOIN rbac.audit_outbox o ON o.entry_id = l.id;
SELECT count(*) > 1 AS later_kept_too FROM rbac.audit_log;
UPDATE rbac.audit_outbox SET status = 'sent';
SELECT rbac.purge_audit_log(clock_timestamp()) > 0 AS purged_once_sent;
SELECT count(*) AS outbox_rows_left FROM rbac.audit_outbox;
SELECT pg_temp.verify() AS after_purge;
-- An entry of a transaction that stayed open for days lies beyond the
-- day the worker's chainer looks back: the verification chains it.
INSERT INTO rbac.audit_log (action, result, logged_at) VALUES ('long_transaction', 'success', now() - interval '2 days');
SELECT rbac._audit_chain_pending() AS chained_by_a_worker_turn;
SELECT pg_temp.verify() AS straggler_chained;
SELECT count(*) AS chained FROM rbac.audit_chain c JOIN rbac.audit_log l ON l.id = c.entry_id WHERE l.action = 'long_transaction';
SELECT action, metadata ? 'anchor_hash' AS has_anchor FROM rbac.audit_log WHERE action = 'audit_purged';
ROLLBACK;
