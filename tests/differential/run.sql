-- The differential layer: random universes loaded into rbac.tuples and
-- rbac.attributes (entities with more than 16 tuples, so the store's
-- large-entity path and subject-set index are used; nested subject sets;
-- cycles; attributes), every answer of the database engine — rbac.check
-- (read cache on), rbac.check_many both ways, rbac.lookup_resources,
-- rbac.lookup_subjects — compared with the in-memory reference engine of
-- rbac.validate() over the same data; rbac.explain's verdicts and the rows
-- each subject sees under rbac.protect compared with rbac.check and
-- rbac.lookup_resources (counted with the check_many mismatches). Prints
-- one line per universe:
--   universe <seed>: <n> assertions (<a> checks allowed), <failed> failed, <m> check_many mismatches
-- Run with: psql -v seeds=N -f run.sql
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS notion_rbac;

CREATE OR REPLACE FUNCTION pg_temp.universe(seed integer) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    schema_text text := $s$entity user {}
entity group {
    relation member @user @group#member
}
entity folder {
    relation parent @folder
    relation viewer @user @group#member
    relation banned @user
    attribute public boolean
    permission view = (viewer or parent.view or public) not banned
}
entity doc {
    relation folder @folder
    relation owner @user
    relation reader @user @group#member
    permission read = owner or reader or folder.view
    permission edit = owner and folder.view
}$s$;
    tuples text[];
    attrs text[];
    yaml text;
    checks text;
    entity_filters text;
    subject_filters text;
    total integer;
    bad integer;
    many_bad integer;
    granted integer;
    subject text;
    rls_subjects text[];
