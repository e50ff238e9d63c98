-- notion_rbac privileges: nothing is usable by PUBLIC; the extension's roles
-- get what they need. Runs after every object exists.

REVOKE ALL ON ALL TABLES IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON SCHEMA rbac FROM PUBLIC;

-- Nor by any other role before the grants below: the installing role's
-- default privileges (ALTER DEFAULT PRIVILEGES ... GRANT ... TO someone)
-- apply to what this script creates, and an existing empty schema rbac
-- keeps its ACL. Left in place, TRIGGER on a table that SECURITY DEFINER
-- functions write would run anyone's function as the owner; CREATE on the
-- schema would let anyone add operators its functions resolve.
-- Upgrade scripts, which create objects too, call it last.
CREATE FUNCTION rbac._revoke_foreign_privileges() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $sweep$
DECLARE
    g record;
BEGIN
    FOR g IN
        WITH objects (kind, name, acl, owner) AS (
            SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspacl, n.nspowner
              FROM pg_catalog.pg_namespace n WHERE n.nspname = 'rbac'
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::pg_catalog.regclass::text, c.relacl, c.relowner
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'rbac'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            UNION ALL
            SELECT 'ROUTINE', p.oid::pg_catalog.regprocedure::text, p.proacl, p.proowner
              FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'rbac'::pg_catalog.regnamespace
            UNION ALL
            SELECT 'TYPE', t.oid::pg_catalog.regtype::text, t.typacl, t.typowner
              FROM pg_catalog.pg_type t
             WHERE t.typnamespace = 'rbac'::pg_catalog.regnamespace AND t.typacl IS NOT NULL
               -- array and row types take their element's or table's privileges
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
               AND (t.typrelid = 0 OR EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
        )
        SELECT DISTINCT o.kind, o.name, a.grantee::pg_catalog.regrole::text AS grantee
          FROM objects o, LATERAL pg_catalog.aclexplode(o.acl) a
         WHERE a.grantee <> 0 AND a.grantee <> o.owner
           AND a.grantee::pg_catalog.regrole::text NOT IN ('rbac_admin', 'rbac_reader', 'rbac_oauth', 'rbac_worker', 'rbac_app')
         ORDER BY 1, 2, 3
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s CASCADE', g.kind, g.name, g.grantee);
        RAISE NOTICE 'notion_rbac: revoked the privileges of % on % % (not one of the extension''s roles)', g.grantee, pg_catalog.lower(g.kind), g.name
            USING HINT = 'They came from default privileges (ALTER DEFAULT PRIVILEGES) or the schema''s ACL; grant rbac_reader, rbac_app or rbac_admin instead.';
    END LOOP;
END;
$sweep$;
REVOKE ALL ON FUNCTION rbac._revoke_foreign_privileges() FROM PUBLIC;
SELECT rbac._revoke_foreign_privileges();

-- rbac_reader: run checks and lookups, read models and relationships.
-- Grant it to application roles whose queries or RLS policies call rbac.check.
GRANT USAGE ON SCHEMA rbac TO rbac_reader, rbac_admin;
GRANT SELECT ON rbac.schemas, rbac.tuples, rbac.attributes, rbac.schema_relations, rbac.schema_attributes
    TO rbac_reader;
GRANT EXECUTE ON FUNCTION
    rbac.version(),
    rbac.cache_stats(),
    rbac.cache_basis(),
    rbac.schema(),
    rbac.check(text, text, text),
    rbac.check(text, text, text, jsonb),
    rbac.check_many(text, text, text[], jsonb),
    rbac.check_many(text[], text, text, jsonb),
    rbac.lookup_resources(text, text, text, jsonb),
    rbac.lookup_subjects(text, text, text, jsonb),
    rbac.read_tuples(text, text, text, text, text, text),
    rbac.read_attributes(text, text, text),
    rbac._read_tuples(text, text, text, text, text, text),
    rbac._read_attributes(text, text, text),
    rbac.validate(text)
    TO rbac_reader;

-- rbac_admin: everything rbac_reader can, plus writing models, tuples and
-- attributes (through the functions or plain INSERT/UPDATE/DELETE/COPY —
-- the triggers validate every path). rbac.schema_relations and
-- rbac.schema_attributes stay writable only by the activation trigger.
GRANT rbac_reader TO rbac_admin;
GRANT INSERT ON rbac.schemas TO rbac_admin;
-- currval() for the check that versions come from the sequence.
GRANT SELECT ON SEQUENCE rbac.schemas_version_seq TO rbac_admin;
GRANT INSERT, UPDATE, DELETE ON rbac.tuples, rbac.attributes TO rbac_admin;
GRANT EXECUTE ON FUNCTION
    rbac.write_schema(text),
    rbac.write_tuples(text[]),
    rbac.delete_tuples(text[]),
    rbac.write_attributes(text[]),
    rbac.delete_attributes(text[]),
    rbac._lock_schema_writes(),
    rbac._raise_tuple_misfit(text, text, text, text, text, text),
    rbac._raise_attribute_misfit(text, text, text, text)
    TO rbac_admin;

-- Tokens and OAuth. Token plaintext leaves the database only through
-- rbac.decrypt_token, granted to rbac_worker alone; everyone else sees
-- encrypted_token values as enc:v1:... text.
GRANT SELECT ON rbac.workspaces, rbac.oauth_config, rbac.oauth_jobs, rbac.workspace_jobs, rbac.worker_jobs,
    rbac.notion_synced, rbac.sync_status TO rbac_admin;
GRANT EXECUTE ON FUNCTION
    rbac.oauth_configure(text, text, text[], text, text),
    rbac.rotate_token_keys(),
    rbac.generate_token_key(text),
    rbac.encrypt_token(text, text, text, text),
    rbac.token_key_id(rbac.encrypted_token),
    rbac.oauth_status(bigint),
    rbac.deauthorize(text),
    rbac.verify_workspace(text),
    rbac.worker_status(),
    rbac.sync_now(text)
    TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.notion_model() TO rbac_reader;
GRANT EXECUTE ON FUNCTION
    rbac.oauth_start(text, text),
    rbac.oauth_callback(text, text, text),
    rbac.oauth_status(bigint)
    TO rbac_oauth;
GRANT USAGE ON SCHEMA rbac TO rbac_oauth, rbac_worker;
GRANT rbac_admin TO rbac_worker;
GRANT SELECT, INSERT, UPDATE ON rbac.workspaces, rbac.oauth_jobs, rbac.workspace_jobs TO rbac_worker;
GRANT SELECT, INSERT, DELETE ON rbac.notion_synced TO rbac_worker;
GRANT SELECT ON rbac.oauth_states TO rbac_worker;
GRANT EXECUTE ON FUNCTION rbac.decrypt_token(rbac.encrypted_token, text, text, text) TO rbac_worker;

-- The subject of a request. rbac_app (application servers, poolers) sets
-- it; every role whose policies call rbac.check reads it; administrators
-- map login roles to subjects.
GRANT USAGE ON SCHEMA rbac TO rbac_app;
GRANT EXECUTE ON FUNCTION rbac.set_subject(text, text) TO rbac_app;
GRANT EXECUTE ON FUNCTION rbac.current_subject() TO rbac_reader, rbac_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rbac.login_subjects TO rbac_admin;
-- Row-level security from the model: the policies' function is for every
-- role that queries a protected table; protecting tables is for
-- administrators (who must also own the table).
GRANT EXECUTE ON FUNCTION rbac.permitted(text, text, text), rbac.permitted(text, text, bigint), rbac.permitted(text, text, uuid),
    rbac.permitted_ids(text, text), rbac.permitted_ids_bigint(text, text), rbac.permitted_ids_uuid(text, text),
    rbac.permitted_ids_bigint_at_scan(text, text), rbac.permitted_ids_uuid_at_scan(text, text),
    rbac.permitted_stats() TO rbac_reader;
GRANT EXECUTE ON FUNCTION rbac.explain(text, text, text, jsonb, integer), rbac.explain_text(text, text, text, jsonb, integer),
    rbac.expand(text, text, jsonb, integer), rbac.consistency_token() TO rbac_reader;
GRANT EXECUTE ON FUNCTION rbac.protect(regclass, text, name, text, text, text, text, boolean), rbac.unprotect(regclass)
    TO rbac_admin;
GRANT SELECT ON rbac.protected_tables TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac._protect_info(text), rbac._tables_below(regclass) TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac._stable_id_type(regtype) TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac._is_subject(text) TO rbac_admin;

-- Application roles and the audit log. Administrators manage roles and
-- assignments and read the log; nobody writes the log directly (the
-- extension's functions and triggers append to it); rbac.authorize is for
-- the roles that run checks.
GRANT SELECT, INSERT, UPDATE, DELETE ON rbac.app_roles, rbac.app_role_actions, rbac.action_permissions,
    rbac.role_assignments TO rbac_admin;
GRANT SELECT ON rbac.audit_log, rbac.audit_chain, rbac.recent_denials, rbac.workspaces_overview, rbac.assignments,
    rbac.audit_delivery_status TO rbac_admin;
-- Delivery to Notion: administrators configure it and may re-queue failures.
GRANT SELECT, INSERT, UPDATE, DELETE ON rbac.audit_delivery TO rbac_admin;
GRANT SELECT, UPDATE (status, next_attempt_at) ON rbac.audit_outbox TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.verify_audit_log(), rbac.purge_audit_log(timestamptz) TO rbac_admin;
GRANT EXECUTE ON FUNCTION rbac.authorize(text, text, text) TO rbac_reader;
-- Permission-aware Notion requests: application servers ask, the worker
-- calls; answers only for the role that asked (and administrators).
GRANT EXECUTE ON FUNCTION rbac.notion_request(text, text, text, text, jsonb), rbac.notion_response(bigint, interval)
    TO rbac_app, rbac_admin;
GRANT SELECT ON rbac.notion_requests TO rbac_admin;

-- The token type's binary form is the extension's own envelope layout
-- (src/token.rs); comparing tokens (=, <>, <, DISTINCT, UNION) is for
-- those who may read them.
ALTER TYPE rbac.encrypted_token SET (RECEIVE = rbac.encrypted_token_recv, SEND = rbac.encrypted_token_send);
GRANT EXECUTE ON FUNCTION
    rbac.encrypted_token_eq(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_ne(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_lt(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_le(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_gt(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_ge(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_cmp(rbac.encrypted_token, rbac.encrypted_token),
    rbac.encrypted_token_hash(rbac.encrypted_token)
    TO rbac_admin;

-- Descriptions shown by psql's \dn+, \dt+, \dT+ and \df+. This is the one
-- place a fresh install writes them (roles excepted: bootstrap.sql describes
-- the roles it creates). An upgrade script that creates or changes an object
-- repeats its comment here verbatim; the upgrade layer compares every
-- comment of an updated installation with a fresh one, so wordings cannot
-- drift apart.
COMMENT ON SCHEMA rbac IS 'notion_rbac: relationship-based authorization (Permify schema language) for Notion integrations';
COMMENT ON TABLE rbac.schemas IS 'Authorization model versions (Permify schema source); the highest visible version is active';
COMMENT ON TABLE rbac.schema_relations IS 'Allowed (entity type, relation, subject type, subject relation) of the active model, kept by the activation trigger';
COMMENT ON TABLE rbac.schema_write_lock IS 'One row, replaced by every schema activation; schema writers queue on a lock of it that only the extension can take';
COMMENT ON TABLE rbac.schema_attributes IS 'Attributes and their value types in the active model, kept by the activation trigger';
COMMENT ON TABLE rbac.tuples IS 'Relationship tuples entity_type:entity_id#relation@subject_type:subject_id[#subject_relation], validated against the active model on every write';
COMMENT ON TABLE rbac.attributes IS 'Attribute values entity_type:entity_id$attribute, validated against the active model on every write';
COMMENT ON TABLE rbac.workspaces IS 'Notion workspaces that installed the integration, with their encrypted OAuth tokens';
COMMENT ON TABLE rbac.oauth_config IS 'The Notion OAuth client (one row; the client secret is encrypted)';
COMMENT ON TABLE rbac.oauth_states IS 'Pending OAuth authorization states (stored hashed, single use, 10 minutes)';
COMMENT ON TABLE rbac.oauth_jobs IS 'OAuth code exchanges queued for the background worker (codes encrypted)';
COMMENT ON TYPE rbac.encrypted_token IS 'An AES-256-GCM encrypted secret bound to its table, column and row; prints as enc:v1:...';
COMMENT ON FUNCTION rbac.version() IS 'The extension version';
COMMENT ON FUNCTION rbac.cache_stats() IS 'This backend''s read cache: rows, limit, hits, misses, invalidations, evictions; ids of lookup answers kept beside it, statements that found one kept and that did not; node results checks keep beside it, checks and protected rows answered from them without a read; committed writes met by dropping only what they touched';
COMMENT ON FUNCTION rbac.cache_basis() IS 'What this backend''s read cache is keyed by: writes (commits elsewhere leave it alone) or snapshot (every commit starts it afresh), why, and the registry of writers: writers held, generation, writers that left it';
COMMENT ON FUNCTION rbac.schema() IS 'The source of the active authorization model';
COMMENT ON FUNCTION rbac.write_schema(text) IS 'Compile a Permify schema and make it the active model; returns its version';
COMMENT ON FUNCTION rbac.write_tuples(text[]) IS 'Add tuples written in Permify syntax (page:plan#writer@user:frank); returns how many were new';
COMMENT ON FUNCTION rbac.delete_tuples(text[]) IS 'Remove tuples written in Permify syntax; returns how many existed';
COMMENT ON FUNCTION rbac.read_tuples(text, text, text, text, text, text) IS 'Stored tuples; every argument (entity type, id, relation, subject type, id, relation) is an optional filter';
COMMENT ON FUNCTION rbac.write_attributes(text[]) IS 'Set attribute values (doc:1$public|boolean:true); returns how many were written';
COMMENT ON FUNCTION rbac.delete_attributes(text[]) IS 'Remove attribute values (doc:1$public); returns how many existed';
COMMENT ON FUNCTION rbac.read_attributes(text, text, text) IS 'Stored attribute values; every argument (entity type, id, attribute) is an optional filter';
COMMENT ON FUNCTION rbac.check(text, text, text) IS 'Does the subject (user:bob or team:eng#member) have the permission, relation, attribute or rule on the object (page:plan)?';
COMMENT ON FUNCTION rbac.check(text, text, text, jsonb) IS 'rbac.check with a request context: contextual tuples and attributes for this call, and data for rules';
COMMENT ON FUNCTION rbac.check_many(text, text, text[], jsonb) IS 'One subject against many objects in one call; one row per object';
COMMENT ON FUNCTION rbac.check_many(text[], text, text, jsonb) IS 'Many subjects against one object in one call; one row per subject';
COMMENT ON FUNCTION rbac.lookup_resources(text, text, text, jsonb) IS 'Every id of an entity type the subject has the permission on: complete, exact, sorted';
COMMENT ON FUNCTION rbac.lookup_subjects(text, text, text, jsonb) IS 'Every subject id of a type (or type#relation) that has the permission on the object: complete, exact, sorted';
COMMENT ON FUNCTION rbac.validate(text) IS 'Run a Permify validation file (YAML) in isolation: one row per assertion';
COMMENT ON FUNCTION rbac.encrypt_token(text, text, text, text) IS 'Encrypt a secret for a place (table, column, row) with the newest key';
COMMENT ON FUNCTION rbac.decrypt_token(rbac.encrypted_token, text, text, text) IS 'Decrypt a token stored at a place (table, column, row); rbac_worker only';
COMMENT ON FUNCTION rbac.token_key_id(rbac.encrypted_token) IS 'The id of the key a token was encrypted with';
COMMENT ON FUNCTION rbac.generate_token_key(text) IS 'A new random key line (id:base64) for the key file; nothing is stored';
COMMENT ON FUNCTION rbac.rotate_token_keys() IS 'Re-encrypt every stored token under the newest key; returns how many changed';
COMMENT ON FUNCTION rbac.oauth_configure(text, text, text[], text, text) IS 'Set the Notion OAuth client (client id, secret, registered redirect URIs, API base URL, Notion version)';
COMMENT ON FUNCTION rbac.oauth_start(text, text) IS 'Start an OAuth authorization: Notion''s authorization URL and its single-use state';
COMMENT ON FUNCTION rbac.oauth_callback(text, text, text) IS 'Verify a callback''s state and queue the code exchange; returns the job id';
COMMENT ON TABLE rbac.login_subjects IS 'Login roles mapped to the subject they act as: rbac.current_subject() when no subject was set';
COMMENT ON COLUMN rbac.login_subjects.role_oid IS 'The role the mapping is for: the one named login_role when the mapping was last written (set by a trigger), NULL if none was';
COMMENT ON FUNCTION rbac.set_subject(text, text) IS 'Set the subject of the current request for the transaction (default) or the session; members of rbac_app only';
COMMENT ON FUNCTION rbac.current_subject() IS 'The subject of the current request: set with rbac.set_subject, else the login role''s in rbac.login_subjects, else NULL';
COMMENT ON FUNCTION rbac.oauth_status(bigint) IS 'Where an OAuth code exchange stands: queued, running, succeeded, failed or denied (for the role that recorded it and administrators)';
COMMENT ON TABLE rbac.workspace_jobs IS 'Background-worker jobs on installed workspaces (verify, revoke, sync): status, attempts, next attempt, last error';
COMMENT ON VIEW rbac.worker_jobs IS 'Every background-worker job: OAuth code exchanges and workspace jobs';
COMMENT ON FUNCTION rbac.deauthorize(text) IS 'Revoke an installation now and have the worker revoke its token at Notion; returns the revoke job id';
COMMENT ON FUNCTION rbac.verify_workspace(text) IS 'Queue a call with the workspace''s token (refreshed on 401; revoked if nothing cures it); returns the job id';
COMMENT ON FUNCTION rbac.worker_status() IS 'Whether the background worker runs, the database it serves, its pid, and job counts';
COMMENT ON TABLE rbac.notion_synced IS 'Tuples written by Notion syncs, by installation: what a sync may remove again (tuples written by hand are never listed)';
COMMENT ON VIEW rbac.sync_status IS 'Each installation''s Notion sync: state, last run (objects seen, requests, rate limited, result), next run';
COMMENT ON FUNCTION rbac.sync_now(text) IS 'Queue a sync of the workspace''s Notion access into tuples now; returns the job id';
COMMENT ON FUNCTION rbac.notion_model() IS 'The Notion model the sync writes into (Permify''s Notion model with parent for pages and databases)';
COMMENT ON TABLE rbac.app_roles IS 'Application roles (built in: admin, editor, viewer; add your own)';
COMMENT ON TABLE rbac.app_role_actions IS 'The actions each application role allows';
COMMENT ON TABLE rbac.action_permissions IS 'Overrides of the permission an action needs in the relationship graph (default: the action''s name; manage: manage_workspace)';
COMMENT ON TABLE rbac.role_assignments IS 'Application roles of subjects in Notion workspaces';
COMMENT ON TABLE rbac.audit_log IS 'Audit entries: append-only; chained by hash in rbac.audit_chain (rbac.verify_audit_log)';
COMMENT ON TABLE rbac.audit_chain IS 'The hash chain over rbac.audit_log: position, entry, previous hash, hash';
COMMENT ON VIEW rbac.recent_denials IS 'Denied decisions of the last 7 days, newest first, with the reason';
COMMENT ON FUNCTION rbac.authorize(text, text, text) IS 'Does the subject''s role in the object''s workspace allow the action, and does the graph grant its permission? Denials are audited; only members of rbac_app or rbac_admin may name a subject other than rbac.current_subject()';
COMMENT ON FUNCTION rbac.verify_audit_log() IS 'Check the audit log''s hash chain: every entry deleted, altered, moved or unchained is reported';
COMMENT ON FUNCTION rbac.purge_audit_log(timestamptz) IS 'Remove audit entries logged before a time, recording the purge so that the chain stays verifiable';
COMMENT ON TABLE rbac.notion_requests IS 'Permission-aware Notion requests: who asked for what, the authorized object, and Notion''s answer';
COMMENT ON FUNCTION rbac.notion_request(text, text, text, text, jsonb) IS 'Authorize a subject for the object a Notion request names and queue the call for the worker; returns the request id';
COMMENT ON FUNCTION rbac.notion_response(bigint, interval) IS 'The answer to a Notion request (status, HTTP status, body, error code and what it means), waiting up to the given time';
COMMENT ON VIEW rbac.workspaces_overview IS 'Installations without token material: status, times, whether tokens are held and their key, assignments, synced tuples';
COMMENT ON VIEW rbac.assignments IS 'Role assignments with the actions each role allows';
COMMENT ON TABLE rbac.audit_delivery IS 'Per installation: the Notion database audit entries about its workspace are sent to';
COMMENT ON TABLE rbac.audit_outbox IS 'Audit entries waiting to be sent to Notion, sending (checked for before any resend), sent or failed';
COMMENT ON VIEW rbac.audit_delivery_status IS 'Delivery of audit entries to Notion per installation: backlog, failures, last sent, last error';
COMMENT ON FUNCTION rbac.permitted(text, text, text) IS 'Does rbac.current_subject() have the action on entity_type:id? The function of rbac.protect''s policies (per-row checks, or one lookup once that is cheaper)';
COMMENT ON FUNCTION rbac.permitted(text, text, bigint) IS 'rbac.permitted for integer ids (compared with the tuples'' ids in their text form)';
COMMENT ON FUNCTION rbac.permitted(text, text, uuid) IS 'rbac.permitted for uuid ids (compared with the tuples'' ids in their lower-case hyphenated form)';
COMMENT ON FUNCTION rbac.permitted_ids(text, text) IS 'Every id of entity_type on which rbac.current_subject() has the action, in the statement''s snapshot (the array of the index condition the planner may add for rbac.permitted)';
COMMENT ON FUNCTION rbac.permitted_ids_bigint(text, text) IS 'rbac.permitted_ids for bigint id columns';
COMMENT ON FUNCTION rbac.permitted_ids_uuid(text, text) IS 'rbac.permitted_ids for uuid id columns';
COMMENT ON FUNCTION rbac.permitted_ids_bigint_at_scan(text, text) IS 'rbac.permitted_ids_bigint, volatile: evaluated when an index-only scan starts, never by the planner (the array of the index condition offered for a large visible set)';
COMMENT ON FUNCTION rbac.permitted_ids_uuid_at_scan(text, text) IS 'rbac.permitted_ids_uuid, volatile: evaluated when an index-only scan starts, never by the planner (the array of the index condition offered for a large visible set)';
COMMENT ON FUNCTION rbac.permitted_support(internal) IS 'Planner support of rbac.permitted: selectivity, and an index condition on the id column for a subject who sees little';
COMMENT ON FUNCTION rbac.permitted_stats() IS 'What rbac.permitted did in this backend: rows answered by their own check, lookups finished and given up, rows answered from a lookup, statements that reused a visible set kept from an earlier one';
COMMENT ON FUNCTION rbac.explain(text, text, text, jsonb, integer) IS 'Why a check is true (one granting path: tuples, walks, attributes, rules) or false (each branch tried and why it failed), as jsonb, at most max_nodes nodes';
COMMENT ON FUNCTION rbac.explain_text(text, text, text, jsonb, integer) IS 'rbac.explain as indented lines for psql';
COMMENT ON FUNCTION rbac.expand(text, text, jsonb, integer) IS 'The userset tree of a permission on an object (union, intersection, exclusion, walks, subjects), as Permify''s expand';
COMMENT ON FUNCTION rbac.consistency_token() IS 'A token naming everything committed so far (call it after COMMIT); pass it as "at_least" in the context of a check, lookup or explanation, here or on a standby';
