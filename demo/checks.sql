-- The seed's questions, and a few more, answered by rbac.check().
SELECT subject, action, object, rbac.check(subject, action, object) AS allowed
FROM (VALUES
    ('user:alice',   'write', 'database:task_list'),   -- seed: true (admin/owner of engineering_team)
    ('user:charlie', 'write', 'page:product_spec'),    -- seed: false (guest)
    ('user:charlie', 'read',  'page:product_spec'),    -- guests read through workspace.read
    ('user:frank',   'write', 'page:project_plan'),    -- direct writer
    ('user:eve',     'read',  'page:project_plan'),    -- other workspace
    ('user:bob',     'read',  'comment:task_list_1_comment_2'), -- block -> database -> workspace
    ('user:david',   'delete','template:marketing_campaign')
) AS q(subject, action, object);
