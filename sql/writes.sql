-- Writers of the extension's tables record themselves (store/writes.rs):
-- the read cache is then keyed by the writes a snapshot sees, and commits
-- elsewhere leave it alone. Statement triggers fire in every replication
-- role (ENABLE ALWAYS: also with session_replication_role = replica); row
-- triggers fire where statement triggers do not, in logical replication
-- apply (ENABLE REPLICA). If any of them is disabled, the cache falls back
-- to keying by the whole snapshot.
--
-- Footprints: a write to rbac.tuples or rbac.attributes opens a statement
-- before its first row (rbac._note_write_begin) and records, after it, the
-- entities and subjects its rows touched, read from the transition tables
-- (rbac._note_rows): a backend whose cache saw none of them keeps its
-- reads. TRUNCATE, schema changes and row-trigger writes count as touching
-- everything (rbac._note_write), as does a statement of more than 16 rows
-- or one whose AFTER trigger did not run (it stays open).
CREATE FUNCTION rbac._note_write_statement() RETURNS trigger
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
CREATE FUNCTION rbac._note_write_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rbac._note_write();
    RETURN coalesce(NEW, OLD);
END
$$;
CREATE TRIGGER tuples_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.tuples
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.tuples ENABLE ALWAYS TRIGGER tuples_note_write;
CREATE TRIGGER tuples_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.tuples
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.tuples ENABLE REPLICA TRIGGER tuples_note_write_replica;
CREATE TRIGGER attributes_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.attributes
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.attributes ENABLE ALWAYS TRIGGER attributes_note_write;
CREATE TRIGGER attributes_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.attributes
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.attributes ENABLE REPLICA TRIGGER attributes_note_write_replica;
CREATE TRIGGER schemas_note_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON rbac.schemas
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._note_write_statement();
ALTER TABLE rbac.schemas ENABLE ALWAYS TRIGGER schemas_note_write;
CREATE TRIGGER schemas_note_write_replica BEFORE INSERT OR UPDATE OR DELETE ON rbac.schemas
    FOR EACH ROW EXECUTE FUNCTION rbac._note_write_row();
ALTER TABLE rbac.schemas ENABLE REPLICA TRIGGER schemas_note_write_replica;
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
