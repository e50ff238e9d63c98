-- Dropping and re-creating the extension in the same session: cached
-- relation ids and compiled schemas must not outlive the objects.
SELECT rbac.check('user:alice', 'write', 'database:task_list') AS before_drop;
DROP EXTENSION notion_rbac CASCADE;
CREATE EXTENSION notion_rbac;
SELECT try($$SELECT rbac.check('user:alice', 'write', 'database:task_list')$$);
-- Written directly (not through rbac.write_schema, which would also clear
-- this session's cache): the new version 1 must not be mistaken for the
-- old installation's version 1.
INSERT INTO rbac.schemas (source) VALUES ('entity user {} entity doc { relation viewer @user permission view = viewer }') RETURNING version;
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:alice']) AS added;
SELECT rbac.check('user:alice', 'view', 'doc:1') AS after_reinstall, rbac.check('user:bob', 'view', 'doc:1') AS other_user;
SELECT * FROM rbac.lookup_resources('user:alice', 'view', 'doc');
