-- Application roles over the relationship graph, and the audit log.

-- Roles and the actions they allow. Administrators add their own.
-- Rows marked builtin are the seed's (admin, editor, viewer): fixed, and
-- re-created by CREATE EXTENSION, so a dump holds only the rest.
CREATE TABLE rbac.app_roles (
    name        text PRIMARY KEY CONSTRAINT app_roles_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text,
    builtin     boolean NOT NULL DEFAULT false
);
CREATE TABLE rbac.app_role_actions (
    role    text NOT NULL REFERENCES rbac.app_roles (name) ON UPDATE CASCADE ON DELETE CASCADE,
    action  text NOT NULL CONSTRAINT app_role_actions_action_check CHECK (action ~ '^[a-z][a-z0-9_]{0,62}$'),
    builtin boolean NOT NULL DEFAULT false,
    PRIMARY KEY (role, action)
);
-- The permission of the relationship graph an action needs, where it is
-- not the default (read→read, write→write, delete→delete,
-- manage→manage_workspace, any other action→itself).
CREATE TABLE rbac.action_permissions (
    action     text PRIMARY KEY CONSTRAINT action_permissions_action_check CHECK (action ~ '^[a-z][a-z0-9_]{0,62}$'),
    permission text NOT NULL
);
-- Who has which role in which Notion workspace.
CREATE TABLE rbac.role_assignments (
    subject      text NOT NULL CONSTRAINT role_assignments_subject_check CHECK (rbac._is_subject(subject)),
    workspace_id text NOT NULL,
    role         text NOT NULL REFERENCES rbac.app_roles (name) ON UPDATE CASCADE ON DELETE CASCADE,
    assigned_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_by  name NOT NULL DEFAULT SESSION_USER,
    PRIMARY KEY (subject, workspace_id, role)
);
CREATE INDEX role_assignments_by_workspace ON rbac.role_assignments (workspace_id, role);

INSERT INTO rbac.app_roles (name, description, builtin) VALUES
    ('admin', 'Read, write, delete and manage', true),
    ('editor', 'Read and write', true),
    ('viewer', 'Read', true);
INSERT INTO rbac.app_role_actions (role, action, builtin) VALUES
    ('admin', 'read', true), ('admin', 'write', true), ('admin', 'delete', true), ('admin', 'manage', true),
    ('editor', 'read', true), ('editor', 'write', true),
    ('viewer', 'read', true);

CREATE FUNCTION rbac._builtin_fixed() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.builtin THEN
        RAISE EXCEPTION 'a built-in row of rbac.% cannot be changed', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'add a role of your own (INSERT INTO rbac.app_roles / rbac.app_role_actions)';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.builtin THEN
        RAISE EXCEPTION 'only CREATE EXTENSION makes built-in rows' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE FUNCTION rbac._builtin_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    -- Only the install script (which runs before this trigger exists)
    -- makes built-in rows.
    NEW.builtin := false;
    RETURN NEW;
END
$$;
CREATE TRIGGER app_roles_builtin BEFORE UPDATE OR DELETE ON rbac.app_roles
    FOR EACH ROW EXECUTE FUNCTION rbac._builtin_fixed();
CREATE TRIGGER app_role_actions_builtin BEFORE UPDATE OR DELETE ON rbac.app_role_actions
    FOR EACH ROW EXECUTE FUNCTION rbac._builtin_fixed();
CREATE TRIGGER app_roles_builtin_insert BEFORE INSERT ON rbac.app_roles
    FOR EACH ROW EXECUTE FUNCTION rbac._builtin_insert();
CREATE TRIGGER app_role_actions_builtin_insert BEFORE INSERT ON rbac.app_role_actions
    FOR EACH ROW EXECUTE FUNCTION rbac._builtin_insert();

