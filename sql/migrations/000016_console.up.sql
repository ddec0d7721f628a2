-- The operator console (issue 13): its operators' accounts and their sessions.

-- An operator signs in to the console with a name and a password. Only a bcrypt
-- hash of the password is kept. role: viewer (sees), operator (also pulls the
-- levers), admin (also manages operators). A disabled operator cannot sign in and
-- its sessions end; the row stays, so the audit trail's names keep their meaning.
-- failed_signins counts the failed sign-ins in a row; at the limit the account is
-- locked until locked_until (console.MaxFailures, console.LockFor).
CREATE TABLE operators (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    role           text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash  text        NOT NULL,
    disabled       boolean     NOT NULL DEFAULT false,
    failed_signins integer     NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser. The cookie holds a random secret; only its SHA-256 is kept
-- (id_sha256), so a copy of the table signs no one in. csrf_token is the token every
-- form of the session carries. expires_at is last_seen_at plus the idle timeout,
-- moved on at each page.
CREATE TABLE console_sessions (
    id_sha256    text        PRIMARY KEY,
    operator_id  bigint      NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_operator ON console_sessions (operator_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
