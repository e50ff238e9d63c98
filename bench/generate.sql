-- Generates the Notion-shaped dataset for scale :scale (1.0 ≈ 1M tuples)
-- into bench.load (same columns as rbac.tuples), plus bench.pages with each
-- page's depth and root for choosing queries. Deterministic: no random().
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
RESET client_min_messages;
CREATE SCHEMA bench;
CREATE TABLE bench.params AS
SELECT 10 AS workspaces,
       greatest(round(10000 * :scale)::int, 100) AS users,
       greatest(round(500 * :scale)::int, 50) AS groups,
       greatest(round(100000 * :scale)::int, 1000) AS pages;

-- Pages: per workspace, 20 roots, then a 4-ary tree (depths 1..6).
CREATE TABLE bench.pages AS
WITH RECURSIVE p AS (
    SELECT i AS id, i % 10 AS ws, i / 10 AS j FROM bench.params, generate_series(0, pages - 1) i
), tree(id, ws, j, parent_j, depth, root_j) AS (
    SELECT id, ws, j, NULL::int, 1, j FROM p WHERE j < 20
    UNION ALL
    SELECT c.id, c.ws, c.j, t.j, t.depth + 1, t.root_j
      FROM tree t JOIN p c ON c.ws = t.ws AND c.j >= 20 AND (c.j - 20) / 4 = t.j
)
SELECT id, ws, j, parent_j, depth, root_j FROM tree;
CREATE INDEX ON bench.pages (depth);

-- Users belong to workspace u % 10; groups to workspace g % 10.
CREATE TABLE bench.memberships AS
SELECT u, u % 10 AS ws, k,
       -- the k-th group of user u among its workspace's groups
       ((u / 10) * 7 + k * 13) % (groups / 10) * 10 + u % 10 AS g
  FROM bench.params, generate_series(0, users - 1) u, generate_series(0, 2) k;

CREATE TABLE bench.load (
    entity_type text COLLATE "C", entity_id text COLLATE "C", relation text COLLATE "C",
    subject_type text COLLATE "C", subject_id text COLLATE "C", subject_relation text COLLATE "C"
);

INSERT INTO bench.load
-- workspace roles
SELECT 'workspace', 'w' || (u % 10),
       CASE WHEN u < 10 THEN 'owner' WHEN u < 30 THEN 'admin' WHEN u % 50 = 7 THEN 'bot'
            WHEN u % 12 = 5 THEN 'guest' ELSE 'member' END,
       'user', 'u' || u, ''
  FROM bench.params, generate_series(0, users - 1) u
UNION ALL
-- group membership of users
SELECT DISTINCT 'group', 'g' || g, 'member', 'user', 'u' || u, '' FROM bench.memberships
UNION ALL
-- groups nested in groups: g is a member of g - 10 * (g / 10 % 5 > 0) ... in chains of 5
SELECT 'group', 'g' || (g - 10), 'member', 'group', 'g' || g, 'member'
  FROM bench.params, generate_series(10, groups - 1) g WHERE (g / 10) % 5 <> 0
UNION ALL
-- pages: workspace and parent
SELECT 'page', 'p' || id, 'workspace', 'workspace', 'w' || ws, '' FROM bench.pages
UNION ALL
SELECT 'page', 'p' || c.id, 'parent', 'page', 'p' || p.id, ''
  FROM bench.pages c JOIN bench.pages p ON p.ws = c.ws AND p.j = c.parent_j
UNION ALL
-- roots are shared with one group each; root 0 with the whole workspace
SELECT 'page', 'p' || id, 'reader', 'group', 'g' || ((j % (groups / 10)) * 10 + ws), 'member'
  FROM bench.params, bench.pages WHERE depth = 1 AND j > 0
UNION ALL
SELECT 'page', 'p' || id, 'reader', 'workspace', 'w' || ws, 'member' FROM bench.pages WHERE depth = 1 AND j = 0
UNION ALL
-- one page in four has a direct editor or reader
SELECT 'page', 'p' || id, CASE WHEN id % 8 = 0 THEN 'editor' ELSE 'reader' END,
       'user', 'u' || (((id * 31) % (users / 10)) * 10 + ws), ''
  FROM bench.params, bench.pages WHERE id % 4 = 0
UNION ALL
-- databases: one per ten pages
SELECT 'database', 'd' || id, 'parent', 'page', 'p' || id, '' FROM bench.pages WHERE id % 10 = 3
UNION ALL
SELECT 'database', 'd' || id, 'workspace', 'workspace', 'w' || ws, '' FROM bench.pages WHERE id % 10 = 3
UNION ALL
SELECT 'database', 'd' || id, 'editor', 'group', 'g' || ((id % (groups / 10)) * 10 + ws), 'member'
  FROM bench.params, bench.pages WHERE id % 10 = 3
UNION ALL
-- blocks: five per page
SELECT 'block', 'b' || (id * 5 + k), 'page', 'page', 'p' || id, '' FROM bench.pages, generate_series(0, 4) k
UNION ALL
-- comments: one per page, on its first block, by a user of the workspace
SELECT 'comment', 'c' || id, 'block', 'block', 'b' || (id * 5), '' FROM bench.pages
UNION ALL
SELECT 'comment', 'c' || id, 'author', 'user', 'u' || (((id * 17) % (users / 10)) * 10 + ws), ''
  FROM bench.params, bench.pages;

SELECT count(*) AS generated_tuples FROM bench.load;
