-- rbac.encrypted_token: AES-256-GCM, bound to table/column/row, never
-- printing plaintext; key rotation; the OAuth state/callback flow.
BEGIN;

-- Encrypting and decrypting, bound to where the value belongs.
CREATE TEMP TABLE t AS
SELECT rbac.encrypt_token('secret_NOTION_TOKEN_xyz', 'rbac.workspaces', 'access_token', 'bot-1') AS tok;
SELECT tok::text LIKE 'enc:v1:k1:%' AS prints_envelope, tok::text NOT LIKE '%secret_NOTION%' AS no_plaintext FROM t;
SELECT rbac.decrypt_token(tok, 'rbac.workspaces', 'access_token', 'bot-1') FROM t;
SELECT rbac.token_key_id(tok) FROM t;
-- Two encryptions of the same plaintext differ (fresh nonce).
SELECT rbac.encrypt_token('x', 'a', 'b', 'c')::text <> rbac.encrypt_token('x', 'a', 'b', 'c')::text AS fresh_nonces;

-- Copied to another row or column, or altered: a clear error, never garbage.
SELECT try($$SELECT rbac.decrypt_token(tok, 'rbac.workspaces', 'access_token', 'bot-2') FROM t$$);
SELECT try($$SELECT rbac.decrypt_token(tok, 'rbac.workspaces', 'refresh_token', 'bot-1') FROM t$$);
SELECT try($$SELECT rbac.decrypt_token(overlay(tok::text placing (CASE WHEN substr(tok::text, 20, 1) = 'A' THEN 'B' ELSE 'A' END) from 20 for 1)::rbac.encrypted_token,
                                       'rbac.workspaces', 'access_token', 'bot-1') FROM t$$);
SELECT try($$SELECT rbac.decrypt_token(left(tok::text, 30)::rbac.encrypted_token, 'rbac.workspaces', 'access_token', 'bot-1') FROM t$$);
-- Plaintext cannot be cast into a token, and the input is not echoed.
SELECT try($$SELECT 'secret_NOTION_TOKEN_xyz'::rbac.encrypted_token$$);
SELECT try($$SELECT rbac.encrypt_token('', 'a', 'b', 'c')$$);

-- Workspaces: administrators read them without ever seeing plaintext.
INSERT INTO rbac.workspaces (bot_id, workspace_id, workspace_name, access_token, refresh_token)
SELECT 'bot-1', 'ws-1', 'Acme', tok, rbac.encrypt_token('secret_NOTION_REFRESH_xyz', 'rbac.workspaces', 'refresh_token', 'bot-1') FROM t;
SELECT bot_id, workspace_name, status, access_token::text LIKE 'enc:v1:%' AS encrypted FROM rbac.workspaces;

-- OAuth before it is configured: a clear error.
SELECT try($$SELECT * FROM rbac.oauth_start()$$);

-- Rotation: add a newer key to the key file; every stored token moves to it.
COPY (SELECT rbac.generate_token_key('k2')) TO PROGRAM 'cat >> "$(dirname "$PGDATA")/keys/token.keys"';
SELECT rbac.oauth_configure('client-1', 'secret_CLIENT_SECRET_xyz',
                            ARRAY['https://app.example.com/oauth/callback', 'http://localhost:3000/cb'],
                            'http://127.0.0.1:9');
-- Configuring is audited, without the secret (and the entry's server-log
-- line does not carry the statement, which holds it: the layer checks the
-- log for every secret_..._xyz of the tests).
SELECT action, resource_type, metadata, metadata::text ~ 'secret' AS shows_secret
  FROM rbac.audit_log WHERE action = 'oauth_configured';
SELECT rbac.rotate_token_keys() AS rotated;
SELECT rbac.token_key_id(access_token) AS access_key, rbac.token_key_id(refresh_token) AS refresh_key FROM rbac.workspaces;
SELECT rbac.decrypt_token(access_token, 'rbac.workspaces', 'access_token', bot_id) FROM rbac.workspaces;
SELECT rbac.rotate_token_keys() AS rotated_again;
-- The key file is looked at again when its mode changes (not only its
-- size or time): opened to the group, it is refused in this backend too;
-- closed again, it is read again.
COPY (SELECT 1) TO PROGRAM 'chmod 0640 "$(dirname "$PGDATA")/keys/token.keys"';
SELECT regexp_replace(try($$SELECT rbac.decrypt_token(access_token, 'rbac.workspaces', 'access_token', bot_id) FROM rbac.workspaces$$),
                      '"[^"]*token.keys"', '"<key file>"') AS group_readable;
