-- Creates the extension and a helper used by every other file.
CREATE EXTENSION notion_rbac;

SELECT extname, extrelocatable, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'notion_rbac';

SELECT rbac.version() = (SELECT extversion FROM pg_extension WHERE extname = 'notion_rbac') AS version_matches;

-- The extension's roles exist and cannot log in.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('rbac_admin', 'rbac_reader') ORDER BY 1;

-- Nothing in rbac is usable by PUBLIC.
SELECT count(*) AS public_executable_functions
  FROM pg_proc p
 WHERE p.pronamespace = 'rbac'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT has_schema_privilege('public', 'rbac', 'USAGE') AS public_schema_usage;

-- Every SECURITY DEFINER function pins its search_path.
SELECT p.proname
  FROM pg_proc p
 WHERE p.pronamespace = 'rbac'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- try(sql): runs a statement and shows its SQLSTATE, message and detail
-- instead of aborting, so error cases can be asserted in place.
CREATE FUNCTION public.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(E'\nDETAIL: ' || nullif(detail, ''), '');
END
$$;
