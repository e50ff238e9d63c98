-- notion_rbac 0.7.0 -> 0.8.0
--
-- Footprints: writes to rbac.tuples and rbac.attributes record which
-- entities and subjects they touched (store/writes.rs, sql/writes.sql), and
-- a backend whose read cache meets such writes drops only what they
-- touched instead of starting afresh. rbac.cache_stats gains a column
-- counting those times.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.8.0'" to load this file. \quit

CREATE FUNCTION rbac."_note_write_begin"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'note_write_begin_wrapper';
CREATE FUNCTION rbac."_note_rows"(
	"keys" TEXT[],
	"complete" bool
) RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'note_rows_wrapper';
REVOKE ALL ON FUNCTION rbac._note_write_begin(), rbac._note_rows(text[], boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rbac._note_write_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR TG_TABLE_NAME = 'schemas' THEN
        PERFORM rbac._note_write();
    ELSE
        PERFORM rbac._note_write_begin();
    END IF;
    RETURN NULL;
END
$$;
-- The AFTER statement triggers that close what rbac._note_write_statement
-- opened. One trigger per event: transition tables allow no more. At most
-- 17 rows are read from a transition table, whatever the statement wrote.
CREATE FUNCTION rbac._note_tuple_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys text[] := '{}';
    part text[];
    complete boolean := true;
BEGIN
    -- Two keys a row: 17 rows read give 34, which says "more than 16".
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        part := ARRAY(SELECT k FROM (SELECT * FROM new_rows LIMIT 17) r,
                      LATERAL (VALUES (r.entity_type || ':' || r.entity_id), (r.subject_type || ':' || r.subject_id)) v(k));
        keys := keys || part;
        complete := complete AND cardinality(part) <= 32;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        part := ARRAY(SELECT k FROM (SELECT * FROM old_rows LIMIT 17) r,
                      LATERAL (VALUES (r.entity_type || ':' || r.entity_id), (r.subject_type || ':' || r.subject_id)) v(k));
        keys := keys || part;
        complete := complete AND cardinality(part) <= 32;
    END IF;
    PERFORM rbac._note_rows(keys, complete);
    RETURN NULL;
END
$$;
CREATE FUNCTION rbac._note_attribute_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys text[] := '{}';
    part text[];
    complete boolean := true;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        part := ARRAY(SELECT r.entity_type || ':' || r.entity_id FROM new_rows r LIMIT 17);
        keys := keys || part;
        complete := complete AND cardinality(part) <= 16;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        part := ARRAY(SELECT r.entity_type || ':' || r.entity_id FROM old_rows r LIMIT 17);
        keys := keys || part;
        complete := complete AND cardinality(part) <= 16;
    END IF;
    PERFORM rbac._note_rows(keys, complete);
    RETURN NULL;
END
$$;
CREATE TRIGGER tuples_noted_insert AFTER INSERT ON rbac.tuples REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_tuple_rows();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_noted_insert;
CREATE TRIGGER tuples_noted_update AFTER UPDATE ON rbac.tuples REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_tuple_rows();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_noted_update;
CREATE TRIGGER tuples_noted_delete AFTER DELETE ON rbac.tuples REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_tuple_rows();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_noted_delete;
CREATE TRIGGER attributes_noted_insert AFTER INSERT ON rbac.attributes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_attribute_rows();
ALTER TABLE rbac.attributes ENABLE ALWAYS TRIGGER attributes_noted_insert;
CREATE TRIGGER attributes_noted_update AFTER UPDATE ON rbac.attributes REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_attribute_rows();
ALTER TABLE rbac.attributes ENABLE ALWAYS TRIGGER attributes_noted_update;
CREATE TRIGGER attributes_noted_delete AFTER DELETE ON rbac.attributes REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_attribute_rows();
ALTER TABLE rbac.attributes ENABLE ALWAYS TRIGGER attributes_noted_delete;
REVOKE ALL ON FUNCTION rbac._note_tuple_rows(), rbac._note_attribute_rows() FROM PUBLIC;

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
	"kept_check_answers" bigint,
	"kept_across_writes" bigint
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'cache_stats_wrapper';
REVOKE ALL ON FUNCTION rbac.cache_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac.cache_stats() TO rbac_reader;
COMMENT ON FUNCTION rbac.cache_stats() IS 'This backend''s read cache: rows, limit, hits, misses, invalidations, evictions; ids of lookup answers kept beside it, statements that found one kept and that did not; node results checks keep beside it, checks and protected rows answered from them without a read; committed writes met by dropping only what they touched';
