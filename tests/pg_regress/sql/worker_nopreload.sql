-- Without shared_preload_libraries there is no background worker:
-- functions that queue work for it say so (the work waits, queued), and
-- rbac.worker_status() shows it. Runs in the nopreload layer only.
BEGIN;
SELECT preloaded, database, pid, queued FROM rbac.worker_status();
INSERT INTO rbac.workspaces (bot_id, workspace_id, access_token)
SELECT 'bot-np', 'ws-np', rbac.encrypt_token('secret_NP_ACCESS_xyz', 'rbac.workspaces', 'access_token', 'bot-np');
SELECT rbac.verify_workspace('bot-np') > 0 AS queued;
SELECT rbac.deauthorize('bot-np') > 0 AS revoke_queued;
SELECT kind, status FROM rbac.worker_jobs ORDER BY kind;
ROLLBACK;

-- Nor a registry of writers: the read cache is keyed by the whole snapshot.
SELECT basis, reason, writers_held, generation, writers_left FROM rbac.cache_basis();
