-- The fuzz layer: generated hostile inputs against every SQL function of
-- the extension. Each call runs in its own subtransaction; what is recorded:
-- the SQLSTATE of every call (by function), the slowest call, and every
-- *finding*: an internal error (XX000) or any other class-XX/58 state, a
-- call over its time budget, a failed write that changed a table, a check
-- that disagrees with a stored tuple afterwards. A crash of the backend
-- ends the run (psql reports the lost connection) and fails the layer.
--
-- psql variables: iterations (calls per round), rounds, seed.
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;
SELECT setseed(:seed);

CREATE TABLE fuzz_calls (fn text, sqlstate text, calls int, worst_ms float8, PRIMARY KEY (fn, sqlstate));
CREATE TABLE fuzz_findings (fn text, sqlstate text, ms float8, message text, input text);

-- Seeds the mutations start from: well-formed values of every kind.
CREATE TABLE fuzz_corpus (kind text, v text);
INSERT INTO fuzz_corpus VALUES
 ('schema', 'entity user {} entity doc { relation viewer @user relation parent @doc permission view = viewer or parent.view }'),
 ('schema', E'entity user {}\nentity group { relation member @user @group#member }\nentity doc {\n relation owner @user\n relation viewer @user @group#member\n relation parent @doc\n attribute public boolean\n permission view = (owner or viewer or public or parent.view) not banned\n relation banned @user\n}'),
 ('schema', 'entity user {} entity node { relation parent @node relation a @user relation b @user permission x = a not y permission y = parent.x or b }'),
 ('schema', E'entity user {}\nentity doc { relation viewer @user attribute level integer permission view = viewer and high(level) }\nrule high(level integer) { level > context.data.min }'),
 ('schema', 'entity user {} entity doc { relation viewer @user @doc#view permission view = viewer and view }'),
 ('tuple', 'doc:d1#viewer@user:u1'), ('tuple', 'doc:d2#parent@doc:d1'), ('tuple', 'doc:d1#parent@doc:d2'),
 ('tuple', 'group:g1#member@group:g1#member'), ('tuple', 'doc:d3#viewer@group:g1#member'),
 ('tuple', 'node:n1#parent@node:n2'), ('tuple', 'node:n2#parent@node:n1'), ('tuple', 'node:n1#a@user:u1'),
 ('attribute', 'doc:d1$public|boolean:true'), ('attribute', 'doc:d2$level|integer:7'), ('attribute', 'doc:d3$tags|string[]:a,b'),
 ('subject', 'user:u1'), ('subject', 'group:g1#member'), ('subject', 'doc:d1#view'), ('subject', 'node:n1#a'),
 ('object', 'doc:d1'), ('object', 'doc:d2'), ('object', 'node:n1'), ('object', 'group:g1'),
 ('name', 'view'), ('name', 'viewer'), ('name', 'x'), ('name', 'y'), ('name', 'member'), ('name', 'public'), ('name', 'high'),
 ('type', 'doc'), ('type', 'user'), ('type', 'node'), ('type', 'group'), ('type', 'group#member'),
 ('context', '{"tuples": ["doc:d9#viewer@user:u1"], "attributes": ["doc:d9$public|boolean:true"], "data": {"min": 3}}'),
 ('context', '{"tuples": ["doc:d1#parent@doc:d1", "node:n2#a@user:u1"]}'),
 ('context', '{"data": {"min": "three"}}'),
 ('validation', E'schema: "entity user {} entity doc { relation viewer @user permission view = viewer }"\nrelationships:\n  - "doc:d1#viewer@user:u1"\nscenarios:\n  - name: s\n    checks:\n      - entity: "doc:d1"\n        subject: "user:u1"\n        assertions:\n          view: true\n    entity_filters:\n      - entity_type: doc\n        subject: "user:u1"\n        assertions:\n          view: ["d1"]\n'),
 ('validation', E'schema: >-\n  entity user {} entity node { relation parent @node relation a @user permission x = a not y permission y = parent.x }\nrelationships:\n  - "node:n1#parent@node:n2"\n  - "node:n2#parent@node:n1"\n  - "node:n1#a@user:u"\n  - "node:n2#a@user:u"\nscenarios:\n  - name: cyc\n    checks:\n      - entity: "node:n1"\n        subject: "user:u"\n        assertions:\n          x: false\n'),
 ('token', 'enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
 ('url', 'https://app.example.com/cb'), ('url', 'http://localhost:3000/cb'), ('url', 'https://api.notion.com'),
 ('word', 'c'), ('word', 'user'), ('word', 'workspace'), ('word', 'access_denied'), ('word', 'rbac.workspaces');

-- Text as an attacker would send it: cut, spliced with separators and
-- odd characters, blown up to a megabyte, nested, or NULL.
CREATE FUNCTION fuzz_mutate(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hostile text[] := ARRAY['#', '@', ':', '$', '|', ',', '.', ' ', '''', '"', E'\\', '{', '}', '[', ']',
                            'é', '𝔘', E'\t', E'\n', '%', '*', '-', '0', '-1', '99999999999999999999', 'NaN'];
    pos int;
BEGIN
    IF s IS NULL THEN RETURN NULL; END IF;
    pos := 1 + floor(random() * (length(s) + 1))::int;
    CASE floor(random() * 12)::int
        WHEN 0 THEN RETURN s;
        WHEN 1 THEN RETURN left(s, pos);
        WHEN 2 THEN RETURN overlay(s PLACING hostile[1 + floor(random() * array_length(hostile, 1))::int] FROM pos FOR 0);
        WHEN 3 THEN RETURN overlay(s PLACING hostile[1 + floor(random() * array_length(hostile, 1))::int] FROM pos FOR 1);
        WHEN 4 THEN RETURN s || substr(s, pos);
        WHEN 5 THEN RETURN repeat(substr(s || 'x', pos, 1), 1 + floor(random() * 200000)::int);
        WHEN 6 THEN RETURN '';
        WHEN 7 THEN RETURN NULL;
        WHEN 8 THEN RETURN repeat('(', 5000) || s || repeat(')', 5000);
        WHEN 9 THEN RETURN upper(s);
        WHEN 10 THEN RETURN s || s || s;
        ELSE RETURN reverse(s);
    END CASE;
END $$;

CREATE FUNCTION fuzz_pick(k text, mutate float8 DEFAULT 0.6) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN random() < mutate THEN fuzz_mutate(v) ELSE v END
      FROM (SELECT v FROM fuzz_corpus WHERE kind = k ORDER BY random() LIMIT 1) s
$$;

CREATE FUNCTION fuzz_array(k text) RETURNS text[] LANGUAGE sql AS $$
    SELECT CASE floor(random() * 6)::int
        WHEN 0 THEN NULL
        WHEN 1 THEN ARRAY[]::text[]
        WHEN 2 THEN ARRAY[NULL::text]
        WHEN 3 THEN (SELECT array_agg(format('%s:x%s#viewer@user:u%s', 'doc', i, i % 7)) FROM generate_series(1, 1 + floor(random() * 3000)::int) i)
        ELSE (SELECT array_agg(fuzz_pick(k)) FROM generate_series(1, 1 + floor(random() * 6)::int))
    END
$$;

-- A context: a mutated one, or well-formed JSON with hostile contents
-- (unparsable items, nesting deeper than any parser, huge lists).
CREATE FUNCTION fuzz_context() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    CASE floor(random() * 6)::int
        WHEN 0 THEN RETURN NULL;
        WHEN 1 THEN
            BEGIN
                RETURN fuzz_pick('context')::jsonb;
            EXCEPTION WHEN OTHERS THEN
                RETURN '{}'::jsonb;
            END;
        WHEN 2 THEN RETURN jsonb_build_object('tuples', to_jsonb(fuzz_array('tuple')), 'attributes', to_jsonb(fuzz_array('attribute')));
        WHEN 3 THEN
            t := repeat('[', 100 + floor(random() * 3000)::int);
            BEGIN
                RETURN ('{"data": ' || t || repeat(']', length(t)) || '}')::jsonb;
            EXCEPTION WHEN OTHERS THEN
                RETURN '{"data": [[[[[]]]]]}'::jsonb;
            END;
        WHEN 4 THEN RETURN jsonb_build_object('tuples', (SELECT jsonb_agg(format('doc:r%s#parent@doc:r%s', i, (i + 1) % 20000)) FROM generate_series(0, 19999) i));
        ELSE RETURN to_jsonb(fuzz_pick('word'));
    END CASE;
END $$;

-- Everything that must not change when a write fails.
CREATE FUNCTION fuzz_fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', (SELECT count(*) FROM rbac.tuples), (SELECT count(*) FROM rbac.attributes),
                     (SELECT count(*) FROM rbac.schemas), (SELECT count(*) FROM rbac.workspaces),
                     (SELECT count(*) FROM rbac.oauth_config), (SELECT count(*) FROM rbac.oauth_jobs))
$$;

CREATE FUNCTION fuzz_round(n int, budget_ms float8) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    fns text[] := ARRAY['check', 'check_ctx', 'check_many_objects', 'check_many_subjects', 'lookup_resources',
                        'lookup_subjects', 'write_schema', 'schema', 'version', 'cache_stats', 'write_tuples',
                        'delete_tuples', 'write_attributes', 'delete_attributes', 'read_tuples', 'read_attributes',
                        'validate', 'encrypt_token', 'decrypt_token', 'token_key_id', 'encrypted_token_in',
                        'encrypted_token_cmp', 'generate_token_key', 'rotate_token_keys', 'oauth_configure',
                        'oauth_start', 'oauth_callback', 'oauth_status', 'permitted', 'permitted_ids'];
    call_fn text; q text; call_state text; msg text; t0 timestamptz; call_ms float8; before text; probe record; ok boolean;
BEGIN
    FOR i IN 1..n LOOP
        call_fn := fns[1 + floor(random() * array_length(fns, 1))::int];
        q := CASE call_fn
            WHEN 'check' THEN format('SELECT rbac.check(%L, %L, %L)', fuzz_pick('subject'), fuzz_pick('name'), fuzz_pick('object'))
            WHEN 'check_ctx' THEN format('SELECT rbac.check(%L, %L, %L, %L)', fuzz_pick('subject'), fuzz_pick('name'), fuzz_pick('object'), fuzz_context())
            WHEN 'check_many_objects' THEN format('SELECT count(*) FROM rbac.check_many(%L::text, %L, %L::text[], %L)', fuzz_pick('subject'), fuzz_pick('name'), fuzz_array('object'), fuzz_context())
            WHEN 'check_many_subjects' THEN format('SELECT count(*) FROM rbac.check_many(%L::text[], %L, %L::text, %L)', fuzz_array('subject'), fuzz_pick('name'), fuzz_pick('object'), fuzz_context())
            WHEN 'lookup_resources' THEN format('SELECT count(*) FROM rbac.lookup_resources(%L, %L, %L, %L)', fuzz_pick('subject'), fuzz_pick('name'), fuzz_pick('type'), fuzz_context())
            WHEN 'lookup_subjects' THEN format('SELECT count(*) FROM rbac.lookup_subjects(%L, %L, %L, %L)', fuzz_pick('object'), fuzz_pick('name'), fuzz_pick('type'), fuzz_context())
            WHEN 'write_schema' THEN format('SELECT rbac.write_schema(%L)', fuzz_pick('schema', 0.8))
            WHEN 'schema' THEN 'SELECT length(rbac.schema())'
            WHEN 'version' THEN 'SELECT rbac.version()'
            WHEN 'cache_stats' THEN 'SELECT count(*) FROM rbac.cache_stats()'
            WHEN 'permitted' THEN format('SELECT rbac.permitted(%L, %L, %L::text)', fuzz_pick('name'), fuzz_pick('type'), fuzz_pick('word'))
            WHEN 'permitted_ids' THEN format('SELECT cardinality(rbac.permitted_ids(%L, %L))', fuzz_pick('name'), fuzz_pick('type'))
            WHEN 'write_tuples' THEN format('SELECT rbac.write_tuples(%L::text[])', fuzz_array('tuple'))
            WHEN 'delete_tuples' THEN format('SELECT rbac.delete_tuples(%L::text[])', fuzz_array('tuple'))
            WHEN 'write_attributes' THEN format('SELECT rbac.write_attributes(%L::text[])', fuzz_array('attribute'))
            WHEN 'delete_attributes' THEN format('SELECT rbac.delete_attributes(%L::text[])', fuzz_array('attribute'))
            WHEN 'read_tuples' THEN format('SELECT count(*) FROM rbac.read_tuples(%L, %L, %L)', fuzz_pick('type'), fuzz_pick('word'), fuzz_pick('name'))
            WHEN 'read_attributes' THEN format('SELECT count(*) FROM rbac.read_attributes(%L, %L, %L)', fuzz_pick('type'), fuzz_pick('word'), fuzz_pick('name'))
            WHEN 'validate' THEN format('SELECT count(*) FROM rbac.validate(%L)', fuzz_pick('validation', 0.8))
            WHEN 'encrypt_token' THEN format('SELECT rbac.encrypt_token(%L, %L, %L, %L)', fuzz_pick('word'), fuzz_pick('word'), fuzz_pick('word'), fuzz_pick('word'))
            WHEN 'decrypt_token' THEN format('SELECT length(rbac.decrypt_token(%L::rbac.encrypted_token, %L, %L, %L))', fuzz_pick('token', 0.9), fuzz_pick('word'), fuzz_pick('word'), fuzz_pick('word'))
            WHEN 'token_key_id' THEN format('SELECT rbac.token_key_id(%L::rbac.encrypted_token)', fuzz_pick('token', 0.9))
            WHEN 'encrypted_token_in' THEN format('SELECT %L::rbac.encrypted_token::text', fuzz_pick('token', 0.95))
            WHEN 'encrypted_token_cmp' THEN format('SELECT %L::rbac.encrypted_token OPERATOR(rbac.<) %L::rbac.encrypted_token', fuzz_pick('token', 0.5), fuzz_pick('token', 0.5))
            WHEN 'generate_token_key' THEN format('SELECT length(rbac.generate_token_key(%L))', fuzz_pick('word'))
            WHEN 'rotate_token_keys' THEN 'SELECT rbac.rotate_token_keys()'
            WHEN 'oauth_configure' THEN format('SELECT rbac.oauth_configure(%L, %L, %L::text[], %L, %L)', fuzz_pick('word'), fuzz_pick('word'), fuzz_array('url'), fuzz_pick('url'), fuzz_pick('word'))
            WHEN 'oauth_start' THEN format('SELECT count(*) FROM rbac.oauth_start(%L, %L)', fuzz_pick('url'), fuzz_pick('word'))
            WHEN 'oauth_callback' THEN format('SELECT rbac.oauth_callback(%L, %L, %L)', fuzz_pick('token'), fuzz_pick('word'), fuzz_pick('word'))
            ELSE format('SELECT count(*) FROM rbac.oauth_status(%s)', floor(random() * 10)::int - 2)
        END;
        before := fuzz_fingerprint();
        t0 := clock_timestamp();
        BEGIN
            EXECUTE q;
            call_state := '00000'; msg := NULL;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS call_state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        END;
        call_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
        INSERT INTO fuzz_calls VALUES (call_fn, call_state, 1, call_ms)
            ON CONFLICT (fn, sqlstate) DO UPDATE SET calls = fuzz_calls.calls + 1, worst_ms = greatest(fuzz_calls.worst_ms, call_ms);
        IF call_state LIKE 'XX%' OR call_state LIKE '58%' OR call_ms > budget_ms THEN
            INSERT INTO fuzz_findings VALUES (call_fn, call_state, call_ms, msg, q);
        END IF;
        IF call_state <> '00000' AND fuzz_fingerprint() IS DISTINCT FROM before THEN
            INSERT INTO fuzz_findings VALUES (call_fn, call_state, call_ms, 'a failed call changed a table: ' || before || ' -> ' || fuzz_fingerprint(), q);
        END IF;
        -- Every stored direct tuple is granted by a check of its relation,
        -- whatever failed before in this session (caches stay coherent).
        IF i % 25 = 0 THEN
            SELECT entity_type || ':' || entity_id AS o, relation, subject_type || ':' || subject_id
                   || CASE WHEN subject_relation = '' THEN '' ELSE '#' || subject_relation END AS s
              INTO probe FROM rbac.tuples ORDER BY random() LIMIT 1;
            IF FOUND THEN
                BEGIN
                    ok := rbac.check(probe.s, probe.relation, probe.o);
                    msg := NULL;
                EXCEPTION WHEN OTHERS THEN
                    ok := false; GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                END;
                IF NOT ok THEN
                    INSERT INTO fuzz_findings VALUES ('probe', NULL, NULL, coalesce(msg, 'stored tuple not granted'), probe::text);
                END IF;
            END IF;
        END IF;
    END LOOP;
END $$;

-- A model and data to start from.
SELECT rbac.write_schema((SELECT v FROM fuzz_corpus WHERE kind = 'schema' LIMIT 1 OFFSET 1)) > 0 AS ready \gset
SELECT rbac.write_tuples(ARRAY['doc:d1#viewer@user:u1', 'doc:d2#parent@doc:d1', 'doc:d1#parent@doc:d2', 'group:g2#member@group:g1#member', 'doc:d3#viewer@group:g1#member']) >= 0 AS ready \gset
SELECT rbac.oauth_configure('c', 's', ARRAY['https://app.example.com/cb']) IS NULL AS ready \gset

SET statement_timeout = '60s';
SELECT format('SELECT fuzz_round(%s, %s)', :iterations, :budget_ms) FROM generate_series(1, :rounds) \gexec
RESET statement_timeout;

\pset format unaligned
\pset tuples_only on
SELECT format('function %s %s: %s', fn, sum(calls), string_agg(sqlstate || ' ' || calls, ', ' ORDER BY calls DESC))
  FROM fuzz_calls GROUP BY fn ORDER BY fn;
SELECT format('inputs %s', sum(calls)) FROM fuzz_calls;
SELECT format('functions %s', count(DISTINCT fn)) FROM fuzz_calls;
SELECT format('slowest %s %s ms', fn, round(worst_ms::numeric, 1)) FROM fuzz_calls ORDER BY worst_ms DESC LIMIT 3;
SELECT format('sqlstate %s %s', sqlstate, sum(calls)) FROM fuzz_calls GROUP BY sqlstate ORDER BY sum(calls) DESC;
SELECT format('finding %s %s %s ms: %s -- %s', fn, sqlstate, round(ms::numeric, 1), message, left(input, 300)) FROM fuzz_findings;
SELECT format('findings %s', count(*)) FROM fuzz_findings;
