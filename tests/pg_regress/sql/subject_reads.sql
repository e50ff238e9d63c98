-- Probes into an entity too large to read whole (more than 16 tuples) are
-- answered from the subject's own tuples when the subject has few: one
-- read of tuples_by_subject serves every probe a check makes for it. The
-- answers must be those of a probe by the full key — the entity type, id,
-- relation and the subject's relation all count — with the cache on and
-- off, for small and large subjects.
DELETE FROM rbac.tuples;
DELETE FROM rbac.attributes;
SELECT rbac.write_schema($$
entity user {}
entity group {
    relation member @user
    relation admin @user
}
entity doc {
    relation reader @user @group#member @group#admin
    relation editor @user @group#admin
    permission read = reader or editor
}
entity folder {
    relation reader @user @group#member
}
$$) > 0 AS model;
-- doc:big and folder:big have 20 readers each (large); group:g is the
-- subject of a few tuples (small), user:many of 20 (large).
SELECT rbac.write_tuples(array_agg(format('doc:big#reader@user:u%s', i))) AS big_doc FROM generate_series(1, 20) i;
SELECT rbac.write_tuples(array_agg(format('folder:big#reader@user:u%s', i))) AS big_folder FROM generate_series(1, 20) i;
SELECT rbac.write_tuples(array_agg(format('doc:d%s#reader@user:many', i))) AS many FROM generate_series(1, 20) i;
SELECT rbac.write_tuples(ARRAY['doc:big#reader@group:g#admin', 'doc:big#editor@user:u21',
                               'folder:big#reader@group:g#member', 'doc:big#reader@user:many']) AS others;

CREATE TEMP TABLE probes (subject text, action text, object text);
INSERT INTO probes VALUES
    ('group:g#admin', 'reader', 'doc:big'),     -- stored
    ('group:g#member', 'reader', 'doc:big'),    -- another subject relation
    ('group:g#admin', 'editor', 'doc:big'),     -- another relation
    ('group:g#admin', 'reader', 'doc:other'),   -- another id
    ('group:g#member', 'reader', 'folder:big'), -- stored, another type
    ('group:g#admin', 'reader', 'folder:big'),
    ('user:u3', 'reader', 'doc:big'),
    ('user:u3', 'reader', 'folder:big'),
    ('user:u21', 'reader', 'doc:big'),
    ('user:u21', 'editor', 'doc:big'),
    ('user:u21', 'read', 'doc:big'),
    ('user:u22', 'read', 'doc:big'),
    ('user:many', 'reader', 'doc:big'),         -- a large subject
    ('user:many', 'reader', 'folder:big'),
    ('user:many', 'reader', 'doc:d7');

-- Each probe with the cache on (in one statement, so probes share the
-- subject's read) and off, against plain SQL.
SELECT p.subject, p.action, p.object,
       rbac.check(p.subject, p.action, p.object) AS allowed,
       rbac.check(p.subject, p.action, p.object) = EXISTS (
           SELECT 1 FROM rbac.tuples t
            WHERE t.entity_type || ':' || t.entity_id = p.object
              AND (t.relation = p.action OR (p.action = 'read' AND t.relation IN ('reader', 'editor')))
              AND t.subject_type || ':' || t.subject_id
                  || CASE WHEN t.subject_relation <> '' THEN '#' || t.subject_relation ELSE '' END = p.subject) AS as_plain_sql
  FROM probes p;
SET notion_rbac.cache_rows = 0;
SELECT count(*) AS differing_with_cache_off FROM probes p
 WHERE rbac.check(p.subject, p.action, p.object) IS DISTINCT FROM EXISTS (
           SELECT 1 FROM rbac.tuples t
            WHERE t.entity_type || ':' || t.entity_id = p.object
              AND (t.relation = p.action OR (p.action = 'read' AND t.relation IN ('reader', 'editor')))
              AND t.subject_type || ':' || t.subject_id
                  || CASE WHEN t.subject_relation <> '' THEN '#' || t.subject_relation ELSE '' END = p.subject);
RESET notion_rbac.cache_rows;

-- The subject is read once for all its probes into entities of one type
-- (counted in a fresh cache key): checking read on doc:big reads user:u21's
-- tuples in docs (which answer the probes of reader and editor; editor
-- holds, so editor's subject sets are not needed), the subject sets of
-- reader, and group:g whole (to probe its admins): 3 reads, 4 if each
-- probe read the index. doc:big's size is not tried: docs were found large
-- often enough above. A probe into folder:big for the same subject then
-- reads u21's tuples in folders and folder:big's subject sets (2; folders
-- too were found large often enough that folder:big's size is not tried).
SELECT rbac.write_tuples(ARRAY['doc:big#reader@user:u22']) AS fresh_key;
SELECT misses AS m0 FROM rbac.cache_stats() \gset
SELECT rbac.check('user:u21', 'read', 'doc:big') AS u21_reads_big;
SELECT misses - :m0 AS reads FROM rbac.cache_stats();
SELECT misses AS m1 FROM rbac.cache_stats() \gset
SELECT rbac.check('user:u21', 'reader', 'folder:big') AS u21_reads_big_folder;
SELECT misses - :m1 AS more_reads FROM rbac.cache_stats();

-- A subject large in one entity type is read whole in another: user:many
-- names 21 docs but one folder, and its probe into folder:big (large) is
-- answered from its folder tuples alone (1 read); the answers are the
-- tuples', with the cache on and off.
SELECT rbac.write_tuples(ARRAY['folder:big#reader@user:many']) AS many_in_a_folder;
SELECT misses AS m2 FROM rbac.cache_stats() \gset
SELECT rbac.check('user:many', 'reader', 'folder:big') AS many_reads_big_folder;
SELECT misses - :m2 AS reads FROM rbac.cache_stats();
SELECT rbac.check('user:many', 'reader', 'folder:big') AS many_reads_big_folder,
       rbac.check('user:many', 'reader', 'doc:big') AS many_reads_big_doc,
       rbac.check('user:many', 'editor', 'doc:big') AS many_edits_big_doc;
SET notion_rbac.cache_rows = 0;
SELECT rbac.check('user:many', 'reader', 'folder:big') AS many_reads_big_folder,
       rbac.check('user:many', 'reader', 'doc:big') AS many_reads_big_doc,
       rbac.check('user:many', 'editor', 'doc:big') AS many_edits_big_doc;
RESET notion_rbac.cache_rows;

DELETE FROM rbac.tuples;
