-- The id checks of rbac.tuples (entity and subject ids) and rbac.attributes
-- (entity ids): 1 to 128 of A-Z a-z 0-9 _ . + -, or * (a literal id). Since
-- 0.12.0 the length is tested on its own (a bounded repetition {1,128} in
-- the pattern cost about 10 µs per id); every id a plain INSERT tries here
-- is accepted exactly when the pattern of 0.11.0 accepts it, and exactly
-- when rbac.write_tuples' own parser accepts it.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity doc {
    relation viewer @user
    attribute level integer
    permission read = viewer
}
$$) IS NOT NULL AS written;

CREATE TEMP TABLE id_cases (label text, id text);
INSERT INTO id_cases VALUES
    ('empty', ''), ('one letter', 'a'), ('star', '*'), ('two stars', '**'),
    ('letter then star', 'a*'), ('star then letter', '*a'),
    ('every allowed class', 'AZaz09_.+-'), ('128 bytes', repeat('a', 128)),
    ('129 bytes', repeat('a', 129)), ('127 then star', repeat('a', 127) || '*'),
    ('128 of a non-ASCII letter', repeat('é', 64)), ('one non-ASCII letter', 'é'),
    ('space', 'a b'), ('trailing newline', E'a\n'), ('leading newline', E'\na'),
    ('tab', E'a\tb'), ('colon', 'a:b'), ('hash', 'a#b'), ('at', 'a@b'), ('slash', 'a/b'),
    ('dollar', 'a$'), ('caret', '^a'), ('backslash', E'a\\b'), ('pipe', 'a|b');
-- Every printable ASCII character on its own (and inside an id).
INSERT INTO id_cases
SELECT 'ASCII ' || c, chr(c) FROM generate_series(32, 126) c
UNION ALL
SELECT 'ASCII ' || c || ' inside', 'x' || chr(c) || 'y' FROM generate_series(32, 126) c;

-- Whether a statement was accepted (each in its own subtransaction,
-- rolled back either way).
CREATE FUNCTION pg_temp.accepted(sql text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RAISE EXCEPTION 'accepted' USING ERRCODE = 'P0001';
EXCEPTION
    WHEN check_violation THEN RETURN false;
    WHEN raise_exception THEN RETURN true;
END $$;

CREATE TEMP TABLE id_results AS
SELECT label, id,
       id ~ '^([A-Za-z0-9_.+-]{1,128}|\*)$' AS old_pattern,
       pg_temp.accepted(format($$INSERT INTO rbac.tuples VALUES ('doc', %L, 'viewer', 'user', 'u', '')$$, id)) AS entity_id,
       pg_temp.accepted(format($$INSERT INTO rbac.tuples VALUES ('doc', 'd', 'viewer', 'user', %L, '')$$, id)) AS subject_id,
       pg_temp.accepted(format($$INSERT INTO rbac.attributes VALUES ('doc', %L, 'level', 'integer', '1')$$, id)) AS attribute_entity_id
  FROM id_cases;
-- The rows each check accepted are exactly the old pattern's ...
SELECT label, old_pattern, entity_id, subject_id, attribute_entity_id
  FROM id_results
 WHERE entity_id IS DISTINCT FROM old_pattern
    OR subject_id IS DISTINCT FROM old_pattern
    OR attribute_entity_id IS DISTINCT FROM old_pattern;
-- ... which accept some and refuse most of them.
SELECT old_pattern, count(*) FROM id_results GROUP BY 1 ORDER BY 1;
SELECT label FROM id_results WHERE old_pattern ORDER BY label COLLATE "C";
-- rbac.write_tuples' parser draws the same line (23514 or 22023 for a
-- refused id, however it is refused), so both paths store the same ids.
-- (Its text form trims white space around each part, `doc:a #viewer`, so
-- ids that begin or end with it are left out here.)
CREATE FUNCTION pg_temp.written(tuple text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rbac.write_tuples(ARRAY[tuple]);
    RAISE EXCEPTION 'written' USING ERRCODE = 'P0001';
EXCEPTION
    WHEN check_violation OR invalid_parameter_value OR invalid_text_representation OR syntax_error THEN RETURN false;
    WHEN raise_exception THEN RETURN true;
END $$;
SELECT label, old_pattern
  FROM id_results
 WHERE position(':' IN id) = 0 AND position('#' IN id) = 0 AND position('@' IN id) = 0
   AND id = btrim(id, E' \t\n\r')
   AND pg_temp.written('doc:' || id || '#viewer@user:u') IS DISTINCT FROM old_pattern;
-- A refusal names the check.
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', repeat('a', 129), 'viewer', 'user', 'u', '')$$);
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', 'a b', 'level', 'integer', '1')$$);
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
