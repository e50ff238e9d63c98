-- Adds or removes one random tuple of the stress graph (ids from small
-- pools, so that readers keep meeting what writers change). (No ":name"
-- in literals: pgbench would substitute its variables there.)
\set a random(1, 12)
\set b random(1, 11)
\set kind random(1, 5)
\set add random(0, 1)
\set pause random(0, 20)
-- Transactions stay open for a while, so that they commit out of order:
-- then a commit leaves xmax where it was and only changes which
-- transactions are in progress.
BEGIN;
SELECT CASE WHEN :add = 1 THEN rbac.write_tuples(ARRAY[t]) ELSE rbac.delete_tuples(ARRAY[t]) END
  FROM (SELECT CASE :kind
       WHEN 1 THEN format('doc:%s#parent@doc:%s', 'd' || :a, 'd' || (:a + :b - 1) % 12 + 1)
       WHEN 2 THEN format('doc:%s#viewer@user:%s', 'd' || :a, 'u' || :b % 6 + 1)
       WHEN 3 THEN format('doc:%s#viewer@group:%s#member', 'd' || :a, 'g' || :b % 4 + 1)
       WHEN 4 THEN format('group:%s#member@user:%s', 'g' || :a % 4 + 1, 'u' || :b % 6 + 1)
       -- never a group nested in itself (a tuple may not be its own subject)
       ELSE format('group:%s#member@group:%s#member', 'g' || :a % 4 + 1, 'g' || (:a % 4 + :b % 3 + 1) % 4 + 1)
       END AS t) w;
SELECT pg_sleep(:pause / 1000.0);
COMMIT;
