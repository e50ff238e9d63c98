-- An error raised inside a utility statement (CALL, DO, COPY, CREATE …) or
-- while the executor starts passes through the extension's hooks as
-- PostgreSQL raised it: with its cursor position (psql's LINE and caret)
-- and the schema, table, column and constraint names drivers read. (The
-- hooks see every statement of every session where the library is loaded.)
CREATE TABLE ef_t (
    id int CONSTRAINT ef_t_pkey PRIMARY KEY,
    n int CONSTRAINT ef_n_positive CHECK (n > 0),
    label text NOT NULL DEFAULT 'x'
);
CREATE PROCEDURE ef_insert(i int, n int, label text DEFAULT 'x') LANGUAGE sql AS $$ INSERT INTO ef_t VALUES (i, n, label) $$;
CALL ef_insert(1, 1);

-- psql shows where the error is.
CREATE VIEW ef_v AS SELECT id, nosuchcolumn FROM ef_t;

-- The fields of errors raised under CALL and COPY, as a handler sees them.
CREATE FUNCTION ef_fields(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; sch text; tbl text; col text; con text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, sch = SCHEMA_NAME, tbl = TABLE_NAME,
                            col = COLUMN_NAME, con = CONSTRAINT_NAME;
    RETURN format('%s schema=%s table=%s column=%s constraint=%s', state, sch, tbl, col, con);
END $$;
SELECT ef_fields('CALL ef_insert(1, 2)');
SELECT ef_fields('CALL ef_insert(2, -1)');
SELECT ef_fields('CALL ef_insert(3, 1, NULL)');
SELECT ef_fields($$COPY ef_t FROM PROGRAM 'printf "1\t5\tx\n"'$$);
SELECT ef_fields('DO $do$ BEGIN INSERT INTO ef_t VALUES (4, 0); END $do$');

-- The statements still did what they do: nothing was written by the
-- failed ones.
SELECT * FROM ef_t ORDER BY id;

-- The same through rbac.write_tuples and rbac.delete_tuples: an error
-- their statement raises — here in a trigger an administrator added to
-- rbac.tuples — reaches the caller whole, as PostgreSQL raised it, though
-- it crossed the library's code (and a handler in the caller still works).
BEGIN;
DELETE FROM rbac.attributes;
DELETE FROM rbac.tuples;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user }') > 0 AS written;
CREATE TABLE ef_seen (k text CONSTRAINT ef_seen_pkey PRIMARY KEY);
CREATE FUNCTION ef_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ef_seen VALUES (TG_OP);
    RETURN NULL;
END $$;
CREATE TRIGGER ef_note AFTER INSERT OR DELETE ON rbac.tuples FOR EACH STATEMENT EXECUTE FUNCTION ef_note();
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a', 'doc:2#viewer@user:a']) AS added;
SELECT ef_fields($$SELECT rbac.write_tuples(ARRAY['doc:3#viewer@user:a'])$$);
-- As psql shows it: the trigger's statement and the library's INSERT.
SAVEPOINT before_error;
SELECT rbac.write_tuples(ARRAY['doc:3#viewer@user:a']);
ROLLBACK TO SAVEPOINT before_error;
SELECT rbac.delete_tuples(ARRAY['doc:1#viewer@user:a']) AS deleted;
SELECT ef_fields($$SELECT rbac.delete_tuples(ARRAY['doc:2#viewer@user:a'])$$);
SELECT tuple AS left_unchanged FROM rbac.read_tuples('doc') ORDER BY 1;
-- No Rust backtrace in an error's DETAIL. pgrx appends one to every
-- PostgreSQL error that crosses its boundary wherever backtraces are
-- enabled, and this cluster runs with RUST_BACKTRACE=1 (scripts/cluster.sh)
-- as a server being debugged might; the library keeps them out.
-- (The postmaster's environment: a backend's own /proc entry shows its
-- process title instead.)
SELECT position(convert_to('RUST_BACKTRACE=1', 'UTF8')
                IN pg_read_binary_file('/proc/' || split_part(pg_read_file('postmaster.pid'), E'\n', 1) || '/environ')) > 0
    AS backtraces_asked_for;
CREATE FUNCTION ef_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'not today' USING DETAIL = 'ef_refuse says so';
END $$;
-- The OAuth functions' statements still run through pgrx's boundary: a
-- trigger refusing rbac.oauth_config's row reaches the caller as pgrx
-- reports it (code, message, detail, hint), and its DETAIL is the
-- trigger's alone.
CREATE TRIGGER ef_refuse BEFORE INSERT OR UPDATE ON rbac.oauth_config FOR EACH ROW EXECUTE FUNCTION ef_refuse();
SAVEPOINT before_refusal;
SELECT rbac.oauth_configure('client-ef', 'secret-ef', ARRAY['https://app.example.com/cb']);
ROLLBACK TO SAVEPOINT before_refusal;
DROP TRIGGER ef_refuse ON rbac.oauth_config;
-- write_schema's statements do not: a trigger refusing its INSERT reaches
-- the caller whole (its context: the trigger, then the library's
-- statement).
CREATE TRIGGER ef_refuse AFTER INSERT ON rbac.schemas FOR EACH STATEMENT EXECUTE FUNCTION ef_refuse();
SAVEPOINT before_refusal;
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user relation owner @user }');
ROLLBACK TO SAVEPOINT before_refusal;
ROLLBACK;
DROP FUNCTION ef_fields(text);
DROP PROCEDURE ef_insert(int, int, text);
DROP TABLE ef_t;
