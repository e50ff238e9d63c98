-- Writing and reading authorization models.
BEGIN;

SELECT rbac.schema() IS NULL AS no_schema_yet;

SELECT rbac.write_schema($$
entity user {}
entity team {
    relation member @user @team#member
}
entity doc {
    relation owner @user
    relation viewer @user @team#member
    attribute public boolean
    permission edit = owner
    permission view = viewer or edit or public
}
$$) AS version;

SELECT version, created_by = current_user AS by_me FROM rbac.schemas ORDER BY version;
SELECT rbac.schema() LIKE '%permission view = viewer or edit or public%' AS active_source;

SELECT * FROM rbac.schema_relations ORDER BY 1, 2, 3, 4;
SELECT * FROM rbac.schema_attributes ORDER BY 1, 2;

-- A syntax error: SQLSTATE 42601, with line and column.
SELECT try($$SELECT rbac.write_schema('entity user {} entity doc { relation owner user }')$$);
-- Compile errors name what is wrong: 42P17.
SELECT try($$SELECT rbac.write_schema('entity user {} entity doc { relation owner @usr }')$$);
SELECT try($$SELECT rbac.write_schema('entity user {} entity doc { relation owner @user permission p = nope }')$$);
SELECT try($$SELECT rbac.write_schema('')$$);
-- Digits are not allowed in identifiers (Permify's lexer).
SELECT try($$SELECT rbac.write_schema('entity user2 {}')$$);
-- Failed writes left nothing behind.
SELECT count(*) AS versions FROM rbac.schemas;

-- Mixing operators without parentheses works, with a NOTICE.
SELECT rbac.write_schema($$
entity user {}
entity doc {
    relation a @user
    relation b @user
    relation c @user
    permission p = a or b and c
}
$$) AS version;

-- Arbitrary text never crashes a backend: it is an error or a schema.
SELECT try(format('SELECT rbac.write_schema(%L)', s))
  FROM unnest(ARRAY['entity x { relation @@ }', '}}}{{{', 'entity', 'rule r( { }', E'entity a {\n permission p = (((', 'entity a { permission p = a.b.c.d }']) s;

ROLLBACK;
