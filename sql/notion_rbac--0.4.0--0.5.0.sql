-- notion_rbac 0.4.0 → 0.5.0
--
-- The background worker (shared_preload_libraries; database
-- notion_rbac.database_name): OAuth code exchanges, calls with a
-- workspace's token (refreshed on 401; the workspace revoked when nothing
-- cures it), revocation. New: rbac.workspace_jobs, rbac.worker_jobs,
-- rbac.deauthorize, rbac.verify_workspace, rbac.worker_status; settings
-- notion_rbac.database_name, notion_rbac.http_timeout,
-- notion_rbac.max_job_attempts. OAuth jobs gain retry times; workspaces
-- keep why they were revoked and lose their tokens when revoked.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.5.0'" to load this file. \quit

-- A revoked workspace's tokens are erased (PostgreSQL 18 catalogs the
-- NOT NULL as a constraint; DROP NOT NULL removes it there too).
ALTER TABLE rbac.workspaces ALTER COLUMN access_token DROP NOT NULL;
ALTER TABLE rbac.workspaces ADD COLUMN revoked_reason text, ADD COLUMN refreshed_at timestamptz;
ALTER TABLE rbac.workspaces ADD CONSTRAINT workspaces_tokens_check CHECK (status = 'revoked' OR access_token IS NOT NULL);

-- Retries back off: a queued job is claimed once next_attempt_at passed.
ALTER TABLE rbac.oauth_jobs ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
                            ADD COLUMN started_at timestamptz,
                            ADD COLUMN finished_at timestamptz;
DROP INDEX rbac.oauth_jobs_queued;
CREATE INDEX oauth_jobs_queued ON rbac.oauth_jobs (next_attempt_at) WHERE status = 'queued';

CREATE TABLE rbac.workspace_jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id          text NOT NULL REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('verify', 'revoke', 'sync')),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_error      text,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    requested_by    name NOT NULL DEFAULT SESSION_USER
);
CREATE INDEX workspace_jobs_queued ON rbac.workspace_jobs (next_attempt_at) WHERE status = 'queued';
CREATE INDEX workspace_jobs_by_bot ON rbac.workspace_jobs (bot_id);
-- Workspaces installed before the worker existed get their first sync.
INSERT INTO rbac.workspace_jobs (bot_id, kind)
    SELECT bot_id, 'sync' FROM rbac.workspaces WHERE status = 'active';

CREATE VIEW rbac.worker_jobs AS
    SELECT 'oauth_exchange'::text AS kind, j.id, j.bot_id, j.status, j.attempts, j.next_attempt_at,
           j.error AS last_error, j.created_at, j.started_at, j.finished_at, j.requested_by
      FROM rbac.oauth_jobs j
    UNION ALL
    SELECT w.kind, w.id, w.bot_id, w.status, w.attempts, w.next_attempt_at,
           w.last_error, w.created_at, w.started_at, w.finished_at, w.requested_by
      FROM rbac.workspace_jobs w;

SELECT pg_catalog.pg_extension_config_dump('rbac.workspace_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.workspace_jobs_id_seq', '');

CREATE FUNCTION rbac."deauthorize"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'deauthorize_wrapper';

CREATE FUNCTION rbac."verify_workspace"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'verify_workspace_wrapper';

CREATE FUNCTION rbac."worker_status"() RETURNS TABLE (
	"preloaded" bool,
	"database" TEXT,
	"pid" INT,
	"queued" bigint,
	"running" bigint,
	"failed" bigint
)
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'worker_status_wrapper';

REVOKE ALL ON rbac.workspace_jobs, rbac.worker_jobs FROM PUBLIC;
REVOKE ALL ON SEQUENCE rbac.workspace_jobs_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.deauthorize(text), rbac.verify_workspace(text), rbac.worker_status() FROM PUBLIC;
GRANT SELECT ON rbac.workspace_jobs, rbac.worker_jobs TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.deauthorize(text), rbac.verify_workspace(text), rbac.worker_status() TO rbac_admin;
GRANT SELECT, INSERT, UPDATE ON rbac.workspace_jobs TO rbac_worker;

COMMENT ON TABLE rbac.workspace_jobs IS 'Background-worker jobs on installed workspaces (verify, revoke, sync): status, attempts, next attempt, last error';
COMMENT ON VIEW rbac.worker_jobs IS 'Every background-worker job: OAuth code exchanges and workspace jobs';
COMMENT ON FUNCTION rbac.deauthorize(text) IS 'Revoke an installation now and have the worker revoke its token at Notion; returns the revoke job id';
COMMENT ON FUNCTION rbac.verify_workspace(text) IS 'Queue a call with the workspace''s token (refreshed on 401; revoked if nothing cures it); returns the job id';
COMMENT ON FUNCTION rbac.worker_status() IS 'Whether the background worker runs, the database it serves, its pid, and job counts';
