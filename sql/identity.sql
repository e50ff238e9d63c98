-- Database login roles mapped to the subject they act as, for applications
-- that log in per user: rbac.current_subject() falls back to this when no
-- subject was set with rbac.set_subject().
CREATE TABLE rbac.login_subjects (
    login_role name PRIMARY KEY,
    subject    text NOT NULL CONSTRAINT login_subjects_subject_check CHECK (rbac._is_subject(subject))
);
SELECT pg_catalog.pg_extension_config_dump('rbac.login_subjects', '');
