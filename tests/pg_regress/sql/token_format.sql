-- rbac.encrypted_token owns its format: the column stores the envelope's
-- binary layout (version byte 1), which is also its binary send/receive
-- form; tokens compare for equality (DISTINCT, UNION, row comparisons).
CREATE TEMP TABLE tok (v rbac.encrypted_token);
INSERT INTO tok SELECT rbac.encrypt_token('secret_FORMAT_xyz', 'tok', 'v', '1');
INSERT INTO tok SELECT rbac.encrypt_token('secret_FORMAT_xyz', 'tok', 'v', '1');
SELECT get_byte(rbac.encrypted_token_send(v), 0) AS layout_version,
       length(rbac.encrypted_token_send(v)) AS layout_bytes FROM tok LIMIT 1;
-- Two encryptions of one plaintext differ (fresh nonces); a value equals itself.
SELECT count(DISTINCT v) AS distinct_values, bool_and(v OPERATOR(rbac.=) v) AS reflexive FROM tok;
SELECT count(*) AS union_rows FROM (SELECT v FROM tok UNION SELECT v FROM tok) u;
-- The operators live in schema rbac: name it, or put rbac on the search_path.
SELECT (SELECT v FROM tok LIMIT 1) OPERATOR(rbac.=) ANY (SELECT v FROM tok) AS found;
SET search_path = public, rbac;
SELECT count(*) AS row_equal FROM tok a JOIN tok b ON (a.v, 1) = (b.v, 1);
SELECT count(*) AS same_rows FROM tok a JOIN tok b ON a.v = b.v;
-- Binary COPY out and in: the same values, still decrypting.
COPY tok TO '/tmp/notion_rbac_regress_tokens.bin' WITH (FORMAT binary);
CREATE TEMP TABLE tok_back (v rbac.encrypted_token);
COPY tok_back FROM '/tmp/notion_rbac_regress_tokens.bin' WITH (FORMAT binary);
SELECT count(*) AS same FROM tok_back WHERE v IN (SELECT v FROM tok);
RESET search_path;
SELECT DISTINCT rbac.decrypt_token(v, 'tok', 'v', '1') = 'secret_FORMAT_xyz' AS decrypts FROM tok_back;
-- A binary value that is not an envelope is refused (22P02), nothing stored.
COPY (SELECT '\x0102'::bytea) TO '/tmp/notion_rbac_regress_tokens.bin' WITH (FORMAT binary);
SELECT try($$COPY tok_back FROM '/tmp/notion_rbac_regress_tokens.bin' WITH (FORMAT binary)$$);
SELECT count(*) AS still_two FROM tok_back;
COPY (SELECT 1) TO PROGRAM 'rm -f /tmp/notion_rbac_regress_tokens.bin';
