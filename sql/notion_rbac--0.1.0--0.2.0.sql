-- notion_rbac 0.1.0 → 0.2.0
--
-- 0.2.0 adds the exact per-backend read cache (settings only, no stored
-- state) and a function to observe it. Nothing stored changes.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.2.0'" to load this file. \quit

CREATE FUNCTION rbac.cache_stats() RETURNS TABLE (
    "rows" bigint,
    "row_limit" bigint,
    "hits" bigint,
    "misses" bigint,
    "invalidations" bigint,
    "evictions" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_stats_wrapper';

-- As for every function of the extension: nothing for PUBLIC.
REVOKE ALL ON FUNCTION rbac.cache_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.cache_stats() TO rbac_reader;
