-- READ COMMITTED: a few checks and lookups, each compared in its own
-- statement (the second lookup often reuses the first's kept answer).
\set u random(1, 6)
\set d random(1, 12)
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d % 12 + 1);
SELECT stress.compare(:u, :d);
SELECT stress.compare_lookup(:u);
SELECT stress.compare_lookup(:u);
INSERT INTO stress.cache_seen (pid, hits, misses, invalidations, kept_hits)
SELECT pg_backend_pid(), hits, misses, invalidations, kept_lookup_hits FROM rbac.cache_stats();
