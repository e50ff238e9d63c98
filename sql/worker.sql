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

-- Permission-aware Notion requests (rbac.notion_request): applications
-- never hold a token; the worker makes the call once the subject is
-- authorized, and keeps the answer for notion_rbac.response_retention.
CREATE TABLE rbac.notion_requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id          text NOT NULL REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    subject         text NOT NULL,
    method          text NOT NULL CHECK (method IN ('GET', 'POST', 'PATCH', 'DELETE')),
    path            text NOT NULL,
    body            jsonb,
    object          text NOT NULL,
    action          text NOT NULL,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('denied', 'queued', 'running', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    http_status     integer,
    response        jsonb,
    error_code      text,
    error           text,
    requested_by    name NOT NULL DEFAULT SESSION_USER,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at     timestamptz
);
CREATE INDEX notion_requests_queued ON rbac.notion_requests (next_attempt_at) WHERE status = 'queued';
CREATE INDEX notion_requests_finished ON rbac.notion_requests (finished_at);

-- The answer to a request, for the role that made it (or an
-- administrator): waits up to p_wait for the worker (READ COMMITTED).
CREATE FUNCTION rbac.notion_response(p_id bigint, p_wait interval DEFAULT '0')
RETURNS TABLE (status text, http_status integer, body jsonb, error_code text, error text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    r rbac.notion_requests;
    v_until timestamptz := clock_timestamp() + coalesce(p_wait, '0');
BEGIN
    IF p_wait > '0' AND current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'waiting for a Notion response needs READ COMMITTED'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'call rbac.notion_response(id) again later, or from a READ COMMITTED transaction';
    END IF;
    LOOP
        SELECT * INTO r FROM rbac.notion_requests n
         WHERE n.id = p_id AND (n.requested_by = session_user OR pg_has_role(session_user, 'rbac_admin', 'MEMBER'));
        IF NOT FOUND THEN
            RAISE EXCEPTION 'Notion request % does not exist', p_id USING ERRCODE = 'undefined_object';
        END IF;
        EXIT WHEN r.status NOT IN ('queued', 'running') OR clock_timestamp() >= v_until;
        PERFORM pg_sleep(0.02);
    END LOOP;
    status := r.status; http_status := r.http_status; body := r.response;
    error_code := r.error_code; error := r.error;
    RETURN NEXT;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('rbac.notion_requests', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.notion_requests_id_seq', '');
