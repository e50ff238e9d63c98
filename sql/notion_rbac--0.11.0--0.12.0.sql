-- notion_rbac 0.11.0 -> 0.12.0
--
-- rbac.write_tuples, rbac.delete_tuples, rbac.write_attributes and
-- rbac.delete_attributes are SQL functions: the library parses and
-- validates (rbac._tuples_to_write and its siblings, set-returning), and
-- the INSERT or DELETE runs in SQL, so an error the write raises (a
-- constraint, a trigger added to rbac.tuples, a serialization failure)
-- reaches the caller with all its fields instead of a copy of its message.
-- The library's other changes need no SQL.

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.12.0'" to load this file. \quit

CREATE FUNCTION rbac."_tuples_to_write"(
	"tuples" TEXT[]
) RETURNS TABLE (
	"entity_type" TEXT,
	"entity_id" TEXT,
	"relation" TEXT,
	"subject_type" TEXT,
	"subject_id" TEXT,
	"subject_relation" TEXT
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'tuples_to_write_wrapper';

CREATE FUNCTION rbac."_tuples_to_delete"(
	"tuples" TEXT[]
) RETURNS TABLE (
	"entity_type" TEXT,
	"entity_id" TEXT,
	"relation" TEXT,
	"subject_type" TEXT,
	"subject_id" TEXT,
	"subject_relation" TEXT
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'tuples_to_delete_wrapper';

CREATE FUNCTION rbac."_attributes_to_write"(
	"attributes" TEXT[]
) RETURNS TABLE (
	"entity_type" TEXT,
	"entity_id" TEXT,
	"attribute" TEXT,
	"value_type" TEXT,
	"value" jsonb,
	"n" bigint
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'attributes_to_write_wrapper';

CREATE FUNCTION rbac."_attributes_to_delete"(
	"attributes" TEXT[]
) RETURNS TABLE (
	"entity_type" TEXT,
	"entity_id" TEXT,
	"attribute" TEXT
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'attributes_to_delete_wrapper';

CREATE OR REPLACE FUNCTION rbac.write_tuples(tuples text[]) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
    WITH added AS (
        INSERT INTO rbac.tuples (entity_type, entity_id, relation, subject_type, subject_id, subject_relation)
        SELECT DISTINCT * FROM rbac._tuples_to_write(tuples)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM added
$$;

CREATE OR REPLACE FUNCTION rbac.delete_tuples(tuples text[]) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
    WITH deleted AS (
        DELETE FROM rbac.tuples t USING rbac._tuples_to_delete(tuples) d
         WHERE t.entity_type = d.entity_type AND t.entity_id = d.entity_id AND t.relation = d.relation
           AND t.subject_type = d.subject_type AND t.subject_id = d.subject_id
           AND t.subject_relation = d.subject_relation
        RETURNING 1)
    SELECT count(*) FROM deleted
$$;

CREATE OR REPLACE FUNCTION rbac.write_attributes(attributes text[]) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
    WITH written AS (
        INSERT INTO rbac.attributes AS t (entity_type, entity_id, attribute, value_type, value)
        SELECT DISTINCT ON (1, 2, 3) u.entity_type, u.entity_id, u.attribute, u.value_type, u.value
          FROM rbac._attributes_to_write(attributes) u
         ORDER BY 1, 2, 3, u.n DESC
        ON CONFLICT (entity_type, entity_id, attribute) DO UPDATE
          SET value_type = EXCLUDED.value_type, value = EXCLUDED.value
        RETURNING 1)
    SELECT count(*) FROM written
$$;

CREATE OR REPLACE FUNCTION rbac.delete_attributes(attributes text[]) RETURNS bigint
LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
    WITH deleted AS (
        DELETE FROM rbac.attributes t USING rbac._attributes_to_delete(attributes) d
         WHERE t.entity_type = d.entity_type AND t.entity_id = d.entity_id AND t.attribute = d.attribute
        RETURNING 1)
    SELECT count(*) FROM deleted
$$;

REVOKE ALL ON FUNCTION rbac._tuples_to_write(text[]), rbac._tuples_to_delete(text[]),
    rbac._attributes_to_write(text[]), rbac._attributes_to_delete(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._tuples_to_write(text[]), rbac._tuples_to_delete(text[]),
    rbac._attributes_to_write(text[]), rbac._attributes_to_delete(text[]) TO rbac_admin;
