-- The Web API: the tokens its callers present, and which token created a request.

-- A token is shown once, when it is issued, and only its SHA-256 is kept. A plain
-- hash, not a password hash (bcrypt, argon2): the token is 256 random bits, so there
-- is nothing to guess by brute force, and a fast hash lets a call be authenticated
-- by one index lookup.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    token_sha256 text        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
-- One live token per name: a revoked token keeps its name, so that the requests it
-- created still say who made them, and the name can be issued again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- A request's source: an import file (source_file_id, source_line) or the Web API
-- and the token of the call (source_token_id). No foreign key, as for the file (see
-- 000001): the API checks the token when it writes the request.
ALTER TABLE provisioning_requests ADD COLUMN source_token_id bigint;
CREATE INDEX provisioning_requests_source_token ON provisioning_requests (source_token_id) WHERE source_token_id IS NOT NULL;

-- The Web API's list filters on the gateway's reference number.
CREATE INDEX provisioning_requests_reference_number ON provisioning_requests (reference_number) WHERE reference_number IS NOT NULL;
