-- Data for the dump layer: every kind of row the extension stores.
-- Three schema versions (the last one active), tuples with subject sets,
-- a large entity (more than 16 tuples) and cycles, attributes, the OAuth
-- client, states and jobs, and a workspace with encrypted tokens.
\set ON_ERROR_STOP on
CREATE EXTENSION notion_rbac;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user }');
SELECT rbac.write_schema('entity user {} entity team { relation member @user @team#member } entity doc { relation viewer @user @team#member }');
SELECT rbac.write_schema($$
entity user {}
entity team {
    relation member @user @team#member
}
entity doc {
    relation parent @doc
    relation viewer @user @team#member
    relation banned @user
    attribute public boolean
    permission view = (viewer or parent.view or is_public) not banned
    permission is_public = public
}
$$);
SELECT rbac.write_tuples(ARRAY(
    SELECT format('doc:d%s#viewer@user:u%s', i % 5, i) FROM generate_series(1, 40) i
    UNION ALL SELECT format('doc:d%s#parent@doc:d%s', i, i - 1) FROM generate_series(1, 9) i
    UNION ALL VALUES ('doc:d0#parent@doc:d9'),
                     ('team:t1#member@team:t2#member'), ('team:t2#member@team:t1#member'),
                     ('team:t2#member@user:x'), ('doc:d7#viewer@team:t1#member'),
                     ('doc:d3#banned@user:u3')));
SELECT rbac.write_attributes(ARRAY['doc:d8$public|boolean:true', 'doc:d2$public|boolean:false']);
-- A tuple written by plain INSERT, and one deleted again.
INSERT INTO rbac.tuples VALUES ('doc', 'd6', 'viewer', 'user', 'y', '');
SELECT rbac.delete_tuples(ARRAY['doc:d1#viewer@user:u1']);

SELECT rbac.oauth_configure('client-1', 'secret_CLIENT_xyz', ARRAY['https://app.example.com/callback']);
CREATE TEMP TABLE s1 AS SELECT * FROM rbac.oauth_start();
CREATE TEMP TABLE s2 AS SELECT * FROM rbac.oauth_start();
SELECT rbac.oauth_callback(state, 'secret_CODE_xyz') FROM s1;
SELECT rbac.oauth_callback(state, NULL, 'access_denied') FROM s2;
INSERT INTO rbac.workspaces (bot_id, workspace_id, workspace_name, access_token, refresh_token)
VALUES ('bot-1', 'ws-1', 'Engineering',
        rbac.encrypt_token('secret_ACCESS_xyz', 'rbac.workspaces', 'access_token', 'bot-1'),
        rbac.encrypt_token('secret_REFRESH_xyz', 'rbac.workspaces', 'refresh_token', 'bot-1'));
-- A login role mapped to its subject (rbac.current_subject()), and a
-- mapping whose role is gone (it applies to no one, here and restored).
CREATE ROLE dump_login;
INSERT INTO rbac.login_subjects VALUES ('dump_login', 'team:t1#member'), ('dump_gone', 'user:nobody');
