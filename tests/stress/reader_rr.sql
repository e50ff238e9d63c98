-- REPEATABLE READ: the transaction snapshot stays while writers commit;
-- repeated checks come from the read cache and must still agree.
\set u random(1, 6)
\set d random(1, 12)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT stress.compare(:u, :d);
SELECT pg_sleep(0.01);
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u % 6 + 1, :d);
COMMIT;
