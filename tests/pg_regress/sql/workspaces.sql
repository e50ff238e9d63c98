-- Installed workspaces from SQL: rbac.deauthorize, rbac.verify_workspace,
-- rbac.worker_status, rbac.worker_jobs. This database is not the one the
-- background worker serves, so queued work only waits (with a warning that
-- says how to change that); the worker itself is tested by the worker layer.
BEGIN;
CREATE TEMP TABLE keys AS
SELECT rbac.encrypt_token('secret_WS_ACCESS_xyz', 'rbac.workspaces', 'access_token', 'bot-ws') AS access,
       rbac.encrypt_token('secret_WS_REFRESH_xyz', 'rbac.workspaces', 'refresh_token', 'bot-ws') AS refresh;
INSERT INTO rbac.workspaces (bot_id, workspace_id, workspace_name, access_token, refresh_token)
SELECT 'bot-ws', 'ws-9', 'Acme', access, refresh FROM keys;

-- The model the sync writes into compiles, and becomes the active model
-- (in this transaction, over no earlier tuples).
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema(rbac.notion_model()) > 0 AS notion_model_loaded;
SELECT entity_type, relation, subject_type FROM rbac.schema_relations
 WHERE relation IN ('parent', 'member', 'bot') OR (relation = 'workspace' AND entity_type IN ('page', 'database'))
 ORDER BY 1, 2, 3;

-- The worker's state, as psql shows it.
SELECT preloaded, database, pid IS NOT NULL AS running, queued, running, failed FROM rbac.worker_status();

-- Verify: a job for the worker, woken at commit.
SELECT rbac.verify_workspace('bot-ws') > 0 AS verify_queued;
SELECT kind, bot_id, status, attempts, last_error FROM rbac.worker_jobs ORDER BY kind;
SELECT try($$SELECT rbac.verify_workspace('bot-nope')$$);

-- Sync on demand, and its state.
SELECT rbac.sync_now('bot-ws') = rbac.sync_now('bot-ws') AS one_queued_sync;
SELECT bot_id, state, last_started_at, objects_seen, next_run_at IS NOT NULL AS next_run_known FROM rbac.sync_status;
SELECT try($$SELECT rbac.sync_now('bot-nope')$$);

-- An error a job's statement raises — here a trigger an administrator put
-- on rbac.workspace_jobs — reaches the caller whole: psql shows its
-- context (the trigger, then the library's statement), and a handler
-- reads its constraint name (error_fields does the same for the tuple and
-- schema writers).
CREATE FUNCTION ws_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no jobs today' USING ERRCODE = 'check_violation', CONSTRAINT = 'ws_no_jobs';
END $$;
CREATE TRIGGER ws_refuse BEFORE INSERT OR UPDATE ON rbac.workspace_jobs FOR EACH ROW EXECUTE FUNCTION ws_refuse();
SAVEPOINT before_refusal;
SELECT rbac.verify_workspace('bot-ws');
ROLLBACK TO SAVEPOINT before_refusal;
DO $$
DECLARE c text;
BEGIN
    PERFORM rbac.sync_now('bot-ws');
EXCEPTION WHEN check_violation THEN
    GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
    RAISE NOTICE 'sync_now refused: constraint=%', c;
END $$;
DROP TRIGGER ws_refuse ON rbac.workspace_jobs;
DROP FUNCTION ws_refuse();

-- Permission-aware requests: arguments checked, only requests the model
-- can authorize, denials recorded and never sent.
SELECT try($$SELECT rbac.notion_request(NULL, 'bot-ws', 'GET', '/v1/pages/x')$$);
SELECT try($$SELECT rbac.notion_request('user:a', 'bot-ws', 'PUT', '/v1/pages/3c000000-0000-4000-8000-0000000000aa')$$);
SELECT try($$SELECT rbac.notion_request('user:a', 'bot-ws', 'GET', '/v1/users')$$);
SELECT try($$SELECT rbac.notion_request('user:a', 'bot-ws', 'GET', '/v1/pages/not-an-id')$$);
SELECT try($$SELECT rbac.notion_request('user:a', 'bot-nope', 'GET', '/v1/pages/3c000000-0000-4000-8000-0000000000aa')$$);
SELECT rbac.notion_request('user:a', 'bot-ws', 'GET', '/v1/pages/3C0000000000400080000000000000AA') AS denied_request \gset
SELECT * FROM rbac.notion_response(:denied_request);
SELECT subject, object, action, status FROM rbac.notion_requests;

-- Deauthorize: revoked in this transaction, queued work cancelled, a
-- revoke call queued; the tokens stay until that call has been made.
SELECT rbac.deauthorize('bot-ws') > 0 AS revoke_queued;
SELECT status, revoked_at IS NOT NULL AS revoked_at, revoked_reason, access_token IS NOT NULL AS token_kept
  FROM rbac.workspaces WHERE bot_id = 'bot-ws';
SELECT kind, status, last_error FROM rbac.worker_jobs ORDER BY kind;
-- Again: nothing to do (NULL, with a notice).
SELECT rbac.deauthorize('bot-ws') IS NULL AS already;
SELECT try($$SELECT rbac.deauthorize('bot-nope')$$);
SELECT try($$SELECT rbac.verify_workspace('bot-ws')$$);
SELECT try($$SELECT rbac.sync_now('bot-ws')$$);
SELECT state FROM rbac.sync_status WHERE bot_id = 'bot-ws';
-- Only a revoked workspace may be without tokens.
UPDATE rbac.workspaces SET access_token = NULL, refresh_token = NULL WHERE bot_id = 'bot-ws';
SELECT try($$UPDATE rbac.workspaces SET status = 'active' WHERE bot_id = 'bot-ws'$$) ~ 'workspaces_tokens_check' AS refused;
SELECT try($$INSERT INTO rbac.workspaces (bot_id, workspace_id) VALUES ('bot-x', 'ws-x')$$) ~ 'workspaces_tokens_check' AS refused;

-- Administrators only.
CREATE ROLE regress_ws_reader;
GRANT rbac_reader TO regress_ws_reader;
SET SESSION AUTHORIZATION regress_ws_reader;
SELECT try($$SELECT rbac.deauthorize('bot-ws')$$);
SELECT try($$SELECT * FROM rbac.worker_jobs$$);
RESET SESSION AUTHORIZATION;
ROLLBACK;
