-- Database login roles mapped to the subject they act as, for applications
-- that log in per user: rbac.current_subject() falls back to this when no
-- subject was set with rbac.set_subject().
--
-- A mapping is for the role that had the name when it was written
-- (role_oid, bound by the trigger below): a role created later under a
-- dropped role's name, or renamed to a mapped name, is someone else and
-- gets no subject. (A role is found by name, not kept as regrole: a dump
-- restores a name into another cluster's role of that name, while a
-- dropped role's regrole would be restored as a bare OID, which there may
-- be a different role's.) Renaming a mapped role leaves it unmapped until
-- its mapping is written again.
CREATE TABLE rbac.login_subjects (
    login_role name PRIMARY KEY,
    subject    text NOT NULL CONSTRAINT login_subjects_subject_check CHECK (rbac._is_subject(subject)),
    role_oid   oid
);
SELECT pg_catalog.pg_extension_config_dump('rbac.login_subjects', '');

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
