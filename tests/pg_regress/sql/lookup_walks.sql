-- Reverse reads that read on along tuples_by_subject: a lookup asks for one
-- height's subjects in ascending order, and each read continues from where
-- the previous one stopped when the next subject's rows are near. Every
-- case of the walk gives the rows a plain recursive query finds: ids in
-- dense runs, sparse ids far apart, subjects without rows, and a subject
-- with many rows in an earlier section (another entity type) than the one
-- asked for.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity folder {
    relation viewer @user @group#member
    relation parent @folder
    permission view = viewer or parent.view
}
entity group {
    relation member @user @group#member
}
entity note {
    relation folder @folder
    permission view = folder.view
}
$$) > 0 AS model;

-- Folders f0..f2999 in trees of ternary parents (f(i) under f(i / 3)),
-- a note per folder; ann sees f1's tree through two nested groups and,
-- directly, 60 scattered folders (her folder rows come before her group
-- rows in the index, more of them than a walk reads past); bob sees f2
-- and f7's trees directly; carl sees every 97th folder.
SELECT rbac.write_tuples(array_agg('folder:f' || i || '#parent@folder:f' || (i / 3))) FROM generate_series(1, 2999) i;
SELECT rbac.write_tuples(array_agg('note:n' || i || '#folder@folder:f' || i)) FROM generate_series(0, 2999) i;
SELECT rbac.write_tuples(ARRAY['group:inner#member@user:ann', 'group:outer#member@group:inner#member',
                               'folder:f1#viewer@group:outer#member', 'folder:f2#viewer@user:bob', 'folder:f7#viewer@user:bob']);
SELECT rbac.write_tuples(array_agg('folder:f' || (i * 41 + 5) || '#viewer@user:ann')) FROM generate_series(0, 59) i;
SELECT rbac.write_tuples(array_agg('folder:f' || (i * 97 + 50) || '#viewer@user:carl')) FROM generate_series(0, 30) i;
-- eve is in groups ga and gb; gb is a viewer of 30 folders, rows that come
-- before its own group membership in the index, so reading on from ga's
-- membership to gb's passes more rows than a walk reads past; both are in
-- outer groups.
SELECT rbac.write_tuples(ARRAY['group:ga#member@user:eve', 'group:gb#member@user:eve',
                               'group:outer1#member@group:ga#member', 'group:outer2#member@group:gb#member',
                               'folder:f2500#viewer@group:outer2#member']);
SELECT rbac.write_tuples(array_agg('folder:f' || (i * 89 + 7) || '#viewer@group:gb#member')) FROM generate_series(0, 29) i;

-- The same answers in plain SQL: folders a user views directly or through
-- groups, and every folder below them; the notes in them.
CREATE FUNCTION regress_walk_folders(who text) RETURNS SETOF text LANGUAGE sql AS $$
    WITH RECURSIVE groups(id) AS (
        SELECT entity_id FROM rbac.tuples WHERE entity_type = 'group' AND relation = 'member' AND subject_type = 'user' AND subject_id = who
        UNION
        SELECT t.entity_id FROM rbac.tuples t JOIN groups g ON t.subject_type = 'group' AND t.subject_id = g.id AND t.subject_relation = 'member'
         WHERE t.entity_type = 'group' AND t.relation = 'member'
    ), folders(id) AS (
        SELECT entity_id FROM rbac.tuples WHERE entity_type = 'folder' AND relation = 'viewer'
           AND ((subject_type = 'user' AND subject_id = who) OR (subject_type = 'group' AND subject_relation = 'member' AND subject_id IN (SELECT id FROM groups)))
        UNION
        SELECT t.entity_id FROM rbac.tuples t JOIN folders f ON t.subject_type = 'folder' AND t.subject_id = f.id
         WHERE t.entity_type = 'folder' AND t.relation = 'parent'
    )
    SELECT id FROM folders
$$;

SELECT who,
       (SELECT count(*) FROM rbac.lookup_resources('user:' || who, 'view', 'folder')) AS folders,
       (SELECT array_agg(x ORDER BY x) FROM rbac.lookup_resources('user:' || who, 'view', 'folder') x)
         IS NOT DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM regress_walk_folders(who) x) AS folders_equal,
       (SELECT array_agg(x ORDER BY x) FROM rbac.lookup_resources('user:' || who, 'view', 'note') x)
         IS NOT DISTINCT FROM (SELECT array_agg('n' || substr(x, 2) ORDER BY 'n' || substr(x, 2)) FROM regress_walk_folders(who) x) AS notes_equal
  FROM unnest(ARRAY['ann', 'bob', 'carl', 'dora', 'eve']) who;

-- The same with the read cache off (every read goes to the index).
SET notion_rbac.cache_rows = 0;
SELECT who,
       (SELECT array_agg(x ORDER BY x) FROM rbac.lookup_resources('user:' || who, 'view', 'folder') x)
         IS NOT DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM regress_walk_folders(who) x) AS folders_equal
  FROM unnest(ARRAY['ann', 'bob', 'carl', 'eve']) who;
RESET notion_rbac.cache_rows;

DROP FUNCTION regress_walk_folders(text);
DELETE FROM rbac.tuples;
