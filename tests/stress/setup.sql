-- Stress: concurrent writers change a small graph while readers compare
-- every rbac.check with a plain-SQL evaluation in the same statement (so
-- the same snapshot). Any difference is an error; the read cache is on.
CREATE EXTENSION notion_rbac;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user @group#member
}
entity doc {
    relation parent @doc
    relation viewer @user @group#member
    permission view = viewer or parent.view
}
$$) > 0 AS written;
CREATE SCHEMA stress;
-- view(u, d): a viewer grant on d or any ancestor (parent cycles allowed),
-- to u or to a group u is in, directly or through nested groups. The least
-- fixpoint of the model above is exactly this reachability.
CREATE FUNCTION stress.sql_view(u text, d text) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH RECURSIVE docs(id) AS (
        SELECT d COLLATE "C"
        UNION
        SELECT t.subject_id FROM docs JOIN rbac.tuples t
            ON t.entity_type = 'doc' AND t.entity_id = docs.id AND t.relation = 'parent' AND t.subject_type = 'doc'),
    groups(id) AS (
        SELECT t.entity_id FROM rbac.tuples t
         WHERE t.entity_type = 'group' AND t.relation = 'member' AND t.subject_type = 'user'
           AND t.subject_id = u AND t.subject_relation = ''
        UNION
        SELECT t.entity_id FROM groups JOIN rbac.tuples t
            ON t.entity_type = 'group' AND t.relation = 'member' AND t.subject_type = 'group'
           AND t.subject_id = groups.id AND t.subject_relation = 'member')
    SELECT EXISTS (
        SELECT 1 FROM docs JOIN rbac.tuples t
            ON t.entity_type = 'doc' AND t.entity_id = docs.id AND t.relation = 'viewer'
         WHERE (t.subject_type = 'user' AND t.subject_id = u AND t.subject_relation = '')
            OR (t.subject_type = 'group' AND t.subject_relation = 'member' AND t.subject_id IN (SELECT id FROM groups)))
$$;
-- One comparison, both sides in the statement's snapshot (a STABLE
-- function runs its queries in the caller's snapshot). A difference raises
-- an error naming the case and the tuples that snapshot sees.
CREATE FUNCTION stress.compare(u int, d int) RETURNS int LANGUAGE plpgsql STABLE AS $$
DECLARE engine boolean; plain boolean; seen text;
BEGIN
    engine := rbac.check('user:u' || u, 'view', 'doc:d' || d);
    plain := stress.sql_view('u' || u, 'd' || d);
    IF engine IS DISTINCT FROM plain THEN
        SELECT string_agg(format('%s:%s#%s@%s:%s%s', entity_type, entity_id, relation, subject_type, subject_id,
                                 CASE WHEN subject_relation <> '' THEN '#' || subject_relation ELSE '' END), ' ' ORDER BY 1)
          INTO seen FROM rbac.tuples;
        RAISE EXCEPTION 'stress: rbac.check(user:u%, view, doc:d%) = %, plain SQL = %; tuples: %', u, d, engine, plain, seen;
    END IF;
    RETURN 1;
END $$;
-- The same for a lookup: every doc u can view, by rbac.lookup_resources
-- (whose answer later statements reuse while they see the same data) and
-- by plain SQL, in one snapshot.
CREATE FUNCTION stress.compare_lookup(u int) RETURNS int LANGUAGE plpgsql STABLE AS $$
DECLARE engine text[]; plain text[];
BEGIN
    engine := ARRAY(SELECT r FROM rbac.lookup_resources('user:u' || u, 'view', 'doc') r ORDER BY r COLLATE "C");
    plain := ARRAY(SELECT 'd' || i FROM generate_series(1, 12) i WHERE stress.sql_view('u' || u, 'd' || i) ORDER BY ('d' || i) COLLATE "C");
    IF engine IS DISTINCT FROM plain THEN
        RAISE EXCEPTION 'stress: rbac.lookup_resources(user:u%, view, doc) = %, plain SQL = %', u, engine, plain;
    END IF;
    RETURN 1;
END $$;
-- A starting graph: a chain of parents, some grants and groups.
SELECT rbac.write_tuples(ARRAY(
    SELECT format('doc:d%s#parent@doc:d%s', i, i / 2) FROM generate_series(2, 12) i
    UNION ALL SELECT format('doc:d%s#viewer@user:u%s', i, i % 6 + 1) FROM generate_series(1, 12, 3) i
    UNION ALL SELECT format('group:g%s#member@user:u%s', i, i + 2) FROM generate_series(1, 4) i
    UNION ALL SELECT format('doc:d%s#viewer@group:g%s#member', i * 3, i) FROM generate_series(1, 4) i)) > 0 AS seeded;
-- Writes elsewhere: with the library preloaded the read cache survives
-- these commits (its key is the writes to rbac's tables a snapshot sees).
CREATE TABLE stress.unrelated (id bigserial PRIMARY KEY, x int);
-- Each reader backend's read-cache counters, after its checks.
CREATE TABLE stress.cache_seen (id bigserial PRIMARY KEY, pid int, hits bigint, misses bigint, invalidations bigint, kept_hits bigint);
