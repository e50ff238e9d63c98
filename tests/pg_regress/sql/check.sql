-- rbac.check on the seed scenario (Permify's Notion model and sample relationships).
BEGIN;
SELECT rbac.write_schema($schema$
entity user {}

entity workspace {
    // The owner of the workspace
    relation owner @user
    // Members of the workspace
    relation member @user
    // Guests (users with read-only access) of the workspace
    relation guest @user
    // Bots associated with the workspace
    relation bot @user
    // Admin users who have permission to manage the workspace
    relation admin @user

    // Define permissions for workspace actions
    permission create_page = owner or member or admin
    permission invite_member = owner or admin
    permission view_workspace = owner or member or guest or bot
    permission manage_workspace = owner or admin

    // Define permissions that can be inherited by child entities
    permission read = member or guest or bot or admin
    permission write = owner or admin
}

entity page {
    // The workspace associated with the page
    relation workspace @workspace
     // The user who can write to the page
    relation writer @user
     // The user(s) who can read the page (members of the workspace or guests)
    relation reader @user @workspace#member @workspace#guest

    // Define permissions for page actions
    permission read = reader or workspace.read
    permission write = writer or workspace.write
}

entity database {
    // The workspace associated with the database
    relation workspace @workspace
    // The user who can edit the database
    relation editor @user
    // The user(s) who can view the database (members of the workspace or guests)
    relation viewer @user @workspace#member @workspace#guest

    // Define permissions for database actions
    permission read = viewer or workspace.read
    permission write = editor or workspace.write
    permission create = editor or workspace.write
    permission delete = editor or workspace.write
}

entity block {
    // The page associated with the block
    relation page @page
    // The database associated with the block

    relation database @database
    // The user who can edit the block
    relation editor @user
    // The user(s) who can comment on the block (readers of the parent object)
    relation commenter @user @page#reader

    // Define permissions for block actions
    permission read = database.read or commenter
    permission write = editor or database.write
    permission comment = commenter
}

entity comment {
    // The block associated with the comment
    relation block @block

     // The author of the comment
    relation author @user

    // Define permissions for comment actions
    permission read = block.read
    permission write = author
}

entity template {
   // The workspace associated with the template
    relation workspace @workspace
    // The user who creates the template
    relation creator @user

    // The user(s) who can view the page (members of the workspace or guests)
    relation viewer @user @workspace#member @workspace#guest

    // Define permissions for template actions
    permission read = viewer or workspace.read
    permission write = creator or workspace.write
    permission create = creator or workspace.write
    permission delete = creator or workspace.write
}

entity integration {
    // The workspace associated with the integration
    relation workspace @workspace

    // The owner of the integration
    relation owner @user

    // Define permissions for integration actions
    permission read = workspace.read
    permission write = owner or workspace.write
}
$schema$) AS schema_version;

SELECT rbac.write_tuples(ARRAY[
    'workspace:engineering_team#owner@user:alice',
    'workspace:engineering_team#member@user:bob',
    'workspace:engineering_team#guest@user:charlie',
    'workspace:engineering_team#admin@user:alice',
    'workspace:sales_team#owner@user:david',
    'workspace:sales_team#member@user:eve',
    'workspace:sales_team#guest@user:frank',
    'workspace:sales_team#admin@user:david',
    'page:project_plan#workspace@workspace:engineering_team',
    'page:product_spec#workspace@workspace:engineering_team',
    'database:task_list#workspace@workspace:engineering_team',
    'template:weekly_report#workspace@workspace:sales_team',
    'database:customer_list#workspace@workspace:sales_team',
    'template:marketing_campaign#workspace@workspace:sales_team',
    'page:project_plan#writer@user:frank',
    'page:project_plan#reader@user:bob',
    'database:task_list#editor@user:alice',
    'database:task_list#viewer@user:bob',
    'template:weekly_report#creator@user:alice',
    'template:weekly_report#viewer@user:bob',
    'page:product_spec#writer@user:david',
    'page:product_spec#reader@user:eve',
    'database:customer_list#editor@user:david',
    'database:customer_list#viewer@user:eve',
    'template:marketing_campaign#creator@user:david',
    'template:marketing_campaign#viewer@user:eve',
    'block:task_list_1#database@database:task_list',
    'block:task_list_1#editor@user:alice',
    'block:task_list_1#commenter@user:bob',
    'block:task_list_2#database@database:task_list',
    'block:task_list_2#editor@user:alice',
    'block:task_list_2#commenter@user:bob',
    'comment:task_list_1_comment_1#block@block:task_list_1',
    'comment:task_list_1_comment_1#author@user:bob',
    'comment:task_list_1_comment_2#block@block:task_list_1',
    'comment:task_list_1_comment_2#author@user:charlie',
    'comment:task_list_2_comment_1#block@block:task_list_2',
    'comment:task_list_2_comment_1#author@user:bob',
    'comment:task_list_2_comment_2#block@block:task_list_2',
    'comment:task_list_2_comment_2#author@user:charlie'
]) AS tuples_written;

-- The two questions of the seed text.
SELECT rbac.check('user:alice', 'write', 'database:task_list') AS alice_writes_task_list;
SELECT rbac.check('user:charlie', 'write', 'page:product_spec') AS charlie_writes_product_spec;

-- Every permission of every seeded object for every user, as a table.
SELECT o.object, u.subject,
       string_agg(p.action, ',' ORDER BY p.action) FILTER (WHERE rbac.check(u.subject, p.action, o.object)) AS allowed
  FROM (SELECT DISTINCT entity_type || ':' || entity_id AS object, entity_type FROM rbac.tuples) o
  CROSS JOIN (SELECT DISTINCT 'user:' || subject_id AS subject FROM rbac.tuples WHERE subject_type = 'user') u
  JOIN (VALUES ('page', 'read'), ('page', 'write'), ('database', 'read'), ('database', 'write'),
               ('block', 'read'), ('block', 'write'), ('block', 'comment'), ('comment', 'read'), ('comment', 'write'),
               ('template', 'read'), ('template', 'write'), ('workspace', 'read'), ('workspace', 'write'),
               ('workspace', 'manage_workspace')) p(entity_type, action) ON p.entity_type = o.entity_type
 GROUP BY o.object, u.subject
 ORDER BY o.object, u.subject;

-- Relations can be checked directly, and so can subject sets.
SELECT rbac.check('user:bob', 'member', 'workspace:engineering_team') AS bob_is_member;
SELECT rbac.write_tuples(ARRAY['page:handbook#reader@workspace:engineering_team#member']) AS added;
SELECT rbac.check('workspace:engineering_team#member', 'read', 'page:handbook') AS members_read_handbook;
SELECT rbac.check('user:bob', 'read', 'page:handbook') AS bob_reads_handbook;
SELECT rbac.check('user:charlie', 'read', 'page:handbook') AS charlie_reads_handbook;
SELECT rbac.check('workspace:engineering_team#member', 'member', 'workspace:engineering_team') AS self_shortcut;

-- Unknown ids are simply false; unknown types and actions are errors naming them.
SELECT rbac.check('user:nobody', 'read', 'page:project_plan') AS nobody;
SELECT rbac.check('user:bob', 'read', 'page:does_not_exist') AS missing_page;
SELECT try($$SELECT rbac.check('user:bob', 'read', 'folder:x')$$);
SELECT try($$SELECT rbac.check('user:bob', 'fly', 'page:project_plan')$$);
SELECT try($$SELECT rbac.check('user', 'read', 'page:project_plan')$$);
SELECT try($$SELECT rbac.check('user:bob', 'read', 'page')$$);
SELECT rbac.check(NULL, 'read', 'page:project_plan') IS NULL AS null_in_null_out;

-- Contextual tuples count for one call only.
SELECT rbac.check('user:zoe', 'read', 'page:project_plan',
                  '{"tuples": ["page:project_plan#reader@user:zoe"]}') AS with_context,
       rbac.check('user:zoe', 'read', 'page:project_plan') AS without_context;
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"tuples": "nope"}')$$);
SELECT try($$SELECT rbac.check('user:zoe', 'read', 'page:project_plan', '{"colour": 1}')$$);