-- The audit log: insert-only. Writers only append (through the extension's
-- functions and triggers); the chain of hashes is kept beside it by one
-- chainer at a time (the background worker, or rbac.verify_audit_log), in
-- the order entries are chained — so writers never wait on each other and
-- no isolation level can fork the chain.
-- Ids are random (a restore, whose own writes are audited as it goes,
-- never collides with the entries it brings back); entries are ordered by
-- time and by their place in the chain.
CREATE TABLE rbac.audit_log (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    logged_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    db_role       name NOT NULL DEFAULT SESSION_USER,
    subject       text,
    workspace_id  text,
    action        text NOT NULL,
    resource_type text,
    resource_id   text,
    result        text NOT NULL CONSTRAINT audit_log_result_check CHECK (result IN ('success', 'denied', 'error')),
    metadata      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON rbac.audit_log (logged_at);
-- seq: position in the chain; hash = sha256(prev_hash || the entry's
-- canonical text, rbac._audit_text); the first entry's prev_hash is 32 zero
-- bytes, or, after a purge, the hash of the last purged entry (recorded in
-- the purge's own entry).
CREATE TABLE rbac.audit_chain (
    seq       bigint PRIMARY KEY,
    entry_id  uuid NOT NULL UNIQUE REFERENCES rbac.audit_log (id),
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);

-- What is hashed: every column but the id, in a form that does not
-- depend on session settings (time as microseconds since the epoch).
CREATE FUNCTION rbac._audit_text(e rbac.audit_log) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_array(e.id, (extract(epoch FROM e.logged_at) * 1000000)::bigint, e.db_role::text, e.subject,
                             e.workspace_id, e.action, e.resource_type, e.resource_id, e.result, e.metadata)::text
$$;

-- Nobody updates or deletes audit rows, not even their owner (privileges
-- stop everyone else; this stops superusers who forget, and anyone short of
-- disabling triggers — which rbac.verify_audit_log then detects).
CREATE FUNCTION rbac._audit_immutable() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'rbac.% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'old entries are removed with rbac.purge_audit_log(before), which keeps the chain verifiable';
END
$$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON rbac.audit_log
    FOR EACH ROW EXECUTE FUNCTION rbac._audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON rbac.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_immutable();
CREATE TRIGGER audit_chain_immutable BEFORE UPDATE OR DELETE ON rbac.audit_chain
    FOR EACH ROW EXECUTE FUNCTION rbac._audit_immutable();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON rbac.audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_immutable();

-- Appends an entry (and writes it to the server log as one JSON line when
-- notion_rbac.audit_server_log is on). In a read-only transaction or on a
-- standby the entry goes to the server log only. Never raises for the
-- audit's sake: the audited operation must not fail because of it.
-- The log line is the entry alone (rbac._audit_log_line): PostgreSQL would
-- follow a LOG message from here with the statement that led to it and its
-- context, and the statement may hold a secret.
CREATE FUNCTION rbac._audit(p_action text, p_result text, p_resource_type text DEFAULT NULL,
                            p_resource_id text DEFAULT NULL, p_workspace_id text DEFAULT NULL,
                            p_metadata jsonb DEFAULT '{}', p_subject text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_subject text := coalesce(p_subject, rbac.current_subject());
    v_line jsonb;
BEGIN
    v_line := jsonb_build_object('audit', 'notion_rbac', 'at', clock_timestamp(), 'db_role', session_user::text,
                                 'subject', v_subject, 'workspace_id', p_workspace_id, 'action', p_action,
                                 'resource_type', p_resource_type, 'resource_id', p_resource_id,
                                 'result', p_result, 'metadata', coalesce(p_metadata, '{}'));
    IF coalesce(current_setting('notion_rbac.audit_server_log', true), 'on') = 'on' THEN
        PERFORM rbac._audit_log_line(v_line::text);
    END IF;
    IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' THEN
        IF coalesce(current_setting('notion_rbac.audit_server_log', true), 'on') <> 'on' THEN
            PERFORM rbac._audit_log_line(v_line::text);
        END IF;
        RETURN;
    END IF;
    INSERT INTO rbac.audit_log (subject, workspace_id, action, resource_type, resource_id, result, metadata)
    VALUES (v_subject, p_workspace_id, p_action, p_resource_type, p_resource_id, p_result, coalesce(p_metadata, '{}'));
END
$$;

-- Statement-level audits of bulk tables: one entry per statement with the
-- row count (never one per tuple).
CREATE FUNCTION rbac._audit_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT count(*) INTO n FROM old_rows;
    ELSE
        SELECT count(*) INTO n FROM new_rows;
    END IF;
    IF n > 0 THEN
        PERFORM rbac._audit(TG_ARGV[0], 'success', TG_TABLE_NAME, NULL, NULL,
                            jsonb_build_object('rows', n, 'operation', lower(TG_OP)));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tuples_audit_insert AFTER INSERT ON rbac.tuples REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('tuples_written');
CREATE TRIGGER tuples_audit_update AFTER UPDATE ON rbac.tuples REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('tuples_written');
CREATE TRIGGER tuples_audit_delete AFTER DELETE ON rbac.tuples REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('tuples_deleted');
CREATE TRIGGER attributes_audit_insert AFTER INSERT ON rbac.attributes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('attributes_written');
CREATE TRIGGER attributes_audit_update AFTER UPDATE ON rbac.attributes REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('attributes_written');
CREATE TRIGGER attributes_audit_delete AFTER DELETE ON rbac.attributes REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('attributes_deleted');
CREATE TRIGGER schemas_audit_insert AFTER INSERT ON rbac.schemas REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('schema_written');
CREATE TRIGGER app_roles_audit_insert AFTER INSERT ON rbac.app_roles REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER app_roles_audit_update AFTER UPDATE ON rbac.app_roles REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER app_roles_audit_delete AFTER DELETE ON rbac.app_roles REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_deleted');
CREATE TRIGGER app_role_actions_audit_insert AFTER INSERT ON rbac.app_role_actions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER app_role_actions_audit_delete AFTER DELETE ON rbac.app_role_actions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER action_permissions_audit_insert AFTER INSERT ON rbac.action_permissions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER action_permissions_audit_update AFTER UPDATE ON rbac.action_permissions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER role_assignments_audit_insert AFTER INSERT ON rbac.role_assignments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_assigned');
CREATE TRIGGER role_assignments_audit_delete AFTER DELETE ON rbac.role_assignments REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_unassigned');
-- Every change an administrator can make is an entry: an UPDATE of an
-- assignment promotes as an INSERT does, one of a role's actions widens it,
-- a removed override loosens an action.
CREATE TRIGGER role_assignments_audit_update AFTER UPDATE ON rbac.role_assignments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_assigned');
CREATE TRIGGER app_role_actions_audit_update AFTER UPDATE ON rbac.app_role_actions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');
CREATE TRIGGER action_permissions_audit_delete AFTER DELETE ON rbac.action_permissions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('role_changed');

-- Configuration that decides who is who and where the audit goes is
-- audited too (row counts, as above; the OAuth client's secret is never
-- part of an entry).
CREATE TRIGGER oauth_config_audit_insert AFTER INSERT ON rbac.oauth_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_configured');
CREATE TRIGGER oauth_config_audit_update AFTER UPDATE ON rbac.oauth_config REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_configured');
CREATE TRIGGER oauth_config_audit_delete AFTER DELETE ON rbac.oauth_config REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('oauth_config_deleted');
CREATE TRIGGER login_subjects_audit_insert AFTER INSERT ON rbac.login_subjects REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_changed');
CREATE TRIGGER login_subjects_audit_update AFTER UPDATE ON rbac.login_subjects REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_changed');
CREATE TRIGGER login_subjects_audit_delete AFTER DELETE ON rbac.login_subjects REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('login_subject_deleted');

-- Chains entries not chained yet, oldest first, one chainer at a time
-- (a lock on rbac.audit_chain that only the extension can take). Returns
-- how many. Needs READ COMMITTED: it must see the chain's latest tail.
-- The worker's turns look back a day from the newest chained entry (the
-- index on logged_at keeps that cheap); p_all, for rbac.verify_audit_log
-- and rbac.purge_audit_log, also takes entries of transactions that stayed
-- open longer than that.
CREATE FUNCTION rbac._audit_chain_pending(p_limit integer DEFAULT 10000, p_all boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_seq bigint;
    v_hash bytea;
    v_n bigint := 0;
    e rbac.audit_log;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RETURN 0;
    END IF;
    LOCK TABLE rbac.audit_chain IN EXCLUSIVE MODE;
    SELECT c.seq, c.hash INTO v_seq, v_hash FROM rbac.audit_chain c ORDER BY c.seq DESC LIMIT 1;
    v_seq := coalesce(v_seq, 0);
    v_hash := coalesce(v_hash, decode(repeat('00', 32), 'hex'));
    -- Entries still unchained sit near the end: look back a day from the
    -- newest chained one, or (p_all) at every entry.
    FOR e IN SELECT l.* FROM rbac.audit_log l
              WHERE (p_all OR l.logged_at > coalesce((SELECT max(x.logged_at) FROM rbac.audit_chain c
                                                        JOIN rbac.audit_log x ON x.id = c.entry_id), '-infinity') - interval '1 day')
                AND NOT EXISTS (SELECT FROM rbac.audit_chain c WHERE c.entry_id = l.id)
              ORDER BY l.logged_at, l.id LIMIT p_limit LOOP
        v_seq := v_seq + 1;
        INSERT INTO rbac.audit_chain (seq, entry_id, prev_hash, hash)
        VALUES (v_seq, e.id, v_hash, sha256(v_hash || convert_to(rbac._audit_text(e), 'UTF8')));
        v_hash := sha256(v_hash || convert_to(rbac._audit_text(e), 'UTF8'));
        v_n := v_n + 1;
    END LOOP;
    RETURN v_n;
END
$$;

-- Checks the whole chain (chaining what is pending first, when it can) and
-- reports every place it is broken: an entry deleted, altered or moved,
-- chain rows removed, entries removed at the start without
-- rbac.purge_audit_log, entries never chained. One row 'ok' when intact.
CREATE FUNCTION rbac.verify_audit_log()
RETURNS TABLE (status text, seq bigint, entry_id uuid, detail text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    v_prev_seq bigint;
    v_prev_hash bytea;
    v_count bigint := 0;
    v_bad bigint := 0;
    v_zero bytea := decode(repeat('00', 32), 'hex');
BEGIN
    PERFORM rbac._audit_chain_pending(NULL, true);
    FOR c IN SELECT ch.seq, ch.entry_id, ch.prev_hash, ch.hash, l AS entry, l.id IS NOT NULL AS present
               FROM rbac.audit_chain ch LEFT JOIN rbac.audit_log l ON l.id = ch.entry_id
              ORDER BY ch.seq LOOP
        v_count := v_count + 1;
        IF v_prev_seq IS NULL THEN
            -- The start: genesis, or the anchor a purge recorded in the chain.
            IF NOT (c.seq = 1 AND c.prev_hash = v_zero)
               AND NOT EXISTS (SELECT FROM rbac.audit_log p
                                WHERE p.action = 'audit_purged'
                                  AND (p.metadata ->> 'through_seq')::bigint = c.seq - 1
                                  AND p.metadata ->> 'anchor_hash' = encode(c.prev_hash, 'hex')) THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := format('the chain starts at %s without a purge that ends at %s: earlier entries were removed', c.seq, c.seq - 1);
                RETURN NEXT;
            END IF;
        ELSE
            IF c.seq <> v_prev_seq + 1 THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := format('chain positions %s to %s are missing', v_prev_seq + 1, c.seq - 1);
                RETURN NEXT;
            ELSIF c.prev_hash <> v_prev_hash THEN
                v_bad := v_bad + 1;
                status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
                detail := 'does not follow the previous entry (chain rows altered or reordered)';
                RETURN NEXT;
            END IF;
        END IF;
        IF NOT c.present THEN
            v_bad := v_bad + 1;
            status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
            detail := 'the entry was deleted';
            RETURN NEXT;
        ELSIF c.hash <> sha256(c.prev_hash || convert_to(rbac._audit_text(c.entry), 'UTF8')) THEN
            v_bad := v_bad + 1;
            status := 'tampered'; seq := c.seq; entry_id := c.entry_id;
            detail := 'the entry was altered after it was chained';
            RETURN NEXT;
        END IF;
        v_prev_seq := c.seq;
        v_prev_hash := c.hash;
    END LOOP;
    FOR c IN SELECT l.id FROM rbac.audit_log l
              WHERE NOT EXISTS (SELECT FROM rbac.audit_chain ch WHERE ch.entry_id = l.id)
                AND l.logged_at < clock_timestamp() - interval '1 minute'
              ORDER BY l.logged_at, l.id LIMIT 100 LOOP
        v_bad := v_bad + 1;
        status := 'unchained'; seq := NULL; entry_id := c.id;
        detail := 'older than a minute and not chained (is the background worker running?)';
        RETURN NEXT;
    END LOOP;
    IF v_bad = 0 THEN
        status := 'ok'; seq := v_prev_seq; entry_id := NULL;
        detail := format('%s entries verified', v_count);
        RETURN NEXT;
    END IF;
END
$$;

-- Removes entries logged before p_before (a prefix of the chain; the newest
-- entry always stays) and records the purge as an entry carrying the hash
-- the remaining chain starts from, so the log stays verifiable. An entry
-- still on its way to an enabled Notion audit database stays, with every
-- entry after it (the Notion copy is the record kept outside the
-- database: it must exist first). Returns how many entries went.
CREATE FUNCTION rbac.purge_audit_log(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
-- The append-only triggers do not fire in this function (superuser-only
-- setting, held for the function's duration).
SET session_replication_role TO replica
AS $$
DECLARE
    v_through bigint;
    v_undelivered bigint;
    v_anchor bytea;
    v_ids uuid[];
BEGIN
    PERFORM rbac._audit_chain_pending(NULL, true);
    LOCK TABLE rbac.audit_chain IN EXCLUSIVE MODE;
    SELECT coalesce(min(ch.seq) - 1, max(ch.seq) - 1) INTO v_through
      FROM rbac.audit_chain ch JOIN rbac.audit_log l ON l.id = ch.entry_id
     WHERE l.logged_at >= p_before;
    IF v_through IS NULL THEN
        SELECT max(ch.seq) - 1 INTO v_through FROM rbac.audit_chain ch;
    END IF;
    v_through := least(v_through, (SELECT max(ch.seq) - 1 FROM rbac.audit_chain ch));
    SELECT min(ch.seq) INTO v_undelivered
      FROM rbac.audit_chain ch
      JOIN rbac.audit_outbox o ON o.entry_id = ch.entry_id AND o.status IN ('queued', 'sending')
      JOIN rbac.audit_delivery d ON d.bot_id = o.bot_id AND d.enabled
     WHERE ch.seq <= v_through;
    IF v_undelivered IS NOT NULL THEN
        RAISE NOTICE 'audit entries not yet delivered to Notion are kept, with every entry after them'
            USING HINT = 'rbac.audit_delivery_status shows the backlog; purge again once it is sent';
        v_through := v_undelivered - 1;
    END IF;
    IF v_through IS NULL OR v_through < (SELECT min(ch.seq) FROM rbac.audit_chain ch) THEN
        RETURN 0;
    END IF;
    SELECT ch.hash INTO v_anchor FROM rbac.audit_chain ch WHERE ch.seq = v_through;
    SELECT array_agg(ch.entry_id) INTO v_ids FROM rbac.audit_chain ch WHERE ch.seq <= v_through;
    DELETE FROM rbac.audit_chain ch WHERE ch.seq <= v_through;
    DELETE FROM rbac.audit_outbox o WHERE o.entry_id = ANY (v_ids);
    DELETE FROM rbac.audit_log l WHERE l.id = ANY (v_ids);
    PERFORM rbac._audit('audit_purged', 'success', 'audit_log', NULL, NULL,
                        jsonb_build_object('before', p_before, 'entries', cardinality(v_ids),
                                           'through_seq', v_through, 'anchor_hash', encode(v_anchor, 'hex')));
    RETURN cardinality(v_ids);
END
$$;

-- rbac.authorize: the subject's role in the object's workspace allows the
-- action AND the graph grants the permission mapped from it. Denials are
-- audited (<action>_denied).
CREATE FUNCTION rbac.authorize(p_subject text, p_action text, p_object text) RETURNS boolean
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
DECLARE
    v_type text := split_part(p_object, ':', 1);
    v_id text := substr(p_object, length(split_part(p_object, ':', 1)) + 2);
    v_subject_id text := split_part(split_part(p_subject, '#', 1), ':', 2);
    v_workspace text;
    v_permission text;
    v_reason text;
BEGIN
    -- What a denial records must be what it claims to be: a caller's text
    -- that is no subject, object or action is refused, never logged (nor
    -- delivered to a Notion audit database).
    -- (Ids as stored ids are: 1 to 128 of A-Z a-z 0-9 _ . + -, or *.)
    -- (The whole text is one subject: a type, an id and at most one
    -- relation, all names; the parser would ignore what follows a second
    -- "#", and a denial records the text as given.)
    IF NOT (rbac._is_subject(p_subject) AND octet_length(p_subject) <= 512
            AND p_subject ~ '^[A-Za-z_]{1,64}:[^#]+(#[A-Za-z_]{1,64})?$'
            AND (octet_length(v_subject_id) <= 128 AND v_subject_id ~ '^[A-Za-z0-9_.+-]+$' OR v_subject_id = '*')) THEN
        RAISE EXCEPTION 'rbac.authorize: invalid subject %', quote_literal(left(p_subject, 100))
            USING ERRCODE = 'invalid_text_representation', HINT = 'A subject is type:id or type:id#relation, as in user:alice.';
    END IF;
    IF NOT (rbac._is_subject(p_object) AND position('#' IN p_object) = 0 AND octet_length(p_object) <= 256
            AND (octet_length(v_id) <= 128 AND v_id ~ '^[A-Za-z0-9_.+-]+$' OR v_id = '*')) THEN
        RAISE EXCEPTION 'rbac.authorize: invalid object %', quote_literal(left(p_object, 100))
            USING ERRCODE = 'invalid_text_representation', HINT = 'An object is type:id, as in page:plan.';
    END IF;
    IF NOT (octet_length(p_action) <= 63 AND p_action ~ '^[a-z][a-z0-9_]*$') THEN
        RAISE EXCEPTION 'rbac.authorize: invalid action %', quote_literal(left(p_action, 100))
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An action is a name of lower-case letters, digits and underscores (at most 63), as in app roles.';
    END IF;
    -- A denial is audited in the subject's name: only trusted roles may
    -- name any subject (42501 otherwise).
    PERFORM rbac._authorize_caller(p_subject);
    IF v_type = 'workspace' THEN
        v_workspace := v_id;
    ELSE
        SELECT t.subject_id INTO v_workspace FROM rbac.tuples t
         WHERE t.entity_type = v_type AND t.entity_id = v_id AND t.relation = 'workspace'
           AND t.subject_type = 'workspace' AND t.subject_relation = ''
         ORDER BY t.subject_id LIMIT 1;
    END IF;
    SELECT ap.permission INTO v_permission FROM rbac.action_permissions ap WHERE ap.action = p_action;
    v_permission := coalesce(v_permission, CASE p_action WHEN 'manage' THEN 'manage_workspace' ELSE p_action END);
    IF v_workspace IS NULL THEN
        v_reason := 'the object belongs to no workspace (no workspace relation)';
    ELSIF NOT EXISTS (SELECT FROM rbac.role_assignments ra JOIN rbac.app_role_actions a ON a.role = ra.role
                       WHERE ra.subject = p_subject AND ra.workspace_id = v_workspace AND a.action = p_action) THEN
        v_reason := 'no role of the subject in the workspace allows the action';
    ELSIF NOT rbac."check"(p_subject, v_permission, p_object) THEN
        v_reason := format('the relationship graph does not grant %s', v_permission);
    ELSE
        RETURN true;
    END IF;
    PERFORM rbac._audit(p_action || '_denied', 'denied', v_type, v_id, v_workspace,
                        jsonb_build_object('reason', v_reason, 'permission', v_permission), p_subject);
    RETURN false;
END
$$;

-- Recent denials, newest first, for psql.
CREATE VIEW rbac.recent_denials AS
    SELECT l.logged_at, l.subject, l.workspace_id, l.action, l.resource_type, l.resource_id,
           l.metadata ->> 'reason' AS reason, l.db_role
      FROM rbac.audit_log l
     WHERE l.result = 'denied' AND l.logged_at > pg_catalog.now() - interval '7 days'
     ORDER BY l.logged_at DESC;

SELECT pg_catalog.pg_extension_config_dump('rbac.app_roles', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('rbac.app_role_actions', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('rbac.action_permissions', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.role_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.audit_chain', '');

-- Installations as administrators see them: no token material, only
-- whether tokens are held and which key encrypts them.
CREATE VIEW rbac.workspaces_overview AS
    SELECT w.bot_id, w.workspace_id, w.workspace_name, w.owner_type, w.owner_user_id, w.status,
           w.authorized_at, w.refreshed_at, w.last_used_at, w.last_synced_at, w.revoked_at, w.revoked_reason,
           w.access_token IS NOT NULL AS holds_access_token, w.refresh_token IS NOT NULL AS holds_refresh_token,
           pg_catalog.split_part(w.access_token::text, ':', 3) AS token_key,
           (SELECT count(*) FROM rbac.role_assignments ra WHERE ra.workspace_id = w.workspace_id) AS role_assignments,
           (SELECT count(*) FROM rbac.notion_synced s WHERE s.bot_id = w.bot_id) AS synced_tuples
      FROM rbac.workspaces w;

-- Who may do what where: each assignment with the actions its role allows.
CREATE VIEW rbac.assignments AS
    SELECT ra.workspace_id, ra.subject, ra.role,
           (SELECT array_agg(a.action ORDER BY a.action) FROM rbac.app_role_actions a WHERE a.role = ra.role) AS actions,
           ra.assigned_at, ra.assigned_by
      FROM rbac.role_assignments ra;

-- Delivery of audit entries to a Notion database, per installation (the
-- seed's audit database: properties Action (title), User (text), Result
-- (select), Resource (text), Timestamp (date)). Entries about the
-- installation's workspace are queued in the outbox as they are written;
-- the worker sends them.
CREATE TABLE rbac.audit_delivery (
    bot_id      text PRIMARY KEY REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    database_id text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- 'sending' is written (and committed) before the page is created: a
-- worker that finds one after a restart first looks for the page in the
-- database, so an entry is never sent twice.
CREATE TABLE rbac.audit_outbox (
    entry_id        uuid NOT NULL REFERENCES rbac.audit_log (id),
    bot_id          text NOT NULL REFERENCES rbac.workspaces (bot_id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    notion_page_id  text,
    last_error      text,
    sent_at         timestamptz,
    PRIMARY KEY (entry_id, bot_id)
);
CREATE INDEX audit_outbox_due ON rbac.audit_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
-- Administrators may re-queue a failed delivery (and say when), nothing
-- else: an entry marked sent by hand would be removed undelivered by
-- rbac.purge_audit_log. (The worker, a superuser, moves entries along.)
CREATE FUNCTION rbac._audit_outbox_requeue_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    -- Nothing else either: a queued entry held back (next_attempt_at in
    -- the far future) would never reach Notion, unaudited.
    IF current_setting('is_superuser') <> 'on'
       AND NOT (OLD.status = 'failed' AND NEW.status = 'queued' AND NEW.entry_id = OLD.entry_id AND NEW.bot_id = OLD.bot_id
                AND NEW.notion_page_id IS NOT DISTINCT FROM OLD.notion_page_id AND NEW.sent_at IS NOT DISTINCT FROM OLD.sent_at) THEN
        RAISE EXCEPTION 'rbac.audit_outbox: an entry''s delivery may only be queued again after it failed, not moved from % to %',
                        OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'UPDATE rbac.audit_outbox SET status = ''queued'', next_attempt_at = now() WHERE status = ''failed''';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_outbox_requeue_only BEFORE UPDATE ON rbac.audit_outbox
    FOR EACH ROW EXECUTE FUNCTION rbac._audit_outbox_requeue_only();
CREATE TRIGGER audit_delivery_audit_insert AFTER INSERT ON rbac.audit_delivery REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_changed');
CREATE TRIGGER audit_delivery_audit_update AFTER UPDATE ON rbac.audit_delivery REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_changed');
CREATE TRIGGER audit_delivery_audit_delete AFTER DELETE ON rbac.audit_delivery REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rbac._audit_rows('audit_delivery_deleted');

CREATE FUNCTION rbac._audit_enqueue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.workspace_id IS NOT NULL THEN
        INSERT INTO rbac.audit_outbox (entry_id, bot_id)
        SELECT NEW.id, d.bot_id FROM rbac.audit_delivery d JOIN rbac.workspaces w ON w.bot_id = d.bot_id
         WHERE d.enabled AND w.status = 'active' AND w.workspace_id = NEW.workspace_id;
        IF FOUND THEN
            PERFORM rbac._wake_worker();
        END IF;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_log_deliver AFTER INSERT ON rbac.audit_log
    FOR EACH ROW EXECUTE FUNCTION rbac._audit_enqueue();

-- Delivery per installation: backlog, failures, last sent.
CREATE VIEW rbac.audit_delivery_status AS
    SELECT d.bot_id, d.database_id, d.enabled,
           count(o.entry_id) FILTER (WHERE o.status IN ('queued', 'sending')) AS backlog,
           count(o.entry_id) FILTER (WHERE o.status = 'failed') AS failed,
           count(o.entry_id) FILTER (WHERE o.status = 'sent') AS sent,
           max(o.sent_at) AS last_sent_at,
           (SELECT f.last_error FROM rbac.audit_outbox f WHERE f.bot_id = d.bot_id AND f.last_error IS NOT NULL
             ORDER BY f.next_attempt_at DESC LIMIT 1) AS last_error
      FROM rbac.audit_delivery d LEFT JOIN rbac.audit_outbox o ON o.bot_id = d.bot_id
     GROUP BY d.bot_id, d.database_id, d.enabled;

SELECT pg_catalog.pg_extension_config_dump('rbac.audit_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('rbac.audit_outbox', '');
