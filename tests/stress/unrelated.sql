-- Commits that write none of rbac's tables: cached reads survive them.
\set x random(1, 1000000)
INSERT INTO stress.unrelated (x) VALUES (:x);
