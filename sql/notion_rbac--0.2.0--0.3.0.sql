-- notion_rbac 0.2.0 → 0.3.0
--
-- Data safety and hostile input:
-- - pg_dump writes every row of the extension's tables (models, tuples,
--   attributes, workspaces and their encrypted tokens, OAuth state) and
--   where their identity sequences stand; a restore activates the restored
--   model before the tuples that refer to it come back;
-- - every stored tuple and attribute fits the active schema at every
--   isolation level (deferred foreign keys to the allowed combinations);
-- - schema versions are numbered by the extension (explicit versions and
--   forged authors are refused except for superusers restoring a dump);
-- - schema writers queue on a lock only the extension can take (was an
--   advisory lock any role could hold);
-- - the write functions pin their search_path.
-- - rbac.encrypted_token owns its on-disk format (the envelope's binary
--   layout instead of pgrx's CBOR), has binary send/receive and equality;
--   every stored token is rewritten in the new format here.
-- The constraints added below hold for every stored row already (the 0.2.0
-- triggers enforced the same rule).

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.3.0'" to load this file. \quit

-- Schema writers queue on a lock of this empty table (taken by
-- rbac._lock_schema_writes(), SECURITY DEFINER). Nobody else holds any
-- privilege on it, so no other role can take or block that lock.
CREATE TABLE rbac.schema_write_lock ();
REVOKE ALL ON rbac.schema_write_lock FROM PUBLIC;

ALTER TABLE rbac.schema_attributes ADD UNIQUE (entity_type, attribute, value_type);
ALTER TABLE rbac.tuples ADD CONSTRAINT tuples_fit_schema FOREIGN KEY (entity_type, relation, subject_type, subject_relation)
    REFERENCES rbac.schema_relations DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE rbac.attributes ADD CONSTRAINT attributes_fit_schema FOREIGN KEY (entity_type, attribute, value_type)
    REFERENCES rbac.schema_attributes (entity_type, attribute, value_type) DEFERRABLE INITIALLY DEFERRED;

-- Schema writers queue here: rbac.write_schema() calls this before it
-- inserts (so versions are numbered in commit order and concurrent writers
-- wait instead of failing), the activation trigger again (for direct
-- INSERTs). SECURITY DEFINER: callers hold no privilege on the lock table.
CREATE FUNCTION rbac._lock_schema_writes() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    LOCK TABLE rbac.schema_write_lock IN EXCLUSIVE MODE;
END
$fn$;

-- What may be inserted into rbac.schemas. Versions come from the identity
-- sequence, the author and time are the real ones: a version number names
-- one model for ever (caches rely on it), and an explicit version or a
-- forged author would make the history lie. Superusers may insert them as
-- they are: that is how pg_restore brings a dump back.
CREATE FUNCTION rbac._schemas_check_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    next_version bigint;
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
        RETURN NEW;
    END IF;
    BEGIN
        next_version := pg_catalog.currval('rbac.schemas_version_seq');
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        next_version := NULL;  -- the sequence was not used in this session
    END;
    IF NEW.version IS DISTINCT FROM next_version THEN
        RAISE EXCEPTION 'schema versions are numbered by the extension'
            USING ERRCODE = 'generated_always', DETAIL = pg_catalog.format('version %s was given explicitly', NEW.version),
                  HINT = 'use rbac.write_schema(source), or INSERT INTO rbac.schemas (source) VALUES (...)';
    END IF;
    IF NEW.created_by IS DISTINCT FROM CURRENT_USER OR NEW.created_at IS DISTINCT FROM pg_catalog.now() THEN
        RAISE EXCEPTION 'created_by and created_at of a schema version are set by the extension'
            USING ERRCODE = 'generated_always', HINT = 'leave both columns out of the INSERT';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER schemas_check_insert BEFORE INSERT ON rbac.schemas
    FOR EACH ROW EXECUTE FUNCTION rbac._schemas_check_insert();

-- Activating a schema version. Every insert into rbac.schemas — through
-- rbac.write_schema(), directly, or the COPY of a restore (which brings many
-- versions in one statement) — compiles the newest source, brings the
-- allowed-combination tables in line with it (only what changed: writers of
-- unchanged combinations are not disturbed), and refuses the version if
-- stored tuples or attributes would no longer fit. The foreign keys of
-- rbac.tuples and rbac.attributes catch what a snapshot cannot see.
-- SECURITY DEFINER: only this function may write rbac.schema_relations and
-- rbac.schema_attributes.
CREATE OR REPLACE FUNCTION rbac._schemas_activate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    misfit_count bigint;
    misfit_list  text;
    latest       integer;
    latest_source text;
BEGIN
    -- Serialise schema changes against each other and against tuple
    -- writers: a concurrent writer commits before we validate, or waits.
    PERFORM rbac._lock_schema_writes();
    LOCK TABLE rbac.tuples, rbac.attributes IN SHARE ROW EXCLUSIVE MODE;
    SELECT s.version, s.source INTO latest, latest_source FROM rbac.schemas s ORDER BY s.version DESC LIMIT 1;
    IF NOT EXISTS (SELECT 1 FROM new_schemas n WHERE n.version = latest) THEN
        RAISE EXCEPTION 'a newer schema version (%) exists', latest
            USING ERRCODE = 'serialization_failure',
                  HINT = 'it was written concurrently: retry rbac.write_schema()';
    END IF;

    -- One statement per table: the source is compiled once for each, and
    -- the DELETE (rows the schema no longer has) and the INSERT (rows it
    -- adds) touch disjoint rows.
    WITH wanted AS MATERIALIZED (SELECT * FROM rbac._schema_relations_of(latest_source)),
         gone AS (DELETE FROM rbac.schema_relations s
                   WHERE NOT EXISTS (SELECT 1 FROM wanted r
                                      WHERE r.entity_type = s.entity_type AND r.relation = s.relation
                                        AND r.subject_type = s.subject_type AND r.subject_relation = s.subject_relation))
    INSERT INTO rbac.schema_relations (entity_type, relation, subject_type, subject_relation)
        SELECT r.entity_type, r.relation, r.subject_type, r.subject_relation FROM wanted r
        ON CONFLICT DO NOTHING;
    WITH wanted AS MATERIALIZED (SELECT * FROM rbac._schema_attributes_of(latest_source)),
         gone AS (DELETE FROM rbac.schema_attributes s
                   WHERE NOT EXISTS (SELECT 1 FROM wanted a
                                      WHERE a.entity_type = s.entity_type AND a.attribute = s.attribute
                                        AND a.value_type = s.value_type))
    INSERT INTO rbac.schema_attributes (entity_type, attribute, value_type)
        SELECT a.entity_type, a.attribute, a.value_type FROM wanted a
        ON CONFLICT DO NOTHING;

    SELECT count(*), string_agg(m, E'\n' ORDER BY m) FILTER (WHERE rn <= 10)
      INTO misfit_count, misfit_list
      FROM (SELECT row_number() OVER (ORDER BY t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation) AS rn,
                   t.entity_type || ':' || t.entity_id || '#' || t.relation || '@' || t.subject_type || ':' || t.subject_id
                   || CASE WHEN t.subject_relation = '' THEN '' ELSE '#' || t.subject_relation END AS m
              FROM rbac.tuples t
             WHERE NOT EXISTS (SELECT 1 FROM rbac.schema_relations s
                                WHERE s.entity_type = t.entity_type AND s.relation = t.relation
                                  AND s.subject_type = t.subject_type AND s.subject_relation = t.subject_relation)) x;
    IF misfit_count > 0 THEN
        RAISE EXCEPTION '% stored tuple(s) do not fit the new schema', misfit_count
            USING ERRCODE = 'check_violation',
                  DETAIL = 'first misfits:' || E'\n' || misfit_list,
                  HINT = 'delete or migrate these tuples first (rbac.delete_tuples), or keep their relations and subject types in the schema';
    END IF;

    SELECT count(*), string_agg(m, E'\n' ORDER BY m) FILTER (WHERE rn <= 10)
      INTO misfit_count, misfit_list
      FROM (SELECT row_number() OVER (ORDER BY a.entity_type, a.entity_id, a.attribute) AS rn,
                   a.entity_type || ':' || a.entity_id || '$' || a.attribute || '|' || a.value_type AS m
              FROM rbac.attributes a
             WHERE NOT EXISTS (SELECT 1 FROM rbac.schema_attributes s
                                WHERE s.entity_type = a.entity_type AND s.attribute = a.attribute
                                  AND s.value_type = a.value_type)) x;
    IF misfit_count > 0 THEN
        RAISE EXCEPTION '% stored attribute value(s) do not fit the new schema', misfit_count
            USING ERRCODE = 'check_violation',
                  DETAIL = 'first misfits:' || E'\n' || misfit_list,
                  HINT = 'delete these attribute values first (rbac.delete_attributes), or keep the attributes with the same types in the schema';
    END IF;
    RETURN NULL;
END
$fn$;

DROP TRIGGER schemas_activate ON rbac.schemas;
CREATE TRIGGER schemas_activate AFTER INSERT ON rbac.schemas
    REFERENCING NEW TABLE AS new_schemas FOR EACH STATEMENT EXECUTE FUNCTION rbac._schemas_activate();

-- A restore brings rbac.schema_relations and rbac.schema_attributes back
-- (they are dumped so that pg_dump orders them before the tuples and
-- attributes that refer to them); if the activation of the restored schema
-- has already derived a row, the restored copy is skipped.
CREATE FUNCTION rbac._skip_existing_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    present boolean;
BEGIN
    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t = $1)', TG_RELID::regclass)
       INTO present USING NEW;
    IF present THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER schema_relations_skip_existing BEFORE INSERT ON rbac.schema_relations
    FOR EACH ROW EXECUTE FUNCTION rbac._skip_existing_row();
