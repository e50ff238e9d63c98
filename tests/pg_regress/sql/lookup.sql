-- Lookups: complete, and exactly the ids for which rbac.check is true.
BEGIN;

SELECT * FROM rbac.lookup_resources('user:bob', 'read', 'page');
SELECT * FROM rbac.lookup_resources('user:alice', 'write', 'block');
SELECT * FROM rbac.lookup_resources('user:charlie', 'write', 'page');
SELECT * FROM rbac.lookup_resources('user:eve', 'read', 'template');
SELECT * FROM rbac.lookup_subjects('database:task_list', 'write', 'user');
SELECT * FROM rbac.lookup_subjects('comment:task_list_1_comment_2', 'read', 'user');
SELECT * FROM rbac.lookup_subjects('page:project_plan', 'read', 'workspace#member');

-- Exactly the ids for which check is true, for every user and page permission.
WITH users AS (SELECT DISTINCT 'user:' || subject_id AS u FROM rbac.tuples WHERE subject_type = 'user'),
     pages AS (SELECT DISTINCT entity_id AS id FROM rbac.tuples WHERE entity_type IN ('page')),
     perms AS (SELECT unnest(ARRAY['read', 'write']) AS p),
     by_check AS (SELECT u, p, id FROM users, perms, pages WHERE rbac.check(u, p, 'page:' || id)),
     by_lookup AS (SELECT u, p, id FROM users, perms, rbac.lookup_resources(u, p, 'page') id)
SELECT (SELECT count(*) FROM by_check) AS allowed_pairs,
       (SELECT count(*) FROM (SELECT * FROM by_check EXCEPT SELECT * FROM by_lookup) d) AS missing_from_lookup,
       (SELECT count(*) FROM (SELECT * FROM by_lookup EXCEPT SELECT * FROM by_check) d) AS extra_in_lookup;

-- Filter, sort and paginate an application table by permission.
CREATE TEMP TABLE pages (id text PRIMARY KEY, title text);
INSERT INTO pages VALUES ('project_plan', 'Project plan'), ('product_spec', 'Product spec'), ('secret', 'Secret');
SELECT p.title FROM pages p JOIN rbac.lookup_resources('user:eve', 'read', 'page') r(id) ON r.id = p.id ORDER BY p.title;
SELECT p.title FROM pages p WHERE rbac.check('user:frank', 'write', 'page:' || p.id) ORDER BY p.title LIMIT 1;

-- Contextual tuples count in lookups too.
SELECT * FROM rbac.lookup_resources('user:zoe', 'read', 'page', '{"tuples": ["page:secret#reader@user:zoe"]}');

SELECT try($$SELECT rbac.lookup_resources('user:bob', 'read', 'folder')$$);
SELECT try($$SELECT rbac.lookup_subjects('page:project_plan', 'read', 'robot')$$);
ROLLBACK;