COPY (SELECT 1) TO PROGRAM 'chmod 0600 "$(dirname "$PGDATA")/keys/token.keys"';
SELECT rbac.decrypt_token(access_token, 'rbac.workspaces', 'access_token', bot_id) AS private_again FROM rbac.workspaces;

-- OAuth: start builds the authorization URL and records only the state's hash.
CREATE TEMP TABLE started AS SELECT * FROM rbac.oauth_start();
SELECT regexp_replace(url, 'state=[A-Za-z0-9_-]+', 'state=<state>') AS url FROM started;
SELECT count(*) AS states, bool_and(state_hash = encode(sha256(convert_to(s.state, 'UTF8')), 'hex')) AS hashed,
       bool_and(expires_at = created_at + interval '10 minutes') AS ten_minutes
  FROM rbac.oauth_states, started s;
SELECT count(*) AS state_in_plain FROM rbac.oauth_states o, started s WHERE o::text LIKE '%' || s.state || '%';

-- Callback: queues the exchange with the code encrypted.
SELECT rbac.oauth_callback(state, 'secret_OAUTH_CODE_xyz') > 0 AS queued FROM started;
SELECT status, error, code::text LIKE 'enc:v1:k2:%' AS code_encrypted FROM rbac.oauth_jobs;
SELECT job > 0 AS job, status, error, bot_id, attempts FROM rbac.oauth_status((SELECT max(id) FROM rbac.oauth_jobs));
-- Replayed, unknown, malformed and expired states are refused.
SELECT try(format('SELECT rbac.oauth_callback(%L, %L)', state, 'another_code')) FROM started;
SELECT try($$SELECT rbac.oauth_callback('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'c')$$);
SELECT try($$SELECT rbac.oauth_callback('not-a-state', 'c')$$);
CREATE TEMP TABLE started2 AS SELECT * FROM rbac.oauth_start();
UPDATE rbac.oauth_states SET created_at = created_at - interval '11 minutes', expires_at = expires_at - interval '11 minutes'
 WHERE state_hash = (SELECT encode(sha256(convert_to(state, 'UTF8')), 'hex') FROM started2);
SELECT try(format('SELECT rbac.oauth_callback(%L, %L)', state, 'code')) FROM started2;
-- The user declined: recorded as denied.
CREATE TEMP TABLE started3 AS SELECT * FROM rbac.oauth_start();
SELECT rbac.oauth_callback(state, NULL, 'access_denied') AS denied_job FROM started3 \gset
SELECT status, error FROM rbac.oauth_status(:denied_job);
-- oauth_status reads in its statement's snapshot (it is STABLE): a job
-- queued by the same statement is not there yet.
CREATE TEMP TABLE started3b AS SELECT * FROM rbac.oauth_start();
SELECT try(format('SELECT rbac.oauth_status((SELECT rbac.oauth_callback(%L, %L)))', state, 'code')) ~ 'does not exist' AS same_statement_invisible FROM started3b;
SELECT try($$SELECT rbac.oauth_status(424242)$$);
-- A callback must carry exactly one of code and error; the state stays unused.
CREATE TEMP TABLE started4 AS SELECT * FROM rbac.oauth_start();
SELECT try(format('SELECT rbac.oauth_callback(%L, NULL, NULL)', state)) FROM started4;
SELECT try(format('SELECT rbac.oauth_callback(%L, %L, %L)', state, 'c', 'access_denied')) FROM started4;
SELECT used_at IS NULL AS still_unused FROM rbac.oauth_states WHERE state_hash = (SELECT encode(sha256(convert_to(state, 'UTF8')), 'hex') FROM started4);
-- Bad configuration is refused.
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY['not a url'])$$);
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY['https://app.example.com/cb'], 'http://api.example.com')$$);
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY[]::text[])$$);
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY['https://app.example.com/cb', NULL])$$);
SELECT try($$SELECT rbac.oauth_configure('c', 's', ARRAY['https://app.example.com/cb', 'https://app.example.com/cb'])$$);
-- The worker sends workspace tokens to the API base URL: only a superuser
-- session may make it anything but Notion's.
SELECT api_base_url AS base_before FROM rbac.oauth_config \gset
CREATE ROLE regress_oauth_admin NOLOGIN IN ROLE rbac_admin;
SET SESSION AUTHORIZATION regress_oauth_admin;
SELECT try($$SELECT rbac.oauth_configure('client-x', 'not-a-secret', ARRAY['https://app.example.com/cb'], 'https://attacker.example')$$) AS elsewhere;
SELECT try($$SELECT rbac.oauth_configure('client-x', 'not-a-secret', ARRAY['https://app.example.com/cb'], 'http://127.0.0.1:9')$$) AS local;
SELECT api_base_url = :'base_before' AS base_unchanged FROM rbac.oauth_config;
RESET SESSION AUTHORIZATION;
DROP ROLE regress_oauth_admin;

