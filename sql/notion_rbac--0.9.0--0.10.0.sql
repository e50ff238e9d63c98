-- notion_rbac 0.9.0 -> 0.10.0
--
-- rbac.cache_basis(): what this backend's read cache is keyed by now (the
-- writes to the extension's tables, or the whole snapshot and why), and the
-- registry of writers. The library's other changes need no SQL: a protected
-- statement's first row reads a subject set by rbac.set_subject in place,
-- the compiled schema survives writes of rows beyond a footprint, commit
-- statuses are asked under XactTruncationLock.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.10.0'" to load this file. \quit

CREATE FUNCTION rbac."cache_basis"() RETURNS TABLE (
	"basis" TEXT,
	"reason" TEXT,
	"writers_held" bigint,
	"generation" bigint,
	"writers_left" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_basis_wrapper';
REVOKE ALL ON FUNCTION rbac.cache_basis() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.cache_basis() TO rbac_reader;
COMMENT ON FUNCTION rbac.cache_basis() IS 'What this backend''s read cache is keyed by: writes (commits elsewhere leave it alone) or snapshot (every commit starts it afresh), why, and the registry of writers: writers held, generation, writers that left it';
