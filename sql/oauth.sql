-- Notion workspaces, OAuth configuration and the OAuth authorization flow.
-- Runs after the rbac.encrypted_token type exists. Token plaintext is never
-- stored: every secret column is rbac.encrypted_token, bound by its
-- associated data to (table, column, row key) — see src/token.rs.

-- One row per installation of the integration (Notion identifies an
-- installation by its bot id).
CREATE TABLE rbac.workspaces (
    bot_id                 text PRIMARY KEY,
    workspace_id           text NOT NULL,
    workspace_name         text,
    workspace_icon         text,
    owner_type             text CHECK (owner_type IN ('user', 'workspace')),
    owner_user_id          text,
    duplicated_template_id text,
    -- NULL once the workspace is revoked and its tokens erased.
    access_token           rbac.encrypted_token,           -- AAD ('rbac.workspaces', 'access_token', bot_id)
    refresh_token          rbac.encrypted_token,           -- AAD ('rbac.workspaces', 'refresh_token', bot_id)
    authorized_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_used_at           timestamptz,
    last_synced_at         timestamptz,
    revoked_at             timestamptz,
    status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'error')),
    revoked_reason         text,
    -- When the worker last exchanged the refresh token for a new pair.
    refreshed_at           timestamptz,
    CONSTRAINT workspaces_tokens_check CHECK (status = 'revoked' OR access_token IS NOT NULL)
);
CREATE INDEX workspaces_by_workspace ON rbac.workspaces (workspace_id);

-- The integration's OAuth client (a single row).
CREATE TABLE rbac.oauth_config (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    client_id      text NOT NULL,
    client_secret  rbac.encrypted_token NOT NULL,  -- AAD ('rbac.oauth_config', 'client_secret', 'default')
    -- Registered at Notion for this integration; rbac.oauth_start uses
    -- no other (the first is its default).
    redirect_uris  text[] NOT NULL CONSTRAINT oauth_config_redirect_uris_check
                   CHECK (pg_catalog.cardinality(redirect_uris) BETWEEN 1 AND 20),
    api_base_url   text NOT NULL DEFAULT 'https://api.notion.com',
    notion_version text NOT NULL DEFAULT '2025-09-03',
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by     name NOT NULL DEFAULT CURRENT_USER
);

-- Issued OAuth states: only their SHA-256 is stored; single use; 10 minutes.
CREATE TABLE rbac.oauth_states (
    state_hash   text PRIMARY KEY,
    owner        text NOT NULL,
    redirect_uri text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_by   name NOT NULL DEFAULT SESSION_USER
);

-- Code exchanges queued for the background worker (and their outcome).
CREATE TABLE rbac.oauth_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash   text NOT NULL UNIQUE REFERENCES rbac.oauth_states (state_hash),
    code         rbac.encrypted_token,  -- AAD ('rbac.oauth_jobs', 'code', state_hash); cleared once used
    redirect_uri text NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'denied')),
    error        text,
    attempts     integer NOT NULL DEFAULT 0,
    bot_id       text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- The session role that recorded the callback: with administrators,
    -- the only one rbac.oauth_status shows the job to.
    requested_by name NOT NULL DEFAULT SESSION_USER,
    -- The worker claims a queued job once this has passed (retries back off).
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX oauth_jobs_queued ON rbac.oauth_jobs (next_attempt_at) WHERE status = 'queued';

-- pg_dump writes the rows of these tables and where oauth_jobs' identity
-- stands. Tokens are dumped in their encrypted text form; their associated
-- data (table, column, row key) is the same after a restore, so they decrypt
-- with the same key file.
SELECT pg_catalog.pg_extension_config_dump('rbac.workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_config', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_states', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_jobs_id_seq', '');
