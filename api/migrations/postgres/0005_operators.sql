-- Operators of the dashboard and their sign-in sessions. Passwords are argon2id PHC strings; a sign-in
-- session is stored by the SHA-256 of its cookie value, so a copy of the database does not sign anyone in.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE operator_sessions (
    token_sha256  TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at_ms);
