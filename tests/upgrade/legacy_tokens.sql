-- Tokens exactly as 0.1.0 and 0.2.0 stored them (pgrx's CBOR of
-- {"envelope": "<text form>"}, read off a 0.2.0 installation), encrypted
-- with the test key "legacy" (tests/upgrade/legacy.key) for
-- ('rbac.workspaces', 'access_token' / 'refresh_token', 'bot-legacy').
-- The upgrade layer writes them into a database still at an old version,
-- updates it, and checks that they decrypt and are stored in the new format.
\set ON_ERROR_STOP on
CREATE CAST (bytea AS rbac.encrypted_token) WITHOUT FUNCTION;
INSERT INTO rbac.workspaces (bot_id, workspace_id, workspace_name, access_token, refresh_token)
VALUES ('bot-legacy', 'ws-legacy', 'Legacy',
        '\xa168656e76656c6f70657854656e633a76313a6c65676163793a5938764b4341723844705441416a4470497a5750436e58314b4930557969635f366c56592d63426d79524c717473714272745a71624c643653504562684e5961786773676f41'::bytea::rbac.encrypted_token,
        '\xa168656e76656c6f70657855656e633a76313a6c65676163793a6b504d577275544d6d5f526a70364b62526258564d4c6a38414d412d765a7834763930574c4a7a36667058646b6e36662d42325a4a585f71787139785737377870455750657263'::bytea::rbac.encrypted_token);
DROP CAST (bytea AS rbac.encrypted_token);
