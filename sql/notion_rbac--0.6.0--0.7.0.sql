-- notion_rbac 0.6.0 -> 0.7.0
--
-- Checks keep what they learnt beside the read cache (the final result of
-- every node they evaluated, per subject, under the cache's key):
-- rbac.cache_stats gains two columns, the node results kept and the checks
-- (and protected rows) answered from them without a read.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.7.0'" to load this file. \quit

DROP FUNCTION rbac.cache_stats();
CREATE FUNCTION rbac.cache_stats() RETURNS TABLE (
	"rows" bigint,
	"row_limit" bigint,
	"hits" bigint,
	"misses" bigint,
	"invalidations" bigint,
	"evictions" bigint,
	"kept_lookup_ids" bigint,
	"kept_lookup_hits" bigint,
	"kept_lookup_misses" bigint,
	"kept_check_results" bigint,
	"kept_check_answers" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_stats_wrapper';
REVOKE ALL ON FUNCTION rbac.cache_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.cache_stats() TO rbac_reader;
COMMENT ON FUNCTION rbac.cache_stats() IS 'This backend''s read cache: rows, limit, hits, misses, invalidations, evictions; ids of lookup answers kept beside it, statements that found one kept and that did not; node results checks keep beside it, checks and protected rows answered from them without a read';
