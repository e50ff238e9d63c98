-- READ COMMITTED: a few checks, each compared in its own statement.
\set u random(1, 6)
\set d random(1, 12)
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d % 12 + 1);
SELECT stress.compare(:u, :d);
INSERT INTO stress.cache_seen (pid, hits, misses, invalidations)
SELECT pg_backend_pid(), hits, misses, invalidations FROM rbac.cache_stats();
