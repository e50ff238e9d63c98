-- Tokens as 0.3.0 and later store them (the envelope's binary layout),
-- written by the old version's own encrypt_token: the update must keep
-- them readable. (Older versions get legacy_tokens.sql instead.)
\set ON_ERROR_STOP on
INSERT INTO rbac.workspaces (bot_id, workspace_id, workspace_name, access_token, refresh_token)
VALUES ('bot-legacy', 'ws-legacy', 'Legacy',
        rbac.encrypt_token('secret_LEGACY_ACCESS_xyz', 'rbac.workspaces', 'access_token', 'bot-legacy'),
        rbac.encrypt_token('secret_LEGACY_REFRESH_xyz', 'rbac.workspaces', 'refresh_token', 'bot-legacy'));
