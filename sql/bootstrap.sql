-- notion_rbac bootstrap: roles and tables. Runs before any generated
-- function. The extension's schema is `rbac` (see notion_rbac.control); all
-- objects are created there.

-- Roles the extension grants its privileges to. Roles are cluster-wide and
-- not owned by the extension, so they survive DROP EXTENSION and may already
-- exist from an earlier install or another database. A role that exists is
-- reused only if it is as this script would have made it: no login, no
-- special attributes, and nobody but a superuser holding ADMIN on it (who
-- holds ADMIN on rbac_worker can grant it to themselves and decrypt every
-- token). The schema rbac must be new, or an empty one a superuser owns.
DO $roles$
DECLARE
    r record;
    admins text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner
                WHERE n.nspname = 'rbac'
                  AND (NOT o.rolsuper
                       OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid)
                       OR EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid)
                       OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid))) THEN
        RAISE EXCEPTION 'schema "rbac" already exists and was not made by notion_rbac'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'drop or rename that schema first: the extension''s objects must not be shared with anyone else''s';
    END IF;
    FOR r IN SELECT * FROM (VALUES
            ('rbac_admin', 'notion_rbac: manage authorization models and relationships'),
            ('rbac_reader', 'notion_rbac: run permission checks and lookups (grant to application roles that use RLS policies)'),
            ('rbac_oauth', 'notion_rbac: run the OAuth flow (oauth_start, oauth_callback, oauth_status) — grant to the web application'),
            ('rbac_worker', 'notion_rbac: the background worker — decrypts tokens, records installations, syncs tuples'),
            ('rbac_app', 'notion_rbac: application servers and poolers — set the subject of each request (rbac.set_subject)')) AS v(name, description)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r.name);
            EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', r.name, r.description);
            CONTINUE;
        END IF;
        IF EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname = r.name
                      AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
            RAISE EXCEPTION 'role "%" already exists with LOGIN or special attributes', r.name
                USING ERRCODE = 'duplicate_object',
                      HINT = pg_catalog.format('the extension grants its privileges to %I: make it NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS, or drop it', r.name);
        END IF;
        SELECT pg_catalog.string_agg(m.rolname, ', ' ORDER BY m.rolname) INTO admins
          FROM pg_catalog.pg_auth_members a
          JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
          JOIN pg_catalog.pg_roles m ON m.oid = a.member
         WHERE g.rolname = r.name AND a.admin_option AND NOT m.rolsuper;
        IF admins IS NOT NULL THEN
            RAISE EXCEPTION 'role "%" already exists and % may grant it to anyone', r.name, admins
                USING ERRCODE = 'duplicate_object',
                      HINT = pg_catalog.format('REVOKE ADMIN OPTION FOR %I FROM %s, or drop the role', r.name, admins);
        END IF;
    END LOOP;
END
$roles$;

-- Versions of the authorization model. The highest version is active.
CREATE TABLE rbac.schemas (
    version     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  name        NOT NULL DEFAULT CURRENT_USER
);

