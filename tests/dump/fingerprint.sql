-- Everything the extension stores and answers, as text: the dump layer
-- compares it before a dump and after each restore. Tokens are shown as the
-- SHA-256 of their decrypted plaintext (they must still decrypt).
\set ON_ERROR_STOP on
\pset footer off
\pset format unaligned
SELECT version, md5(source), created_by FROM rbac.schemas ORDER BY version;
SELECT * FROM rbac.schema_relations ORDER BY 1, 2, 3, 4;
SELECT * FROM rbac.schema_attributes ORDER BY 1, 2;
SELECT count(*) AS tuples, md5(string_agg(tuple, ',' ORDER BY tuple)) FROM rbac.read_tuples();
SELECT * FROM rbac.read_attributes();
SELECT bot_id, workspace_id, workspace_name, status,
       encode(sha256(convert_to(rbac.decrypt_token(access_token, 'rbac.workspaces', 'access_token', bot_id), 'UTF8')), 'hex') AS access,
       encode(sha256(convert_to(rbac.decrypt_token(refresh_token, 'rbac.workspaces', 'refresh_token', bot_id), 'UTF8')), 'hex') AS refresh
  FROM rbac.workspaces ORDER BY bot_id;
SELECT client_id, redirect_uris, api_base_url, notion_version,
       encode(sha256(convert_to(rbac.decrypt_token(client_secret, 'rbac.oauth_config', 'client_secret', 'default'), 'UTF8')), 'hex') AS secret
  FROM rbac.oauth_config;
SELECT count(*) AS states, count(used_at) AS used FROM rbac.oauth_states;
SELECT j.id, j.status, j.error, j.redirect_uri,
       encode(sha256(convert_to(rbac.decrypt_token(j.code, 'rbac.oauth_jobs', 'code', j.state_hash), 'UTF8')), 'hex') AS code
  FROM rbac.oauth_jobs j ORDER BY j.id;
-- (Bound to the role of that name where restored: the role's OID differs
-- in another cluster.)
SELECT login_role, subject, role_oid = (SELECT oid FROM pg_roles WHERE rolname = login_role) AS bound
  FROM rbac.login_subjects ORDER BY 1;
-- Every check of every user and team on every document.
SELECT s.subject, string_agg(CASE WHEN rbac.check(s.subject, 'view', 'doc:d' || d) THEN '1' ELSE '0' END, '' ORDER BY d)
  FROM (SELECT 'user:u' || i AS subject FROM generate_series(0, 40) i UNION ALL VALUES ('user:x'), ('user:y'), ('team:t1#member')) s,
       generate_series(0, 9) d
 GROUP BY s.subject ORDER BY s.subject;
SELECT string_agg(id, ',' ORDER BY id) AS x_views FROM rbac.lookup_resources('user:x', 'view', 'doc') id;