BEGIN
    PERFORM setseed(seed / 1000.0);
    TRUNCATE rbac.tuples, rbac.attributes;
    IF rbac.schema() IS DISTINCT FROM schema_text THEN
        PERFORM rbac.write_schema(schema_text);
    END IF;
    -- Users u0..u11; groups g0..g4; folders f0..f7; docs d0..d11.
    SELECT array_agg(DISTINCT t) INTO tuples FROM (
        -- g0 is large: 18 to 29 direct members.
        SELECT format('group:g0#member@user:u%s', i) AS t FROM generate_series(0, 17 + (random() * 11)::int) i
        UNION ALL SELECT format('group:g%s#member@user:u%s', (random() * 4)::int, (random() * 11)::int) FROM generate_series(1, 10)
        -- nested groups, possibly cyclic
        UNION ALL SELECT format('group:g%s#member@group:g%s#member', a, b)
          FROM (SELECT (random() * 4)::int AS a, (random() * 4)::int AS b FROM generate_series(1, 5)) x WHERE a <> b
        -- f0 is large: 17 to 24 viewers (users 0..11 and many synthetic ones)
        UNION ALL SELECT format('folder:f0#viewer@user:x%s', i) FROM generate_series(0, 16 + (random() * 7)::int) i
        UNION ALL SELECT format('folder:f%s#viewer@user:u%s', (random() * 7)::int, (random() * 11)::int) FROM generate_series(1, 8)
        UNION ALL SELECT format('folder:f%s#viewer@group:g%s#member', (random() * 7)::int, (random() * 4)::int) FROM generate_series(1, 4)
        UNION ALL SELECT format('folder:f%s#banned@user:u%s', (random() * 7)::int, (random() * 11)::int) FROM generate_series(1, 3)
        -- folder parents, possibly cyclic
        UNION ALL SELECT format('folder:f%s#parent@folder:f%s', a, b)
          FROM (SELECT (random() * 7)::int AS a, (random() * 7)::int AS b FROM generate_series(1, 8)) x WHERE a <> b
        UNION ALL SELECT format('doc:d%s#folder@folder:f%s', i, (random() * 7)::int) FROM generate_series(0, 11) i WHERE random() < 0.8
        UNION ALL SELECT format('doc:d%s#owner@user:u%s', (random() * 11)::int, (random() * 11)::int) FROM generate_series(1, 6)
        UNION ALL SELECT format('doc:d%s#reader@user:u%s', (random() * 11)::int, (random() * 11)::int) FROM generate_series(1, 8)
        UNION ALL SELECT format('doc:d%s#reader@group:g%s#member', (random() * 11)::int, (random() * 4)::int) FROM generate_series(1, 4)
        -- d0 is large too: 17 readers
        UNION ALL SELECT format('doc:d0#reader@user:y%s', i) FROM generate_series(0, 16) i
    ) x;
    SELECT array_agg(DISTINCT format('folder:f%s$public|boolean:%s', (random() * 7)::int, random() < 0.5)) INTO attrs
      FROM generate_series(1, 3);
    PERFORM rbac.write_tuples(tuples);
    -- one value per folder (a later duplicate replaces an earlier one)
    PERFORM rbac.write_attributes(ARRAY(SELECT DISTINCT ON (split_part(a, '$', 1)) a FROM unnest(attrs) a ORDER BY split_part(a, '$', 1), a));

    CREATE TEMP TABLE IF NOT EXISTS subjects (s text);
    CREATE TEMP TABLE IF NOT EXISTS objects (o text, perms text[]);
    TRUNCATE subjects, objects;
    INSERT INTO subjects SELECT 'user:u' || i FROM generate_series(0, 11) i
        UNION ALL SELECT 'group:g' || i || '#member' FROM generate_series(0, 4) i
        UNION ALL VALUES ('user:x3'), ('user:y5');
    INSERT INTO objects SELECT 'doc:d' || i, ARRAY['read', 'edit', 'reader'] FROM generate_series(0, 11) i
        UNION ALL SELECT 'folder:f' || i, ARRAY['view', 'viewer'] FROM generate_series(0, 7) i;

    -- check_many must agree with single checks, both ways.
    SELECT count(*) INTO many_bad FROM subjects, objects, unnest(perms) p,
           LATERAL (SELECT allowed FROM rbac.check_many(s, p, ARRAY[o]) ) m
     WHERE m.allowed IS DISTINCT FROM rbac.check(s, p, o);
    SELECT many_bad + count(*) INTO many_bad FROM objects, unnest(perms) p,
           LATERAL rbac.check_many(ARRAY(SELECT s FROM subjects), p, o) m
     WHERE m.allowed IS DISTINCT FROM rbac.check(m.subject, p, o);
    SELECT many_bad + count(*) INTO many_bad FROM subjects, (SELECT DISTINCT unnest(perms) AS p, split_part(o, ':', 1) AS ty FROM objects) q,
           LATERAL (SELECT array_agg(o ORDER BY o) AS os FROM objects WHERE split_part(o, ':', 1) = q.ty AND q.p = ANY (perms)) obj,
           LATERAL rbac.check_many(s, q.p, obj.os) m
     WHERE m.allowed IS DISTINCT FROM rbac.check(s, q.p, m.object);

    -- rbac.explain gives the check's answer for every pair.
    SELECT many_bad + count(*) INTO many_bad FROM subjects, objects, unnest(perms) p
     WHERE (rbac.explain(s, p, o)->>'result')::boolean IS DISTINCT FROM rbac.check(s, p, o);

    -- Row-level security: under rbac.protect, each subject sees exactly the
    -- rows whose id rbac.lookup_resources lists, and rbac.permitted_ids
    -- (the planner's index-condition array) lists exactly those ids. Every id is in the table
    -- 150 times (and ids no tuple names too), so that a scan starts with
    -- per-row checks and switches to one lookup half way (both counted).
    IF NOT EXISTS (SELECT 1 FROM rbac.protected_tables WHERE table_name = 'public.diff_docs'::regclass) THEN
        PERFORM rbac.protect('public.diff_docs', 'doc', 'id', update_action => NULL, delete_action => NULL);
        PERFORM rbac.protect('public.diff_folders', 'folder', 'id', select_action => 'view', update_action => NULL, delete_action => NULL);
    END IF;
    SELECT array_agg(s) INTO rls_subjects FROM subjects;
    PERFORM set_config('role', 'diff_web', true);
    FOREACH subject IN ARRAY rls_subjects LOOP
        PERFORM rbac.set_subject(subject);
        SELECT many_bad
               + (SELECT count(*) FROM (
                    (SELECT id, count(*) FROM public.diff_docs GROUP BY id
                     EXCEPT SELECT d.id, count(*) FROM public.diff_docs d
                             WHERE d.id IN (SELECT rbac.lookup_resources(subject, 'read', 'doc')) GROUP BY d.id)
                    UNION ALL
                    (SELECT d.id, count(*) FROM public.diff_docs d
                      WHERE d.id IN (SELECT rbac.lookup_resources(subject, 'read', 'doc')) GROUP BY d.id
                     EXCEPT SELECT id, count(*) FROM public.diff_docs GROUP BY id)) x)
               + (SELECT count(*) FROM (
                    (SELECT id FROM public.diff_folders EXCEPT ALL SELECT id FROM rbac.lookup_resources(subject, 'view', 'folder') id)
                    UNION ALL
                    (SELECT id FROM rbac.lookup_resources(subject, 'view', 'folder') id EXCEPT ALL SELECT id FROM public.diff_folders)) y)
               -- the arrays the planner's index condition uses
               + (SELECT count(*) FROM (
                    (SELECT unnest(rbac.permitted_ids('read', 'doc')) EXCEPT ALL SELECT rbac.lookup_resources(subject, 'read', 'doc'))
                    UNION ALL
                    (SELECT rbac.lookup_resources(subject, 'read', 'doc') EXCEPT ALL SELECT unnest(rbac.permitted_ids('read', 'doc')))) z)
          INTO many_bad;
    END LOOP;
    PERFORM set_config('role', 'none', true);

    -- The database engine's answers become the validation file's expectations.
    SELECT string_agg(format(E'      - entity: "%s"\n        subject: "%s"\n        assertions:\n%s', o, s,
                      (SELECT string_agg(format(E'          %s: %s\n', p, CASE WHEN rbac.check(s, p, o) THEN 'true' ELSE 'false' END), '') FROM unnest(perms) p)), '')
      INTO checks FROM subjects, objects;
    SELECT string_agg(format(E'      - entity_type: "%s"\n        subject: "%s"\n        assertions:\n%s', ty, s,
                      (SELECT string_agg(format(E'          %s: [%s]\n', p,
                              (SELECT coalesce(string_agg('"' || id || '"', ', ' ORDER BY id), '')
                                 FROM rbac.lookup_resources(s, p, ty) id)), '')
                         FROM unnest(CASE ty WHEN 'doc' THEN ARRAY['read', 'edit'] ELSE ARRAY['view'] END) p)), '')
      INTO entity_filters FROM subjects, (VALUES ('doc'), ('folder')) t(ty);
    SELECT string_agg(format(E'      - subject_reference: "%s"\n        entity: "%s"\n        assertions:\n%s', ref, o,
                      (SELECT string_agg(format(E'          %s: [%s]\n', p,
                              (SELECT coalesce(string_agg('"' || id || '"', ', ' ORDER BY id), '')
                                 FROM rbac.lookup_subjects(o, p, ref) id)), '')
                         FROM unnest(perms) p)), '')
      INTO subject_filters FROM objects, (VALUES ('user'), ('group#member')) r(ref);

    yaml := E'schema: |-\n' || regexp_replace(schema_text, '^', '  ', 'gn')
         || E'\nrelationships:\n' || (SELECT string_agg(format(E'  - "%s"\n', t), '') FROM unnest(tuples) t)
         || E'attributes:\n' || (SELECT string_agg(format(E'  - "%s"\n', a), '' ORDER BY a)
                                   FROM rbac.read_attributes() r,
                                        LATERAL (SELECT format('%s:%s$%s|boolean:%s', r.entity_type, r.entity_id, r.attribute, r.value) AS a) x)
         || E'scenarios:\n  - name: "universe"\n    checks:\n' || checks
         || E'    entity_filters:\n' || entity_filters
         || E'    subject_filters:\n' || subject_filters;
    SELECT count(*), count(*) FILTER (WHERE NOT passed), count(*) FILTER (WHERE kind = 'check' AND actual = 'true')
      INTO total, bad, granted FROM rbac.validate(yaml);
    IF bad > 0 THEN
        RAISE WARNING 'universe %: first disagreements: %', seed,
            (SELECT string_agg(query || ' db=' || expected || ' memory=' || actual, '; ')
               FROM (SELECT * FROM rbac.validate(yaml) WHERE NOT passed LIMIT 5) x);
    END IF;
    RETURN format('universe %s: %s assertions (%s checks allowed), %s failed, %s check_many mismatches', seed, total, granted, bad, many_bad);
END
$fn$;

-- The application tables protected in every universe, and the role that
-- queries them (an application server: it sets the subject).
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'diff_web') THEN
        CREATE ROLE diff_web NOLOGIN IN ROLE rbac_app, rbac_reader;
    END IF;
END $$;
DROP TABLE IF EXISTS public.diff_docs, public.diff_folders;
CREATE TABLE public.diff_docs AS
SELECT 'd' || (i % 14) AS id, i AS n FROM generate_series(0, 14 * 150 - 1) i;
CREATE TABLE public.diff_folders AS SELECT 'f' || i AS id FROM generate_series(0, 9) i;
GRANT SELECT ON public.diff_docs, public.diff_folders TO diff_web;

-- One transaction per universe (deferred foreign-key checks run at commit).
SELECT format('SELECT pg_temp.universe(%s)', seed) FROM generate_series(1, :seeds) seed \gexec
-- Both strategies of the policies' function ran (per-row checks, lookups).
SELECT format('rls: %s row checks, %s lookups, %s probes', row_checks, lookups, lookup_probes) FROM rbac.permitted_stats();
