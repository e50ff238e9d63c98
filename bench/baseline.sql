-- The same model in plain SQL: what a competent user would write by hand
-- over the same indexed rbac.tuples table (recursive CTEs, no extension
-- code). The benchmark runs the same checks through both and requires the
-- answers to agree.
\set ON_ERROR_STOP 1

-- Groups a user belongs to, directly or through nested groups.
CREATE FUNCTION bench.user_groups(uid text) RETURNS TABLE (g text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE gs(g) AS (
        SELECT t.entity_id FROM rbac.tuples t
         WHERE t.subject_type = 'user' AND t.subject_id = uid AND t.entity_type = 'group'
           AND t.relation = 'member' AND t.subject_relation = ''
        UNION
        SELECT t.entity_id FROM gs JOIN rbac.tuples t
            ON t.subject_type = 'group' AND t.subject_id = gs.g AND t.entity_type = 'group'
           AND t.relation = 'member' AND t.subject_relation = 'member')
    SELECT g FROM gs
$$;

-- Page read/write: a grant on the page or any ancestor, to the user, one of
-- their groups or (readers) the workspace's members; or workspace manager.
CREATE FUNCTION bench.sql_page(uid text, perm text, pid text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE anc(id, d) AS (
        SELECT pid COLLATE "C", 0
        UNION ALL
        SELECT t.subject_id, anc.d + 1 FROM anc JOIN rbac.tuples t
            ON t.entity_type = 'page' AND t.entity_id = anc.id AND t.relation = 'parent' AND t.subject_type = 'page'
         WHERE anc.d < 100),
    grp AS MATERIALIZED (SELECT g FROM bench.user_groups(uid))
    SELECT EXISTS (
        SELECT 1 FROM anc JOIN rbac.tuples t
            ON t.entity_type = 'page' AND t.entity_id = anc.id
           AND t.relation = ANY (CASE WHEN perm = 'read' THEN ARRAY['reader', 'editor'] ELSE ARRAY['editor'] END)
         WHERE (t.subject_type = 'user' AND t.subject_id = uid AND t.subject_relation = '')
            OR (t.subject_type = 'group' AND t.subject_relation = 'member' AND t.subject_id IN (SELECT g FROM grp))
            OR (t.subject_type = 'workspace' AND t.subject_relation = 'member' AND EXISTS (
                  SELECT 1 FROM rbac.tuples w
                   WHERE w.entity_type = 'workspace' AND w.entity_id = t.subject_id AND w.relation = 'member'
                     AND ((w.subject_type = 'user' AND w.subject_id = uid AND w.subject_relation = '')
                          OR (w.subject_type = 'group' AND w.subject_relation = 'member' AND w.subject_id IN (SELECT g FROM grp))))))
    OR EXISTS (
        SELECT 1 FROM anc JOIN rbac.tuples t
            ON t.entity_type = 'page' AND t.entity_id = anc.id AND t.relation = 'workspace'
          JOIN rbac.tuples w
            ON w.entity_type = 'workspace' AND w.entity_id = t.subject_id AND w.relation IN ('owner', 'admin')
           AND w.subject_type = 'user' AND w.subject_id = uid AND w.subject_relation = '')
$$;

CREATE FUNCTION bench.sql_check(subject text, action text, object text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    uid text := split_part(subject, ':', 2);
    otype text := split_part(object, ':', 1);
    oid_ text := split_part(object, ':', 2);
BEGIN
    IF otype = 'page' THEN
        RETURN bench.sql_page(uid, action, oid_);
    ELSIF otype = 'block' THEN
        RETURN EXISTS (SELECT 1 FROM rbac.tuples t WHERE t.entity_type = 'block' AND t.entity_id = oid_
                          AND t.relation = 'page' AND bench.sql_page(uid, action, t.subject_id));
    ELSIF otype = 'comment' THEN
        RETURN EXISTS (SELECT 1 FROM rbac.tuples c JOIN rbac.tuples b
                           ON b.entity_type = 'block' AND b.entity_id = c.subject_id AND b.relation = 'page'
                        WHERE c.entity_type = 'comment' AND c.entity_id = oid_ AND c.relation = 'block'
                          AND bench.sql_page(uid, action, b.subject_id));
    END IF;
    RAISE EXCEPTION 'baseline does not model %', otype;
END
$$;

-- Lookup: every page a user can read, by expanding grants down the tree.
CREATE FUNCTION bench.sql_lookup_pages(uid text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE grp AS MATERIALIZED (SELECT g FROM bench.user_groups(uid)),
    ws_member AS (SELECT w.entity_id AS ws FROM rbac.tuples w
                   WHERE w.entity_type = 'workspace' AND w.relation = 'member'
                     AND ((w.subject_type = 'user' AND w.subject_id = uid AND w.subject_relation = '')
                          OR (w.subject_type = 'group' AND w.subject_relation = 'member' AND w.subject_id IN (SELECT g FROM grp)))),
    seeds(id) AS (
        SELECT t.entity_id FROM rbac.tuples t
         WHERE t.entity_type = 'page' AND t.relation IN ('reader', 'editor') AND t.subject_type = 'user'
           AND t.subject_id = uid AND t.subject_relation = ''
        UNION
        SELECT t.entity_id FROM rbac.tuples t JOIN grp ON t.subject_id = grp.g
         WHERE t.subject_type = 'group' AND t.subject_relation = 'member' AND t.entity_type = 'page'
           AND t.relation IN ('reader', 'editor')
        UNION
        SELECT t.entity_id FROM rbac.tuples t JOIN ws_member m ON t.subject_id = m.ws
         WHERE t.subject_type = 'workspace' AND t.subject_relation = 'member' AND t.entity_type = 'page'
           AND t.relation = 'reader'
        UNION
        SELECT t.entity_id FROM rbac.tuples w JOIN rbac.tuples t
            ON t.subject_type = 'workspace' AND t.subject_id = w.entity_id AND t.entity_type = 'page' AND t.relation = 'workspace'
         WHERE w.entity_type = 'workspace' AND w.relation IN ('owner', 'admin') AND w.subject_type = 'user'
           AND w.subject_id = uid),
    down(id) AS (
        SELECT id FROM seeds
        UNION
        SELECT t.entity_id FROM down JOIN rbac.tuples t
            ON t.subject_type = 'page' AND t.subject_id = down.id AND t.entity_type = 'page' AND t.relation = 'parent')
    SELECT id FROM down
$$;
