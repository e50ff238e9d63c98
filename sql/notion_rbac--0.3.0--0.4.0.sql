-- notion_rbac 0.3.0 → 0.4.0
--
-- Hostile input, continued:
-- - checks are polynomial for every schema: permissions that recurse
--   through an exclusion are settled exactly instead of searched (library
--   only; new settings notion_rbac.max_fixpoint_size and, superuser-only,
--   notion_rbac.max_pending_oauth_states);
-- - OAuth redirect URIs are registered with rbac.oauth_configure (a list;
--   rbac.oauth_start uses no other: an unregistered one made the
--   application an open redirect);
-- - rbac.oauth_status shows a job only to the role that recorded it and to
--   administrators;
-- - pending OAuth states are bounded per role.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.4.0'" to load this file. \quit

-- The one redirect URI becomes the registered list (same column position).
ALTER TABLE rbac.oauth_config ALTER COLUMN redirect_uri TYPE text[] USING ARRAY[redirect_uri];
ALTER TABLE rbac.oauth_config RENAME COLUMN redirect_uri TO redirect_uris;
-- PostgreSQL 18 catalogs NOT NULL as a named constraint, which a column
-- rename does not rename: give it the name a fresh install has.
DO $rename$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                WHERE conrelid = 'rbac.oauth_config'::pg_catalog.regclass
                  AND conname = 'oauth_config_redirect_uri_not_null') THEN
        ALTER TABLE rbac.oauth_config RENAME CONSTRAINT oauth_config_redirect_uri_not_null
            TO oauth_config_redirect_uris_not_null;
    END IF;
END
$rename$;
ALTER TABLE rbac.oauth_config ADD CONSTRAINT oauth_config_redirect_uris_check
    CHECK (pg_catalog.cardinality(redirect_uris) BETWEEN 1 AND 20);

-- Who recorded each job: the role of the session that started its state
-- (the callback ran in the same application).
ALTER TABLE rbac.oauth_jobs ADD COLUMN requested_by name;
UPDATE rbac.oauth_jobs j SET requested_by = s.created_by
  FROM rbac.oauth_states s WHERE s.state_hash = j.state_hash;
ALTER TABLE rbac.oauth_jobs ALTER COLUMN requested_by SET DEFAULT SESSION_USER,
                            ALTER COLUMN requested_by SET NOT NULL;

DROP FUNCTION rbac.oauth_configure(text, text, text, text, text);
CREATE FUNCTION rbac."oauth_configure"(
	"client_id" TEXT,
	"client_secret" TEXT,
	"redirect_uris" TEXT[],
	"api_base_url" TEXT DEFAULT 'https://api.notion.com',
	"notion_version" TEXT DEFAULT '2025-09-03'
) RETURNS void
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, rbac, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'oauth_configure_wrapper';
REVOKE ALL ON FUNCTION rbac.oauth_configure(text, text, text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.oauth_configure(text, text, text[], text, text) TO rbac_admin;
COMMENT ON FUNCTION rbac.oauth_configure(text, text, text[], text, text) IS 'Set the Notion OAuth client (client id, secret, registered redirect URIs, API base URL, Notion version)';
COMMENT ON FUNCTION rbac.oauth_status(bigint) IS 'Where an OAuth code exchange stands: queued, running, succeeded, failed or denied (for the role that recorded it and administrators)';
