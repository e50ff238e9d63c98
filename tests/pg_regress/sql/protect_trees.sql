-- rbac.protect on a partitioned table or an inheritance parent protects
-- every table below it: a partition read by name is filtered by its own
-- policies only, and rows read through the parent by the parent's only.
-- A table below another is refused (protect the top one); rbac.unprotect
-- undoes the whole tree; rbac.protected_tables shows partitions attached
-- since, unprotected.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity doc {
    relation reader @user
    permission read = reader
    permission write = reader
    permission delete = reader
}
$$) > 0 AS model;
SELECT rbac.write_tuples(array_agg('doc:' || i || '#reader@user:bob')) FROM generate_series(1, 3000, 300) i;

CREATE ROLE regress_trees_web NOLOGIN IN ROLE rbac_app, rbac_reader;
CREATE TABLE regress_pdocs (id bigint, title text) PARTITION BY RANGE (id);
CREATE TABLE regress_pdocs_a PARTITION OF regress_pdocs FOR VALUES FROM (0) TO (1000);
CREATE TABLE regress_pdocs_b PARTITION OF regress_pdocs FOR VALUES FROM (1000) TO (4000) PARTITION BY RANGE (id);
CREATE TABLE regress_pdocs_b1 PARTITION OF regress_pdocs_b FOR VALUES FROM (1000) TO (4000);
INSERT INTO regress_pdocs SELECT i, 't' || i FROM generate_series(1, 3000) i;
CREATE TABLE regress_idocs (id bigint, title text);
CREATE TABLE regress_idocs_child () INHERITS (regress_idocs);
INSERT INTO regress_idocs SELECT i, 't' || i FROM generate_series(1, 50) i;
INSERT INTO regress_idocs_child SELECT i, 't' || i FROM generate_series(51, 700) i;
GRANT SELECT ON regress_pdocs, regress_pdocs_a, regress_pdocs_b, regress_pdocs_b1, regress_idocs, regress_idocs_child
    TO regress_trees_web;

-- A table below another is protected through the top one.
SELECT try($$SELECT rbac.protect('regress_pdocs_a', 'doc', 'id')$$) AS partition_alone;
SELECT try($$SELECT rbac.protect('regress_idocs_child', 'doc', 'id')$$) AS child_alone;
SELECT rbac.protect('regress_pdocs', 'doc', 'id');
SELECT rbac.protect('regress_idocs', 'doc', 'id');
SELECT table_name, command, unprotected_below FROM rbac.protected_tables
 WHERE command = 'SELECT' ORDER BY table_name::text;

SET ROLE regress_trees_web;
BEGIN;
SELECT rbac.set_subject('user:bob');
SELECT (SELECT count(*) FROM regress_pdocs) AS through_parent, (SELECT count(*) FROM regress_pdocs_a) AS partition_a,
       (SELECT count(*) FROM regress_pdocs_b) AS partition_b, (SELECT count(*) FROM regress_pdocs_b1) AS subpartition_b1;
SELECT (SELECT count(*) FROM regress_idocs) AS through_parent, (SELECT count(*) FROM ONLY regress_idocs) AS parent_only,
       (SELECT count(*) FROM regress_idocs_child) AS child;
COMMIT;
-- No subject: nothing, by any name.
SELECT (SELECT count(*) FROM regress_pdocs_a) + (SELECT count(*) FROM regress_pdocs_b1)
       + (SELECT count(*) FROM regress_idocs_child) AS rows_without_a_subject;
RESET ROLE;

-- A partition attached since is not protected: the view says so.
CREATE TABLE regress_pdocs_c (id bigint, title text);
INSERT INTO regress_pdocs_c VALUES (5000, 'late');
ALTER TABLE regress_pdocs ATTACH PARTITION regress_pdocs_c FOR VALUES FROM (4000) TO (6000);
SELECT table_name, unprotected_below FROM rbac.protected_tables WHERE command = 'SELECT' AND unprotected_below IS NOT NULL;

-- Unprotect from the top, not below it; it undoes the whole tree.
SELECT try($$SELECT rbac.unprotect('regress_pdocs_a')$$) AS unprotect_partition;
SELECT rbac.unprotect('regress_pdocs');
SELECT rbac.unprotect('regress_idocs');
SELECT count(*) AS protected_left FROM rbac.protected_tables;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE relname LIKE 'regress\_pdocs%' OR relname LIKE 'regress\_idocs%' ORDER BY relname;

-- A table protected on its own, then attached below an unprotected
-- parent: protecting the parent is refused (the partition is protected
-- already) and points at unprotecting the parent, which takes the
-- partition's protection off; then the parent protects the whole tree.
CREATE TABLE regress_pdocs_d (id bigint, title text);
SELECT rbac.protect('regress_pdocs_d', 'doc', 'id');
ALTER TABLE regress_pdocs ATTACH PARTITION regress_pdocs_d FOR VALUES FROM (6000) TO (8000);
SELECT try($$SELECT rbac.protect('regress_pdocs', 'doc', 'id')$$) AS below_protected;
SELECT rbac.unprotect('regress_pdocs');
SELECT rbac.protect('regress_pdocs', 'doc', 'id');
SELECT table_name::text, count(*) AS policies FROM rbac.protected_tables
 WHERE table_name::text LIKE 'regress\_pdocs%' GROUP BY 1 ORDER BY 1;
SELECT rbac.unprotect('regress_pdocs');
-- A child of two parents, protected through one: unprotecting the other
-- (not protected itself) leaves the child's policies, which are the
-- first parent's too.
CREATE TABLE regress_ma (id bigint);
CREATE TABLE regress_mb (id bigint);
CREATE TABLE regress_mc () INHERITS (regress_ma, regress_mb);
SELECT rbac.protect('regress_ma', 'doc', 'id');
SELECT try($$SELECT rbac.unprotect('regress_mb')$$) AS other_parent;
SELECT count(*) AS child_policies FROM pg_policy WHERE polrelid = 'regress_mc'::regclass;
SELECT rbac.unprotect('regress_ma');
DROP TABLE regress_ma, regress_mb CASCADE;

DROP TABLE regress_pdocs, regress_idocs CASCADE;
DROP ROLE regress_trees_web;
