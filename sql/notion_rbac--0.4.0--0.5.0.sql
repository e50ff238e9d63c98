-- notion_rbac 0.4.0 → 0.5.0
--
-- The background worker (shared_preload_libraries; database
-- notion_rbac.database_name): OAuth code exchanges, calls with a
-- workspace's token (refreshed on 401; the workspace revoked when nothing
-- cures it), revocation, and syncs of each workspace's Notion access into
-- tuples (rbac.notion_synced, rbac.sync_status, rbac.sync_now,
-- rbac.notion_model, notion_rbac.sync_interval). New: rbac.workspace_jobs, rbac.worker_jobs,
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

-- Tuples written by syncs, by installation: what a sync may remove again.
-- A tuple that was already there (written by hand) is not owned, so syncs
-- never remove it; one owned by several installations of a workspace goes
-- when the last of them stops seeing it.
CREATE TABLE rbac.notion_synced (
    bot_id       text NOT NULL REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    part         text NOT NULL CHECK (part IN ('users', 'objects')),
    entity_type  text COLLATE "C" NOT NULL,
    entity_id    text COLLATE "C" NOT NULL,
    relation     text COLLATE "C" NOT NULL,
    subject_type text COLLATE "C" NOT NULL,
    subject_id   text COLLATE "C" NOT NULL,
    PRIMARY KEY (bot_id, entity_type, entity_id, relation, subject_type, subject_id)
);
CREATE INDEX notion_synced_by_tuple ON rbac.notion_synced (entity_type, entity_id, relation, subject_type, subject_id);

-- Each installation's sync, for psql: state, the last run's figures, the next run.
CREATE VIEW rbac.sync_status AS
    SELECT w.bot_id, w.workspace_id,
           CASE WHEN w.status = 'revoked' THEN 'revoked'
                WHEN r.id IS NOT NULL THEN 'running'
                WHEN q.id IS NOT NULL THEN 'queued'
                WHEN l.status = 'failed' THEN 'failed'
                ELSE 'idle' END AS state,
           l.started_at AS last_started_at,
           l.finished_at AS last_finished_at,
           l.status AS last_result,
           (l.result ->> 'objects_seen')::bigint AS objects_seen,
           (l.result ->> 'requests')::bigint AS requests,
           (l.result ->> 'rate_limited')::bigint AS rate_limited,
           l.last_error,
           CASE WHEN w.status <> 'active' THEN NULL
                WHEN q.id IS NOT NULL THEN q.next_attempt_at
                WHEN r.id IS NOT NULL THEN NULL
                ELSE l.finished_at + NULLIF(pg_catalog.current_setting('notion_rbac.sync_interval', true), '0')::interval
           END AS next_run_at,
           l.result AS last_summary
      FROM rbac.workspaces w
      LEFT JOIN LATERAL (SELECT j.id, j.status, j.started_at, j.finished_at, j.result, j.last_error
                           FROM rbac.workspace_jobs j
                          WHERE j.bot_id = w.bot_id AND j.kind = 'sync' AND j.status IN ('succeeded', 'failed')
                          ORDER BY j.finished_at DESC, j.id DESC LIMIT 1) l ON true
      LEFT JOIN LATERAL (SELECT j.id FROM rbac.workspace_jobs j
                          WHERE j.bot_id = w.bot_id AND j.kind = 'sync' AND j.status = 'running' LIMIT 1) r ON true
      LEFT JOIN LATERAL (SELECT j.id, j.next_attempt_at FROM rbac.workspace_jobs j
                          WHERE j.bot_id = w.bot_id AND j.kind = 'sync' AND j.status = 'queued'
                          ORDER BY j.next_attempt_at LIMIT 1) q ON true;

SELECT pg_catalog.pg_extension_config_dump('rbac.notion_synced', '');

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

CREATE FUNCTION rbac."sync_now"(
	"bot_id" TEXT
) RETURNS bigint
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'sync_now_wrapper';

CREATE FUNCTION rbac."notion_model"() RETURNS TEXT
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'notion_model_wrapper';

REVOKE ALL ON rbac.workspace_jobs, rbac.worker_jobs, rbac.notion_synced, rbac.sync_status FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.sync_now(text), rbac.notion_model() FROM PUBLIC;
REVOKE ALL ON SEQUENCE rbac.workspace_jobs_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.deauthorize(text), rbac.verify_workspace(text), rbac.worker_status() FROM PUBLIC;
GRANT SELECT ON rbac.workspace_jobs, rbac.worker_jobs, rbac.notion_synced, rbac.sync_status TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.sync_now(text) TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.notion_model() TO rbac_reader;
GRANT SELECT, INSERT, DELETE ON rbac.notion_synced TO rbac_worker;
GRANT EXECUTE ON FUNCTION rbac.deauthorize(text), rbac.verify_workspace(text), rbac.worker_status() TO rbac_admin;
GRANT SELECT, INSERT, UPDATE ON rbac.workspace_jobs TO rbac_worker;

COMMENT ON TABLE rbac.workspace_jobs IS 'Background-worker jobs on installed workspaces (verify, revoke, sync): status, attempts, next attempt, last error';
COMMENT ON VIEW rbac.worker_jobs IS 'Every background-worker job: OAuth code exchanges and workspace jobs';
COMMENT ON FUNCTION rbac.deauthorize(text) IS 'Revoke an installation now and have the worker revoke its token at Notion; returns the revoke job id';
COMMENT ON FUNCTION rbac.verify_workspace(text) IS 'Queue a call with the workspace''s token (refreshed on 401; revoked if nothing cures it); returns the job id';
COMMENT ON FUNCTION rbac.worker_status() IS 'Whether the background worker runs, the database it serves, its pid, and job counts';
COMMENT ON TABLE rbac.notion_synced IS 'Tuples written by Notion syncs, by installation: what a sync may remove again (tuples written by hand are never listed)';
COMMENT ON VIEW rbac.sync_status IS 'Each installation''s Notion sync: state, last run (objects seen, requests, rate limited, result), next run';
COMMENT ON FUNCTION rbac.sync_now(text) IS 'Queue a sync of the workspace''s Notion access into tuples now; returns the job id';
COMMENT ON FUNCTION rbac.notion_model() IS 'The Notion model the sync writes into (Permify''s Notion model with parent for pages and databases)';
