-- notion_rbac privileges: nothing is usable by PUBLIC; the extension's roles
-- get what they need. Runs after every object exists.

REVOKE ALL ON ALL TABLES IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA rbac FROM PUBLIC;
REVOKE ALL ON SCHEMA rbac FROM PUBLIC;

-- rbac_reader: run checks and lookups, read models and relationships.
-- Grant it to application roles whose queries or RLS policies call rbac.check.
GRANT USAGE ON SCHEMA rbac TO rbac_reader, rbac_admin;
GRANT SELECT ON rbac.schemas, rbac.tuples, rbac.attributes, rbac.schema_relations, rbac.schema_attributes
    TO rbac_reader;
GRANT EXECUTE ON FUNCTION
    rbac.version(),
    rbac.cache_stats(),
    rbac.schema(),
    rbac.check(text, text, text),
    rbac.check(text, text, text, jsonb),
    rbac.check_many(text, text, text[], jsonb),
    rbac.check_many(text[], text, text, jsonb),
    rbac.lookup_resources(text, text, text, jsonb),
    rbac.lookup_subjects(text, text, text, jsonb),
    rbac.read_tuples(text, text, text, text, text, text),
    rbac.read_attributes(text, text, text),
    rbac.validate(text)
    TO rbac_reader;

-- rbac_admin: everything rbac_reader can, plus writing models, tuples and
-- attributes (through the functions or plain INSERT/UPDATE/DELETE/COPY —
-- the triggers validate every path). rbac.schema_relations and
-- rbac.schema_attributes stay writable only by the activation trigger.
GRANT rbac_reader TO rbac_admin;
GRANT INSERT ON rbac.schemas TO rbac_admin;
GRANT INSERT, UPDATE, DELETE ON rbac.tuples, rbac.attributes TO rbac_admin;
GRANT EXECUTE ON FUNCTION
    rbac.write_schema(text),
    rbac.write_tuples(text[]),
    rbac.delete_tuples(text[]),
    rbac.write_attributes(text[]),
    rbac.delete_attributes(text[]),
    rbac._raise_tuple_misfit(text, text, text, text, text, text),
    rbac._raise_attribute_misfit(text, text, text, text)
    TO rbac_admin;

-- Tokens and OAuth. Token plaintext leaves the database only through
-- rbac.decrypt_token, granted to rbac_worker alone; everyone else sees
-- encrypted_token values as enc:v1:... text.
GRANT SELECT ON rbac.workspaces, rbac.oauth_config, rbac.oauth_jobs TO rbac_admin;
GRANT EXECUTE ON FUNCTION
    rbac.oauth_configure(text, text, text, text, text),
    rbac.rotate_token_keys(),
    rbac.generate_token_key(text),
    rbac.encrypt_token(text, text, text, text),
    rbac.token_key_id(rbac.encrypted_token),
    rbac.oauth_status(bigint)
    TO rbac_admin;
GRANT EXECUTE ON FUNCTION
    rbac.oauth_start(text, text),
    rbac.oauth_callback(text, text, text),
    rbac.oauth_status(bigint)
    TO rbac_oauth;
GRANT USAGE ON SCHEMA rbac TO rbac_oauth, rbac_worker;
GRANT rbac_admin TO rbac_worker;
GRANT SELECT, INSERT, UPDATE ON rbac.workspaces, rbac.oauth_jobs TO rbac_worker;
GRANT SELECT ON rbac.oauth_states TO rbac_worker;
GRANT EXECUTE ON FUNCTION rbac.decrypt_token(rbac.encrypted_token, text, text, text) TO rbac_worker;