-- Schema writers queue on a lock of this table (taken by
-- rbac._lock_schema_writes(), SECURITY DEFINER). Nobody else holds any
-- privilege on it, so no other role can take or block that lock — unlike an
-- advisory lock, which any role that can connect may take. Its one row is
-- replaced by every activation (rbac._schemas_activate): a transaction
-- whose snapshot predates another's committed activation then fails to
-- delete it (40001 under REPEATABLE READ and SERIALIZABLE) instead of
-- bringing rbac.schema_relations in line with its own view of them, in
-- which the other's changes are missing.
-- (Its replica identity is the whole row, so that it may be replaced in a
-- database that publishes the extension's tables.)
CREATE TABLE rbac.schema_write_lock ();
ALTER TABLE rbac.schema_write_lock REPLICA IDENTITY FULL;
INSERT INTO rbac.schema_write_lock DEFAULT VALUES;

-- What the active schema lets be stored, kept in step with it by
-- rbac.write_schema() (and writable by nothing else). The tuple and attribute
-- triggers validate every write, whatever its path (function, INSERT, COPY),
-- with one set-based anti-join against these tables.
CREATE TABLE rbac.schema_relations (
    entity_type      text COLLATE "C" NOT NULL,
    relation         text COLLATE "C" NOT NULL,
    subject_type     text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL,
    PRIMARY KEY (entity_type, relation, subject_type, subject_relation)
);

CREATE TABLE rbac.schema_attributes (
    entity_type text COLLATE "C" NOT NULL,
    attribute   text COLLATE "C" NOT NULL,
    value_type  text COLLATE "C" NOT NULL,
    PRIMARY KEY (entity_type, attribute),
    -- What rbac.attributes' foreign key refers to.
    UNIQUE (entity_type, attribute, value_type)
);

-- Relationship tuples: entity_type:entity_id#relation@subject_type:subject_id[#subject_relation].
-- The primary key serves forward reads (who is related to this object?),
-- tuples_by_subject serves reverse reads (what is this subject related to?).
-- COLLATE "C": ids are compared bytewise, which is both what authorization
-- needs and the fastest comparison.
CREATE TABLE rbac.tuples (
    entity_type      text COLLATE "C" NOT NULL,
    entity_id        text COLLATE "C" NOT NULL,
    relation         text COLLATE "C" NOT NULL,
    subject_type     text COLLATE "C" NOT NULL,
    subject_id       text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL DEFAULT '',
    CONSTRAINT tuples_pkey PRIMARY KEY (entity_type, entity_id, relation, subject_type, subject_id, subject_relation),
    -- Type and relation names need no check of their own: the validation
    -- trigger requires them to be in rbac.schema_relations, which holds only
    -- names the schema compiler accepted. Ids are checked per row: 1 to 128
    -- of A-Z a-z 0-9 _ . + -, or * (a literal id, as in Permify). (The length is its own
    -- test: PostgreSQL's regular expressions expand a bounded repetition
    -- such as {1,128} into that many states, and the one-pattern form cost
    -- about 10 µs per id, 40% of a tuple's whole insert, against under 1 µs.)
    CONSTRAINT tuples_entity_id_syntax CHECK (
        octet_length(entity_id) <= 128 AND entity_id ~ '^[A-Za-z0-9_.+-]+$' OR entity_id = '*'),
    CONSTRAINT tuples_subject_id_syntax CHECK (
        octet_length(subject_id) <= 128 AND subject_id ~ '^[A-Za-z0-9_.+-]+$' OR subject_id = '*'),
    CONSTRAINT tuples_not_self CHECK (NOT (entity_type = subject_type AND entity_id = subject_id AND relation = subject_relation)),
    -- Every stored tuple fits the active schema, at every isolation level:
    -- PostgreSQL's referential integrity checks lock the allowed combination
    -- (FOR KEY SHARE) and, under REPEATABLE READ and SERIALIZABLE, cross-check
    -- with the latest snapshot, so a writer whose snapshot predates a schema
    -- change that removed its combination fails with a serialization error,
    -- and a schema writer that misses newer tuples fails too. Deferred to
    -- commit so that the validation trigger reports a misfit first, in the
    -- schema's terms.
    CONSTRAINT tuples_fit_schema FOREIGN KEY (entity_type, relation, subject_type, subject_relation)
        REFERENCES rbac.schema_relations DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX tuples_by_subject ON rbac.tuples (subject_type, subject_id, entity_type, relation, subject_relation, entity_id);
-- Entities read through an 8-byte hash of entity_type:entity_id instead of
-- the primary key's text columns: no text comparisons on the way down
-- until the hash matches, and inner pages of 8-byte keys, about half the
-- cost of a descent. Keyed on by relation, subject relation, subject type
-- and id, one index serves
-- - small entities (a page: its parent, workspace and grants), read whole
--   in one descent by the hash alone;
-- - a large entity's subjects of one relation (hash, relation), or its
--   subject sets alone (subject relation > '': they sort after every plain
--   subject, however many those are);
-- - a point probe for one tuple (the whole key).
-- Every column is in the index, so reads are index-only; rows of entities
-- that share the hash are skipped by the reader. Built-in functions only,
-- so every role that may write tuples can evaluate it.
CREATE INDEX tuples_by_entity_key ON rbac.tuples
    (pg_catalog.hashtextextended(entity_type OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) entity_id, 0),
     relation, subject_relation, subject_type, subject_id)
    INCLUDE (entity_type, entity_id);
-- Subjects read through an 8-byte hash of subject_type:subject_id, the
-- same way (0.19.0): a reverse read that cannot read on along
-- tuples_by_subject (a lookup's next subject is far from the last one
-- there), and a subject read whole for one entity type, descend without
-- text comparisons until the hash matches. tuples_by_subject stays for
-- reading on in subject order (a lookup's dense heights), for the
-- subjects of a type, and for SQL queries by subject.
CREATE INDEX tuples_by_subject_key ON rbac.tuples
    (pg_catalog.hashtextextended(subject_type OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) subject_id, 0),
     entity_type, relation)
    INCLUDE (subject_relation, entity_id, subject_type, subject_id);

-- Attribute values, typed by the schema: value_type is one of boolean,
-- string, integer, double (optionally with []), value the matching JSON.
CREATE TABLE rbac.attributes (
    entity_type text COLLATE "C" NOT NULL,
    entity_id   text COLLATE "C" NOT NULL,
    attribute   text COLLATE "C" NOT NULL,
    value_type  text COLLATE "C" NOT NULL,
    value       jsonb NOT NULL,
    CONSTRAINT attributes_pkey PRIMARY KEY (entity_type, entity_id, attribute),
    -- (As the tuples' ids.)
    CONSTRAINT attributes_entity_id_syntax CHECK (
        octet_length(entity_id) <= 128 AND entity_id ~ '^[A-Za-z0-9_.+-]+$' OR entity_id = '*'),
    CONSTRAINT attributes_value_fits_type CHECK (
        CASE value_type
            WHEN 'boolean' THEN jsonb_typeof(value) = 'boolean'
            WHEN 'string'  THEN jsonb_typeof(value) = 'string'
            WHEN 'integer' THEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]+$'
                                AND value::numeric BETWEEN -2147483648 AND 2147483647
            -- (A double as a float8 reads it: finite.)
            WHEN 'double'  THEN jsonb_typeof(value) = 'number' AND abs(value::numeric) <= 1.7976931348623157e308
            -- Arrays element by element, as rbac.write_attributes writes
            -- them (an integer without a fraction or exponent, in range).
            WHEN 'boolean[]' THEN jsonb_typeof(value) = 'array' AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "boolean")')
            WHEN 'string[]'  THEN jsonb_typeof(value) = 'array' AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "string")')
            WHEN 'integer[]' THEN jsonb_typeof(value) = 'array' AND value::text ~ '^\[(-?[0-9]+(, -?[0-9]+)*)?\]$'
                                  AND NOT jsonb_path_exists(value, 'strict $[*] ? (@ < -2147483648 || @ > 2147483647)')
            WHEN 'double[]'  THEN jsonb_typeof(value) = 'array'
                                  AND NOT jsonb_path_exists(value, 'strict $[*] ? (@.type() != "number" || @ < -1.7976931348623157e308 || @ > 1.7976931348623157e308)')
            ELSE false
        END),
    -- As rbac.tuples_fit_schema.
    CONSTRAINT attributes_fit_schema FOREIGN KEY (entity_type, attribute, value_type)
        REFERENCES rbac.schema_attributes (entity_type, attribute, value_type) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX attributes_by_name ON rbac.attributes (entity_type, attribute, entity_id);

-- Statement-level validation of tuple writes: one anti-join over the
-- transition table, so a COPY of a million rows costs one hash join instead
-- of a million trigger calls. On a misfit, the Rust helper explains it in
-- the schema's terms.
CREATE FUNCTION rbac._tuples_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    bad record;
BEGIN
    SELECT n.entity_type, n.entity_id, n.relation, n.subject_type, n.subject_id, n.subject_relation
      INTO bad
      FROM new_tuples n
     WHERE NOT EXISTS (SELECT 1 FROM rbac.schema_relations s
                        WHERE s.entity_type = n.entity_type AND s.relation = n.relation
                          AND s.subject_type = n.subject_type AND s.subject_relation = n.subject_relation)
     LIMIT 1;
    IF FOUND THEN
        PERFORM rbac._raise_tuple_misfit(bad.entity_type, bad.entity_id, bad.relation,
                                         bad.subject_type, bad.subject_id, bad.subject_relation);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER tuples_validate_insert AFTER INSERT ON rbac.tuples
    REFERENCING NEW TABLE AS new_tuples FOR EACH STATEMENT EXECUTE FUNCTION rbac._tuples_validate();
CREATE TRIGGER tuples_validate_update AFTER UPDATE ON rbac.tuples
    REFERENCING NEW TABLE AS new_tuples FOR EACH STATEMENT EXECUTE FUNCTION rbac._tuples_validate();

CREATE FUNCTION rbac._attributes_validate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    bad record;
BEGIN
    SELECT n.entity_type, n.entity_id, n.attribute, n.value_type
      INTO bad
      FROM new_attributes n
     WHERE NOT EXISTS (SELECT 1 FROM rbac.schema_attributes s
                        WHERE s.entity_type = n.entity_type AND s.attribute = n.attribute
                          AND s.value_type = n.value_type)
     LIMIT 1;
    IF FOUND THEN
        PERFORM rbac._raise_attribute_misfit(bad.entity_type, bad.entity_id, bad.attribute, bad.value_type);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER attributes_validate_insert AFTER INSERT ON rbac.attributes
    REFERENCING NEW TABLE AS new_attributes FOR EACH STATEMENT EXECUTE FUNCTION rbac._attributes_validate();
CREATE TRIGGER attributes_validate_update AFTER UPDATE ON rbac.attributes
    REFERENCING NEW TABLE AS new_attributes FOR EACH STATEMENT EXECUTE FUNCTION rbac._attributes_validate();

-- Reading tuples with optional filters, for people and programs alike.
-- Only the filters given become conditions, in a statement planned for the
-- call, so that a read by entity or by subject descends the matching index:
-- one statement with every filter optional ("$1 IS NULL OR …") was planned
-- once for any arguments and read the whole table (0.2 s for one page's
-- tuples among a million). The arguments are bound, never spliced in.
-- (PL/pgSQL refuses a parameter and a result column of the same name, so
-- the statement is built by an internal function and the public one, whose
-- argument names callers use, returns its rows.)
CREATE FUNCTION rbac._read_tuples(text, text, text, text, text, text)
RETURNS TABLE (r_tuple text, r_entity_type text, r_entity_id text, r_relation text,
               r_subject_type text, r_subject_id text, r_subject_relation text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    conditions text[] := '{}';
BEGIN
    IF $1 IS NOT NULL THEN conditions := array_append(conditions, 't.entity_type = $1'); END IF;
    IF $2 IS NOT NULL THEN conditions := array_append(conditions, 't.entity_id = $2'); END IF;
    IF $3 IS NOT NULL THEN conditions := array_append(conditions, 't.relation = $3'); END IF;
    IF $4 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_type = $4'); END IF;
    IF $5 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_id = $5'); END IF;
    IF $6 IS NOT NULL THEN conditions := array_append(conditions, 't.subject_relation = $6'); END IF;
    RETURN QUERY EXECUTE
        'SELECT t.entity_type || '':'' || t.entity_id || ''#'' || t.relation || ''@'' || t.subject_type || '':'' || t.subject_id'
        '       || CASE WHEN t.subject_relation = '''' THEN '''' ELSE ''#'' || t.subject_relation END,'
        '       t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation'
        '  FROM rbac.tuples t'
        || CASE WHEN cardinality(conditions) > 0 THEN ' WHERE ' || array_to_string(conditions, ' AND ') ELSE '' END
        || ' ORDER BY t.entity_type, t.entity_id, t.relation, t.subject_type, t.subject_id, t.subject_relation'
        -- "..." names the empty subject relation (a plain subject).
        USING $1, $2, $3, $4, $5, CASE WHEN $6 = '...' THEN '' ELSE $6 END;
END
$fn$;
CREATE FUNCTION rbac.read_tuples(
    entity_type      text DEFAULT NULL,
    entity_id        text DEFAULT NULL,
    relation         text DEFAULT NULL,
    subject_type     text DEFAULT NULL,
    subject_id       text DEFAULT NULL,
    subject_relation text DEFAULT NULL)
RETURNS TABLE (tuple text, entity_type text, entity_id text, relation text,
               subject_type text, subject_id text, subject_relation text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT * FROM rbac._read_tuples($1, $2, $3, $4, $5, $6)
$fn$;

-- Attribute values with optional filters (planned per call, as read_tuples).
CREATE FUNCTION rbac._read_attributes(text, text, text)
RETURNS TABLE (r_entity_type text, r_entity_id text, r_attribute text, r_value_type text, r_value jsonb)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    conditions text[] := '{}';
BEGIN
    IF $1 IS NOT NULL THEN conditions := array_append(conditions, 'a.entity_type = $1'); END IF;
    IF $2 IS NOT NULL THEN conditions := array_append(conditions, 'a.entity_id = $2'); END IF;
    IF $3 IS NOT NULL THEN conditions := array_append(conditions, 'a.attribute = $3'); END IF;
    RETURN QUERY EXECUTE
        'SELECT a.entity_type, a.entity_id, a.attribute, a.value_type, a.value FROM rbac.attributes a'
        || CASE WHEN cardinality(conditions) > 0 THEN ' WHERE ' || array_to_string(conditions, ' AND ') ELSE '' END
        || ' ORDER BY a.entity_type, a.entity_id, a.attribute'
        USING $1, $2, $3;
END
$fn$;
CREATE FUNCTION rbac.read_attributes(
    entity_type text DEFAULT NULL,
    entity_id   text DEFAULT NULL,
    attribute   text DEFAULT NULL)
RETURNS TABLE (entity_type text, entity_id text, attribute text, value_type text, value jsonb)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT * FROM rbac._read_attributes($1, $2, $3)
$fn$;

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
CREATE FUNCTION rbac._schemas_activate() RETURNS trigger
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
    -- An activation committed after this transaction's snapshot was taken
    -- (REPEATABLE READ, SERIALIZABLE) wrote rows this snapshot cannot see:
    -- replacing the row it replaced too fails, rather than leave them.
    BEGIN
        DELETE FROM rbac.schema_write_lock;
    EXCEPTION WHEN serialization_failure THEN
        RAISE EXCEPTION 'another schema version was activated after this transaction''s snapshot was taken'
            USING ERRCODE = 'serialization_failure',
                  HINT = 'retry the transaction: its snapshot must see the active schema to change it';
    END;
    INSERT INTO rbac.schema_write_lock DEFAULT VALUES;
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
