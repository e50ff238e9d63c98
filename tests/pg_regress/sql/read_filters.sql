-- rbac.read_tuples and rbac.read_attributes: every argument an optional
-- filter. Only the filters given become conditions, so a read by entity
-- or by subject descends an index instead of reading the whole table
-- (sequential scans are made too dear here: a plan that cannot use an
-- index still takes one, and the table's scan counters show it).
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity team {
    relation member @user @team#member
}
entity doc {
    relation owner @user
    relation reader @user @team#member
    attribute level integer
    permission read = reader or owner
}
$$) IS NOT NULL AS written;
SELECT rbac.write_tuples(ARRAY['doc:1#owner@user:ann', 'doc:1#reader@team:eng#member', 'doc:2#reader@user:ann',
                               'doc:2#reader@user:bob', 'team:eng#member@user:cat', 'doc:3#owner@user:bob']);
SELECT rbac.write_attributes(ARRAY['doc:1$level|integer:3', 'doc:2$level|integer:5']);

-- Every filter, alone and together; "..." is the empty subject relation.
SELECT tuple FROM rbac.read_tuples() ORDER BY 1;
SELECT tuple FROM rbac.read_tuples('doc', '1');
SELECT tuple FROM rbac.read_tuples(relation => 'reader');
SELECT tuple FROM rbac.read_tuples(subject_type => 'user', subject_id => 'ann');
SELECT tuple FROM rbac.read_tuples(subject_relation => 'member');
SELECT tuple FROM rbac.read_tuples(subject_relation => '...', entity_type => 'team');
SELECT tuple FROM rbac.read_tuples('doc', '2', 'reader', 'user', 'bob', '...');
SELECT count(*) AS nothing FROM rbac.read_tuples('doc', 'nope');
SELECT * FROM rbac.read_attributes();
SELECT * FROM rbac.read_attributes('doc', '2');
SELECT * FROM rbac.read_attributes(attribute => 'level', entity_id => '1');
-- Arguments are values, never SQL.
SELECT count(*) AS quoted FROM rbac.read_tuples($$doc' OR true --$$);
SELECT count(*) AS quoted FROM rbac.read_attributes($$doc' OR true --$$);

-- Reads by entity and by subject use the table's indexes.
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables WHERE relid = 'rbac.tuples'::regclass \gset
SELECT count(*) FROM rbac.read_tuples('doc', '1');
SELECT count(*) FROM rbac.read_tuples(subject_type => 'user', subject_id => 'ann');
SELECT seq_scan - :seq0 AS sequential_scans, idx_scan - :idx0 AS index_scans
  FROM pg_stat_xact_user_tables WHERE relid = 'rbac.tuples'::regclass;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables WHERE relid = 'rbac.attributes'::regclass \gset
SELECT count(*) FROM rbac.read_attributes('doc', '1');
SELECT seq_scan - :seq0 AS sequential_scans, idx_scan - :idx0 AS index_scans
  FROM pg_stat_xact_user_tables WHERE relid = 'rbac.attributes'::regclass;
ROLLBACK;
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
