-- Writing, reading and deleting tuples and attributes; validation on every path.
BEGIN;

-- Without a schema nothing can be written.
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:1#owner@user:a'])$$);

SELECT rbac.write_schema($$
entity user {}
entity team {
    relation member @user @team#member
}
entity doc {
    relation owner @user
    relation viewer @user @team#member
    attribute public boolean
    attribute level integer
    attribute tags string[]
    permission view = viewer or owner or public
}
$$) > 0 AS written;

SELECT rbac.write_tuples(ARRAY[
    'doc:1#owner@user:alice',
    'doc:1#viewer@team:eng#member',
    'team:eng#member@user:bob',
    'team:eng#member@team:ops#member',
    'team:ops#member@user:carol'
]) AS added;

-- Writing a tuple that exists is a no-op.
SELECT rbac.write_tuples(ARRAY['doc:1#owner@user:alice', 'doc:1#owner@user:alice']) AS added_again;

SELECT tuple FROM rbac.read_tuples();
SELECT tuple FROM rbac.read_tuples(entity_type => 'team', subject_type => 'user');
SELECT entity_id, relation, subject_relation FROM rbac.read_tuples(subject_relation => 'member');

-- Rejected input says what is wrong and writes nothing.
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#owner@user:x', 'doc:2#owner'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#owner@team:eng'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#writer@user:x'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['folder:2#owner@user:x'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#view@user:x'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:2#viewer@team:eng#owner'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY['doc:x y#owner@user:a'])$$);
SELECT try($$SELECT rbac.write_tuples(ARRAY[NULL])$$);
SELECT count(*) AS tuples FROM rbac.tuples;

-- Plain INSERT and COPY are validated too.
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', '3', 'owner', 'team', 'eng', '')$$);
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', '3', 'nope', 'user', 'a', '')$$);
SELECT try($$INSERT INTO rbac.tuples VALUES ('doc', 'bad id', 'owner', 'user', 'a', '')$$);
SELECT try($$INSERT INTO rbac.tuples VALUES ('team', 'x', 'member', 'team', 'x', 'member')$$);
INSERT INTO rbac.tuples VALUES ('doc', '3', 'owner', 'user', 'dave', '');
COPY rbac.tuples FROM stdin;
doc	4	owner	user	erin	
doc	4	viewer	team	eng	member
\.
SELECT try($$COPY rbac.tuples FROM PROGRAM 'printf "doc\t5\towner\tteam\teng\t\n"'$$);
SELECT count(*) AS tuples FROM rbac.tuples;

-- A schema that would orphan stored tuples is refused and lists them.
SELECT try($$SELECT rbac.write_schema('entity user {} entity doc { relation owner @user }')$$);

-- Deleting.
SELECT rbac.delete_tuples(ARRAY['doc:4#viewer@team:eng#member', 'doc:404#owner@user:nobody']) AS deleted;
SELECT count(*) AS tuples FROM rbac.tuples;

-- Attributes, typed by the schema.
SELECT rbac.write_attributes(ARRAY[
    'doc:1$public|boolean:true',
    'doc:1$level|integer:3',
    'doc:2$tags|string[]:a,b'
]) AS written;
SELECT rbac.write_attributes(ARRAY['doc:1$level|integer:4']) AS replaced;
-- The same attribute twice in one call: the last value wins.
SELECT rbac.write_attributes(ARRAY['doc:1$public|boolean:true', 'doc:1$public|boolean:false']) AS twice;
SELECT value AS last_wins FROM rbac.attributes WHERE entity_id = '1' AND attribute = 'public';
SELECT rbac.write_attributes(ARRAY['doc:1$public|boolean:false', 'doc:1$public|boolean:true']) AS twice_again;
SELECT value AS last_wins_again FROM rbac.attributes WHERE entity_id = '1' AND attribute = 'public';
SELECT * FROM rbac.read_attributes();
SELECT try($$SELECT rbac.write_attributes(ARRAY['doc:1$level|double:4.5'])$$);
SELECT try($$SELECT rbac.write_attributes(ARRAY['doc:1$nope|boolean:true'])$$);
SELECT try($$SELECT rbac.write_attributes(ARRAY['doc:1$public|boolean:maybe'])$$);
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'level', 'integer', '"three"')$$);
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'level', 'double', '3.5')$$);
-- Written directly, a value fits its type element by element, as
-- rbac.write_attributes writes it (else every check reading it fails).
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'tags', 'string[]', '["a", 1]')$$) AS mixed_array;
SELECT try($$UPDATE rbac.attributes SET value = '[null]' WHERE attribute = 'tags'$$) AS null_in_strings;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'integer[]', '[1.5]')$$) AS fraction_in_integers;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'integer[]', '[1.0]')$$) AS integer_as_decimal;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'integer[]', '[1, 99999999999]')$$) AS integer_out_of_range;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'double', '1e400')$$) AS double_out_of_range;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'double[]', '[1, "2"]')$$) AS string_in_doubles;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'x', 'boolean[]', '[true, [false]]')$$) AS nested_in_booleans;
SELECT try($$INSERT INTO rbac.attributes VALUES ('doc', '9', 'tags', 'string[]', '[["a"]]')$$) AS nested_in_strings;
SELECT rbac.write_attributes(ARRAY['doc:9$tags|string[]:a,b']) AS strings_fit;
SELECT rbac.delete_attributes(ARRAY['doc:2$tags']) AS deleted;

ROLLBACK;