-- Only registered redirect URIs: another registered one is used as asked,
-- any other is refused (an open redirect), without echoing it.
SELECT url ~ 'redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb&' AS second_registered
  FROM rbac.oauth_start('http://localhost:3000/cb');
SELECT try($$SELECT * FROM rbac.oauth_start('https://evil.example.com/steal')$$);
SELECT try($$SELECT * FROM rbac.oauth_start('https://app.example.com/oauth/callback/')$$);

-- Job status: only the role that recorded the callback and administrators.
CREATE ROLE regress_app2 NOLOGIN IN ROLE rbac_oauth;
SET SESSION AUTHORIZATION regress_app2;
SELECT try(format('SELECT status FROM rbac.oauth_status(%s)', :denied_job));
CREATE TEMP TABLE started5 AS SELECT * FROM rbac.oauth_start();
SELECT rbac.oauth_callback(state, NULL, 'access_denied') AS app2_job FROM started5 \gset
SELECT status FROM rbac.oauth_status(:app2_job);
RESET SESSION AUTHORIZATION;
SELECT status FROM rbac.oauth_status(:app2_job);

-- Pending states are bounded per role (54000); the bound is a superuser's
-- setting, which the roles it limits cannot raise.
SET notion_rbac.max_pending_oauth_states = 2;
SET SESSION AUTHORIZATION regress_app2;
SELECT try($$SET notion_rbac.max_pending_oauth_states = 1000$$);
SELECT count(*) AS started FROM rbac.oauth_start();
SELECT count(*) AS started FROM rbac.oauth_start();
SELECT try($$SELECT * FROM rbac.oauth_start()$$);
RESET SESSION AUTHORIZATION;
CREATE ROLE regress_app3 NOLOGIN IN ROLE rbac_oauth;
SET SESSION AUTHORIZATION regress_app3;
SELECT count(*) AS others_unaffected FROM rbac.oauth_start();
RESET SESSION AUTHORIZATION;
RESET notion_rbac.max_pending_oauth_states;

-- No plaintext secret anywhere in the extension's tables.
SELECT count(*) AS plaintext_rows FROM (
    SELECT w::text AS r FROM rbac.workspaces w UNION ALL
    SELECT c::text FROM rbac.oauth_config c UNION ALL
    SELECT j::text FROM rbac.oauth_jobs j UNION ALL
    SELECT s::text FROM rbac.oauth_states s) x
 WHERE r ~ 'secret_[A-Z_]+_xyz';
ROLLBACK;

-- A value that does not decrypt where it is (copied from another row) is
-- reported by name, never skipped silently; everything else still rotates.
BEGIN;
INSERT INTO rbac.workspaces (bot_id, workspace_id, access_token)
VALUES ('bot-src', 'ws-1', rbac.encrypt_token('secret_SRC_xyz', 'rbac.workspaces', 'access_token', 'bot-src'));
INSERT INTO rbac.workspaces (bot_id, workspace_id, access_token) SELECT 'bot-copy', 'ws-1', access_token FROM rbac.workspaces WHERE bot_id = 'bot-src';
COPY (SELECT rbac.generate_token_key('k3')) TO PROGRAM 'cat >> "$(dirname "$PGDATA")/keys/token.keys"';
SELECT rbac.rotate_token_keys() AS rotated_but_one;
SELECT bot_id, rbac.token_key_id(access_token) AS access_key FROM rbac.workspaces ORDER BY bot_id;
ROLLBACK;
