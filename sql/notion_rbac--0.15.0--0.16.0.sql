-- notion_rbac 0.15.0 -> 0.16.0
--
-- rbac.authorize audits a denial in the subject's name, and any role that
-- could check could name any subject: only members of rbac_app or
-- rbac_admin may now (rbac._authorize_caller); others authorize the
-- subject they act as, rbac.current_subject().
--
-- rbac.login_subjects maps a login role's name, which outlived DROP ROLE
-- and RENAME: a role created later under that name acted as the old one's
-- subject. A mapping is now for the role that had the name when it was
-- written (role_oid, bound by a trigger). Existing mappings are bound to
-- the roles that have their names now (written again below: audited as
-- login_subject_changed); a mapping whose name no role has applies to no
-- one (with a warning).

\echo Use "ALTER EXTENSION notion_rbac UPDATE TO '0.16.0'" to load this file. \quit

CREATE FUNCTION rbac._authorize_caller(subject text) RETURNS void
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'authorize_caller_wrapper';
REVOKE ALL ON FUNCTION rbac._authorize_caller(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION rbac.authorize(p_subject text, p_action text, p_object text) RETURNS boolean
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
    IF NOT (rbac._is_subject(p_subject) AND octet_length(p_subject) <= 512
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

COMMENT ON FUNCTION rbac.authorize(text, text, text) IS 'Does the subject''s role in the object''s workspace allow the action, and does the graph grant its permission? Denials are audited; only members of rbac_app or rbac_admin may name a subject other than rbac.current_subject()';

ALTER TABLE rbac.login_subjects ADD COLUMN role_oid oid;
COMMENT ON COLUMN rbac.login_subjects.role_oid IS 'The role the mapping is for: the one named login_role when the mapping was last written (set by a trigger), NULL if none was';

-- Binds a mapping to the role that has its name now, whatever role_oid the
-- writer gave (a restore's COPY included): NULL, with a warning, if there
-- is none.
CREATE FUNCTION rbac._login_subject_bind() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $$
BEGIN
    NEW.role_oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.login_role);
    IF NEW.role_oid IS NULL THEN
        RAISE WARNING 'rbac.login_subjects: no role is named %, so this mapping applies to no one', quote_ident(NEW.login_role)
            USING HINT = 'Create the role, then write the mapping again (UPDATE rbac.login_subjects SET subject = subject WHERE login_role = ...).';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER login_subjects_bind BEFORE INSERT OR UPDATE ON rbac.login_subjects
    FOR EACH ROW EXECUTE FUNCTION rbac._login_subject_bind();
REVOKE ALL ON FUNCTION rbac._login_subject_bind() FROM PUBLIC;
UPDATE rbac.login_subjects SET role_oid = NULL;
