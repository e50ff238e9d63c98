-- After a restore, identities continue where they were: the next schema
-- version and the next OAuth job id follow the restored ones (the source
-- has versions 1-3 and jobs 1-2: this prints 4 and 3).
\set ON_ERROR_STOP on
SELECT rbac.write_schema(rbac.schema()) AS next_version;
CREATE TEMP TABLE s3 AS SELECT * FROM rbac.oauth_start();
SELECT rbac.oauth_callback(state, NULL, 'access_denied') AS next_job FROM s3;
