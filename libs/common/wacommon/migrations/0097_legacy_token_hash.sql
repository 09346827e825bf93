-- The legacy `clients.token` is both the tenant's gateway credential and (for tenants without
-- a client_providers row) the secret part of its webhook URL. Webhooks now look it up by its
-- SHA-256 (`token_hash`), and the admin API seals the token itself ("enc:" values, opened only
-- where it is used as a credential). Existing tokens are hashed here; they stay readable as
-- plaintext legacy values until rewritten (the admin API, or `python -m wacommon.ops.reseal`).
ALTER TABLE clients ADD COLUMN token_hash text;
UPDATE clients SET token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex')
 WHERE token IS NOT NULL AND token NOT LIKE 'enc:%';
CREATE UNIQUE INDEX clients_token_hash ON clients (token_hash) WHERE token_hash IS NOT NULL;
-- a sealed token is different at every write: uniqueness is the hash's job now
ALTER TABLE clients DROP CONSTRAINT IF EXISTS clients_token_key;
