-- Two-phase commit: a grant or revocation prepared, left pending a moment
-- (readers see it in progress), then committed or rolled back.
\set a random(1, 12)
\set b random(1, 11)
\set add random(0, 1)
\set commit random(0, 1)
\set n random(1, 1000000000)
BEGIN;
SELECT CASE WHEN :add = 1 THEN rbac.write_tuples(ARRAY[t]) ELSE rbac.delete_tuples(ARRAY[t]) END
  FROM (SELECT format('group:%s#member@user:%s', 'g' || :a % 4 + 1, 'u' || :b % 6 + 1) AS t) w;
PREPARE TRANSACTION 'stress_:client_id_:n';
SELECT pg_sleep(0.005);
\if :commit
COMMIT PREPARED 'stress_:client_id_:n';
\else
ROLLBACK PREPARED 'stress_:client_id_:n';
\endif
