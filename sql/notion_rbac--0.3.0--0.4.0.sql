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
-- - pending OAuth states are bounded per role;
-- - the subject of a request for row-level security: rbac.set_subject (role
--   rbac_app), rbac.current_subject(), rbac.login_subjects.

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

-- The subject of a request, for row-level security policies: rbac_app sets
-- it (rbac.set_subject), rbac.current_subject() reads it, falling back to
-- the login role's entry in rbac.login_subjects. The role is reused only if
-- it is as the install would have made it (see bootstrap.sql).
DO $role$
DECLARE
    admins text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rbac_app') THEN
        CREATE ROLE rbac_app NOLOGIN;
        COMMENT ON ROLE rbac_app IS 'notion_rbac: application servers and poolers — set the subject of each request (rbac.set_subject)';
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles
                WHERE rolname = 'rbac_app'
                  AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role "rbac_app" already exists with LOGIN or special attributes'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'make it NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS, or drop it';
    END IF;
    SELECT pg_catalog.string_agg(m.rolname, ', ' ORDER BY m.rolname) INTO admins
      FROM pg_catalog.pg_auth_members a
      JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
      JOIN pg_catalog.pg_roles m ON m.oid = a.member
     WHERE g.rolname = 'rbac_app' AND a.admin_option AND NOT m.rolsuper;
    IF admins IS NOT NULL THEN
        RAISE EXCEPTION 'role "rbac_app" already exists and % may grant it to anyone', admins
            USING ERRCODE = 'duplicate_object',
                  HINT = pg_catalog.format('REVOKE ADMIN OPTION FOR rbac_app FROM %s, or drop the role', admins);
    END IF;
END
$role$;

CREATE FUNCTION rbac."_is_subject"("text" TEXT) RETURNS bool
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'is_subject_wrapper';
CREATE FUNCTION rbac."current_subject"() RETURNS TEXT
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'current_subject_wrapper';
CREATE FUNCTION rbac."set_subject"("subject" TEXT, "scope" TEXT DEFAULT 'transaction') RETURNS void
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'set_subject_wrapper';

CREATE TABLE rbac.login_subjects (
    login_role name PRIMARY KEY,
    subject    text NOT NULL CONSTRAINT login_subjects_subject_check CHECK (rbac._is_subject(subject))
);
SELECT pg_catalog.pg_extension_config_dump('rbac.login_subjects', '');

REVOKE ALL ON rbac.login_subjects FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac._is_subject(text), rbac.current_subject(), rbac.set_subject(text, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA rbac TO rbac_app;
GRANT EXECUTE ON FUNCTION rbac.set_subject(text, text) TO rbac_app;
GRANT EXECUTE ON FUNCTION rbac.current_subject() TO rbac_reader, rbac_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rbac.login_subjects TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac._is_subject(text) TO rbac_admin;
COMMENT ON TABLE rbac.login_subjects IS 'Login roles mapped to the subject they act as: rbac.current_subject() when no subject was set';
COMMENT ON FUNCTION rbac.set_subject(text, text) IS 'Set the subject of the current request for the transaction (default) or the session; members of rbac_app only';
COMMENT ON FUNCTION rbac.current_subject() IS 'The subject of the current request: set with rbac.set_subject, else the login role''s in rbac.login_subjects, else NULL';
