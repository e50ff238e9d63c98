-- Everything an installation of notion_rbac consists of, as text: the
-- upgrade layer compares an installation updated from every released
-- version with a fresh one of the current version, line by line.
\pset footer off
\pset format unaligned
SELECT extversion FROM pg_extension WHERE extname = 'notion_rbac';
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'notion_rbac')
 ORDER BY 1;
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result, p.prokind, p.provolatile,
       p.proparallel, p.prosecdef, p.proisstrict, p.proconfig, p.proacl, p.prosrc, p.probin
  FROM pg_proc p WHERE p.pronamespace = 'rbac'::regnamespace ORDER BY p.oid::regprocedure::text;
SELECT c.relname, c.relkind, c.relacl, c.relrowsecurity, c.relpersistence
  FROM pg_class c WHERE c.relnamespace = 'rbac'::regnamespace ORDER BY 1;
SELECT a.attrelid::regclass AS relation, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attgenerated, a.attidentity, a.attcollation::regcollation, pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rbac'::regnamespace)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid::regclass::text, a.attnum;
SELECT conrelid::regclass AS relation, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'rbac'::regnamespace ORDER BY conrelid::regclass::text, 2;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rbac'::regnamespace)
 ORDER BY indexrelid::regclass::text;
SELECT tgrelid::regclass AS relation, tgname, pg_get_triggerdef(oid), tgenabled
  FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rbac'::regnamespace) ORDER BY tgrelid::regclass::text, 2;
SELECT t.typname, t.typtype, t.typacl, t.typinput, t.typoutput, t.typreceive, t.typsend, t.typalign, t.typstorage
  FROM pg_type t WHERE t.typnamespace = 'rbac'::regnamespace ORDER BY 1;
SELECT o.oprname, o.oprleft::regtype, o.oprright::regtype, o.oprcode, o.oprcom::regoper, o.oprnegate::regoper, o.oprcanhash, o.oprcanmerge
  FROM pg_operator o WHERE o.oprnamespace = 'rbac'::regnamespace ORDER BY 1, 2, 3;
SELECT am.amname, c.opcname, c.opcdefault, c.opcintype::regtype FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
 WHERE c.opcnamespace = 'rbac'::regnamespace ORDER BY 1, 2;
SELECT nspname, nspacl FROM pg_namespace WHERE nspname = 'rbac';
-- Comments, and the privileges the extension script set (pg_dump restores these).
SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid) AS object, d.description
  FROM pg_description d
 WHERE (d.classoid = 'pg_proc'::regclass AND d.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'rbac'::regnamespace))
    OR (d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rbac'::regnamespace))
    OR (d.classoid = 'pg_type'::regclass AND d.objoid IN (SELECT oid FROM pg_type WHERE typnamespace = 'rbac'::regnamespace))
 ORDER BY 1, 2;
SELECT pg_describe_object(i.classoid, i.objoid, i.objsubid) AS object, i.privtype, i.initprivs
  FROM pg_init_privs i
 WHERE (i.classoid = 'pg_proc'::regclass AND i.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'rbac'::regnamespace))
    OR (i.classoid = 'pg_class'::regclass AND i.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'rbac'::regnamespace))
    OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = 'rbac'::regnamespace)
 ORDER BY 1;
SELECT r.rolname, r.rolcanlogin, r.rolinherit FROM pg_roles r WHERE r.rolname LIKE 'rbac\_%' ORDER BY 1;
-- (Registration order does not matter to pg_dump: compared sorted.)
SELECT c.relation, c.condition
  FROM pg_extension e,
       unnest(e.extconfig::regclass[]::text[], e.extcondition) AS c(relation, condition)
 WHERE e.extname = 'notion_rbac'
 ORDER BY 1;
