-- A tuple added or removed in a subtransaction, released or rolled back
-- (a rolled back write must never be seen; a released one must).
\set a random(1, 12)
\set b random(1, 11)
\set add random(0, 1)
\set keep random(0, 1)
BEGIN;
SAVEPOINT s;
SELECT CASE WHEN :add = 1 THEN rbac.write_tuples(ARRAY[t]) ELSE rbac.delete_tuples(ARRAY[t]) END
  FROM (SELECT format('doc:%s#viewer@user:%s', 'd' || :a, 'u' || :b % 6 + 1) AS t) w;
\if :keep
RELEASE SAVEPOINT s;
\else
ROLLBACK TO SAVEPOINT s;
\endif
INSERT INTO stress.unrelated (x) VALUES (:a);
COMMIT;
