-- Long calls for the cancel-latency probes of the fuzz layer: each spends
-- its time in the extension's own work (parsing a context or a validation
-- file, settling a long cycle, a lookup over a huge context), not in SQL.
\set ON_ERROR_STOP on
SELECT rbac.write_schema('entity user {} entity doc { relation viewer @user relation parent @doc attribute public boolean permission view = viewer or public or parent.view }') > 0 AS ready;
CREATE TABLE fuzz_heavy (name text PRIMARY KEY, file text, ctx jsonb);
-- A ring of 300,000 contextual parent tuples: a check that follows it gives
-- up the depth-first search and settles all of them.
INSERT INTO fuzz_heavy (name, ctx)
SELECT 'ring', jsonb_build_object('tuples', jsonb_agg(format('doc:r%s#parent@doc:r%s', i, (i + 1) % 300000)))
  FROM generate_series(0, 299999) i;
-- A million contextual attributes for a lookup.
INSERT INTO fuzz_heavy (name, ctx)
SELECT 'attributes', jsonb_build_object('attributes', jsonb_agg(format('doc:p%s$public|boolean:%s', i, i % 2 = 0)))
  FROM generate_series(1, 1000000) i;
-- A validation file under the default size limit whose 300 checks, each
-- for another subject, settle a 12,000-long chain that grants nothing.
INSERT INTO fuzz_heavy (name, file)
SELECT 'validation',
       E'schema: "entity user {} entity doc { relation viewer @user relation parent @doc permission view = viewer or parent.view }"\nrelationships:\n'
    || (SELECT string_agg(format(E'  - "doc:c%s#parent@doc:c%s"\n', i, i + 1), '') FROM generate_series(0, 11999) i)
    || E'scenarios:\n  - name: chain\n    checks:\n'
    || (SELECT string_agg(format(E'      - entity: "doc:c%s"\n        subject: "user:u%s"\n        assertions:\n          view: false\n', i, i), '') FROM generate_series(0, 299) i);
-- Terminates backend `p` and returns how many ms it took to be gone (the
-- server's own wait polls only every 100 ms).
CREATE FUNCTION fuzz_terminate(p int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_terminate_backend(p);
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = p);
        IF clock_timestamp() - t0 > interval '10 seconds' THEN
            RETURN -1;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    RETURN (extract(epoch FROM clock_timestamp() - t0) * 1000)::bigint;
END $$;