-- check_many: one subject, many objects; many subjects, one object.
SELECT * FROM rbac.check_many('user:bob', 'read',
    ARRAY['page:project_plan', 'page:product_spec', 'database:customer_list', NULL, 'block:task_list_1']);
SELECT * FROM rbac.check_many(ARRAY['user:alice', 'user:bob', 'user:charlie', 'user:eve'], 'write', 'block:task_list_2');

ROLLBACK;

-- Attributes, rules (CEL) and request data.
BEGIN;
SELECT rbac.write_schema($$
entity user {}
entity account {
    relation owner @user
    attribute balance double
    attribute frozen boolean
    permission withdraw = owner and check_balance(balance) not frozen
}
rule check_balance(balance double) {
    balance >= context.data.amount
}
$$) > 0 AS written;
SELECT rbac.write_tuples(ARRAY['account:1#owner@user:ann', 'account:2#owner@user:ann']) AS added;
SELECT rbac.write_attributes(ARRAY['account:1$balance|double:4000', 'account:2$balance|double:100', 'account:2$frozen|boolean:true']) AS attrs;
SELECT rbac.check('user:ann', 'withdraw', 'account:1', '{"data": {"amount": 3000}}') AS enough,
       rbac.check('user:ann', 'withdraw', 'account:1', '{"data": {"amount": 5000}}') AS too_much,
       rbac.check('user:ann', 'withdraw', 'account:2', '{"data": {"amount": 50}}') AS frozen;
SELECT rbac.check('user:ann', 'frozen', 'account:2') AS attribute_checked_directly;
SELECT rbac.check('user:ann', 'withdraw', 'account:2', '{"data": {"amount": 50}, "attributes": ["account:2$frozen|boolean:false"]}') AS unfrozen_in_context;
-- A rule that reads a missing context key is an error, not false.
SELECT try($$SELECT rbac.check('user:ann', 'withdraw', 'account:1')$$);
ROLLBACK;

-- Cycles grant nothing by themselves and never loop.
BEGIN;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity folder {
    relation parent @folder
    relation viewer @user @group#member
    permission view = viewer or parent.view
}
$$) > 0 AS written;
SELECT rbac.write_tuples(ARRAY[
    'group:a#member@group:b#member', 'group:b#member@group:a#member',
    'folder:x#parent@folder:y', 'folder:y#parent@folder:x', 'folder:x#viewer@group:a#member']) AS added;
SELECT rbac.check('user:u', 'view', 'folder:y') AS cycle_only;
SELECT rbac.write_tuples(ARRAY['group:b#member@user:u']) AS added;
SELECT rbac.check('user:u', 'view', 'folder:y') AS through_cycle;
SELECT rbac.check('user:u', 'member', 'group:a') AS member_of_a;
ROLLBACK;
