-- After the update: the legacy tokens decrypt, and their stored bytes are
-- the envelope's binary layout (version byte 1), no longer CBOR (0xa1).
\set ON_ERROR_STOP on
CREATE CAST (rbac.encrypted_token AS bytea) WITHOUT FUNCTION;
SELECT rbac.decrypt_token(access_token, 'rbac.workspaces', 'access_token', bot_id),
       rbac.decrypt_token(refresh_token, 'rbac.workspaces', 'refresh_token', bot_id),
       get_byte(access_token::bytea, 0), get_byte(refresh_token::bytea, 0)
  FROM rbac.workspaces WHERE bot_id = 'bot-legacy';
DROP CAST (rbac.encrypted_token AS bytea);
