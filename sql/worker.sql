-- Work for the background worker on installed workspaces. (OAuth code
-- exchanges are rbac.oauth_jobs: they exist before their workspace does.)
-- The worker claims a queued job whose next_attempt_at has passed with
-- FOR UPDATE SKIP LOCKED, marks it running and commits, talks to Notion with
-- no transaction open, then records the outcome in one short transaction.
CREATE TABLE rbac.workspace_jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id          text NOT NULL REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('verify', 'revoke', 'sync')),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Never a token or secret: built by the worker from Notion's error code
    -- and message.
    last_error      text,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    requested_by    name NOT NULL DEFAULT SESSION_USER
);
CREATE INDEX workspace_jobs_queued ON rbac.workspace_jobs (next_attempt_at) WHERE status = 'queued';
CREATE INDEX workspace_jobs_by_bot ON rbac.workspace_jobs (bot_id);

-- Every job of the worker in one place, for psql.
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
