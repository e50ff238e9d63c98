-- rbac.explain / rbac.explain_text (why a check is true or false) and
-- rbac.expand (the userset tree), against stored tuples; both agree with
-- rbac.check on every pair of a small universe.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity doc {
    relation owner @user
    relation reader @user @group#member
    relation parent @doc
    relation banned @user
    attribute public boolean
    permission read = (reader or owner or parent.read or public) not banned
    permission edit = owner and reader
}
$$) > 0 AS model;
SELECT rbac.write_tuples(ARRAY[
    'group:eng#member@group:core#member', 'group:core#member@user:carol', 'group:core#member@group:eng#member',
    'doc:root#reader@group:eng#member', 'doc:root#reader@user:dave', 'doc:a#parent@doc:root',
    'doc:a#banned@user:dave', 'doc:b#owner@user:erin', 'doc:b#reader@user:erin']);
SELECT rbac.write_attributes(ARRAY['doc:pub$public|boolean:true']);

-- A true check: one path, down to the tuple that grants it.
SELECT rbac.explain_text('user:carol', 'read', 'doc:a');
-- False: every branch and why (the group cycle is shown, not followed).
SELECT rbac.explain_text('user:frank', 'read', 'doc:a');
-- Dave reads the parent, but is banned here: the exclusion decides.
SELECT rbac.explain_text('user:dave', 'read', 'doc:a');
SELECT rbac.explain_text('user:frank', 'edit', 'doc:b');
SELECT rbac.explain_text('user:erin', 'edit', 'doc:b');
-- Attributes.
SELECT rbac.explain_text('user:anyone', 'read', 'doc:pub');
-- The jsonb form.
SELECT jsonb_pretty(rbac.explain('user:carol', 'read', 'doc:root'));
SELECT e->'result' AS result, e->'nodes' AS nodes, e->'truncated' AS truncated
  FROM rbac.explain('user:frank', 'read', 'doc:a', max_nodes => 2) e;
-- A contextual tuple counts for the call, as in rbac.check.
SELECT rbac.explain_text('user:frank', 'read', 'doc:a', '{"tuples": ["doc:root#reader@user:frank"]}');

-- The userset tree.
SELECT jsonb_pretty(rbac.expand('doc:a', 'read'));
SELECT rbac.expand('doc:b', 'edit') -> 'tree';
SELECT (rbac.expand('doc:a', 'read', max_nodes => 3)) -> 'truncated' AS truncated;

-- Agreement with rbac.check on every (subject, permission, doc).
WITH subjects(s) AS (VALUES ('user:carol'), ('user:dave'), ('user:erin'), ('user:frank'), ('group:core#member')),
     docs(d) AS (VALUES ('doc:root'), ('doc:a'), ('doc:b'), ('doc:pub'), ('doc:none')),
     perms(p) AS (VALUES ('read'), ('edit'), ('reader'), ('owner'))
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE (rbac.explain(s, p, d)->>'result')::boolean = rbac.check(s, p, d)) AS explain_agrees
  FROM subjects, docs, perms;

-- Bad input.
SELECT try($$SELECT rbac.explain('user:x', 'nope', 'doc:a')$$);
SELECT try($$SELECT rbac.explain('user:x', 'read', 'folder:a')$$);
SELECT try($$SELECT rbac.explain('not a subject', 'read', 'doc:a')$$);
SELECT try($$SELECT rbac.explain('user:x', 'read', 'doc:a', max_nodes => 0)$$);
SELECT try($$SELECT rbac.expand('doc:a', 'read', max_nodes => 1000000)$$);
SELECT try($$SELECT rbac.expand('doc:a', 'nope')$$);
SELECT rbac.explain(NULL, 'read', 'doc:a') IS NULL AS null_in_null_out, rbac.expand('doc:a', NULL) IS NULL AS expand_null;

-- Privileges: readers may explain; nobody else.
CREATE ROLE regress_explainer NOLOGIN IN ROLE rbac_reader;
CREATE ROLE regress_nobody NOLOGIN;
SET ROLE regress_explainer;
SELECT (rbac.explain('user:carol', 'read', 'doc:a')->>'result') AS reader_may;
RESET ROLE;
SET ROLE regress_nobody;
SELECT try($$SELECT rbac.explain('user:carol', 'read', 'doc:a')$$);
RESET ROLE;
DROP ROLE regress_explainer, regress_nobody;