CREATE TRIGGER schema_attributes_skip_existing BEFORE INSERT ON rbac.schema_attributes
    FOR EACH ROW EXECUTE FUNCTION rbac._skip_existing_row();

-- pg_dump writes the rows of these tables (and where their identity
-- sequences stand): models, tuples, attributes. The token and OAuth tables
-- are marked in oauth.sql.
SELECT pg_catalog.pg_extension_config_dump('rbac.schemas', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.schemas_version_seq', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.schema_relations', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.schema_attributes', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.tuples', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.attributes', '');

-- pg_dump writes the rows of these tables and where oauth_jobs' identity
-- stands. Tokens are dumped in their encrypted text form; their associated
-- data (table, column, row key) is the same after a restore, so they decrypt
-- with the same key file.
SELECT pg_catalog.pg_extension_config_dump('rbac.workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_config', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_states', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.oauth_jobs_id_seq', '');

-- The write functions resolve names with a fixed search_path: a caller's
-- search_path (with its own operators and functions) no longer reaches them.
ALTER FUNCTION rbac.write_schema(text) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION rbac.write_tuples(text[]) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION rbac.delete_tuples(text[]) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION rbac.write_attributes(text[]) SET search_path TO pg_catalog, pg_temp;
ALTER FUNCTION rbac.delete_attributes(text[]) SET search_path TO pg_catalog, pg_temp;

-- As for every function of the extension: nothing for PUBLIC.
REVOKE ALL ON FUNCTION rbac._lock_schema_writes() FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac._schemas_check_insert() FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac._skip_existing_row() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rbac._lock_schema_writes() TO rbac_admin;
GRANT SELECT ON SEQUENCE rbac.schemas_version_seq TO rbac_admin;

COMMENT ON TABLE rbac.schema_write_lock IS 'Empty; schema writers queue on a lock of it that only the extension can take';

-- rbac.encrypted_token: binary send/receive, equality and ordering, and its
-- own storage format. The new library reads both formats; rewriting each
-- value through its text form stores it in the new one.
CREATE  FUNCTION "encrypted_token_eq"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_eq_wrapper';

CREATE OPERATOR = (
	PROCEDURE="encrypted_token_eq",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = =,
	NEGATOR = <>,
	RESTRICT = eqsel,
	JOIN = eqjoinsel,
	HASHES,
	MERGES
);


CREATE  FUNCTION "encrypted_token_gt"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_gt_wrapper';

CREATE OPERATOR > (
	PROCEDURE="encrypted_token_gt",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = <,
	NEGATOR = <=,
	RESTRICT = scalargtsel,
	JOIN = scalargtjoinsel
);


CREATE  FUNCTION "encrypted_token_ne"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_ne_wrapper';

CREATE OPERATOR <> (
	PROCEDURE="encrypted_token_ne",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = <>,
	NEGATOR = =,
	RESTRICT = neqsel,
	JOIN = neqjoinsel
);


CREATE  FUNCTION "encrypted_token_le"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_le_wrapper';

CREATE OPERATOR <= (
	PROCEDURE="encrypted_token_le",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = >=,
	NEGATOR = >,
	RESTRICT = scalarlesel,
	JOIN = scalarlejoinsel
);


CREATE  FUNCTION "encrypted_token_ge"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_ge_wrapper';

CREATE OPERATOR >= (
	PROCEDURE="encrypted_token_ge",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = <=,
	NEGATOR = <,
	RESTRICT = scalargesel,
	JOIN = scalargejoinsel
);


CREATE  FUNCTION "encrypted_token_lt"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_lt_wrapper';

CREATE OPERATOR < (
	PROCEDURE="encrypted_token_lt",
	LEFTARG=encrypted_token, /* encrypted_token */
	RIGHTARG=encrypted_token, /* encrypted_token */
	COMMUTATOR = >,
	NEGATOR = >=,
	RESTRICT = scalarltsel,
	JOIN = scalarltjoinsel
);


CREATE  FUNCTION "encrypted_token_hash"(
	"value" encrypted_token /* encrypted_token */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_hash_wrapper';


CREATE  FUNCTION "encrypted_token_cmp"(
	"left" encrypted_token, /* encrypted_token */
	"right" encrypted_token /* encrypted_token */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_cmp_wrapper';


CREATE  FUNCTION "encrypted_token_recv"(
	"internal" internal /* pgrx :: datum :: Internal */
) RETURNS encrypted_token /* encrypted_token */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_recv_wrapper';


CREATE  FUNCTION "encrypted_token_send"(
	"token" encrypted_token /* encrypted_token */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'encrypted_token_send_wrapper';


CREATE OPERATOR FAMILY encrypted_token_btree_ops USING btree;

CREATE OPERATOR CLASS encrypted_token_btree_ops DEFAULT FOR TYPE encrypted_token USING btree FAMILY encrypted_token_btree_ops AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 encrypted_token_cmp(encrypted_token, encrypted_token);


CREATE OPERATOR FAMILY encrypted_token_hash_ops USING hash;

CREATE OPERATOR CLASS encrypted_token_hash_ops DEFAULT FOR TYPE encrypted_token USING hash FAMILY encrypted_token_hash_ops AS
	OPERATOR    1   =  (encrypted_token, encrypted_token),
	FUNCTION    1   encrypted_token_hash(encrypted_token);

-- The token type's binary form is the extension's own envelope layout
-- (src/token.rs); comparing tokens (=, <>, <, DISTINCT, UNION) is for
-- those who may read them.
ALTER TYPE rbac.encrypted_token SET (RECEIVE = rbac.encrypted_token_recv, SEND = rbac.encrypted_token_send);
GRANT EXECUTE ON FUNCTION
    rbac.encrypted_token_eq(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_ne(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_lt(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_le(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_gt(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_ge(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_cmp(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_hash(rbac.encrypted_token)
    TO rbac_admin;
REVOKE ALL ON FUNCTION rbac.encrypted_token_recv(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_send(rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_hash(rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_cmp(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_eq(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_ne(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_lt(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_le(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_gt(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
REVOKE ALL ON FUNCTION rbac.encrypted_token_ge(rbac.encrypted_token, rbac.encrypted_token) FROM PUBLIC;
UPDATE rbac.workspaces SET access_token = access_token::text::rbac.encrypted_token,
                           refresh_token = refresh_token::text::rbac.encrypted_token;
UPDATE rbac.oauth_config SET client_secret = client_secret::text::rbac.encrypted_token;
UPDATE rbac.oauth_jobs SET code = code::text::rbac.encrypted_token WHERE code IS NOT NULL;
