-- Writers of the extension's tables record themselves (store/writes.rs):
-- the read cache is then keyed by the writes a snapshot sees, and commits
-- elsewhere leave it alone. Statement triggers fire in every replication
-- role (ENABLE ALWAYS: also with session_replication_role = replica); row
-- triggers fire where statement triggers do not, in logical replication
-- apply (ENABLE REPLICA). If any of them is disabled, the cache falls back
-- to keying by the whole snapshot.
CREATE FUNCTION rbac._note_write_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM rbac._note_write();
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
